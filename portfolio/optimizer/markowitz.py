"""Markowitz mean-variance optimizer: validated inputs in, optimal weights out.

Terms (see also :mod:`~foliocast.portfolio.optimizer.constraints` and
:mod:`~foliocast.portfolio.optimizer.inputs`):

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

Every setting is a field of one record, :class:`MarkowitzOptions`; the public
functions take a record, the settings as keywords, or both. This module turns the
validated inputs into the parameter values of a problem compiled once per
structure (:mod:`~foliocast.portfolio.optimizer.problem`, kept in the options'
:class:`~foliocast.portfolio.optimizer.cache.ProblemCache`) and reports the result
(:class:`OptimizationResult`, naming the solver and the path that answered). Risk
aversion stays out of the structure: the utility objective is divided by
``gamma * unit`` (same minimiser), where ``unit`` is the mean asset variance in
which the problem is expressed so that solver tolerances mean the same for daily
or annual inputs. Infeasibility and unboundedness become ``InfeasibleError`` and
``OptimizationError`` (:mod:`foliocast.portfolio.errors`) with the active
constraints in words.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd

from foliocast._blas import ONE_BLAS_THREAD
from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.errors import InfeasibleError, OptimizationError
from foliocast.portfolio.optimizer.active import ACTIVE_OBJECTIVES, as_utility
from foliocast.portfolio.optimizer.cache import DEFAULT_CACHE, ProblemCache
from foliocast.portfolio.optimizer.constraints import ResolvedConstraints
from foliocast.portfolio.optimizer.inputs import (
    CovarianceInput,
    Inputs,
    align,
    finite_or_raise,
    prepare,
    validate_mu,
)
from foliocast.portfolio.optimizer.options import MarkowitzOptions, resolve_options
from foliocast.portfolio.optimizer.problem import (
    DEFAULT_SOLVER_OPTIONS,
    DEFAULT_SOLVERS,
    OBJECTIVES,
    Objective,
    ProblemSpec,
    SolveOutcome,
    default_chain,
)
from foliocast.portfolio.optimizer.result import (
    ZERO_WEIGHT,
    Frontier,
    OptimizationResult,
)

__all__ = [
    "DEFAULT_CACHE",
    "DEFAULT_SOLVERS",
    "DEFAULT_SOLVER_OPTIONS",
    "OBJECTIVES",
    "ZERO_WEIGHT",
    "CovarianceInput",
    "Frontier",
    "MarkowitzOptions",
    "Objective",
    "OptimizationResult",
    "ProblemCache",
    "efficient_frontier",
    "forecast_covariance",
    "markowitz",
    "optimize",
    "optimize_forecast",
    "portfolio_return",
    "portfolio_variance",
    "portfolio_volatility",
]

# An open side of a bound inside a constraint that other assets need: a limit no
# portfolio reaches, so one compiled problem serves any pattern of open bounds.
_NO_BOUND = 1e6


# ---------------------------------------------------------------------- solving


def _spec(inputs: Inputs, options: MarkowitzOptions) -> ProblemSpec:
    c = inputs.resolved.constraints
    shape = _constraint_shape(inputs.resolved)
    if options.objective == "max_sharpe" and (
        shape["budget"] != "equal" or c.budget <= 0
    ):
        raise ValueError(
            "objective='max_sharpe' needs a fully invested positive budget "
            "(budget > 0, allow_cash=False): the Sharpe ratio does not fix the "
            "portfolio's scale"
        )
    return ProblemSpec(
        objective=options.objective,
        n_assets=len(inputs.tickers),
        n_factors=inputs.risk.n_factors,
        costs=inputs.cost is not None and options.objective != "max_return",
        **shape,
    )


# Memoised per resolved constraint set (itself memoised, and compared by identity):
# a loop of solves under one set reads these instead of recomputing them.
@lru_cache(maxsize=64)
def _constraint_shape(rc: ResolvedConstraints) -> MappingProxyType:
    """The fields of :class:`ProblemSpec` that the constraint set decides."""
    c = rc.constraints
    if c.budget is None:
        budget = "free"
    else:
        budget = "at_most" if c.allow_cash else "equal"
    return MappingProxyType(
        {
            "budget": budget,
            "lower_bounds": bool(np.isfinite(rc.lower).any()),
            "upper_bounds": bool(np.isfinite(rc.upper).any()),
            "n_groups": len(rc.group_names),
            "leverage": c.max_leverage is not None,
            "turnover": c.turnover is not None,
        }
    )


@lru_cache(maxsize=64)
def _bound_values(rc: ResolvedConstraints) -> MappingProxyType:
    """The bound parameters' values, open sides at :data:`_NO_BOUND` (read-only)."""
    values = {
        "lower": _open_to_big(rc.lower),
        "upper": _open_to_big(rc.upper),
        "group_lower": _open_to_big(rc.group_lower),
        "group_upper": _open_to_big(rc.group_upper),
    }
    for array in values.values():
        array.flags.writeable = False  # shared through the memo
    return MappingProxyType(values)


