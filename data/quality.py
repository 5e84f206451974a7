"""Warnings for prices that load cleanly but are probably wrong.

Two mistakes pass every check in `data.validation` and still spoil a run:

- an unadjusted split, reverse split or typo: the price moves by a large factor in
  one day (x1000, x0.02), which every model reads as a real return;
- weekly or monthly prices given as daily: every annualised figure assumes 252
  trading days a year, so volatilities and Sharpe ratios come out wrong by a factor
  of sqrt(5) or more.

`check_prices` warns with a `DataQualityWarning` that names the asset and the date
(or the spacing of the dates); it never changes the prices. To accept such data on
purpose, raise ``max_daily_move``, pass ``checks=False`` to `data.load_prices` (in a
run config: ``data.max_daily_move`` and ``data.checks: false``), or filter the
warning category.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_MAX_DAILY_MOVE",
    "MAX_DAILY_SPACING_DAYS",
    "DataQualityWarning",
    "check_prices",
    "median_spacing_days",
    "price_jumps",
]

DEFAULT_MAX_DAILY_MOVE = 3.5
"""A close above 3.5x or below 1/3.5 of the previous close is flagged.

Unadjusted splits of 4:1 and more and reverse splits of 1:4 and more are caught. 2:1
and 3:1 splits are not: real prices move that much too (in the bundled ``sp500``
data RRC fell to a third of its price on 1990-04-10, its largest one-day move; no
other bundled series moves by more than a factor of 1.6). A bankrupt stock can fall
further: raise the limit for such data.
"""

MAX_DAILY_SPACING_DAYS = 3.0
"""Median calendar days between dates above which prices are not daily.

Daily prices are a median 1 day apart (3 over a weekend), weekly ones 7.
"""

SHOWN = 5  # jumps listed in a warning; the rest are counted


class DataQualityWarning(UserWarning):
    """Prices that load but look wrong: an unadjusted split, or not daily prices."""


def price_jumps(prices: pd.DataFrame, max_move: float) -> pd.DataFrame:
    """One-day price moves by more than a factor of ``max_move`` up or down.

    Parameters
    ----------
    prices : pandas.DataFrame of shape (n_dates, n_assets)
        Prices; NaN (an asset not trading yet) is skipped, each move is measured
        from the asset's previous price.
    max_move : float
        Factor > 1: a close above ``max_move`` times or below ``1 / max_move`` of
        the previous close is a jump.

    Returns
    -------
    pandas.DataFrame
        One row per jump, in date order, with columns ``asset``, ``date``,
        ``previous_date`` and ``ratio`` (close over previous close).
    """
    rows = []
    for asset in prices.columns:
        series = prices[asset].dropna()
        ratio = series.to_numpy()[1:] / series.to_numpy()[:-1]
        for i in np.flatnonzero((ratio > max_move) | (ratio < 1 / max_move)):
            rows.append(
                {
                    "asset": str(asset),
                    "date": series.index[i + 1],
                    "previous_date": series.index[i],
                    "ratio": float(ratio[i]),
                }
            )
    jumps = pd.DataFrame(rows, columns=["asset", "date", "previous_date", "ratio"])
    return jumps.sort_values(["date", "asset"], kind="stable", ignore_index=True)


def median_spacing_days(index: pd.DatetimeIndex) -> float:
    """Median number of calendar days between consecutive dates (NaN if < 2 dates)."""
    if len(index) < 2:
        return float("nan")
    gaps = np.diff(index.to_numpy()) / np.timedelta64(1, "D")
    return float(np.median(gaps))


def _describe_spacing(days: float) -> str:
    if 5 <= days <= 8:
        return "weekly prices?"
    if 28 <= days <= 31:
        return "monthly prices?"
    return "not daily prices?"


def _ratio_text(ratio: float) -> str:
    return f"x{ratio:.4g}" if ratio >= 1 else f"x{ratio:.4g} (1/{1 / ratio:.4g})"


def check_prices(
    prices: pd.DataFrame,
    *,
    source: str,
    max_daily_move: float = DEFAULT_MAX_DAILY_MOVE,
) -> list[str]:
    """Warn about one-day jumps and prices that are not daily; change nothing.

    Parameters
    ----------
    prices : pandas.DataFrame of shape (n_dates, n_assets)
        Validated prices (sorted DatetimeIndex).
    source : str
        File or dataset name, used in the warnings.
    max_daily_move : float, default `DEFAULT_MAX_DAILY_MOVE`
        Factor > 1 beyond which a one-day move is flagged (see `price_jumps`).

    Returns
    -------
    list of str
        The warnings issued (empty when the prices look fine), each also issued as
        a `DataQualityWarning`.
    """
    messages = []
    jumps = price_jumps(prices, max_daily_move)
    if len(jumps):
        shown = [
            f"{row.asset} on {row.date:%Y-%m-%d} {_ratio_text(row.ratio)} from "
            f"{row.previous_date:%Y-%m-%d}"
            for row in jumps.head(SHOWN).itertuples()
        ]
        more = f" and {len(jumps) - SHOWN} more" if len(jumps) > SHOWN else ""
        messages.append(
            f"{source}: price moves beyond a factor of {max_daily_move:g} in one day: "
            f"{'; '.join(shown)}{more}. An unadjusted split or a data error? Use "
            "split-adjusted prices; to keep them on purpose raise "
            "data.max_daily_move or set data.checks: false"
        )
    spacing = median_spacing_days(prices.index)
    if spacing > MAX_DAILY_SPACING_DAYS:
        messages.append(
            f"{source}: dates are a median {spacing:g} calendar days apart "
            f"({prices.index[0]:%Y-%m-%d} to {prices.index[-1]:%Y-%m-%d}): "
            f"{_describe_spacing(spacing)} Everything here assumes daily prices "
            "(252 a year), so annualised figures would be wrong. Supply daily "
            "prices, or set data.checks: false to use these anyway"
        )
    for message in messages:
        warnings.warn(message, DataQualityWarning, stacklevel=2)
    return messages
