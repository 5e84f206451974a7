"""What a Markowitz solve reports: :class:`OptimizationResult` and :class:`Frontier`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from foliocast.portfolio.optimizer.problem import ProblemSpec

__all__ = ["ZERO_WEIGHT", "Frontier", "OptimizationResult"]

ZERO_WEIGHT = 1e-9
"""Weights smaller than this in absolute value are reported as exactly 0."""


@dataclass(frozen=True)
class OptimizationResult:
    """Optimal weights with the risk and return they were optimised for.

    Attributes
    ----------
    weights : pandas.Series
        Weights of shape (n_assets,), indexed by the tickers of ``mu``; entries
        below :data:`ZERO_WEIGHT` in absolute value are exactly 0.
    expected_return : float
        ``mu^T w``.
    variance : float
        ``w^T cov w`` with the covariance used (after any PSD repair).
    turnover : float
        One-way turnover ``0.5 * sum(|w - w_prev|)`` including sales of assets that
        left the universe; against cash when no ``prev_weights`` were given.
    objective : str
        Objective that was optimised.
    solver : str
        Solver that produced the weights, upper case: the cvxpy solver name
        (``"CLARABEL"``, ``"OSQP"``, ``"SCS"``), or ``"QUADPROG"`` where the exact
        dense solve answered a full-covariance QP (see
        :class:`~foliocast.portfolio.optimizer.dense.DenseQpSolve`). It can differ
        from the requested ``solvers``, which name the fallback chain.
    status : str
        cvxpy status of that solve (``"optimal"`` or ``"optimal_inaccurate"``).
    spec : ProblemSpec
        Structure of the compiled problem (the cache key).
    path : {"dense", "direct", "cvxpy"}
        How ``solver`` was reached: the dense QP form
        (:mod:`~foliocast.portfolio.optimizer.dense`), the compiled problem's data
        handed straight to the solver (:mod:`~foliocast.portfolio.optimizer.direct`),
        or cvxpy's ``Problem.solve``.
    """

    weights: pd.Series
    expected_return: float
    variance: float
    turnover: float
    objective: str
    solver: str
    status: str
    spec: ProblemSpec
    path: str

    @property
    def volatility(self) -> float:
        """Standard deviation of the portfolio return, ``sqrt(variance)``."""
        return math.sqrt(max(self.variance, 0.0))

    @property
    def cash(self) -> float:
        """Capital not in the assets, ``1 - sum(w)``."""
        return 1.0 - float(self.weights.sum())

    def sharpe_ratio(self, risk_free_rate: float = 0.0) -> float:
        """Excess return per unit of volatility over the horizon."""
        return (self.expected_return - risk_free_rate) / self.volatility


@dataclass(frozen=True)
class Frontier:
    """Points on the efficient frontier, from minimum variance to maximum return.

    Attributes
    ----------
    volatility : pandas.Series
        Portfolio volatility of each point, shape (n_points,).
    expected_return : pandas.Series
        Portfolio expected return of each point, shape (n_points,), increasing.
    weights : pandas.DataFrame
        Weights of shape (n_points, n_assets), one row per point.
    """

    volatility: pd.Series
    expected_return: pd.Series
    weights: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One table: ``volatility``, ``expected_return``, then one column per asset."""
        return pd.concat(
            [
                self.volatility.rename("volatility"),
                self.expected_return.rename("expected_return"),
                self.weights,
            ],
            axis=1,
        )