def _open_to_big(values: np.ndarray) -> np.ndarray:
    return np.clip(values, -_NO_BOUND, _NO_BOUND)


def _parameter_values(
    spec: ProblemSpec, inputs: Inputs, options: MarkowitzOptions
) -> dict[str, Any]:
    rc, c = inputs.resolved, inputs.resolved.constraints
    values: dict[str, Any] = dict(inputs.risk.values)
    objective, gamma = spec.objective, options.risk_aversion
    # Risk parameters are in units of the mean asset variance `unit`; returns are
    # divided by its square root, and a utility objective by gamma * unit. Each
    # rescaling multiplies an objective by a positive number or both sides of a
    # constraint by the same one, so the optimal weights do not change.
    unit = inputs.risk.scale
    vol = math.sqrt(unit)
    if objective == "utility":
        values["mu"] = inputs.mu / (gamma * unit)
    elif objective == "max_sharpe":
        values["mu"] = (inputs.mu - options.risk_free_rate) / vol
    elif objective in ("target_return", "target_volatility", "max_return"):
        values["mu"] = inputs.mu / vol
    if objective == "target_return":
        values["target"] = options.target / vol
    elif objective == "target_volatility":
        values["target"] = options.target**2 / unit
    if spec.budget != "free":
        values["budget"] = c.budget
    bounds = _bound_values(rc)
    if spec.lower_bounds:
        values["lower"] = bounds["lower"]
    if spec.upper_bounds:
        values["upper"] = bounds["upper"]
    if spec.n_groups:
        values["group_matrix"] = rc.group_matrix
        values["group_lower"] = bounds["group_lower"]
        values["group_upper"] = bounds["group_upper"]
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
            values["cost"] = inputs.cost / vol
        else:  # traded off against (gamma / 2) variance
            values["cost"] = inputs.cost / (gamma * unit)
    return values


def _solve(inputs: Inputs, options: MarkowitzOptions) -> OptimizationResult:
    _check_sharpe_possible(inputs, options)
    spec = _spec(inputs, options)
    problem = options.cache.get(spec)
    outcome = problem.solve(
        _parameter_values(spec, inputs, options),
        options.solvers or default_chain(spec),
        options.solver_options,
        fast_path=options.fast_path,
        # The dense form solves on the covariance itself; it is at hand here.
        covariance=inputs.risk.scaled_cov() if problem.dense_osqp else None,
    )
    if outcome.weights is None:
        raise _failure(outcome, inputs, options)
    if outcome.status != cp.OPTIMAL:
        warnings.warn(
            f"{outcome.solver} returned an inaccurate solution "
            f"({'; '.join(outcome.attempts)}); check the scaling of mu and cov "
            "(e.g. daily vs annual) or pass solver_options",
            RuntimeWarning,
            stacklevel=4,  # _solve, _markowitz or _frontier, the public call
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
        objective=options.objective,
        solver=outcome.solver,
        status=outcome.status,
        spec=spec,
        path=outcome.path,
    )


def _check_sharpe_possible(inputs: Inputs, options: MarkowitzOptions) -> None:
    if options.objective != "max_sharpe":
        return
    rf = options.risk_free_rate
    long_only = bool(np.all(inputs.resolved.lower >= 0))
    if long_only and inputs.mu.max() <= rf:
        best = int(np.argmax(inputs.mu))
        raise InfeasibleError(
            f"no asset has expected return above the risk-free rate {rf:g} (highest: "
            f"{inputs.tickers[best]!r} at {inputs.mu[best]:g}), so the maximum-Sharpe "
            "long-only portfolio is undefined; use objective='min_variance' or "
            "'utility', or lower risk_free_rate"
        )


def _failure(
    outcome: SolveOutcome, inputs: Inputs, options: MarkowitzOptions
) -> Exception:
    said = "; ".join(outcome.attempts) or "no solver ran"
    active = "; ".join(inputs.resolved.describe()) or "none"
    if outcome.verdict == "infeasible":
        return InfeasibleError(
            f"No portfolio satisfies all constraints ({said}). Active constraints: "
            f"{active}. {_relax_hint(inputs, options)}"
        )
    if outcome.verdict == "unbounded":
        return OptimizationError(
            f"The {options.objective} problem is unbounded ({said}): weights can "
            "grow without limit. Add weight bounds (max_weight, long_only), a "
            "budget or max_leverage; for utility check that cov is positive "
            f"definite. Active constraints: {active}."
        )
    return OptimizationError(
        f"Every solver failed for the {options.objective} problem ({said}). "
        "Check the scaling of mu and cov (e.g. daily vs annual), loosen tolerances "
        "via solver_options, or try other solvers. Active constraints: "
        f"{active}."
    )


