"""Markowitz mean-variance optimizer: validated inputs in, optimal weights out.

Terms (see also :mod:`portfolio.constraints`):

- ``mu``: expected simple return of each asset over the horizon (Series).
- ``cov``: covariance of those returns, either a DataFrame (n_assets x n_assets) or
  the factor form ``(B, d)`` with ``cov = B B^T + diag(d)`` (B: DataFrame
  n_assets x k, d: Series of idiosyncratic variances). ``mu``, ``cov``,
  ``risk_free_rate`` and targets share one horizon (e.g. all monthly).
- ``risk_aversion`` gamma and ``cost_penalty`` kappa: the utility objective is
  ``mu^T w - (gamma / 2) w^T cov w - kappa^T |w - w_prev|``, the objective of
  PyPortfolioOpt's ``max_quadratic_utility`` plus a linear transaction-cost term.

Objectives: ``utility``; ``min_variance`` (``(gamma/2) w^T cov w + costs``);
``target_return`` (min variance + costs with ``mu^T w >= target``);
``target_volatility`` (max ``mu^T w - costs`` with volatility <= target);
``max_sharpe`` (homogenised: ``y = k w``, min ``y^T cov y`` with
``(mu - rf)^T y = 1`` and every constraint scaled by ``k``).

This module validates and aligns the inputs, turns them into the parameter values
of a problem compiled once per structure (:mod:`portfolio.problem`, re-solved
through :mod:`portfolio.fastsolve`) and reports the result. Risk aversion stays out
of the structure: the utility objective is divided by ``gamma * unit`` (same
minimiser), where ``unit`` is the mean asset variance in which the problem is
expressed so that solver tolerances mean the same for daily or annual inputs.
Infeasibility and unboundedness become ``InfeasibleError`` and
``OptimizationError`` (:mod:`portfolio.errors`) with the active constraints in
words.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.linalg

from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.errors import (
    CovarianceRepairWarning,
    InfeasibleError,
    OptimizationError,
)
from foliocast.portfolio.optimize.constraints import (
    Constraints,
    ResolvedConstraints,
    check_feasibility,
)
from foliocast.portfolio.optimize.problem import (
    DEFAULT_SOLVER_OPTIONS,
    DEFAULT_SOLVERS,
    OBJECTIVES,
    CacheInfo,
    MarkowitzProblem,
    Objective,
    ProblemSpec,
    SolveOutcome,
    cached_problem,
    clear_problem_cache,
    default_chain,
    installed_solvers,
    problem_cache_info,
    problem_for,
)

__all__ = [
    "DEFAULT_SOLVERS",
    "DEFAULT_SOLVER_OPTIONS",
    "OBJECTIVES",
    "CacheInfo",
    "CovarianceInput",
    "Frontier",
    "MarkowitzProblem",
    "Objective",
    "OptimizationResult",
    "ProblemSpec",
    "cached_problem",
    "clear_problem_cache",
    "efficient_frontier",
    "forecast_covariance",
    "markowitz",
    "optimize",
    "optimize_forecast",
    "portfolio_return",
    "portfolio_variance",
    "portfolio_volatility",
    "problem_cache_info",
]

CovarianceInput = pd.DataFrame | tuple[pd.DataFrame, pd.Series]
"""A full covariance DataFrame, or the factor form ``(B, d)``."""

ZERO_WEIGHT = 1e-9
"""Weights smaller than this in absolute value are reported as exactly 0."""

# An open side of a bound inside a constraint that other assets need: a limit no
# portfolio reaches, so one compiled problem serves any pattern of open bounds.
_NO_BOUND = 1e6
# Negative eigenvalues above -_PSD_RTOL * largest are rounding, not an error.
_PSD_RTOL = 1e-10
_SYMMETRY_RTOL = 1e-8
_MIN_SCALE = 1e-12
_DEFAULT_CONSTRAINTS = Constraints()  # long-only, fully invested; frozen, so shared


# --------------------------------------------------------------------- results


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
        :class:`~portfolio.fastsolve.DenseQpSolve`). It can differ from the
        requested ``solvers``, which name the fallback chain.
    status : str
        cvxpy status of that solve (``"optimal"`` or ``"optimal_inaccurate"``).
    spec : ProblemSpec
        Structure of the compiled problem (the cache key).
    """

    weights: pd.Series
    expected_return: float
    variance: float
    turnover: float
    objective: str
    solver: str
    status: str
    spec: ProblemSpec

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


