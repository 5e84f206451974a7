"""Risk-based allocations of a forecast covariance: equal risk contribution and HRP.

Both weightings come from skfolio and read only a covariance ``cov`` of shape
(n_assets, n_assets), so they can take the covariance a forecaster made at the
decision date:

- `equal_risk_contribution`: `skfolio.optimization.RiskBudgeting` with variance and
  equal budgets, so each asset's share of portfolio variance,
  ``w_i (cov w)_i / w' cov w``, is ``1/n`` (where no bound binds).
- `hierarchical_risk_parity`: `skfolio.optimization.HierarchicalRiskParity` as in
  López de Prado (2016): single-linkage clustering of the correlation distance
  ``sqrt((1 - corr) / 2)``, the leaves in linkage order (no optimal leaf ordering),
  then recursive bisection with inverse-variance weights inside each half.

Both are long-only and fully invested by construction. Per-asset bounds are passed to
skfolio (``lower``/``upper``); nothing else of `portfolio.constraints.Constraints`
(groups, turnover, leverage, cash) applies to them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from foliocast.portfolio.errors import InfeasibleError, OptimizationError
from foliocast.portfolio.optimizer.constraints import Constraints

__all__ = ["equal_risk_contribution", "hierarchical_risk_parity", "weight_bounds"]

_ERC_SOLVER_PARAMS = {
    "tol_gap_abs": 1e-11,
    "tol_gap_rel": 1e-11,
    "tol_feas": 1e-11,
    "tol_ktratio": 1e-8,
}
# skfolio's warning when CLARABEL stops at its reduced accuracy.
_INACCURATE = "Solution may be inaccurate"
# Scalings of the ERC problem tried in turn while CLARABEL reports an inaccurate
# solution: on about 3% of the bundled data's monthly Ledoit-Wolf covariances the
# first stops with risk contributions up to 4e-6 apart; rescaling the log-barrier
# constraint moves it off that path (all 401 covariances tried then within 3e-8).
_ERC_SCALES: tuple[dict[str, float], ...] = (
    {},
    {"scale_constraints": 0.1},
    {"scale_objective": 10.0},
)


def weight_bounds(
    constraints: Mapping[str, Any], tickers: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Long-only per-asset bounds of a constraint mapping on one universe.

    Parameters
    ----------
    constraints : mapping
        Settings of `portfolio.constraints.Constraints`; ``min_weight``,
        ``max_weight`` and ``bounds`` are used.
    tickers : list of str
        The universe, in order (length n_assets).

    Returns
    -------
    lower, upper : ndarray of shape (n_assets,)
        Limits clipped to [0, 1]: these methods never short nor lever.
    """
    resolved = Constraints.from_dict(constraints).resolve(tickers)
    lower = np.clip(np.nan_to_num(resolved.lower, neginf=0.0), 0.0, 1.0)
    upper = np.clip(np.nan_to_num(resolved.upper, posinf=1.0), 0.0, 1.0)
    return lower, upper


def equal_risk_contribution(
    cov: pd.DataFrame, lower: np.ndarray | None = None, upper: np.ndarray | None = None
) -> pd.Series:
    """Weights whose assets contribute equally to the variance of ``cov``.

    Parameters
    ----------
    cov : DataFrame of shape (n_assets, n_assets)
        Covariance of asset returns, indexed by ticker on both axes.
    lower, upper : ndarray of shape (n_assets,), optional
        Per-asset weight bounds in [0, 1] (default 0 and 1). Where one binds, that
        asset's risk contribution differs from ``1/n``.

    Returns
    -------
    Series of shape (n_assets,)
        Weights summing to 1, indexed like ``cov``.

    Raises
    ------
    InfeasibleError
        When the bounds cannot hold a fully invested portfolio.
    OptimizationError
        When skfolio's solver fails.
    """
    lower, upper = _checked_bounds(cov, lower, upper)
    # ERC weights do not change when cov is scaled, but the solver's tolerances are
    # absolute: a daily covariance (~1e-4) at CLARABEL's defaults left risk
    # contributions 1e-5 apart. Unit mean variance and tolerances 1000x tighter keep
    # them near 1e-9 on the bundled data's Ledoit-Wolf covariances; at 1e-12 the
    # solver more often stops short and reports an inaccurate solution.
    scaled = cov.to_numpy() / float(np.mean(np.diag(cov.to_numpy())))
    for scales in _ERC_SCALES[:-1]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            weights = _fit(_erc_model(scaled, lower, upper, scales), cov)
        if not any(_INACCURATE in str(w.message) for w in caught):
            for w in caught:  # anything else is the caller's to see
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return weights
    return _fit(_erc_model(scaled, lower, upper, _ERC_SCALES[-1]), cov)