def _relax_hint(inputs: Inputs, options: MarkowitzOptions) -> str:
    objective = options.objective
    generic = (
        "Relax one of them: raise max_weight, max_leverage or turnover, widen the "
        "group bounds, or set allow_cash=True."
    )
    if objective == "max_sharpe":
        return (
            "No portfolio within the constraints has expected return above the "
            f"risk-free rate {options.risk_free_rate:g}; lower it or use "
            "objective='utility'. " + generic
        )
    reach = None
    try:  # one more solve, only on this error path, to give the user a number
        if objective == "target_return":
            best = _solve(*_variant(inputs, options, "max_return"))
            reach = f"the highest expected return reachable is {best.expected_return:g}"
        elif objective == "target_volatility":
            best = _solve(*_variant(inputs, options, "min_variance"))
            reach = f"the lowest volatility reachable is {best.volatility:g}"
    except OptimizationError:
        reach = None
    if objective == "target_return":
        return (
            f"The target return {options.target:g} may be out of reach"
            + (f" ({reach})" if reach else "")
            + "; lower the target. "
            + generic
        )
    if objective == "target_volatility":
        return (
            f"The target volatility {options.target:g} may be below the minimum"
            + (f" ({reach})" if reach else "")
            + "; raise the target. "
            + generic
        )
    return generic


def _variant(
    inputs: Inputs, options: MarkowitzOptions, objective: str
) -> tuple[Inputs, MarkowitzOptions]:
    """A plain ``objective`` problem on the same universe, constraints and solvers.

    No cost term, unit risk aversion, no target and the default solver options:
    for the numbers an error message quotes.
    """
    plain = replace(
        options,
        objective=objective,
        risk_aversion=1.0,
        target=None,
        solver_options=MappingProxyType({}),
    )
    return replace(inputs, cost=None), plain


# ------------------------------------------------------------------- public API