# ----------------------------------------------------------------------- inputs


@dataclass(frozen=True, eq=False)
class _RiskModel:
    """The covariance as the compiled problem takes it, plus what reporting needs."""

    n_factors: int | None
    values: dict[str, np.ndarray]  # parameter name -> value, in units of `scale`
    scale: float  # mean asset variance: the problem's unit of variance
    cov: np.ndarray | None  # (n, n), full form, after any repair
    loadings: np.ndarray | None  # (n, k), factor form
    idio: np.ndarray | None  # (n,), factor form

    def variance(self, weights: np.ndarray) -> float:
        if self.cov is not None:
            return float(weights @ self.cov @ weights)
        exposure = self.loadings.T @ weights
        return float(exposure @ exposure + self.idio @ (weights * weights))


@dataclass(frozen=True, eq=False)
class _Inputs:
    """Validated, aligned inputs for one universe; shared by frontier points."""

    tickers: pd.Index
    mu: np.ndarray  # (n,)
    risk: _RiskModel
    resolved: ResolvedConstraints
    prev: np.ndarray | None  # (n,) or None: start from cash
    sold: float  # weight held in assets outside the universe


@dataclass(frozen=True)
class _Settings:
    objective: str
    risk_aversion: float = 1.0
    cost: np.ndarray | None = None  # (n,) kappa; None: no cost term
    risk_free_rate: float = 0.0
    target: float | None = None
    solvers: tuple[str, ...] | None = None  # None: chosen by problem structure
    solver_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _prepare(
    mu: pd.Series,
    cov: CovarianceInput,
    constraints: Constraints | Mapping[str, Any] | None,
    prev_weights: pd.Series | None,
) -> _Inputs:
    tickers, mu_values = _checked_values(mu, "mu")
    if isinstance(cov, pd.DataFrame):
        risk = _full_risk(cov, tickers)
    elif isinstance(cov, tuple) and len(cov) == 2:
        risk = _factor_risk(cov[0], cov[1], tickers)
    else:
        raise TypeError(
            "cov must be a covariance DataFrame or a (loadings DataFrame, idio "
            f"Series) tuple, got {type(cov).__name__}"
        )
    if constraints is None:
        constraints = _DEFAULT_CONSTRAINTS
    elif not isinstance(constraints, Constraints):
        constraints = Constraints.from_dict(constraints)
    resolved = constraints.resolve(tuple(tickers.tolist()))  # fast on Arrow strings
    prev, sold = _previous_weights(prev_weights, tickers)
    check_feasibility(resolved, prev, sold)
    return _Inputs(tickers, mu_values, risk, resolved, prev, sold)


def _validate_mu(mu: pd.Series, what: str = "mu") -> pd.Index:
    return _checked_values(mu, what)[0]


def _checked_values(mu: pd.Series, what: str) -> tuple[pd.Index, np.ndarray]:
    """The tickers and float values of a Series of one number per asset."""
    if not isinstance(mu, pd.Series):
        raise TypeError(f"{what} must be a pandas Series by ticker, got {type(mu)}")
    if mu.empty:
        raise ValueError(f"{what} is empty; pass at least one asset")
    if not mu.index.is_unique:
        dupes = mu.index[mu.index.duplicated()].unique().tolist()
        raise ValueError(f"{what} has duplicate tickers {dupes}; keep one entry each")
    values = mu.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{what} is NaN or infinite for {mu.index[bad].tolist()}; drop those "
            "assets or fix the input before optimizing"
        )
    return mu.index, values


def _align(frame: pd.DataFrame | pd.Series, tickers: pd.Index, what: str) -> Any:
    """Reorder ``frame`` (rows, and columns for a square DataFrame) to ``tickers``."""
    axes = [("rows", frame.index)]
    square = what == "cov"
    if square:
        axes.append(("columns", frame.columns))
    if all(axis is tickers or axis.equals(tickers) for _, axis in axes):
        return frame
    for name, axis in axes:
        missing = [t for t in tickers if t not in axis]
        if missing:
            raise ValueError(
                f"{what} {name} lack asset(s) {missing} that are in mu; "
                f"give {what} for every asset of mu"
            )
        extra = [t for t in axis if t not in tickers]
        if extra:
            raise ValueError(
                f"{what} {name} have asset(s) {extra} that are not in mu; "
                f"select {what} for the assets of mu only"
            )
        if not axis.is_unique:
            raise ValueError(f"{what} {name} have duplicate tickers; keep one each")
    return frame.loc[tickers, tickers] if square else frame.loc[tickers]


