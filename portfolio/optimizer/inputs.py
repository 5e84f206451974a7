"""Validated, aligned inputs of a Markowitz solve: returns, risk model, trades.

Terms: ``mu`` is the expected simple return of each asset over the horizon
(Series); ``cov`` its covariance, either a DataFrame (n_assets x n_assets) or the
factor form ``(B, d)`` with ``cov = B B^T + diag(d)`` (B: DataFrame n_assets x k,
d: Series of idiosyncratic variances). Every check names the assets at fault and
says what to do; a covariance that is not PSD is repaired with a
:class:`~foliocast.portfolio.errors.CovarianceRepairWarning`.

The risk model is expressed in units of the mean asset variance (its ``scale``),
so that solver tolerances mean the same for daily, monthly or annual inputs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg

from foliocast.portfolio.errors import CovarianceRepairWarning
from foliocast.portfolio.optimizer.constraints import (
    Constraints,
    ResolvedConstraints,
    check_feasibility,
)

__all__ = [
    "CovarianceInput",
    "Inputs",
    "align",
    "finite_float",
    "finite_or_raise",
    "prepare",
    "validate_mu",
]

CovarianceInput = pd.DataFrame | tuple[pd.DataFrame, pd.Series]
"""A full covariance DataFrame, or the factor form ``(B, d)``."""

# Negative eigenvalues above -_PSD_RTOL * largest are rounding, not an error.
_PSD_RTOL = 1e-10
_SYMMETRY_RTOL = 1e-8
_MIN_SCALE = 1e-12
_DEFAULT_CONSTRAINTS = Constraints()  # long-only, fully invested; frozen, so shared


@dataclass(frozen=True, eq=False)
class _RiskModel:
    """The covariance as the compiled problem takes it, plus what reporting needs."""

    n_factors: int | None
    values: dict[str, np.ndarray]  # parameter name -> value, in units of `scale`
    scale: float  # mean asset variance: the problem's unit of variance
    cov: np.ndarray | None  # (n, n), full form, after any repair
    loadings: np.ndarray | None  # (n, k), factor form
    idio: np.ndarray | None  # (n,), factor form

    def times(self, vector: np.ndarray) -> np.ndarray:
        """``cov @ vector`` in either form, without forming a factor covariance."""
        if self.cov is not None:
            return self.cov @ vector
        return self.loadings @ (self.loadings.T @ vector) + self.idio * vector

    def scaled_cov(self) -> np.ndarray | None:
        """The full covariance in units of ``scale`` (``None`` in factor form)."""
        return None if self.cov is None else self.cov / self.scale

    def variance(self, weights: np.ndarray) -> float:
        if self.cov is not None:
            return float(weights @ self.cov @ weights)
        exposure = self.loadings.T @ weights
        return float(exposure @ exposure + self.idio @ (weights * weights))


@dataclass(frozen=True, eq=False)
class Inputs:
    """Validated, aligned inputs for one universe; shared by frontier points."""

    tickers: pd.Index
    mu: np.ndarray  # (n,)
    risk: _RiskModel
    resolved: ResolvedConstraints
    prev: np.ndarray | None  # (n,) or None: start from cash
    sold: float  # weight held in assets outside the universe
    cost: np.ndarray | None  # (n,) kappa; None: no cost term


def prepare(
    mu: pd.Series,
    cov: CovarianceInput,
    constraints: Constraints | Mapping[str, Any] | None,
    prev_weights: pd.Series | None,
    cost_penalty: float | pd.Series | None,
) -> Inputs:
    """Validate and align ``mu``, ``cov``, the constraints and the trade inputs.

    Parameters
    ----------
    mu : pandas.Series
        Expected returns of shape (n_assets,), indexed by ticker.
    cov : pandas.DataFrame or (pandas.DataFrame, pandas.Series)
        Full covariance or factor form, for the tickers of ``mu`` (any order).
    constraints : Constraints or mapping, optional
        Defaults to long-only and fully invested.
    prev_weights : pandas.Series, optional
        Current weights by ticker; ``None`` = cash.
    cost_penalty : float or pandas.Series, optional
        Cost per unit of traded weight, one number or one per asset.

    Returns
    -------
    Inputs

    Raises
    ------
    ValueError, TypeError
        Naming the input and the assets at fault.
    InfeasibleError
        Constraints that no portfolio can meet.
    """
    tickers, mu_values, names = _checked_values(mu, "mu")
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
    resolved = constraints.resolve(names)
    prev, sold = _previous_weights(prev_weights, tickers)
    check_feasibility(resolved, prev, sold)
    cost = _cost_vector(cost_penalty, tickers)
    return Inputs(tickers, mu_values, risk, resolved, prev, sold, cost)


def validate_mu(mu: pd.Series, what: str = "mu") -> pd.Index:
    """The tickers of a Series of one finite number per asset, or a clear error."""
    return _checked_values(mu, what)[0]


def _checked_values(
    mu: pd.Series, what: str
) -> tuple[pd.Index, np.ndarray, tuple[str, ...]]:
    """The tickers, float values and ticker names of a Series of one number each."""
    if not isinstance(mu, pd.Series):
        raise TypeError(f"{what} must be a pandas Series by ticker, got {type(mu)}")
    if mu.empty:
        raise ValueError(f"{what} is empty; pass at least one asset")
    # The names as a tuple (the constraints are laid out by them) also tell
    # whether they are unique: on a new index, Index.is_unique first builds a hash
    # table of its own, which takes longer (``tolist`` is the fast way out of
    # Arrow-backed strings).
    names = tuple(mu.index.tolist())
    if len(set(names)) != len(names):
        dupes = mu.index[mu.index.duplicated()].unique().tolist()
        raise ValueError(f"{what} has duplicate tickers {dupes}; keep one entry each")
    values = mu.to_numpy(dtype=float)
    finite_or_raise(values, mu.index, what, "drop those assets or fix the input")
    return mu.index, values, names


def align(frame: pd.DataFrame | pd.Series, tickers: pd.Index, what: str) -> Any:
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


def finite_or_raise(
    values: np.ndarray,
    tickers: pd.Index,
    what: str,
    fix: str = "fix the estimate or drop those assets",
) -> None:
    """Raise ``ValueError`` naming the assets whose ``values`` are not finite."""
    bad = ~np.isfinite(values)
    if bad.any():
        rows = bad.reshape(len(tickers), -1).any(axis=1)
        raise ValueError(
            f"{what} is NaN or infinite for asset(s) {tickers[rows].tolist()}; {fix}"
        )


def _full_risk(cov: pd.DataFrame, tickers: pd.Index) -> _RiskModel:
    matrix = align(cov, tickers, "cov").to_numpy(dtype=float)
    largest = float(np.abs(matrix).max())
    if not math.isfinite(largest):  # NaN and inf carry into the maximum
        finite_or_raise(matrix, tickers, "cov")
    gap = matrix - matrix.T
    np.abs(gap, out=gap)
    largest_gap = gap.max()
    if largest_gap > _SYMMETRY_RTOL * max(largest, _MIN_SCALE):
        i, j = np.unravel_index(np.argmax(gap), gap.shape)
        raise ValueError(
            f"cov is not symmetric: cov[{tickers[i]!r}, {tickers[j]!r}] = "
            f"{matrix[i, j]:g} but cov[{tickers[j]!r}, {tickers[i]!r}] = "
            f"{matrix[j, i]:g}; pass (cov + cov.T) / 2"
        )
    if largest_gap > 0:  # (cov + cov.T) / 2 of an exactly symmetric cov is cov
        matrix = matrix + matrix.T
        matrix *= 0.5
    lower, matrix = _triangular_factor(matrix)
    scale = _variance_unit(matrix.diagonal())
    # U = L^T row by row is L column by column: one gather from L's memory.
    factor = np.take(lower.ravel(order="F"), _upper_positions(len(tickers)))
    factor /= math.sqrt(scale)
    return _RiskModel(None, {"cov_factor": factor}, scale, matrix, None, None)


def _variance_unit(variances: np.ndarray) -> float:
    """Mean asset variance, the unit the compiled problem measures variance in.

    Solver tolerances are absolute and relative to O(1) numbers; in this unit they
    mean the same for daily, monthly or annual inputs. Rescaling the objective
    leaves the optimal weights unchanged.
    """
    unit = float(variances.sum()) / len(variances)  # np.mean's sum, less overhead
    return unit if unit > _MIN_SCALE else 1.0


def _triangular_factor(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower-triangular L with ``L L^T = cov``, repairing a non-PSD ``cov``.

    Returns
    -------
    lower : ndarray of shape (n_assets, n_assets)
    cov : ndarray of shape (n_assets, n_assets)
        The covariance ``L L^T`` actually used (the input unless repaired).
    """
    # cov is exactly symmetric, so it equals its transpose: hand LAPACK the one in
    # Fortran order, which it takes without a transposing copy.
    fortran = cov if cov.flags.f_contiguous else cov.T
    # scipy's LAPACK call (what scipy.linalg.cholesky calls, without its checks) is
    # several times faster than numpy's at n = 500.
    lower, info = scipy.linalg.lapack.dpotrf(fortran, lower=1, clean=1)
    if info == 0:
        return lower, cov
    # info > 0: singular or indefinite: go through the eigen-decomposition
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    smallest, largest = float(eigenvalues[0]), float(np.abs(eigenvalues).max())
    if smallest < -_PSD_RTOL * max(largest, _MIN_SCALE):
        warnings.warn(
            f"cov is not positive semidefinite (smallest eigenvalue {smallest:.3g}, "
            f"largest {largest:.3g}); negative eigenvalues were clipped to 0. Check "
            "the covariance estimator (e.g. pairwise-complete data or shrinkage).",
            CovarianceRepairWarning,
            stacklevel=6,  # the public call, above _markowitz or _frontier
        )
    root = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    # QR of root^T gives root = R^T Q^T, so cov = R^T R with R^T lower triangular,
    # even when cov is singular (where Cholesky fails).
    upper = np.linalg.qr(root.T, mode="r")
    return upper.T, root @ root.T