def _erc_model(
    scaled: np.ndarray, lower: np.ndarray, upper: np.ndarray, scales: dict[str, float]
) -> Any:
    """The equal-risk budgeting problem of skfolio on the covariance ``scaled``."""
    from skfolio import RiskMeasure
    from skfolio.optimization import RiskBudgeting

    return RiskBudgeting(
        risk_measure=RiskMeasure.VARIANCE,
        prior_estimator=_prior(scaled),
        min_weights=lower,
        max_weights=upper,
        solver="CLARABEL",
        solver_params=_ERC_SOLVER_PARAMS,
        **scales,
    )


def hierarchical_risk_parity(
    cov: pd.DataFrame, lower: np.ndarray | None = None, upper: np.ndarray | None = None
) -> pd.Series:
    """Hierarchical risk parity weights of ``cov`` (single linkage, variance).

    Parameters
    ----------
    cov : DataFrame of shape (n_assets, n_assets)
        Covariance of asset returns, indexed by ticker on both axes; the
        correlation distance is computed from it.
    lower, upper : ndarray of shape (n_assets,), optional
        Per-asset weight bounds in [0, 1] (default 0 and 1), applied by skfolio to
        each bisection's split factor.

    Returns
    -------
    Series of shape (n_assets,)
        Weights summing to 1, indexed like ``cov``.

    Raises
    ------
    InfeasibleError
        When the bounds cannot hold a fully invested portfolio.
    OptimizationError
        When skfolio cannot split the assets (e.g. a zero variance).
    """
    from skfolio import RiskMeasure
    from skfolio.cluster import HierarchicalClustering, LinkageMethod
    from skfolio.distance import CovarianceDistance
    from skfolio.optimization import HierarchicalRiskParity
    from skfolio.seriation import HierarchicalSeriation

    lower, upper = _checked_bounds(cov, lower, upper)
    clustering = HierarchicalClustering(linkage_method=LinkageMethod.SINGLE)
    model = HierarchicalRiskParity(
        risk_measure=RiskMeasure.VARIANCE,
        prior_estimator=_prior(cov.to_numpy()),
        # The distance is read off the prior's covariance, not return scenarios.
        distance_estimator=CovarianceDistance(covariance_estimator="precomputed"),
        distance_from_prior=True,
        seriation_estimator=HierarchicalSeriation(
            hierarchical_clustering_estimator=clustering, optimal_ordering=False
        ),
        min_weights=lower,
        max_weights=upper,
    )
    return _fit(model, cov)


def _checked_bounds(
    cov: pd.DataFrame, lower: np.ndarray | None, upper: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    n = cov.shape[0]
    lower = np.zeros(n) if lower is None else np.asarray(lower, dtype=float)
    upper = np.ones(n) if upper is None else np.asarray(upper, dtype=float)
    if upper.sum() < 1.0 - 1e-12:
        raise InfeasibleError(
            f"max weights add up to {upper.sum():.4g} < 1 over {n} assets; raise "
            "optimizer.constraints.max_weight (at least 1/n) or widen bounds"
        )
    if lower.sum() > 1.0 + 1e-12:
        raise InfeasibleError(
            f"min weights add up to {lower.sum():.4g} > 1 over {n} assets; lower "
            "optimizer.constraints.min_weight or the bounds"
        )
    return lower, upper


def _prior(cov: np.ndarray) -> Any:
    """A skfolio prior whose covariance is ``cov`` whatever returns it is fitted on."""
    from skfolio.prior import EmpiricalPrior

    return EmpiricalPrior(covariance_estimator=_given_covariance_class()(cov))


@cache
def _given_covariance_class() -> type:
    # Built on first use: importing this module must not import skfolio.
    from skfolio.moments import BaseCovariance

    class GivenCovariance(BaseCovariance):
        """Covariance estimator that returns a covariance fixed in advance."""

        def __init__(self, covariance: np.ndarray | None = None) -> None:
            super().__init__(nearest=False)
            self.covariance = covariance

        def fit(self, X: Any, y: None = None, **fit_params: Any) -> GivenCovariance:
            """Set ``covariance_`` to the given covariance; ``X`` is not read."""
            self.covariance_ = np.asarray(self.covariance, dtype=float)
            return self

    return GivenCovariance


def _fit(model: Any, cov: pd.DataFrame) -> pd.Series:
    from skfolio.exceptions import SkfolioError

    # skfolio estimators fit on return scenarios; with variance as the risk measure
    # and the prior's covariance given, the scenarios are never read for risk, so
    # two zero rows only tell the estimator the asset count.
    placeholder = np.zeros((2, cov.shape[0]))
    try:
        model.fit(placeholder)
    except (SkfolioError, ValueError) as err:
        raise OptimizationError(
            f"{type(model).__name__} failed: {err}; check the covariance forecast "
            "(positive variances) and the weight bounds"
        ) from err
    return pd.Series(np.asarray(model.weights_, dtype=float), index=cov.index)