def markowitz(
    mu: pd.Series,
    cov: CovarianceInput,
    options: MarkowitzOptions | None = None,
    **settings: Any,
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
        :class:`~foliocast.portfolio.errors.CovarianceRepairWarning`.
    options : MarkowitzOptions, optional
        Every setting of the solve; defaults to ``MarkowitzOptions()`` (utility,
        risk aversion 1, long-only and fully invested, the default solver chain
        and :data:`DEFAULT_CACHE`).
    **settings
        Fields of :class:`MarkowitzOptions` by name (``objective``,
        ``risk_aversion``, ``constraints``, ``prev_weights``, ``cost_penalty``,
        ``risk_free_rate``, ``target``, ``solvers``, ``solver_options``,
        ``fast_path``, ``cache``), over those of ``options``.

    Returns
    -------
    OptimizationResult

    Raises
    ------
    ValueError
        NaN/inf, misaligned or otherwise invalid inputs (naming the assets).
    TypeError
        A keyword that is no field of :class:`MarkowitzOptions`.
    InfeasibleError
        The constraints conflict (pre-check or solver certificate).
    OptimizationError
        Every solver failed, or the problem is unbounded.
    """
    return _markowitz(mu, cov, resolve_options(options, settings))


def _markowitz(
    mu: pd.Series, cov: CovarianceInput, options: MarkowitzOptions
) -> OptimizationResult:
    """:func:`markowitz` with checked options; every public solve goes through it.

    Called straight from each public function, so that warnings (the stack level
    they name) point at the user's call.
    """
    with ONE_BLAS_THREAD:  # small matrices: threads only stall (foliocast._blas)
        inputs = prepare(
            mu, cov, options.constraints, options.prev_weights, options.cost_penalty
        )
        if options.objective == "max_sharpe" and inputs.cost is not None:
            raise ValueError(
                "cost_penalty does not combine with objective='max_sharpe' (the "
                "Sharpe ratio is scale-free, a cost is not); use objective='utility' "
                "or a turnover limit"
            )
        if options.objective in ACTIVE_OBJECTIVES:
            return _solve_active(inputs, options)
        return _solve(inputs, options)


def _solve_active(inputs: Inputs, options: MarkowitzOptions) -> OptimizationResult:
    """A benchmark-relative objective, solved as its equivalent utility problem."""
    utility = replace(options, objective="utility", benchmark=None)
    tilted = as_utility(
        inputs, options.objective, options.risk_aversion, options.benchmark
    )
    result = _solve(tilted, utility)
    return replace(
        result,
        expected_return=float(inputs.mu @ result.weights.to_numpy()),
        objective=options.objective,
    )


def optimize(
    mu: pd.Series,
    cov: CovarianceInput,
    options: MarkowitzOptions | None = None,
    **settings: Any,
) -> pd.Series:
    """Optimal mean-variance weights, indexed by the tickers of ``mu``.

    Same parameters as :func:`markowitz` (e.g. ``optimize(mu, cov,
    objective="utility", risk_aversion=5, constraints={"max_weight": 0.2})``),
    which also reports risk, return and the solver used. Compiled problems are
    kept by structure in the options' ``cache`` (:data:`DEFAULT_CACHE` unless
    given), so a loop of calls with new ``mu``/``cov`` only re-solves.

    Returns
    -------
    pandas.Series
        Weights of shape (n_assets,); ``|w| < 1e-9`` reported as 0.
    """
    return _markowitz(mu, cov, resolve_options(options, settings)).weights


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
    forecast: Forecast, options: MarkowitzOptions | None = None, **settings: Any
) -> pd.Series:
    """:func:`optimize` on a :class:`~foliocast.forecasting.forecast.Forecast`.

    Uses the factor form when the forecast has one. ``risk_free_rate`` and the
    targets are over the forecast horizon. ``options`` and ``**settings`` as in
    :func:`markowitz`.

    Returns
    -------
    pandas.Series
        Weights of shape (n_assets,), indexed like ``forecast.mu``.
    """
    options = resolve_options(options, settings)
    return _markowitz(forecast.mu, forecast_covariance(forecast), options).weights


# What the frontier sets itself: each point is a minimum-variance portfolio.
_FRONTIER_SETTINGS = MappingProxyType(
    {
        "objective": "min_variance",
        "risk_aversion": 1.0,
        "cost_penalty": None,
        "risk_free_rate": 0.0,
        "target": None,
    }
)


def efficient_frontier(
    mu: pd.Series,
    cov: CovarianceInput,
    n_points: int = 20,
    options: MarkowitzOptions | None = None,
    **settings: Any,
) -> Frontier:
    """Minimum-variance portfolios for evenly spaced target returns.

    The first point is the minimum-variance portfolio, the last has the highest
    expected return the constraints allow; one compiled ``target_return`` problem
    is re-solved for the points between.

    Parameters
    ----------
    mu, cov
        As in :func:`markowitz`.
    n_points : int, default 20
        Number of points, >= 2.
    options : MarkowitzOptions, optional
        Of its settings the frontier uses ``constraints``, ``prev_weights`` (only
        for a turnover limit), ``solvers``, ``solver_options``, ``fast_path`` and
        ``cache``; it sets the objective, target and risk aversion itself and has
        no cost term.
    **settings
        Those fields by name, over ``options``.

    Returns
    -------
    Frontier

    Raises
    ------
    TypeError
        A keyword the frontier sets itself (``objective``, ``target``, ...).
    OptimizationError
        If the highest return is unbounded (add bounds or a leverage limit).
    """
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    fixed = sorted(_FRONTIER_SETTINGS.keys() & settings.keys())
    if fixed:
        raise TypeError(f"efficient_frontier sets {fixed} itself; drop them")
    base = resolve_options(options, settings | _FRONTIER_SETTINGS)
    return _frontier(mu, cov, n_points, base)


def _frontier(
    mu: pd.Series, cov: CovarianceInput, n_points: int, base: MarkowitzOptions
) -> Frontier:
    # A frame of its own, as _markowitz: warnings point at the public call.
    with ONE_BLAS_THREAD:
        inputs = prepare(mu, cov, base.constraints, base.prev_weights, None)
        lowest = _solve(inputs, base)
        try:
            highest = _solve(inputs, replace(base, objective="max_return"))
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
                _solve(inputs, replace(base, objective="target_return", target=target))
            )
    index = pd.RangeIndex(n_points, name="point")
    return Frontier(
        volatility=pd.Series([p.volatility for p in points], index=index),
        expected_return=pd.Series([p.expected_return for p in points], index=index),
        weights=pd.DataFrame([p.weights for p in points], index=index),
    )


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
    tickers = validate_mu(weights, "weights")
    aligned = align(mu, tickers, "mu").to_numpy(dtype=float)
    finite_or_raise(aligned, tickers, "mu")
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
    tickers = validate_mu(weights, "weights")
    w = weights.to_numpy(dtype=float)
    if isinstance(cov, pd.DataFrame):
        matrix = align(cov, tickers, "cov").to_numpy(dtype=float)
        finite_or_raise(matrix, tickers, "cov")
        return float(w @ matrix @ w)
    loadings, idio = cov
    b = align(loadings, tickers, "loadings").to_numpy(dtype=float)
    d = align(idio, tickers, "idio").to_numpy(dtype=float)
    exposure = b.T @ w
    return float(exposure @ exposure + d @ (w * w))


def portfolio_volatility(weights: pd.Series, cov: CovarianceInput) -> float:
    """Portfolio volatility ``sqrt(w^T cov w)``; see :func:`portfolio_variance`."""
    return math.sqrt(max(portfolio_variance(weights, cov), 0.0))
