"""Causal per-asset features for the LSTM, computed from daily prices (and volume).

Every feature at date ``t`` is a function of prices (and volume) up to and including
``t``: rolling windows, exponential averages and cross-sectional statistics only look
back. Values that cannot be computed yet (warm-up windows, assets that have not started
trading) are NaN; the dataset imputes them after scaling.

Feature families (names as in :attr:`Features.names`):

- ``ret_1d``: daily log return.
- ``vol_{w}``: realised volatility (std of daily log returns) over ``w`` days.
- ``rsi_14``: Wilder's RSI(14), mapped from [0, 100] to [-1, 1].
- ``macd``, ``macd_hist``: MACD(12, 26) line and its histogram against the
  9-day signal line, both divided by price times 63-day volatility so that they are
  comparable across assets and regimes.
- ``ma_dist_{w}``: log distance of the price to its ``w``-day simple moving average.
- ``mom_{w}``: log return over the last ``w`` days (1, 3 and 12 months).
- ``history``: days since the asset's first price, capped at one year and divided by
  252 (zero before it), so the model knows when the other features are still warming
  up or missing.
- ``volume_z``: z-score of log volume against its 63-day mean and std (only when
  volume is given).
- Market-wide inputs, the same for every asset on a date: ``mkt_ret`` (equal-weight
  universe log return), ``mkt_vol_21`` (its 21-day volatility) and ``dispersion``
  (cross-sectional std of daily log returns); plus the asset's ``mkt_corr_63``
  (rolling 63-day correlation with the market return), so each asset's sequence carries
  its co-movement with the market.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Features",
    "compute_features",
    "feature_names",
    "VOL_WINDOWS",
    "MA_WINDOWS",
    "MOMENTUM_WINDOWS",
]

VOL_WINDOWS: tuple[int, ...] = (5, 21, 63)
MA_WINDOWS: tuple[int, ...] = (21, 63, 252)
MOMENTUM_WINDOWS: tuple[int, ...] = (21, 63, 252)
RSI_WINDOW = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
VOLUME_WINDOW = 63
CORR_WINDOW = 63
HISTORY_CAP = 252


@dataclass(frozen=True)
class Features:
    """Feature cube for a universe: one row per date, one slice per asset.

    Parameters
    ----------
    values : ndarray of shape (n_dates, n_assets, n_features), float32
        Feature values; NaN where a feature is not yet defined.
    dates : pandas.DatetimeIndex of length n_dates
        Dates of the rows (the price index).
    tickers : list of str, length n_assets
        Asset names, in column order.
    names : list of str, length n_features
        Feature names, in the order of the last axis.
    """

    values: np.ndarray
    dates: pd.DatetimeIndex
    tickers: list[str]
    names: list[str]

    def to_frame(self) -> pd.DataFrame:
        """Return the long form: index (date, ticker), one column per feature."""
        n_dates, n_assets, n_features = self.values.shape
        index = pd.MultiIndex.from_product(
            [self.dates, self.tickers], names=["date", "ticker"]
        )
        flat = self.values.reshape(n_dates * n_assets, n_features)
        return pd.DataFrame(flat, index=index, columns=self.names)


def feature_names(with_volume: bool = False) -> list[str]:
    """Names of the features :func:`compute_features` returns, in order.

    Parameters
    ----------
    with_volume : bool, default False
        Whether ``volume_z`` is included.

    Returns
    -------
    list of str
    """
    names = ["ret_1d"]
    names += [f"vol_{w}" for w in VOL_WINDOWS]
    names += [f"rsi_{RSI_WINDOW}", "macd", "macd_hist"]
    names += [f"ma_dist_{w}" for w in MA_WINDOWS]
    names += [f"mom_{w}" for w in MOMENTUM_WINDOWS]
    names += ["history"]
    if with_volume:
        names += ["volume_z"]
    names += ["mkt_ret", "mkt_vol_21", "dispersion", f"mkt_corr_{CORR_WINDOW}"]
    return names


def compute_features(
    prices: pd.DataFrame, volume: pd.DataFrame | None = None
) -> Features:
    """Compute the causal feature cube from daily prices.

    Parameters
    ----------
    prices : pandas.DataFrame of shape (n_dates, n_assets)
        Daily prices, sorted DatetimeIndex, one column per ticker; leading NaNs for
        assets that start later are allowed.
    volume : pandas.DataFrame, optional
        Daily traded volume with the same index and columns as ``prices`` (columns
        may be all-NaN for assets without volume). Adds the ``volume_z`` feature.

    Returns
    -------
    Features
        Values of shape (n_dates, n_assets, n_features).
    """
    prices = prices.astype(float)
    if volume is not None:
        volume = volume.reindex(index=prices.index, columns=prices.columns)
    # Non-positive prices would make log returns meaningless; treat them as missing.
    log_price = np.log(prices.where(prices > 0))
    log_ret = log_price.diff()

    names = feature_names(with_volume=volume is not None)
    columns: list[pd.DataFrame] = [log_ret]
    columns += [_rolling_std(log_ret, w) for w in VOL_WINDOWS]
    columns += [_rsi(prices, RSI_WINDOW)]
    columns += list(_macd(prices, log_ret))
    columns += [log_price - np.log(_sma(prices, w)) for w in MA_WINDOWS]
    columns += [log_price - log_price.shift(w) for w in MOMENTUM_WINDOWS]
    columns += [_history(prices)]
    if volume is not None:
        columns += [_volume_z(volume)]
    columns += _market_inputs(log_ret)

    values = np.stack([c.to_numpy(dtype=float) for c in columns], axis=-1)
    # Where an asset has no price nothing is defined, not even the market inputs
    # broadcast to it; only ``history`` stays defined (zero before the first price)
    # so that the model can tell "no data yet" from "average data".
    history = names.index("history")
    kept = values[..., history].copy()
    values[~np.isfinite(prices.to_numpy(dtype=float))] = np.nan
    values[..., history] = kept
    values[~np.isfinite(values)] = np.nan
    return Features(
        values=values.astype(np.float32),
        dates=pd.DatetimeIndex(prices.index),
        tickers=[str(c) for c in prices.columns],
        names=names,
    )


def _sma(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    return frame.rolling(window, min_periods=window).mean()


def _rolling_std(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    return frame.rolling(window, min_periods=window).std()


def _rsi(prices: pd.DataFrame, window: int) -> pd.DataFrame:
    """Wilder's RSI mapped to [-1, 1] (0 is neutral)."""
    change = prices.diff()
    # Wilder smoothing is an EMA with alpha = 1 / window.
    gain = change.clip(lower=0.0).ewm(alpha=1.0 / window, min_periods=window).mean()
    loss = (-change).clip(lower=0.0).ewm(alpha=1.0 / window, min_periods=window).mean()
    total = gain + loss
    # A flat window has no gains or losses: call it neutral rather than undefined.
    rsi = (gain / total.where(total > 0)).fillna(0.5).where(total.notna())
    return 2.0 * rsi - 1.0


