"""Training samples for the LSTM: sequences, horizon targets, masks and the split.

A *sample* is a date ``s`` (its row in the feature cube). Its input is, for every
asset, the sequence of the last ``seq_len`` feature rows ending at ``s``; its target is
each asset's realised simple return over the next ``horizon`` days,
``p[s + horizon] / p[s] - 1``. A target therefore needs prices up to ``s + horizon``:
when fitting with data up to ``t`` only samples with ``s <= t - horizon`` are usable,
which :func:`sample_rows` enforces, so no target ever reaches past ``t``.

The validation block is the most recent part of the usable samples; the training block
ends at least one horizon before it starts (a purge gap), so no training target overlaps
a validation target. The feature scaler is fitted on the rows the training block
covers only.

Optionally each sample also carries a covariance prior in factor form (loadings and
residual variances from :mod:`forecasting.prior`), estimated from the daily returns of
a trailing window ending at the sample date, so the model can learn a correction to it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from foliocast.forecasting.features import Features
from foliocast.forecasting.prior import factor_priors

__all__ = [
    "FeatureScaler",
    "SampleBlock",
    "TrainingData",
    "build_training_data",
    "horizon_returns",
    "purged_split",
    "sample_rows",
    "sample_mask",
    "sequence_windows",
]

MIN_HISTORY = 21
"""Days of prices an asset needs at a sample date to take part in the loss."""


@dataclass(frozen=True)
class FeatureScaler:
    """Per-feature standardisation with clipping and imputation of missing values.

    Parameters
    ----------
    center : ndarray of shape (n_features,)
        Value subtracted from each feature (mean or median).
    scale : ndarray of shape (n_features,)
        Divisor of each feature (std or scaled IQR), positive.
    clip : float
        Scaled values are clipped to ``[-clip, clip]`` so that crashes and bad ticks
        do not saturate the LSTM gates.
    """

    center: np.ndarray
    scale: np.ndarray
    clip: float = 5.0

    @classmethod
    def fit(
        cls, values: np.ndarray, method: str = "standard", clip: float = 5.0
    ) -> FeatureScaler:
        """Fit on a block of features, ignoring NaN.

        Parameters
        ----------
        values : ndarray of shape (..., n_features)
            Training-window features only.
        method : {"standard", "robust"}
            Mean/std, or median/IQR (scaled to match the std of a normal).
        clip : float
            See the class docstring.

        Returns
        -------
        FeatureScaler
        """
        flat = values.reshape(-1, values.shape[-1]).astype(np.float64)
        if method == "standard":
            center = _nan_reduce(np.nanmean, flat)
            scale = _nan_reduce(np.nanstd, flat)
        elif method == "robust":
            center = _nan_reduce(np.nanmedian, flat)
            q75 = _nan_reduce(lambda a, axis: np.nanpercentile(a, 75, axis=axis), flat)
            q25 = _nan_reduce(lambda a, axis: np.nanpercentile(a, 25, axis=axis), flat)
            scale = (q75 - q25) / 1.349
        else:
            raise ValueError(
                f"scaler method must be 'standard' or 'robust', got {method!r}"
            )
        # A feature that is constant (or absent) in the window carries no information;
        # a unit scale keeps it finite instead of dividing by zero.
        scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
        center = np.where(np.isfinite(center), center, 0.0)
        return cls(center=center, scale=scale, clip=float(clip))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale, clip, and impute missing values at the training mean (zero).

        Parameters
        ----------
        values : ndarray of shape (..., n_features)

        Returns
        -------
        ndarray of the same shape, float32, finite
        """
        scaled = (values - self.center) / self.scale
        scaled = np.clip(scaled, -self.clip, self.clip)
        return np.nan_to_num(scaled, nan=0.0).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation."""
        return {
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "clip": self.clip,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureScaler:
        """Inverse of :meth:`to_dict`."""
        return cls(
            center=np.asarray(data["center"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            clip=float(data["clip"]),
        )


def _nan_reduce(func, flat: np.ndarray) -> np.ndarray:
    # All-NaN columns are legitimate here (e.g. volume_z with no volume); silence the
    # warning and let the caller replace the NaN.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return func(flat, axis=0)


def horizon_returns(prices: np.ndarray, horizon: int) -> np.ndarray:
    """Realised simple return from each row to ``horizon`` rows later.

    This function looks into the future by design: row ``s`` uses ``prices[s +
    horizon]``. The last ``horizon`` rows are NaN.

    Parameters
    ----------
    prices : ndarray of shape (n_dates, n_assets)
    horizon : int

    Returns
    -------
    ndarray of shape (n_dates, n_assets)
    """
    out = np.full(prices.shape, np.nan)
    with np.errstate(all="ignore"):
        out[:-horizon] = prices[horizon:] / prices[:-horizon] - 1.0
    return out


def sample_rows(
    n_rows: int,
    *,
    horizon: int,
    seq_len: int,
    every: int = 1,
    lookback_days: int | None = None,
) -> np.ndarray:
    """Rows of the usable sample dates when the last row is the fit date ``t``.

    A sample at row ``s`` needs ``seq_len`` rows of input ending at ``s`` and a target
    ending at ``s + horizon <= t``. The grid is anchored at the latest usable date and
    steps back by ``every`` rows, so the most recent information is always used.

    Parameters
    ----------
    n_rows : int
        Number of rows of data up to and including ``t``.
    horizon, seq_len : int
    every : int, default 1
        Keep one sample date every ``every`` rows.
    lookback_days : int, optional
        Only sample dates within the last ``lookback_days`` rows.

    Returns
    -------
    ndarray of int, sorted ascending
    """
    last = n_rows - 1 - horizon
    first = seq_len - 1
    if lookback_days is not None:
        first = max(first, n_rows - lookback_days)
    if last < first:
        return np.empty(0, dtype=np.int64)
    return np.arange(last, first - 1, -every, dtype=np.int64)[::-1]


def purged_split(
    rows: np.ndarray, *, horizon: int, val_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample rows into a training block and a later validation block.

    The validation block is the last ``val_fraction`` of the samples. Training
    samples whose target window ``(s, s + horizon]`` reaches past the first validation
    date are purged, so training rows satisfy ``s + horizon <= first validation row``.

    Parameters
    ----------
    rows : ndarray of int, sorted ascending
    horizon : int
    val_fraction : float
        Zero disables validation (everything is training).

    Returns
    -------
    train_rows, val_rows : ndarray of int
    """
    n_val = int(round(len(rows) * val_fraction))
    if n_val == 0:
        return rows, rows[:0]
    val_rows = rows[-n_val:]
    train_rows = rows[:-n_val]
    train_rows = train_rows[train_rows + horizon <= val_rows[0]]
    return train_rows, val_rows