@lru_cache(maxsize=8)
def _upper_positions(n: int) -> np.ndarray:
    """Where the upper triangle of ``L^T`` lies in ``L`` raveled in Fortran order.

    Row-major over the triangle, as cvxpy.vec_to_upper_tri fills it: entry
    ``(i, j)`` of ``L^T``, ``i <= j``, is ``L[j, i]``, at ``j + n * i``.
    """
    rows, cols = np.triu_indices(n)
    return cols + n * rows


def _factor_risk(loadings: Any, idio: Any, tickers: pd.Index) -> _RiskModel:
    if not isinstance(loadings, pd.DataFrame) or not isinstance(idio, pd.Series):
        raise TypeError(
            "factor-form cov must be (loadings DataFrame n_assets x k, idio Series "
            f"n_assets), got ({type(loadings).__name__}, {type(idio).__name__})"
        )
    if loadings.shape[1] == 0:
        raise ValueError("factor loadings have no columns; pass a covariance DataFrame")
    b = align(loadings, tickers, "loadings").to_numpy(dtype=float)
    d = align(idio, tickers, "idio").to_numpy(dtype=float)
    finite_or_raise(b, tickers, "loadings")
    finite_or_raise(d, tickers, "idio")
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
    finite_or_raise(
        values, prev_weights.index, "prev_weights", "use 0 for assets not held"
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
        cost = np.full(len(tickers), finite_float("cost_penalty", cost_penalty))
    bad = ~np.isfinite(cost) | (cost < 0)
    if bad.any():
        raise ValueError(
            f"cost_penalty must be finite and >= 0; bad for {tickers[bad].tolist()}"
        )
    return cost if cost.any() else None


def finite_float(name: str, value: Any) -> float:
    """``value`` as a finite float, or an error naming the setting ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value
