"""Performance metrics of a return series, with empyrical's conventions.

Every metric is a pure function of simple per-period returns (a ``pd.Series`` with a
``DatetimeIndex``; missing values are dropped first) and returns a plain ``float``,
NaN where the quantity is undefined (zero variance, no losses, fewer than two
observations): never an exception, never an infinity. Empty or all-missing input is a
``ValueError``.

Conventions (``n`` observed periods, ``ppy`` periods per year, ``rf`` the per-period
risk-free return, a scalar or a series on the same dates):

- ``annual_return``: CAGR, ``prod(1 + r) ** (ppy / n) - 1`` (years = ``n / ppy``).
- ``annual_volatility``: ``std(r, ddof=1) * sqrt(ppy)``.
- ``sharpe``: ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(ppy)``.
- ``sortino``: ``mean(r - rf) * ppy / downside_risk``, where the downside deviation is
  taken over all observations, ``sqrt(mean(min(r - rf, 0) ** 2)) * sqrt(ppy)``.
- ``max_drawdown``: a negative fraction; ``max_drawdown_duration_days``: calendar days
  of the longest peak-to-recovery episode, counted to the last date if unrecovered
  (see :mod:`risk.drawdown`).
- ``calmar``: CAGR / ``|max_drawdown|``.
- ``var_95``, ``cvar_95``: historical, as returns, so a loss is a negative number
  (``var_95 = -0.02`` means a 2% daily loss is exceeded on 5% of days). VaR is the 5%
  quantile with linear interpolation; CVaR (expected shortfall) the mean of the
  returns at or below it.
- ``skew``: bias-corrected sample skewness; ``kurtosis``: bias-corrected sample
  *excess* kurtosis (0 for a normal distribution), as pandas' ``skew``/``kurt``.
- ``hit_rate``: fraction of periods with ``r > 0`` (a flat period is not a hit).
- ``turnover``: annualised one-way turnover, ``cost_drag``: annual transaction costs as
  a fraction of wealth; both computed by the backtest and passed through (NaN if not
  given). :mod:`risk.trading` computes them.
- With a benchmark (dates intersected with the strategy's): ``beta`` of excess returns
  on the benchmark's excess returns; ``alpha`` annualised the empyrical way,
  ``(1 + mean(r - rf - beta * (b - rf))) ** ppy - 1``; ``tracking_error``
  ``std(r - b, ddof=1) * sqrt(ppy)``; ``information_ratio``
  ``mean(r - b) / std(r - b, ddof=1) * sqrt(ppy)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR
from foliocast.risk._validation import (
    align_rf,
    as_return_frame,
    as_return_series,
    finite_or_nan,
)
from foliocast.risk.drawdown import max_drawdown, max_drawdown_duration_days

__all__ = [
    "SUMMARY_KEYS",
    "BENCHMARK_KEYS",
    "annual_return",
    "annual_volatility",
    "excess_returns",
    "per_period_sharpe",
    "sharpe_ratio",
    "downside_risk",
    "sortino_ratio",
    "calmar_ratio",
    "value_at_risk",
    "conditional_value_at_risk",
    "skewness",
    "excess_kurtosis",
    "hit_rate",
    "alpha_beta",
    "tracking_error",
    "information_ratio",
    "performance_summary",
    "summary_table",
]

SUMMARY_KEYS = (
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration_days",
    "calmar",
    "var_95",
    "cvar_95",
    "skew",
    "kurtosis",
    "hit_rate",
    "turnover",
    "cost_drag",
)
BENCHMARK_KEYS = ("beta", "alpha", "tracking_error", "information_ratio")

_NAN = float("nan")


def per_period_sharpe(excess: np.ndarray) -> float:
    """Return the Sharpe ratio of excess returns in per-period units.

    The one definition of the Sharpe ratio in the project: :func:`sharpe_ratio`
    annualises it, and the significance tests (`risk.significance`) use it as is.

    Parameters
    ----------
    excess : ndarray of shape (n_periods,)
        Per-period returns in excess of the risk-free rate (or of a benchmark, for
        the information ratio), without missing values.

    Returns
    -------
    float
        ``mean(excess) / std(excess, ddof=1)``; NaN with fewer than two values or
        values that do not vary.
    """
    values = np.asarray(excess, dtype=float)
    if values.size < 2:
        return _NAN
    std = values.std(ddof=1)
    # A constant series has a rounding-noise std, not a meaningful one.
    if std == 0.0 or np.ptp(values) == 0.0:
        return _NAN
    return float(values.mean() / std)


def annual_return(
    returns: pd.Series, *, periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> float:
    """Return the compound annual growth rate (CAGR).

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.
    periods_per_year : int
        Periods in a year (252 for trading days, 12 for months).

    Returns
    -------
    float
        ``prod(1 + r) ** (periods_per_year / n) - 1``; -1.0 if wealth reached zero,
        NaN if it went negative (a loss of more than 100%).
    """
    r = as_return_series(returns).to_numpy()
    final_wealth = np.prod(1.0 + r)
    if final_wealth < 0.0:
        return _NAN
    return finite_or_nan(final_wealth ** (periods_per_year / r.size) - 1.0)


def annual_volatility(
    returns: pd.Series, *, periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> float:
    """Return the annualised volatility ``std(r, ddof=1) * sqrt(periods_per_year)``.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    float
        Annualised volatility; NaN with fewer than two observations.
    """
    r = as_return_series(returns).to_numpy()
    if r.size < 2:
        return _NAN
    return float(r.std(ddof=1) * np.sqrt(periods_per_year))


def excess_returns(returns: pd.Series, rf: float | pd.Series) -> np.ndarray:
    """Return the observed returns less the per-period risk-free rate on their dates.

    Missing returns are dropped first; ``rf`` is a scalar or a series covering
    those dates. The Sharpe ratio and the significance tests start from this.
    """
    observed = as_return_series(returns)
    return observed.to_numpy() - align_rf(rf, observed.index)


def sharpe_ratio(
    returns: pd.Series,
    *,
    rf: float | pd.Series = 0.0,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> float:
    """Return the annualised Sharpe ratio.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.
    rf : float or pd.Series
        Per-period risk-free return, a constant or a series covering every date.
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    float
        ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``; NaN if the
        excess returns do not vary or there are fewer than two.
    """
    ratio = per_period_sharpe(excess_returns(returns, rf))
    return ratio * float(np.sqrt(periods_per_year))


def downside_risk(
    returns: pd.Series,
    *,
    required_return: float | pd.Series = 0.0,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> float:
    """Return the annualised downside deviation below ``required_return``.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.
    required_return : float or pd.Series
        Per-period threshold (the risk-free rate in the Sortino ratio).
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    float
        ``sqrt(mean(min(r - required_return, 0) ** 2)) * sqrt(periods_per_year)``,
        averaged over all observations, not only the losing ones (as empyrical).
    """
    shortfall = np.minimum(excess_returns(returns, required_return), 0.0)
    return float(np.sqrt(np.mean(shortfall**2)) * np.sqrt(periods_per_year))


def sortino_ratio(
    returns: pd.Series,
    *,
    rf: float | pd.Series = 0.0,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> float:
    """Return the annualised Sortino ratio with the risk-free rate as threshold.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.
    rf : float or pd.Series
        Per-period risk-free return, also the downside threshold.
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    float
        ``mean(r - rf) * periods_per_year / downside_risk``; NaN with fewer than two
        observations or when no period fell below ``rf``.
    """
    excess = excess_returns(returns, rf)
    if excess.size < 2:
        return _NAN
    downside = downside_risk(
        returns, required_return=rf, periods_per_year=periods_per_year
    )
    if downside == 0.0:
        return _NAN
    return finite_or_nan(excess.mean() * periods_per_year / downside)


def calmar_ratio(
    returns: pd.Series, *, periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> float:
    """Return the Calmar ratio, CAGR over the absolute maximum drawdown.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    float
        ``annual_return / |max_drawdown|``; NaN if there was no drawdown.
    """
    depth = max_drawdown(returns)
    if depth >= 0.0:
        return _NAN
    cagr = annual_return(returns, periods_per_year=periods_per_year)
    return finite_or_nan(cagr / abs(depth))


def value_at_risk(returns: pd.Series, *, level: float = 0.95) -> float:
    """Return the historical value at risk, as a return (a loss is negative).

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.
    level : float
        Confidence level in (0, 1); 0.95 gives the 5% quantile.

    Returns
    -------
    float
        The ``1 - level`` quantile of the returns, linearly interpolated (as
        ``numpy.quantile`` and empyrical's ``value_at_risk``).
    """
    _check_level(level)
    r = as_return_series(returns).to_numpy()
    return float(np.quantile(r, 1.0 - level))


def conditional_value_at_risk(returns: pd.Series, *, level: float = 0.95) -> float:
    """Return the historical expected shortfall, as a return (a loss is negative).

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    float
        Mean of the returns at or below :func:`value_at_risk`. Without ties this
        is the mean of the ``floor((n - 1) * (1 - level)) + 1`` lowest returns, the
        same number empyrical averages; with ties at the cutoff all tied returns
        are included, where empyrical keeps an exact count.
    """
    _check_level(level)
    r = as_return_series(returns).to_numpy()
    cutoff = np.quantile(r, 1.0 - level)
    return float(r[r <= cutoff].mean())


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")


def skewness(returns: pd.Series) -> float:
    """Return the bias-corrected sample skewness (pandas' ``Series.skew``).

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.

    Returns
    -------
    float
        Adjusted Fisher-Pearson skewness; NaN with fewer than three observations or
        no variation.
    """
    r = as_return_series(returns).to_numpy()
    if r.size < 3 or np.ptp(r) == 0.0:
        return _NAN
    n = r.size
    centred = r - r.mean()
    m2 = np.mean(centred**2)
    m3 = np.mean(centred**3)
    biased = m3 / m2**1.5
    return finite_or_nan(biased * np.sqrt(n * (n - 1)) / (n - 2))


def excess_kurtosis(returns: pd.Series) -> float:
    """Return the bias-corrected sample excess kurtosis (pandas' ``Series.kurt``).

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.

    Returns
    -------
    float
        Excess kurtosis, 0 for a normal distribution; NaN with fewer than four
        observations or no variation.
    """
    r = as_return_series(returns).to_numpy()
    if r.size < 4 or np.ptp(r) == 0.0:
        return _NAN
    n = r.size
    centred = r - r.mean()
    m2 = np.mean(centred**2)
    m4 = np.mean(centred**4)
    with np.errstate(divide="ignore", invalid="ignore"):  # m2**2 may underflow to 0
        biased = m4 / m2**2 - 3.0
    # Unbiased under normality (Joanes & Gill's G2, used by pandas and Excel).
    corrected = ((n + 1) * biased + 6.0) * (n - 1) / ((n - 2) * (n - 3))
    return finite_or_nan(corrected)


def hit_rate(returns: pd.Series) -> float:
    """Return the fraction of periods with a strictly positive return.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns.

    Returns
    -------
    float
        In [0, 1].
    """
    r = as_return_series(returns).to_numpy()
    return float(np.mean(r > 0.0))


def _aligned_with_benchmark(
    returns: pd.Series, benchmark: pd.Series
) -> tuple[pd.Series, pd.Series]:
    strategy = as_return_series(returns)
    reference = as_return_series(benchmark, name="benchmark")
    common = strategy.index.intersection(reference.index)
    if common.empty:
        raise ValueError(
            "benchmark shares no dates with returns; pass benchmark returns over the "
            "same period"
        )
    return strategy.loc[common], reference.loc[common]


def alpha_beta(
    returns: pd.Series,
    benchmark: pd.Series,
    *,
    rf: float | pd.Series = 0.0,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> tuple[float, float]:
    """Return the annualised alpha and the beta against a benchmark (empyrical).

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns of the strategy.
    benchmark : pd.Series of shape (n_bench_periods,)
        Simple per-period returns of the benchmark; only common dates are used.
    rf : float or pd.Series
        Per-period risk-free return.
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    alpha : float
        ``(1 + mean(r - rf - beta * (b - rf))) ** periods_per_year - 1``.
    beta : float
        ``cov(r - rf, b - rf) / var(b - rf)``; NaN (and alpha NaN) if the benchmark
        does not vary or there are fewer than two common dates. With a constant
        ``rf`` it equals empyrical's beta, which ignores ``rf``.
    """
    strategy, reference = _aligned_with_benchmark(returns, benchmark)
    rate = align_rf(rf, strategy.index)
    excess = strategy.to_numpy() - rate
    excess_bench = reference.to_numpy() - rate
    if excess.size < 2 or np.ptp(excess_bench) == 0.0:
        return _NAN, _NAN
    centred_bench = excess_bench - excess_bench.mean()
    beta = float(np.mean(centred_bench * excess) / np.mean(centred_bench**2))
    residual_mean = np.mean(excess - beta * excess_bench)
    alpha = finite_or_nan((1.0 + residual_mean) ** periods_per_year - 1.0)
    return alpha, beta


def tracking_error(
    returns: pd.Series,
    benchmark: pd.Series,
    *,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> float:
    """Return the annualised tracking error ``std(r - b, ddof=1) * sqrt(ppy)``.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns of the strategy.
    benchmark : pd.Series of shape (n_bench_periods,)
        Simple per-period returns of the benchmark; only common dates are used.
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    float
        Annualised tracking error; NaN with fewer than two common dates.
    """
    strategy, reference = _aligned_with_benchmark(returns, benchmark)
    active = strategy.to_numpy() - reference.to_numpy()
    if active.size < 2:
        return _NAN
    return float(active.std(ddof=1) * np.sqrt(periods_per_year))


def information_ratio(
    returns: pd.Series,
    benchmark: pd.Series,
    *,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> float:
    """Return the annualised information ratio of the active return ``r - b``.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns of the strategy.
    benchmark : pd.Series of shape (n_bench_periods,)
        Simple per-period returns of the benchmark; only common dates are used.
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    float
        ``mean(r - b) / std(r - b, ddof=1) * sqrt(periods_per_year)``; NaN if the
        active return does not vary (e.g. the strategy is the benchmark).
    """
    strategy, reference = _aligned_with_benchmark(returns, benchmark)
    active = strategy.to_numpy() - reference.to_numpy()
    # The information ratio is the Sharpe ratio of the active return.
    return per_period_sharpe(active) * float(np.sqrt(periods_per_year))


def _optional(value: float | None) -> float:
    return _NAN if value is None else finite_or_nan(value)


def performance_summary(
    returns: pd.Series,
    *,
    rf: float | pd.Series = 0.0,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
    benchmark: pd.Series | None = None,
    turnover: float | None = None,
    cost_drag: float | None = None,
) -> dict[str, float]:
    """Return the standard performance summary of one strategy.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period (net) returns with a ``DatetimeIndex``; missing values are
        dropped.
    rf : float or pd.Series
        Per-period risk-free return, a constant or a series covering every date.
    periods_per_year : int
        Periods in a year.
    benchmark : pd.Series of shape (n_bench_periods,), optional
        Benchmark returns; adds ``beta, alpha, tracking_error, information_ratio``
        computed on the common dates.
    turnover : float, optional
        Annualised one-way turnover from the backtest, passed through.
    cost_drag : float, optional
        Annual transaction cost drag from the backtest, passed through.

    Returns
    -------
    dict of str to float
        Keys :data:`SUMMARY_KEYS` (then :data:`BENCHMARK_KEYS` with a benchmark),
        plain floats with NaN where undefined; conventions in the module docstring.

    Raises
    ------
    ValueError
        If ``returns`` is empty or all missing, or ``rf`` does not cover its dates.
    """
    observed = as_return_series(returns)
    ppy = periods_per_year
    summary = {
        "annual_return": annual_return(observed, periods_per_year=ppy),
        "annual_volatility": annual_volatility(observed, periods_per_year=ppy),
        "sharpe": sharpe_ratio(observed, rf=rf, periods_per_year=ppy),
        "sortino": sortino_ratio(observed, rf=rf, periods_per_year=ppy),
        "max_drawdown": max_drawdown(observed),
        "max_drawdown_duration_days": max_drawdown_duration_days(observed),
        "calmar": calmar_ratio(observed, periods_per_year=ppy),
        "var_95": value_at_risk(observed, level=0.95),
        "cvar_95": conditional_value_at_risk(observed, level=0.95),
        "skew": skewness(observed),
        "kurtosis": excess_kurtosis(observed),
        "hit_rate": hit_rate(observed),
        "turnover": _optional(turnover),
        "cost_drag": _optional(cost_drag),
    }
    if benchmark is not None:
        alpha, beta = alpha_beta(observed, benchmark, rf=rf, periods_per_year=ppy)
        summary["beta"] = beta
        summary["alpha"] = alpha
        summary["tracking_error"] = tracking_error(
            observed, benchmark, periods_per_year=ppy
        )
        summary["information_ratio"] = information_ratio(
            observed, benchmark, periods_per_year=ppy
        )
    return {key: finite_or_nan(value) for key, value in summary.items()}


def summary_table(
    returns: pd.DataFrame,
    *,
    rf: float | pd.Series = 0.0,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
    benchmark: pd.Series | None = None,
    turnover: Mapping[str, float] | None = None,
    cost_drag: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Return :func:`performance_summary` for each strategy, one row per strategy.

    Parameters
    ----------
    returns : pd.DataFrame of shape (n_periods, n_strategies)
        Simple per-period returns, one column per strategy; each column is
        summarised over its own observed (non-missing) dates.
    rf : float or pd.Series
        Per-period risk-free return.
    periods_per_year : int
        Periods in a year.
    benchmark : pd.Series, optional
        Benchmark returns for the relative metrics.
    turnover : mapping of str to float, optional
        Annualised one-way turnover by strategy name; strategies left out get NaN.
    cost_drag : mapping of str to float, optional
        Annual cost drag by strategy name; strategies left out get NaN.

    Returns
    -------
    pd.DataFrame of shape (n_strategies, n_metrics)
        Index: strategy names; columns: the summary keys in order.

    Raises
    ------
    ValueError
        If a column has no observations (its name is in the message).
    """
    frame = as_return_frame(returns)
    turnover = turnover or {}
    cost_drag = cost_drag or {}
    rows = {}
    for name in frame.columns:
        column = frame[name]
        if column.isna().all():
            raise ValueError(f"strategy {name!r} has no returns (all missing)")
        rows[name] = performance_summary(
            column,
            rf=rf,
            periods_per_year=periods_per_year,
            benchmark=benchmark,
            turnover=turnover.get(name),
            cost_drag=cost_drag.get(name),
        )
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy"
    return table
