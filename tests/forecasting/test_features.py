"""Tests of the causal feature cube."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skfolio.datasets import load_sp500_dataset

from foliocast.forecasting.features import compute_features, feature_names


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    # Real prices, a slice long enough for the 252-day windows, plus a late starter.
    frame = load_sp500_dataset().iloc[2000:2700, :5].copy()
    frame.iloc[:400, 4] = np.nan
    return frame


@pytest.fixture(scope="module")
def volume(prices: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    values = np.exp(rng.normal(14.0, 0.5, size=prices.shape))
    frame = pd.DataFrame(values, index=prices.index, columns=prices.columns)
    frame.iloc[:, 1] = np.nan  # an asset without volume data
    return frame.where(prices.notna())


def test_shape_and_names(prices: pd.DataFrame, volume: pd.DataFrame) -> None:
    plain = compute_features(prices)
    with_volume = compute_features(prices, volume)
    assert plain.values.shape == (len(prices), 5, len(feature_names()))
    assert plain.names == feature_names()
    assert with_volume.names == feature_names(with_volume=True)
    assert "volume_z" in with_volume.names and "volume_z" not in plain.names
    assert plain.values.dtype == np.float32
    assert plain.tickers == list(prices.columns)
    long = plain.to_frame()
    assert long.shape == (len(prices) * 5, len(plain.names))
    assert long.index.names == ["date", "ticker"]


@pytest.mark.parametrize("cut", [300, 450, 650])
def test_changing_the_future_never_changes_the_past(
    prices: pd.DataFrame, volume: pd.DataFrame, cut: int
) -> None:
    rng = np.random.default_rng(cut)
    shocked_prices = prices.copy()
    shocked_volume = volume.copy()
    future = slice(cut + 1, None)
    shocked_prices.iloc[future] *= np.exp(
        rng.normal(0, 0.2, size=shocked_prices.iloc[future].shape)
    )
    shocked_volume.iloc[future] *= rng.uniform(0.1, 10, size=volume.iloc[future].shape)
    base = compute_features(prices, volume).values
    shocked = compute_features(shocked_prices, shocked_volume).values
    np.testing.assert_array_equal(base[: cut + 1], shocked[: cut + 1])
    assert not np.allclose(base[cut + 1 :], shocked[cut + 1 :], equal_nan=True)


def test_late_starter_is_missing_before_its_first_price(prices: pd.DataFrame) -> None:
    features = compute_features(prices)
    history = features.names.index("history")
    late = features.values[:400, 4]
    assert np.isnan(np.delete(late, history, axis=1)).all()
    np.testing.assert_array_equal(late[:, history], 0.0)
    # After a year of data every feature of the late starter is defined.
    assert np.isfinite(features.values[400 + 253 :, 4]).all()


def test_features_against_direct_formulas(prices: pd.DataFrame) -> None:
    features = compute_features(prices)
    names = features.names
    p = prices.to_numpy()
    t, asset = 600, 0
    row = features.values[t, asset]
    log_p = np.log(p[:, asset])
    rets = np.diff(log_p)
    np.testing.assert_allclose(row[names.index("ret_1d")], rets[t - 1], rtol=1e-5)
    np.testing.assert_allclose(
        row[names.index("mom_63")], log_p[t] - log_p[t - 63], rtol=1e-5
    )
    np.testing.assert_allclose(
        row[names.index("vol_21")], rets[t - 21 : t].std(ddof=1), rtol=1e-5
    )
    np.testing.assert_allclose(
        row[names.index("ma_dist_21")],
        log_p[t] - np.log(p[t - 20 : t + 1, asset].mean()),
        rtol=1e-4,
        atol=1e-7,
    )
    market = np.nanmean(np.diff(np.log(p), axis=0)[t - 1])
    np.testing.assert_allclose(row[names.index("mkt_ret")], market, rtol=1e-5)


def test_bounded_and_market_wide_features(prices: pd.DataFrame) -> None:
    features = compute_features(prices)
    values = features.values
    rsi = values[..., features.names.index("rsi_14")]
    assert np.nanmin(rsi) >= -1 and np.nanmax(rsi) <= 1
    corr = values[..., features.names.index("mkt_corr_63")]
    assert np.nanmin(corr) >= -1 - 1e-6 and np.nanmax(corr) <= 1 + 1e-6
    for name in ("mkt_ret", "mkt_vol_21", "dispersion"):
        column = values[300:, :4, features.names.index(name)]
        np.testing.assert_array_equal(column, np.repeat(column[:, :1], 4, axis=1))


def test_volume_feature_only_where_volume_exists(
    prices: pd.DataFrame, volume: pd.DataFrame
) -> None:
    features = compute_features(prices, volume)
    z = features.values[100:, :, features.names.index("volume_z")]
    assert np.isnan(z[:, 1]).all()
    assert np.isfinite(z[:, 0]).all()


@pytest.mark.parametrize("last", [1, 36, 10_000])
def test_the_last_rows_are_those_of_the_full_cube(
    prices: pd.DataFrame, volume: pd.DataFrame, last: int
) -> None:
    # A prediction asks for its last rows only; they must be exactly the full
    # cube's (windows warm up on all the rows given), not a cube of fewer prices.
    full = compute_features(prices, volume)
    tail = compute_features(prices, volume, last=last)
    np.testing.assert_array_equal(tail.values, full.values[-last:])
    assert tail.dates.equals(full.dates[-last:])
    assert tail.names == full.names and tail.tickers == full.tickers