def sample_mask(
    prices: np.ndarray,
    targets: np.ndarray,
    rows: np.ndarray,
    min_history: int = MIN_HISTORY,
) -> np.ndarray:
    """Which (sample, asset) pairs take part in the loss.

    An asset counts at sample row ``s`` when it has a finite target and at least
    ``min_history`` prices up to ``s``; others (late starters, gaps) drop out of the
    likelihood.

    Parameters
    ----------
    prices : ndarray of shape (n_dates, n_assets)
    targets : ndarray of shape (n_dates, n_assets)
        From :func:`horizon_returns`.
    rows : ndarray of int of shape (n_samples,)
    min_history : int

    Returns
    -------
    ndarray of bool of shape (n_samples, n_assets)
    """
    seen = np.cumsum(np.isfinite(prices), axis=0)
    return np.isfinite(targets[rows]) & (seen[rows] >= min_history)


def sequence_windows(scaled: np.ndarray, seq_len: int) -> np.ndarray:
    """Strided view of every length-``seq_len`` window of a feature cube.

    Parameters
    ----------
    scaled : ndarray of shape (n_dates, n_assets, n_features)
    seq_len : int

    Returns
    -------
    ndarray view of shape (n_dates - seq_len + 1, n_assets, seq_len, n_features)
        Entry ``i`` is the window that ends at row ``i + seq_len - 1``. No copy is
        made; indexing it with an array of windows copies only those.
    """
    view = sliding_window_view(scaled, seq_len, axis=0)  # (W, N, F, L)
    return view.transpose(0, 1, 3, 2)


@dataclass(frozen=True)
class SampleBlock:
    """A block of samples whose sequences are cut from a shared scaled cube on demand.

    Parameters
    ----------
    windows : ndarray view of shape (n_windows, n_assets, seq_len, n_features)
        From :func:`sequence_windows`.
    rows : ndarray of int of shape (n_samples,)
        Row of each sample date in the feature cube.
    dates : pandas.DatetimeIndex of length n_samples
    targets : ndarray of shape (n_samples, n_assets), float32
        Realised horizon returns; zero where masked.
    mask : ndarray of shape (n_samples, n_assets), bool
    prior_loadings : ndarray of shape (n_samples, n_assets, k), float32, optional
        Loadings ``B`` of the covariance prior at each sample date (see
        `forecasting.prior.factor_priors`); None without a prior.
    prior_idio : ndarray of shape (n_samples, n_assets), float32, optional
        Residual variances ``d`` of the prior, positive; None without a prior.
    """

    windows: np.ndarray
    rows: np.ndarray
    dates: pd.DatetimeIndex
    targets: np.ndarray
    mask: np.ndarray
    prior_loadings: np.ndarray | None = None
    prior_idio: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def seq_len(self) -> int:
        """Length of each input sequence."""
        return self.windows.shape[2]

    def inputs(self, index: np.ndarray | slice | None = None) -> np.ndarray:
        """Sequences of the selected samples.

        Returns
        -------
        ndarray of shape (n_selected, n_assets, seq_len, n_features), float32
        """
        rows = self.rows if index is None else self.rows[index]
        return np.ascontiguousarray(self.windows[rows - self.seq_len + 1])