def _finite_or_raise(values: np.ndarray, tickers: pd.Index, what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        rows = bad.reshape(len(tickers), -1).any(axis=1)
        raise ValueError(
            f"{what} is NaN or infinite for asset(s) {tickers[rows].tolist()}; "
            "fix the estimate or drop those assets"
        )


def _full_risk(cov: pd.DataFrame, tickers: pd.Index) -> _RiskModel:
    matrix = _align(cov, tickers, "cov").to_numpy(dtype=float)
    _finite_or_raise(matrix, tickers, "cov")
    gap = np.abs(matrix - matrix.T)
    if gap.max() > _SYMMETRY_RTOL * max(np.abs(matrix).max(), _MIN_SCALE):
        i, j = np.unravel_index(np.argmax(gap), gap.shape)
        raise ValueError(
            f"cov is not symmetric: cov[{tickers[i]!r}, {tickers[j]!r}] = "
            f"{matrix[i, j]:g} but cov[{tickers[j]!r}, {tickers[i]!r}] = "
            f"{matrix[j, i]:g}; pass (cov + cov.T) / 2"
        )
    matrix = 0.5 * (matrix + matrix.T)
    lower, matrix = _triangular_factor(matrix)
    scale = _variance_unit(np.diag(matrix))
    rows, cols = _upper_indices(len(tickers))
    values = {"cov_factor": lower.T[rows, cols] / math.sqrt(scale)}
    return _RiskModel(None, values, scale, matrix, None, None)


def _variance_unit(variances: np.ndarray) -> float:
    """Mean asset variance, the unit the compiled problem measures variance in.

    Solver tolerances are absolute and relative to O(1) numbers; in this unit they
    mean the same for daily, monthly or annual inputs. Rescaling the objective
    leaves the optimal weights unchanged.
    """
    unit = float(np.mean(variances))
    return unit if unit > _MIN_SCALE else 1.0


def _triangular_factor(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower-triangular L with ``L L^T = cov``, repairing a non-PSD ``cov``.

    Returns
    -------
    lower : ndarray of shape (n_assets, n_assets)
    cov : ndarray of shape (n_assets, n_assets)
        The covariance ``L L^T`` actually used (the input unless repaired).
    """
    try:
        # scipy's LAPACK call is several times faster than numpy's at n = 500.
        return scipy.linalg.cholesky(cov, lower=True, check_finite=False), cov
    except scipy.linalg.LinAlgError:
        pass  # singular or indefinite: go through the eigen-decomposition
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    smallest, largest = float(eigenvalues[0]), float(np.abs(eigenvalues).max())
    if smallest < -_PSD_RTOL * max(largest, _MIN_SCALE):
        warnings.warn(
            f"cov is not positive semidefinite (smallest eigenvalue {smallest:.3g}, "
            f"largest {largest:.3g}); negative eigenvalues were clipped to 0. Check "
            "the covariance estimator (e.g. pairwise-complete data or shrinkage).",
            CovarianceRepairWarning,
            stacklevel=5,
        )
    root = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    # QR of root^T gives root = R^T Q^T, so cov = R^T R with R^T lower triangular,
    # even when cov is singular (where Cholesky fails).
    upper = np.linalg.qr(root.T, mode="r")
    return upper.T, root @ root.T


@lru_cache(maxsize=8)
def _upper_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    # Row-major order, as cvxpy.vec_to_upper_tri fills the triangle.
    return np.triu_indices(n)


def _factor_risk(loadings: Any, idio: Any, tickers: pd.Index) -> _RiskModel:
    if not isinstance(loadings, pd.DataFrame) or not isinstance(idio, pd.Series):
        raise TypeError(
            "factor-form cov must be (loadings DataFrame n_assets x k, idio Series "
            f"n_assets), got ({type(loadings).__name__}, {type(idio).__name__})"
        )
    if loadings.shape[1] == 0:
        raise ValueError("factor loadings have no columns; pass a covariance DataFrame")
    b = _align(loadings, tickers, "loadings").to_numpy(dtype=float)
    d = _align(idio, tickers, "idio").to_numpy(dtype=float)
    _finite_or_raise(b, tickers, "loadings")
    _finite_or_raise(d, tickers, "idio")
    negative = d < 0
    if negative.any():
        raise ValueError(
            f"idio variances are negative for {tickers[negative].tolist()}; "
            "idiosyncratic variances must be >= 0"
        )
    scale = _variance_unit(np.einsum("ik,ik->i", b, b) + d)
    values = {"loadings": b / math.sqrt(scale), "idio": d / scale}
    return _RiskModel(b.shape[1], values, scale, None, b, d)


def _previous_weights(
    prev_weights: pd.Series | None, tickers: pd.Index
) -> tuple[np.ndarray | None, float]:
    """Previous weights in universe order, and the weight held outside it."""
    if prev_weights is None:
        return None, 0.0
    if not isinstance(prev_weights, pd.Series):
        raise TypeError(
            f"prev_weights must be a pandas Series by ticker, got {type(prev_weights)}"
        )
    values = prev_weights.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"prev_weights is NaN or infinite for {prev_weights.index[bad].tolist()}; "
            "use 0 for assets not held"
        )
    if not prev_weights.index.is_unique:
        raise ValueError("prev_weights has duplicate tickers; keep one entry each")
    if prev_weights.index.equals(tickers):
        return values, 0.0
    inside = prev_weights.index.isin(tickers)
    aligned = prev_weights.reindex(tickers, fill_value=0.0).to_numpy(dtype=float)
    # Holdings outside the universe are sold: that trade counts toward turnover.
    return aligned, float(np.abs(values[~inside]).sum())


def _cost_vector(
    cost_penalty: float | pd.Series | None, tickers: pd.Index
) -> np.ndarray | None:
    if cost_penalty is None:
        return None
    if isinstance(cost_penalty, pd.Series):
        missing = [t for t in tickers if t not in cost_penalty.index]
        if missing:
            raise ValueError(
                f"cost_penalty has no entry for {missing}; give a cost for every "
                "asset of mu (or one number for all)"
            )
        cost = cost_penalty.reindex(tickers).to_numpy(dtype=float)
    else:
        cost = np.full(len(tickers), _finite_float("cost_penalty", cost_penalty))
    bad = ~np.isfinite(cost) | (cost < 0)
    if bad.any():
        raise ValueError(
            f"cost_penalty must be finite and >= 0; bad for {tickers[bad].tolist()}"
        )
    return cost if cost.any() else None


def _finite_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _settings(
    objective: str,
    *,
    risk_aversion: float,
    cost: np.ndarray | None,
    risk_free_rate: float,
    target: float | None,
    solvers: Sequence[str] | None,
    solver_options: Mapping[str, Mapping[str, Any]] | None,
) -> _Settings:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; use one of {OBJECTIVES}")
    gamma = _finite_float("risk_aversion", risk_aversion)
    if gamma <= 0:
        raise ValueError(f"risk_aversion must be > 0, got {gamma:g}")
    if objective in ("target_return", "target_volatility"):
        if target is None:
            raise ValueError(
                f"objective={objective!r} needs target (the horizon "
                f"{objective.removeprefix('target_')} to reach)"
            )
        target = _finite_float("target", target)
        if objective == "target_volatility" and target <= 0:
            raise ValueError(f"target volatility must be > 0, got {target:g}")
    elif target is not None:
        raise ValueError(
            f"target is only used with objective='target_return' or "
            f"'target_volatility', not {objective!r}; drop it"
        )
    if objective == "max_sharpe" and cost is not None:
        raise ValueError(
            "cost_penalty does not combine with objective='max_sharpe' (the Sharpe "
            "ratio is scale-free, a cost is not); use objective='utility' or a "
            "turnover limit"
        )
    return _Settings(
        objective,
        gamma,
        cost,
        _finite_float("risk_free_rate", risk_free_rate),
        target,
        _solver_chain(solvers),
        MappingProxyType(dict(solver_options or {})),
    )


def _solver_chain(solvers: Sequence[str] | None) -> tuple[str, ...] | None:
    installed = installed_solvers()
    if solvers is None:
        return None
    if isinstance(solvers, str):
        solvers = (solvers,)
    chain = tuple(s.upper() for s in solvers)
    unknown = [s for s in chain if s not in installed]
    if unknown or not chain:
        raise ValueError(
            f"solver(s) {unknown} not installed; choose from {sorted(installed)}"
        )
    return chain


# ---------------------------------------------------------------------- solving


def _spec(inputs: _Inputs, settings: _Settings) -> ProblemSpec:
    rc = inputs.resolved
    c = rc.constraints
    if c.budget is None:
        budget = "free"
    else:
        budget = "at_most" if c.allow_cash else "equal"
    if settings.objective == "max_sharpe" and (budget != "equal" or c.budget <= 0):
        raise ValueError(
            "objective='max_sharpe' needs a fully invested positive budget "
            "(budget > 0, allow_cash=False): the Sharpe ratio does not fix the "
            "portfolio's scale"
        )
    return ProblemSpec(
        objective=settings.objective,
        n_assets=len(inputs.tickers),
        n_factors=inputs.risk.n_factors,
        budget=budget,
        lower_bounds=bool(np.isfinite(rc.lower).any()),
        upper_bounds=bool(np.isfinite(rc.upper).any()),
        n_groups=len(rc.group_names),
        leverage=c.max_leverage is not None,
        turnover=c.turnover is not None,
        costs=settings.cost is not None and settings.objective != "max_return",
    )


def _open_to_big(values: np.ndarray) -> np.ndarray:
    return np.clip(values, -_NO_BOUND, _NO_BOUND)


def _parameter_values(
    spec: ProblemSpec, inputs: _Inputs, settings: _Settings
) -> dict[str, Any]:
    rc, c = inputs.resolved, inputs.resolved.constraints
    values: dict[str, Any] = dict(inputs.risk.values)
    objective, gamma = spec.objective, settings.risk_aversion
    # Risk parameters are in units of the mean asset variance `unit`; returns are
    # divided by its square root, and a utility objective by gamma * unit. Each
    # rescaling multiplies an objective by a positive number or both sides of a
    # constraint by the same one, so the optimal weights do not change.
    unit = inputs.risk.scale
    vol = math.sqrt(unit)
    if objective == "utility":
        values["mu"] = inputs.mu / (gamma * unit)
    elif objective == "max_sharpe":
        values["mu"] = (inputs.mu - settings.risk_free_rate) / vol
    elif objective in ("target_return", "target_volatility", "max_return"):
        values["mu"] = inputs.mu / vol
    if objective == "target_return":
        values["target"] = settings.target / vol
    elif objective == "target_volatility":
        values["target"] = settings.target**2 / unit
    if spec.budget != "free":
        values["budget"] = c.budget
    if spec.lower_bounds:
        values["lower"] = _open_to_big(rc.lower)
    if spec.upper_bounds:
        values["upper"] = _open_to_big(rc.upper)
    if spec.n_groups:
        values["group_matrix"] = rc.group_matrix
        values["group_lower"] = _open_to_big(rc.group_lower)
        values["group_upper"] = _open_to_big(rc.group_upper)
    if spec.leverage:
        values["max_leverage"] = c.max_leverage
    if spec.turnover or spec.costs:
        prev = inputs.prev
        values["prev_weights"] = np.zeros(spec.n_assets) if prev is None else prev
    if spec.turnover:
        # One-way limit T means sum|trades| <= 2T, less what selling outside costs.
        values["trade_limit"] = max(2.0 * c.turnover - inputs.sold, 0.0)
    if spec.costs:
        if objective == "target_volatility":  # costs in return units, like mu
            values["cost"] = settings.cost / vol
        else:  # traded off against (gamma / 2) variance
            values["cost"] = settings.cost / (gamma * unit)
    return values


def _solve(inputs: _Inputs, settings: _Settings) -> OptimizationResult:
    _check_sharpe_possible(inputs, settings)
    spec = _spec(inputs, settings)
    problem = problem_for(spec)
    outcome = problem.solve(
        _parameter_values(spec, inputs, settings),
        settings.solvers or default_chain(spec),
        settings.solver_options,
    )
    if outcome.weights is None:
        raise _failure(outcome, inputs, settings)
    if outcome.status != cp.OPTIMAL:
        warnings.warn(
            f"{outcome.solver} returned an inaccurate solution "
            f"({'; '.join(outcome.attempts)}); check the scaling of mu and cov "
            "(e.g. daily vs annual) or pass solver_options",
            RuntimeWarning,
            stacklevel=3,
        )
    weights = outcome.weights.copy()
    weights[np.abs(weights) < ZERO_WEIGHT] = 0.0
    weights += 0.0  # no negative zeros in reports
    prev = np.zeros_like(weights) if inputs.prev is None else inputs.prev
    return OptimizationResult(
        weights=pd.Series(weights, index=inputs.tickers, name="weight"),
        expected_return=float(inputs.mu @ weights),
        variance=inputs.risk.variance(weights),
        turnover=0.5 * (float(np.abs(weights - prev).sum()) + inputs.sold),
        objective=settings.objective,
        solver=outcome.solver,
        status=outcome.status,
        spec=spec,
    )


def _check_sharpe_possible(inputs: _Inputs, settings: _Settings) -> None:
    if settings.objective != "max_sharpe":
        return
    rf = settings.risk_free_rate
    long_only = bool(np.all(inputs.resolved.lower >= 0))
    if long_only and inputs.mu.max() <= rf:
        best = int(np.argmax(inputs.mu))
        raise InfeasibleError(
            f"no asset has expected return above the risk-free rate {rf:g} (highest: "
            f"{inputs.tickers[best]!r} at {inputs.mu[best]:g}), so the maximum-Sharpe "
            "long-only portfolio is undefined; use objective='min_variance' or "
            "'utility', or lower risk_free_rate"
        )


def _failure(outcome: SolveOutcome, inputs: _Inputs, settings: _Settings) -> Exception:
    said = "; ".join(outcome.attempts) or "no solver ran"
    active = "; ".join(inputs.resolved.describe()) or "none"
    if outcome.verdict == "infeasible":
        return InfeasibleError(
            f"No portfolio satisfies all constraints ({said}). Active constraints: "
            f"{active}. {_relax_hint(inputs, settings)}"
        )
    if outcome.verdict == "unbounded":
        return OptimizationError(
            f"The {settings.objective} problem is unbounded ({said}): weights can "
            "grow without limit. Add weight bounds (max_weight, long_only), a "
            "budget or max_leverage; for utility check that cov is positive "
            f"definite. Active constraints: {active}."
        )
    return OptimizationError(
        f"Every solver failed for the {settings.objective} problem ({said}). "
        "Check the scaling of mu and cov (e.g. daily vs annual), loosen tolerances "
        "via solver_options, or try other solvers. Active constraints: "
        f"{active}."
    )


def _relax_hint(inputs: _Inputs, settings: _Settings) -> str:
    objective = settings.objective
    generic = (
        "Relax one of them: raise max_weight, max_leverage or turnover, widen the "
        "group bounds, or set allow_cash=True."
    )
    if objective == "max_sharpe":
        return (
            "No portfolio within the constraints has expected return above the "
            f"risk-free rate {settings.risk_free_rate:g}; lower it or use "
            "objective='utility'. " + generic
        )
    reach = None
    try:  # one more solve, only on this error path, to give the user a number
        if objective == "target_return":
            best = _solve(inputs, _Settings("max_return", solvers=settings.solvers))
            reach = f"the highest expected return reachable is {best.expected_return:g}"
        elif objective == "target_volatility":
            best = _solve(inputs, _Settings("min_variance", solvers=settings.solvers))
            reach = f"the lowest volatility reachable is {best.volatility:g}"
    except OptimizationError:
        reach = None
    if objective == "target_return":
        return (
            f"The target return {settings.target:g} may be out of reach"
            + (f" ({reach})" if reach else "")
            + "; lower the target. "
            + generic
        )
    if objective == "target_volatility":
        return (
            f"The target volatility {settings.target:g} may be below the minimum"
            + (f" ({reach})" if reach else "")
            + "; raise the target. "
            + generic
        )
    return generic


# ------------------------------------------------------------------- public API


def markowitz(
    mu: pd.Series,
    cov: CovarianceInput,
    *,
    objective: Objective = "utility",
    risk_aversion: float = 1.0,
    constraints: Constraints | Mapping[str, Any] | None = None,
    prev_weights: pd.Series | None = None,
    cost_penalty: float | pd.Series | None = None,
    risk_free_rate: float = 0.0,
    target: float | None = None,
    solvers: Sequence[str] | None = None,
    solver_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> OptimizationResult:
    """Optimal mean-variance weights with their risk, return and solver report.

    Parameters
    ----------
    mu : pandas.Series
        Expected returns of shape (n_assets,), indexed by ticker.
    cov : pandas.DataFrame or (pandas.DataFrame, pandas.Series)
        Covariance of shape (n_assets, n_assets) indexed by the tickers of ``mu``
        (any order), or the factor form ``(B, d)``: loadings of shape
        (n_assets, k) and idiosyncratic variances of shape (n_assets,). A
        covariance that is not PSD is repaired with a
        :class:`~portfolio.errors.CovarianceRepairWarning`.
    objective : {"utility", "min_variance", "max_sharpe", "target_return", \
"target_volatility"}
        What to optimise (see the module docstring).
    risk_aversion : float, default 1.0
        gamma > 0 of the utility (and of the cost trade-off for ``min_variance``
        and ``target_return``).
    constraints : Constraints or mapping, optional
        Defaults to long-only and fully invested.
    prev_weights : pandas.Series, optional
        Current weights by ticker, for the turnover limit and the cost term. Missing
        assets count as 0; held assets not in ``mu`` are sold. ``None`` = cash.
    cost_penalty : float or pandas.Series, optional
        kappa: cost per unit of traded weight, one number or one per asset, in the
        units of ``mu`` (e.g. 10 bps = 0.001).
    risk_free_rate : float, default 0.0
        Return of cash over the horizon, for ``max_sharpe``.
    target : float, optional
        Horizon return (``target_return``) or volatility (``target_volatility``)
        to reach; required by, and only used with, those objectives.
    solvers : sequence of str, optional
        cvxpy solvers tried in order; default :data:`DEFAULT_SOLVERS` (reordered
        by problem structure).
    solver_options : mapping of solver name -> options, optional
        Extra options per solver, over :data:`DEFAULT_SOLVER_OPTIONS` (whose
        CLARABEL tolerances are 1e-10 rather than 1e-12 for a volatility target).

    Returns
    -------
    OptimizationResult

    Raises
    ------
    ValueError
        NaN/inf, misaligned or otherwise invalid inputs (naming the assets).
    InfeasibleError
        The constraints conflict (pre-check or solver certificate).
    OptimizationError
        Every solver failed, or the problem is unbounded.
    """
    inputs = _prepare(mu, cov, constraints, prev_weights)
    settings = _settings(
        objective,
        risk_aversion=risk_aversion,
        cost=_cost_vector(cost_penalty, inputs.tickers),
        risk_free_rate=risk_free_rate,
        target=target,
        solvers=solvers,
        solver_options=solver_options,
    )
    return _solve(inputs, settings)


def optimize(
    mu: pd.Series,
    cov: CovarianceInput,
    *,
    objective: Objective = "utility",
    risk_aversion: float = 1.0,
    constraints: Constraints | Mapping[str, Any] | None = None,
    prev_weights: pd.Series | None = None,
    cost_penalty: float | pd.Series | None = None,
    risk_free_rate: float = 0.0,
    target: float | None = None,
    solvers: Sequence[str] | None = None,
    solver_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.Series:
    """Optimal mean-variance weights, indexed by the tickers of ``mu``.

    Same parameters as :func:`markowitz`, which also reports risk, return and the
    solver used. Compiled problems are cached by structure, so a loop of calls
    with new ``mu``/``cov`` only re-solves.

    Returns
    -------
    pandas.Series
        Weights of shape (n_assets,); ``|w| < 1e-9`` reported as 0.
    """
    return markowitz(
        mu,
        cov,
        objective=objective,
        risk_aversion=risk_aversion,
        constraints=constraints,
        prev_weights=prev_weights,
        cost_penalty=cost_penalty,
        risk_free_rate=risk_free_rate,
        target=target,
        solvers=solvers,
        solver_options=solver_options,
    ).weights


def forecast_covariance(forecast: Forecast) -> CovarianceInput:
    """The covariance of a forecast in its cheapest form.

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, pandas.Series)
        ``(B, d)`` when the forecast has factors, else the full covariance.
    """
    if forecast.factors is not None and forecast.idio is not None:
        return forecast.factors, forecast.idio
    return forecast.cov


def optimize_forecast(
    forecast: Forecast,
    *,
    objective: Objective = "utility",
    risk_aversion: float = 1.0,
    constraints: Constraints | Mapping[str, Any] | None = None,
    prev_weights: pd.Series | None = None,
    cost_penalty: float | pd.Series | None = None,
    risk_free_rate: float = 0.0,
    target: float | None = None,
    solvers: Sequence[str] | None = None,
    solver_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.Series:
    """:func:`optimize` on a :class:`~forecasting.forecast.Forecast`.

    Uses the factor form when the forecast has one. ``risk_free_rate`` and the
    targets are over the forecast horizon.

    Returns
    -------
    pandas.Series
        Weights of shape (n_assets,), indexed like ``forecast.mu``.
    """
    return optimize(
        forecast.mu,
        forecast_covariance(forecast),
        objective=objective,
        risk_aversion=risk_aversion,
        constraints=constraints,
        prev_weights=prev_weights,
        cost_penalty=cost_penalty,
        risk_free_rate=risk_free_rate,
        target=target,
        solvers=solvers,
        solver_options=solver_options,
    )


def efficient_frontier(
    mu: pd.Series,
    cov: CovarianceInput,
    n_points: int = 20,
    *,
    constraints: Constraints | Mapping[str, Any] | None = None,
    prev_weights: pd.Series | None = None,
    solvers: Sequence[str] | None = None,
    solver_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Frontier:
    """Minimum-variance portfolios for evenly spaced target returns.

    The first point is the minimum-variance portfolio, the last has the highest
    expected return the constraints allow; one compiled ``target_return`` problem
    is re-solved for the points between.

    Parameters
    ----------
    mu, cov, constraints, prev_weights, solvers, solver_options
        As in :func:`markowitz` (``prev_weights`` only matters for a turnover
        limit).
    n_points : int, default 20
        Number of points, >= 2.

    Returns
    -------
    Frontier

    Raises
    ------
    OptimizationError
        If the highest return is unbounded (add bounds or a leverage limit).
    """
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    inputs = _prepare(mu, cov, constraints, prev_weights)
    base = _settings(
        "min_variance",
        risk_aversion=1.0,
        cost=None,
        risk_free_rate=0.0,
        target=None,
        solvers=solvers,
        solver_options=solver_options,
    )
    lowest = _solve(inputs, base)
    try:
        highest = _solve(inputs, _with(base, objective="max_return"))
    except OptimizationError as exc:
        raise OptimizationError(
            "The efficient frontier needs a bounded highest return; with these "
            "constraints it is unbounded or could not be found. Add max_weight, "
            f"long_only or max_leverage. ({exc})"
        ) from exc
    targets = np.linspace(lowest.expected_return, highest.expected_return, n_points)
    points = [lowest]
    for target in targets[1:]:
        if target <= lowest.expected_return:  # flat frontier: all mu equal
            points.append(lowest)
            continue
        points.append(
            _solve(inputs, _with(base, objective="target_return", target=target))
        )
    index = pd.RangeIndex(n_points, name="point")
    return Frontier(
        volatility=pd.Series([p.volatility for p in points], index=index),
        expected_return=pd.Series([p.expected_return for p in points], index=index),
        weights=pd.DataFrame([p.weights for p in points], index=index),
    )


def _with(settings: _Settings, **changes: Any) -> _Settings:
    return replace(settings, **changes)


def portfolio_return(weights: pd.Series, mu: pd.Series) -> float:
    """Expected portfolio return ``mu^T w``.

    Parameters
    ----------
    weights : pandas.Series
        Weights of shape (n_assets,) by ticker.
    mu : pandas.Series
        Expected returns of the same tickers (any order).

    Returns
    -------
    float
    """
    tickers = _validate_mu(weights, "weights")
    aligned = _align(mu, tickers, "mu").to_numpy(dtype=float)
    _finite_or_raise(aligned, tickers, "mu")
    return float(weights.to_numpy(dtype=float) @ aligned)


def portfolio_variance(weights: pd.Series, cov: CovarianceInput) -> float:
    """Portfolio variance ``w^T cov w`` (no PSD repair: the covariance as given).

    Parameters
    ----------
    weights : pandas.Series
        Weights of shape (n_assets,) by ticker.
    cov : pandas.DataFrame or (pandas.DataFrame, pandas.Series)
        Covariance of the same tickers, full or factor form.

    Returns
    -------
    float
    """
    tickers = _validate_mu(weights, "weights")
    w = weights.to_numpy(dtype=float)
    if isinstance(cov, pd.DataFrame):
        matrix = _align(cov, tickers, "cov").to_numpy(dtype=float)
        _finite_or_raise(matrix, tickers, "cov")
        return float(w @ matrix @ w)
    loadings, idio = cov
    b = _align(loadings, tickers, "loadings").to_numpy(dtype=float)
    d = _align(idio, tickers, "idio").to_numpy(dtype=float)
    exposure = b.T @ w
    return float(exposure @ exposure + d @ (w * w))


def portfolio_volatility(weights: pd.Series, cov: CovarianceInput) -> float:
    """Portfolio volatility ``sqrt(w^T cov w)``; see :func:`portfolio_variance`."""
    return math.sqrt(max(portfolio_variance(weights, cov), 0.0))
