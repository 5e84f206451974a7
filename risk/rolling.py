"""Rolling risk and calendar return tables.

Rolling statistics use a trailing window of ``window`` observations (252 trading days,
about twelve months, by default) and are annualised like their full-sample versions in
:mod:`risk.metrics`. A window with fewer than ``min_periods`` non-missing returns, or
whose returns do not vary, gives NaN. Calendar tables compound the daily returns inside
each month or year: ``prod(1 + r) - 1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR
from foliocast.risk._validation import align_rf, as_return_frame, as_return_series

__all__ = [
    "rolling_volatility",
    "rolling_sharpe",
    "monthly_returns_table",
    "calendar_year_returns",
]

ReturnsLike = pd.Series | pd.DataFrame


def _validated(returns: ReturnsLike) -> ReturnsLike:
    if isinstance(returns, pd.DataFrame):
        return as_return_frame(returns)
    as_return_series(returns)
    return returns.astype("float64")


def _window_args(window: int, min_periods: int | None) -> dict[str, int]:
    if window < 2:
        raise ValueError(f"window must be at least 2 observations, got {window}")
    min_periods = window if min_periods is None else min_periods
    if not 2 <= min_periods <= window:
        raise ValueError(
            f"min_periods must lie between 2 and window ({window}), got {min_periods}"
        )
    return {"window": window, "min_periods": min_periods}


def rolling_volatility(
    returns: ReturnsLike,
    *,
    window: int = TRADING_DAYS_PER_YEAR,
    min_periods: int | None = None,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> ReturnsLike:
    """Return the trailing annualised volatility.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,) or pd.DataFrame of shape \
(n_periods, n_strategies)
        Simple per-period returns with a ``DatetimeIndex``.
    window : int
        Observations in each window.
    min_periods : int, optional
        Fewest non-missing observations for a value (default ``window``).
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    pd.Series or pd.DataFrame, same shape as ``returns``
        ``std(r, ddof=1) * sqrt(periods_per_year)`` over each trailing window.
    """
    data = _validated(returns)
    std = data.rolling(**_window_args(window, min_periods)).std(ddof=1)
    return std * np.sqrt(periods_per_year)


def rolling_sharpe(
    returns: ReturnsLike,
    *,
    window: int = TRADING_DAYS_PER_YEAR,
    min_periods: int | None = None,
    rf: float | pd.Series = 0.0,
    periods_per_year: int = TRADING_DAYS_PER_YEAR,
) -> ReturnsLike:
    """Return the trailing annualised Sharpe ratio.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,) or pd.DataFrame of shape \
(n_periods, n_strategies)
        Simple per-period returns with a ``DatetimeIndex``.
    window : int
        Observations in each window.
    min_periods : int, optional
        Fewest non-missing observations for a value (default ``window``).
    rf : float or pd.Series
        Per-period risk-free return, a constant or a series covering every date.
    periods_per_year : int
        Periods in a year.

    Returns
    -------
    pd.Series or pd.DataFrame, same shape as ``returns``
        ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)`` over each
        trailing window; NaN where the window's excess returns do not vary.
    """
    data = _validated(returns)
    rate = align_rf(rf, data.index)
    excess = data.sub(rate, axis=0) if isinstance(rate, np.ndarray) else data - rate
    rolling = excess.rolling(**_window_args(window, min_periods))
    mean, std = rolling.mean(), rolling.std(ddof=1)
    # Rolling std of a constant window is rounding noise rather than zero, which
    # would turn into a huge spurious ratio; a flat window's ratio is undefined.
    flat = (rolling.max() - rolling.min()) == 0.0
    return (mean / std).mask(flat | (std == 0.0)) * np.sqrt(periods_per_year)


def _compound(returns: pd.Series, keys: list[pd.Index]) -> pd.Series:
    # min_count=1 keeps a month without any observation NaN instead of 0%.
    growth = (1.0 + returns).groupby(keys).prod(min_count=1)
    return growth - 1.0


def monthly_returns_table(returns: pd.Series) -> pd.DataFrame:
    """Return compounded monthly returns laid out as years x months.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple daily (or any sub-monthly) returns with a ``DatetimeIndex``.

    Returns
    -------
    pd.DataFrame of shape (n_years, 12)
        Index ``year`` (int), columns ``month`` 1..12 (int); NaN for months outside
        the sample. Partial first and last months compound only their observed days.
    """
    observed = as_return_series(returns)
    dates = observed.index
    monthly = _compound(observed, [dates.year.rename("year"), dates.month])
    table = monthly.unstack().reindex(columns=range(1, 13))
    table.columns.name = "month"
    return table


def calendar_year_returns(returns: ReturnsLike) -> ReturnsLike:
    """Return compounded calendar-year returns.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,) or pd.DataFrame of shape \
(n_periods, n_strategies)
        Simple per-period returns with a ``DatetimeIndex``.

    Returns
    -------
    pd.Series of shape (n_years,) or pd.DataFrame of shape (n_years, n_strategies)
        Index ``year`` (int). Partial first and last years compound only their
        observed days; a year with no observation for a strategy is NaN.
    """
    if isinstance(returns, pd.DataFrame):
        frame = as_return_frame(returns)
        return frame.apply(
            lambda column: (
                calendar_year_returns(column)
                if column.notna().any()
                else pd.Series(np.nan, index=frame.index.year.unique().rename("year"))
            )
        )
    observed = as_return_series(returns)
    yearly = _compound(observed, [observed.index.year.rename("year")])
    return yearly.rename(returns.name)