@dataclass(frozen=True)
class TrainingData:
    """Everything the trainer needs, fitted on data up to one date.

    Parameters
    ----------
    train, validation : SampleBlock
        Validation may be empty.
    scaler : FeatureScaler
        Fitted on the rows the training block covers.
    """

    train: SampleBlock
    validation: SampleBlock
    scaler: FeatureScaler


def build_training_data(
    features: Features,
    prices: pd.DataFrame,
    *,
    horizon: int = 21,
    seq_len: int = 63,
    every: int = 5,
    lookback_days: int | None = None,
    val_fraction: float = 0.2,
    min_history: int = MIN_HISTORY,
    scaler_method: str = "standard",
    prior_window: int | None = None,
    prior_factors: int = 5,
    prior_refresh: int = 1,
) -> TrainingData:
    """Build scaled training and validation samples from data up to the fit date.

    Parameters
    ----------
    features : Features
        Computed from ``prices`` (same dates and tickers).
    prices : pandas.DataFrame of shape (n_dates, n_assets)
        Prices up to the fit date ``t`` (the last row).
    horizon, seq_len, every, lookback_days
        See :func:`sample_rows`.
    val_fraction : float
        See :func:`purged_split`.
    min_history : int
        See :func:`sample_mask`.
    scaler_method : {"standard", "robust"}
    prior_window : int, optional
        Daily returns in the trailing window of the covariance prior; None (default)
        builds no prior and leaves ``prior_loadings`` and ``prior_idio`` None.
    prior_factors : int, default 5
        Factors ``k`` of the prior.
    prior_refresh : int, default 1
        Estimate the prior at every ``prior_refresh``-th sample date only (see
        `forecasting.prior.factor_priors`).

    Returns
    -------
    TrainingData

    Raises
    ------
    ValueError
        If there are too few dates for a single training sample.
    """
    price_values = prices.to_numpy(dtype=float)
    rows = sample_rows(
        len(prices),
        horizon=horizon,
        seq_len=seq_len,
        every=every,
        lookback_days=lookback_days,
    )
    train_rows, val_rows = purged_split(
        rows, horizon=horizon, val_fraction=val_fraction
    )
    if len(train_rows) == 0:
        raise ValueError(
            f"need at least seq_len + horizon = {seq_len + horizon} dates of prices to "
            f"train, got {len(prices)}; pass a longer history or shorten seq_len"
        )
    # Scaler statistics come from the rows the training sequences cover, nothing later.
    covered = features.values[max(train_rows[0] - seq_len + 1, 0) : train_rows[-1] + 1]
    scaler = FeatureScaler.fit(covered, method=scaler_method)
    windows = sequence_windows(scaler.transform(features.values), seq_len)
    targets = horizon_returns(price_values, horizon)
    loadings = idio = None
    if prior_window is not None:
        # Both blocks in one pass (validation rows follow training rows); every prior
        # uses prices up to its own row only.
        loadings, idio = factor_priors(
            price_values,
            np.concatenate([train_rows, val_rows]),
            prior_window,
            prior_factors,
            horizon,
            refresh=prior_refresh,
        )
        loadings, idio = loadings.astype(np.float32), idio.astype(np.float32)

    def block(block_rows: np.ndarray, part: slice) -> SampleBlock:
        mask = sample_mask(price_values, targets, block_rows, min_history)
        block_targets = np.where(mask, targets[block_rows], 0.0).astype(np.float32)
        return SampleBlock(
            windows=windows,
            rows=block_rows,
            dates=features.dates[block_rows],
            targets=block_targets,
            mask=mask,
            prior_loadings=None if loadings is None else loadings[part],
            prior_idio=None if idio is None else idio[part],
        )

    n_train = len(train_rows)
    return TrainingData(
        train=block(train_rows, slice(0, n_train)),
        validation=block(val_rows, slice(n_train, None)),
        scaler=scaler,
    )
