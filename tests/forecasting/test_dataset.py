"""Tests of samples, targets, masks, the purged split and the scaler."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foliocast.forecasting.dataset import (
    FeatureScaler,
    build_training_data,
    horizon_returns,
    purged_split,
    sample_mask,
    sample_rows,
    sequence_windows,
)
from foliocast.forecasting.features import compute_features

HORIZON, SEQ_LEN = 21, 30


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    dates = pd.bdate_range("2010-01-01", periods=600)
    log_returns = rng.normal(0.0003, 0.015, size=(600, 4))
    frame = pd.DataFrame(
        100 * np.exp(np.cumsum(log_returns, axis=0)),
        index=dates,
        columns=["A", "B", "C", "LATE"],
    )
    frame.iloc[:350, 3] = np.nan
    return frame


def test_sample_rows_respect_history_horizon_and_stride() -> None:
    rows = sample_rows(500, horizon=HORIZON, seq_len=SEQ_LEN, every=5)
    assert rows[-1] == 500 - 1 - HORIZON  # anchored at the latest usable date
    assert rows[0] >= SEQ_LEN - 1
    assert np.all(np.diff(rows) == 5)
    recent = sample_rows(500, horizon=HORIZON, seq_len=SEQ_LEN, lookback_days=100)
    assert recent[0] == 400 and recent[-1] == 500 - 1 - HORIZON
    assert len(sample_rows(40, horizon=HORIZON, seq_len=SEQ_LEN)) == 0


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.35])
def test_purged_split_leaves_one_horizon_between_blocks(fraction: float) -> None:
    rows = sample_rows(800, horizon=HORIZON, seq_len=SEQ_LEN, every=3)
    train, val = purged_split(rows, horizon=HORIZON, val_fraction=fraction)
    assert len(val) == round(len(rows) * fraction)
    np.testing.assert_array_equal(val, rows[-len(val) :])
    # Every training target window (s, s + h] ends before validation starts.
    assert train.max() + HORIZON <= val.min()
    assert val.min() - train.max() < HORIZON + 3  # nothing more is dropped
    no_val_train, no_val = purged_split(rows, horizon=HORIZON, val_fraction=0.0)
    assert len(no_val) == 0 and len(no_val_train) == len(rows)


def test_no_target_reaches_beyond_the_fit_date(prices: pd.DataFrame) -> None:
    t = 480
    history = prices.iloc[: t + 1]
    data = build_training_data(
        compute_features(history),
        history,
        horizon=HORIZON,
        seq_len=SEQ_LEN,
        every=5,
    )
    last_row = t
    for block in (data.train, data.validation):
        assert (block.rows + HORIZON <= last_row).all()
        assert block.dates.max() <= prices.index[t - HORIZON]
    # Targets equal the realised returns, which use prices up to t only.
    p = prices.to_numpy()
    rows = data.validation.rows
    expected = p[rows + HORIZON] / p[rows] - 1
    mask = data.validation.mask
    np.testing.assert_allclose(data.validation.targets[mask], expected[mask], rtol=1e-6)
    # The latest sample's target ends exactly at t: the most recent data is used.
    assert rows[-1] + HORIZON == t


def test_future_prices_change_nothing(prices: pd.DataFrame) -> None:
    t = 450
    shocked = prices.copy()
    shocked.iloc[t + 1 :] *= 3.0
    built = [
        build_training_data(
            compute_features(frame.iloc[: t + 1]), frame.iloc[: t + 1], seq_len=SEQ_LEN
        )
        for frame in (prices, shocked)
    ]
    for name in ("train", "validation"):
        a, b = getattr(built[0], name), getattr(built[1], name)
        np.testing.assert_array_equal(a.targets, b.targets)
        np.testing.assert_array_equal(a.inputs(), b.inputs())
    np.testing.assert_array_equal(built[0].scaler.center, built[1].scaler.center)


def test_masks_follow_late_starters(prices: pd.DataFrame) -> None:
    p = prices.to_numpy()
    targets = horizon_returns(p, HORIZON)
    rows = np.arange(300, 500)
    mask = sample_mask(p, targets, rows, min_history=21)
    assert mask[:, :3].all()
    late = mask[:, 3]
    # The late starter counts once it has 21 prices (rows 350..370 are its first 21).
    np.testing.assert_array_equal(late, rows >= 350 + 20)
    assert np.isnan(targets[-HORIZON:]).all()


def test_scaler_is_fitted_on_the_training_block_only(prices: pd.DataFrame) -> None:
    features = compute_features(prices)
    base = build_training_data(features, prices, seq_len=SEQ_LEN, every=5)
    first_val = base.validation.rows[0]
    # Corrupt every feature row after the training block: the scaler must not move.
    corrupted = features.values.copy()
    last_train = base.train.rows[-1]
    corrupted[last_train + 1 :] = 1e3
    changed = build_training_data(
        type(features)(corrupted, features.dates, features.tickers, features.names),
        prices,
        seq_len=SEQ_LEN,
        every=5,
    )
    np.testing.assert_array_equal(base.scaler.center, changed.scaler.center)
    np.testing.assert_array_equal(base.scaler.scale, changed.scaler.scale)
    assert first_val > last_train


def test_sequences_are_the_trailing_windows(prices: pd.DataFrame) -> None:
    scaled = np.random.default_rng(0).normal(size=(50, 3, 4)).astype(np.float32)
    windows = sequence_windows(scaled, 10)
    assert windows.shape == (41, 3, 10, 4)
    end = 25
    np.testing.assert_array_equal(
        windows[end - 9], np.transpose(scaled[end - 9 : end + 1], (1, 0, 2))
    )
    data = build_training_data(
        compute_features(prices), prices, seq_len=SEQ_LEN, every=7
    )
    x = data.train.inputs(np.array([0, 3]))
    assert x.shape == (2, 4, SEQ_LEN, len(compute_features(prices).names))
    assert np.isfinite(x).all() and x.dtype == np.float32
    assert np.abs(x).max() <= data.scaler.clip


def test_scaler_round_trip_and_robust_option() -> None:
    values = np.random.default_rng(1).normal(3.0, 2.0, size=(400, 5, 3))
    values[:, :, 2] = np.nan  # an absent feature
    for method in ("standard", "robust"):
        scaler = FeatureScaler.fit(values, method=method)
        scaled = scaler.transform(values)
        assert np.isfinite(scaled).all()
        np.testing.assert_allclose(np.mean(scaled[..., :2]), 0.0, atol=0.05)
        np.testing.assert_allclose(np.std(scaled[..., :2]), 1.0, atol=0.05)
        again = FeatureScaler.from_dict(scaler.to_dict())
        np.testing.assert_array_equal(again.transform(values), scaled)
    with pytest.raises(ValueError, match="standard"):
        FeatureScaler.fit(values, method="minmax")


def test_too_short_history_raises(prices: pd.DataFrame) -> None:
    short = prices.iloc[:40]
    with pytest.raises(ValueError, match="seq_len"):
        build_training_data(compute_features(short), short, seq_len=SEQ_LEN)
