"""Trading calendars, returns, period ends, rebalancing schedules and availability.

All functions take and return pandas objects indexed by a sorted, tz-naive
``DatetimeIndex`` of trading days. Nothing here looks ahead: the value at date ``t``
depends on rows up to ``t`` only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from foliocast.data.errors import DataError
from foliocast.data.units import TRADING_DAYS_PER_YEAR
from foliocast.data.validation import DEFAULT_FILL_LIMIT

__all__ = [
    "FREQUENCIES",
    "TRADING_DAYS_PER_YEAR",
    "align_prices",
    "simple_returns",
    "log_returns",
    "period_ends",
    "rebalance_schedule",
    "availability_mask",
]


# Rebalancing frequencies and the pandas period each one groups dates by.
FREQUENCIES = {"W": "W-FRI", "M": "M", "Q": "Q"}


def align_prices(
    frames: Mapping[str, pd.DataFrame | pd.Series] | list[pd.DataFrame],
    *,
    calendar: pd.DatetimeIndex | None = None,
    fill_limit: int = DEFAULT_FILL_LIMIT,
) -> pd.DataFrame:
    """Put assets traded on different calendars onto one calendar.

    Each asset is reindexed onto ``calendar`` (default: the union of all dates) and
    forward-filled for at most ``fill_limit`` days, only between its own first and last
    price: a holiday on its exchange carries the last close, but no price is invented
    before it started or after it stopped trading.

    Parameters
    ----------
    frames : mapping of name to DataFrame/Series, or list of DataFrames
        Prices per asset or group of assets; column names (or mapping keys for
        Series) become tickers and must be unique.
    calendar : pandas.DatetimeIndex, optional
        Target trading days.
    fill_limit : int, default 5
        Longest run of calendar days filled from the previous close.

    Returns
    -------
    pandas.DataFrame
        Prices of shape (len(calendar), n_assets).
    """
    items = frames.items() if isinstance(frames, Mapping) else enumerate(frames)
    parts = []
    for key, frame in items:
        part = frame.to_frame(str(key)) if isinstance(frame, pd.Series) else frame
        parts.append(part)
    tickers = [c for part in parts for c in part.columns]
    if len(set(tickers)) != len(tickers):
        raise DataError("the same ticker appears in more than one frame to align")
    if calendar is None:
        calendar = parts[0].index
        for part in parts[1:]:
            calendar = calendar.union(part.index)
    aligned = {}
    for part in parts:
        for ticker in part.columns:
            series = part[ticker].dropna()
            on_calendar = series.reindex(calendar.union(series.index)).ffill(
                limit=fill_limit
            )
            alive = (on_calendar.index >= series.index[0]) & (
                on_calendar.index <= series.index[-1]
            )
            aligned[str(ticker)] = on_calendar.where(alive).reindex(calendar)
    result = pd.DataFrame(aligned, index=calendar)
    result.index.name = "date"
    return result


def simple_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Daily simple returns ``p_t / p_{t-1} - 1``; the first date is dropped.

    A return is NaN where either price is missing (the asset had not started).
    """
    return prices.pct_change(fill_method=None).iloc[1:]


def log_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Daily log returns ``log(p_t / p_{t-1})``; the first date is dropped."""
    return np.log(prices).diff().iloc[1:]


def _period_code(freq: str) -> str:
    try:
        return FREQUENCIES[freq]
    except KeyError:
        raise ValueError(
            f"unknown rebalancing frequency {freq!r}; use one of "
            f"{', '.join(FREQUENCIES)} (weekly, monthly, quarterly)"
        ) from None


def period_ends(index: pd.DatetimeIndex, freq: str = "M") -> pd.DatetimeIndex:
    """Last trading day in ``index`` of each week, month or quarter.

    The last period of ``index`` may be incomplete; its end is then the last date
    present, which is where a rebalance made with the data at hand would happen.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Sorted trading days.
    freq : {"W", "M", "Q"}
        Week (ending Friday), month or quarter.
    """
    periods = index.to_period(_period_code(freq))
    is_last = np.append(periods[1:] != periods[:-1], True) if len(index) else []
    return index[is_last]


def rebalance_schedule(
    index: pd.DatetimeIndex,
    freq: str = "M",
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    min_history: int = 0,
) -> pd.DatetimeIndex:
    """Rebalance dates: period ends within ``[start, end]`` with enough history.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Trading days of the price data.
    freq : {"W", "M", "Q"}
        Rebalancing frequency.
    start, end : date-like, optional
        First and last allowed rebalance date.
    min_history : int, default 0
        A date needs at least this many earlier trading days in ``index``.

    Returns
    -------
    pandas.DatetimeIndex
        The rebalance dates, a subset of ``index``; the last row of ``index`` is
        excluded because no return follows it.
    """
    ends = period_ends(index, freq)
    position = index.get_indexer(ends)
    keep = (position >= min_history) & (position < len(index) - 1)
    if start is not None:
        keep &= ends >= pd.Timestamp(start)
    if end is not None:
        keep &= ends <= pd.Timestamp(end)
    return ends[keep]


def availability_mask(prices: pd.DataFrame, min_history: int) -> pd.DataFrame:
    """Whether each asset is in the investable universe at each date.

    An asset enters once it has ``min_history`` prices up to and including the date
    and has a price on that date, so late starters join the universe over time.

    Returns
    -------
    pandas.DataFrame
        Booleans of the same shape as ``prices``.
    """
    observed = prices.notna()
    return observed & (observed.cumsum() >= max(min_history, 1))