def _macd(
    prices: pd.DataFrame, log_ret: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MACD line and histogram in units of price x 63-day daily volatility."""
    fast = prices.ewm(span=MACD_FAST, min_periods=MACD_FAST, adjust=False).mean()
    slow = prices.ewm(span=MACD_SLOW, min_periods=MACD_SLOW, adjust=False).mean()
    line = fast - slow
    signal = line.ewm(span=MACD_SIGNAL, min_periods=MACD_SIGNAL, adjust=False).mean()
    # Dividing by price makes MACD scale-free; dividing by volatility puts it in
    # "daily sigmas" so calm and wild assets are comparable.
    unit = prices * _rolling_std(log_ret, 63)
    unit = unit.where(unit > 0)
    return line / unit, (line - signal) / unit


def _history(prices: pd.DataFrame) -> pd.DataFrame:
    """Days since the first price, capped at one year, in years (0 before it)."""
    started = prices.notna().cumsum() > 0
    days = (started.cumsum() - 1).clip(lower=0, upper=HISTORY_CAP)
    return days / HISTORY_CAP


def _volume_z(volume: pd.DataFrame) -> pd.DataFrame:
    log_volume = np.log(volume.astype(float).where(volume > 0))
    mean = log_volume.rolling(VOLUME_WINDOW, min_periods=VOLUME_WINDOW).mean()
    std = _rolling_std(log_volume, VOLUME_WINDOW)
    return (log_volume - mean) / std.where(std > 0)


def _market_inputs(log_ret: pd.DataFrame) -> list[pd.DataFrame]:
    """Equal-weight market return, its volatility, dispersion and each asset's corr."""
    market = log_ret.mean(axis=1, skipna=True)
    dispersion = log_ret.std(axis=1, ddof=0, skipna=True)
    market_vol = market.rolling(21, min_periods=21).std()
    corr = log_ret.rolling(CORR_WINDOW, min_periods=CORR_WINDOW).corr(market)
    broadcast = _broadcaster(log_ret.columns)
    return [broadcast(market), broadcast(market_vol), broadcast(dispersion), corr]


def _broadcaster(columns: Sequence[str]):
    def broadcast(series: pd.Series) -> pd.DataFrame:
        data = np.repeat(series.to_numpy(dtype=float)[:, None], len(columns), axis=1)
        return pd.DataFrame(data, index=series.index, columns=columns)

    return broadcast
