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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

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
    prices: pd.DataFrame,
    volume: pd.DataFrame | None = None,
    *,
    last: int | None = None,
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
    last : int, optional
        Return only the last ``last`` rows. Every feature is still computed over all
        of ``prices`` (its windows and averages warm up on the earlier rows), so the
        rows are exactly those of the full cube; only the cube is not assembled for
        rows nobody reads (a prediction reads a few dozen of several hundred).

    Returns
    -------
    Features
        Values of shape (n_dates, n_assets, n_features), or (last, ...).
    """
    frame = prices.astype(float)
    raw = frame.to_numpy(dtype=float)
    # Non-positive prices would make log returns meaningless; treat them as missing.
    with np.errstate(invalid="ignore", divide="ignore"):
        log_price = np.log(np.where(raw > 0, raw, np.nan))
    log_ret = _diff(log_price, 1)
    vol_63 = _rolling_std(log_ret, 63)

    names = feature_names(with_volume=volume is not None)
    columns: list[np.ndarray] = [log_ret]
    columns += [vol_63 if w == 63 else _rolling_std(log_ret, w) for w in VOL_WINDOWS]
    columns += [_rsi(raw, RSI_WINDOW)]
    columns += list(_macd(raw, vol_63))
    with np.errstate(invalid="ignore", divide="ignore"):
        columns += [log_price - np.log(_sma(raw, w)) for w in MA_WINDOWS]
    columns += [_diff(log_price, w) for w in MOMENTUM_WINDOWS]
    columns += [_history(raw)]
    if volume is not None:
        aligned = volume.reindex(index=frame.index, columns=frame.columns)
        columns += [_volume_z(aligned.to_numpy(dtype=float))]
    columns += _market_inputs(log_ret)

    rows = slice(None) if last is None else slice(max(len(raw) - last, 0), None)
    values = np.stack([column[rows] for column in columns], axis=-1)
    # Where an asset has no price nothing is defined, not even the market inputs
    # broadcast to it; only ``history`` stays defined (zero before the first price)
    # so that the model can tell "no data yet" from "average data".
    history = names.index("history")
    kept = values[..., history].copy()
    values[~np.isfinite(raw[rows])] = np.nan
    values[..., history] = kept
    values[~np.isfinite(values)] = np.nan
    return Features(
        values=values.astype(np.float32),
        dates=pd.DatetimeIndex(prices.index[rows]),
        tickers=[str(c) for c in prices.columns],
        names=names,
    )


# The windowed statistics below work on whole (n_dates, n_assets) arrays at once:
# pandas' rolling methods loop over the columns in Python, which made the features
# the main cost of an LSTM prediction. Each keeps pandas' conventions (a window
# counts only when all its values are present; a constant window has exactly its
# value as mean and zero variance), and each row uses only rows up to it.


def _diff(values: np.ndarray, lag: int) -> np.ndarray:
    """``values[t] - values[t - lag]`` (NaN for the first ``lag`` rows)."""
    out = np.full_like(values, np.nan)
    if len(values) > lag:
        out[lag:] = values[lag:] - values[:-lag]
    return out


def _window_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last ``window`` rows; rows ``< window - 1`` are left undefined.

    Returns an array of the rows ``window - 1`` onwards.
    """
    total = np.cumsum(values, axis=0)
    out = total[window - 1 :].copy()
    out[1:] -= total[: len(values) - window]
    return out


def _rolling_moments(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean and sample variance over full windows of ``window >= 2`` rows.

    Running sums are taken of the values minus each column's first present value:
    centring keeps the sums small (no cancellation when a price is far from zero),
    and that value lies before any full window, so no row sees a later one.

    Returns
    -------
    mean, variance : ndarray of the shape of ``values``
        NaN where the window is not full of present values.
    """
    mean = np.full_like(values, np.nan, dtype=float)
    variance = np.full_like(values, np.nan, dtype=float)
    if len(values) < window:
        return mean, variance
    present = np.isfinite(values)
    first = np.where(present.any(axis=0), present.argmax(axis=0), 0)
    origin = np.nan_to_num(values[first, np.arange(values.shape[1])])
    centred = np.where(present, values - origin, 0.0)
    sums = _window_sum(centred, window)
    squares = _window_sum(centred**2, window)
    missing = _window_sum((~present).astype(np.int64), window) > 0
    # A window is constant when no value in it differs from the one before: then
    # its mean is that value and its variance zero, exactly.
    changed = values[1:] != values[:-1]
    constant = _window_sum(changed.astype(np.int64), window - 1) == 0
    rows = slice(window - 1, None)
    spread = (squares - sums * sums / window) / (window - 1)
    mean[rows] = np.where(constant, values[rows], origin + sums / window)
    variance[rows] = np.where(constant, 0.0, np.clip(spread, 0.0, None))
    mean[rows] = np.where(missing, np.nan, mean[rows])
    variance[rows] = np.where(missing, np.nan, variance[rows])
    return mean, variance


def _sma(values: np.ndarray, window: int) -> np.ndarray:
    return _rolling_moments(values, window)[0]


def _rolling_std(values: np.ndarray, window: int) -> np.ndarray:
    return np.sqrt(_rolling_moments(values, window)[1])


def _ewm_mean(
    values: np.ndarray, alpha: float, min_periods: int, adjust: bool
) -> np.ndarray:
    """Exponentially weighted mean down each column, as pandas' ``ewm(...).mean()``.

    With ``adjust`` it is the ratio of two first-order filters, the weighted sum of
    the values over the sum of the weights (missing values weigh nothing but age
    the others, pandas' ``ignore_na=False``). Without it, the recursion
    ``y = (1 - alpha) y + alpha x`` starts at each column's first value; a column
    with a gap after its start falls back to pandas, whose rule across gaps is not
    a plain filter. Rows with fewer than ``min_periods`` values so far are NaN.
    """
    present = np.isfinite(values)
    seen = np.cumsum(present, axis=0)
    decay = [1.0, -(1.0 - alpha)]
    if adjust:
        weighted = lfilter([1.0], decay, np.where(present, values, 0.0), axis=0)
        weights = lfilter([1.0], decay, present.astype(float), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = weighted / weights
    elif (present | (seen == 0)).all():
        # Leading gaps take the first value, so the filter starts exactly there.
        first = np.where(present.any(axis=0), present.argmax(axis=0), 0)
        start = np.nan_to_num(values[first, np.arange(values.shape[1])])
        filled = np.where(seen == 0, start, values)
        initial = ((1.0 - alpha) * start)[None]
        mean = lfilter([alpha], decay, filled, axis=0, zi=initial)[0]
    else:
        frame = pd.DataFrame(values)
        return (
            frame.ewm(alpha=alpha, min_periods=min_periods, adjust=False)
            .mean()
            .to_numpy()
        )
    return np.where(seen >= max(min_periods, 1), mean, np.nan)


def _rsi(prices: np.ndarray, window: int) -> np.ndarray:
    """Wilder's RSI mapped to [-1, 1] (0 is neutral)."""
    change = _diff(prices, 1)
    # Wilder smoothing is an EMA with alpha = 1 / window.
    gain = _ewm_mean(np.clip(change, 0.0, None), 1.0 / window, window, adjust=True)
    loss = _ewm_mean(np.clip(-change, 0.0, None), 1.0 / window, window, adjust=True)
    total = gain + loss
    # A flat window has no gains or losses: call it neutral rather than undefined.
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = np.where(total > 0, gain / total, 0.5)
    rsi = np.where(np.isnan(total), np.nan, rsi)
    return 2.0 * rsi - 1.0


def _span(span: int) -> float:
    return 2.0 / (span + 1.0)


def _macd(prices: np.ndarray, vol_63: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MACD line and histogram in units of price x 63-day daily volatility."""
    fast = _ewm_mean(prices, _span(MACD_FAST), MACD_FAST, adjust=False)
    slow = _ewm_mean(prices, _span(MACD_SLOW), MACD_SLOW, adjust=False)
    line = fast - slow
    signal = _ewm_mean(line, _span(MACD_SIGNAL), MACD_SIGNAL, adjust=False)
    # Dividing by price makes MACD scale-free; dividing by volatility puts it in
    # "daily sigmas" so calm and wild assets are comparable.
    unit = prices * vol_63
    with np.errstate(invalid="ignore"):
        unit = np.where(unit > 0, unit, np.nan)
    return line / unit, (line - signal) / unit


def _history(prices: np.ndarray) -> np.ndarray:
    """Days since the first price, capped at one year, in years (0 before it)."""
    started = np.cumsum(np.isfinite(prices), axis=0) > 0
    days = np.clip(np.cumsum(started, axis=0) - 1, 0, HISTORY_CAP)
    return days / HISTORY_CAP


def _volume_z(volume: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        log_volume = np.log(np.where(volume > 0, volume, np.nan))
    mean, variance = _rolling_moments(log_volume, VOLUME_WINDOW)
    std = np.sqrt(variance)
    with np.errstate(invalid="ignore"):
        return (log_volume - mean) / np.where(std > 0, std, np.nan)


def _market_inputs(log_ret: np.ndarray) -> list[np.ndarray]:
    """Equal-weight market return, its volatility, dispersion and each asset's corr."""
    present = np.isfinite(log_ret)
    count = present.sum(axis=1)
    filled = np.where(present, log_ret, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        market = np.where(count > 0, filled.sum(axis=1) / count, np.nan)
        deviation = np.where(present, log_ret - market[:, None], 0.0)
        dispersion = np.sqrt((deviation**2).sum(axis=1) / count)
    dispersion = np.where(count > 0, dispersion, np.nan)
    market_vol = _rolling_std(market[:, None], 21)[:, 0]
    corr = _rolling_corr(log_ret, market)
    n_assets = log_ret.shape[1]

    def broadcast(series: np.ndarray) -> np.ndarray:
        return np.repeat(series[:, None], n_assets, axis=1)

    return [broadcast(market), broadcast(market_vol), broadcast(dispersion), corr]


def _rolling_corr(values: np.ndarray, market: np.ndarray) -> np.ndarray:
    """Rolling ``CORR_WINDOW``-day correlation of each column with ``market``.

    Over the rows where both are present, as pandas' ``rolling(...).corr``.
    """
    both = np.isfinite(values) & np.isfinite(market)[:, None]
    x = np.where(both, values, np.nan)
    y = np.where(both, market[:, None], np.nan)
    mean_x, var_x = _rolling_moments(x, CORR_WINDOW)
    mean_y, var_y = _rolling_moments(y, CORR_WINDOW)
    mean_xy = _rolling_moments(x * y, CORR_WINDOW)[0]
    covariance = (mean_xy - mean_x * mean_y) * (CORR_WINDOW / (CORR_WINDOW - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return covariance / np.sqrt(var_x * var_y)
