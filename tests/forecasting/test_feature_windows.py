"""The array implementation of the windowed features against pandas' rolling methods.

`forecasting.features` computes its rolling statistics on whole arrays (pandas loops
over the columns, which made the features the main cost of an LSTM prediction);
pandas' ``rolling`` is the independent reference, conventions included: a window
counts only when all its values are present, a constant window has zero variance.
"""

import numpy as np
import pandas as pd
import pytest

from foliocast.forecasting import features


@pytest.fixture
def ragged() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    values = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal((400, 5)), axis=0))
    values[:150, 1] = np.nan  # starts late
    values[200:207, 2] = np.nan  # a gap
    values[250:330, 3] = values[250, 3]  # a flat stretch longer than the windows
    values[:, 4] += 1e4  # far from zero: sums must not cancel
    return pd.DataFrame(values, index=pd.bdate_range("2020-01-01", periods=400))


@pytest.mark.parametrize("window", [5, 21, 63, 252])
def test_rolling_mean_and_std_equal_pandas(ragged: pd.DataFrame, window: int) -> None:
    returns = np.log(ragged).diff()
    mean = features._sma(ragged.to_numpy(), window)
    expected = ragged.rolling(window, min_periods=window).mean().to_numpy()
    np.testing.assert_allclose(mean, expected, rtol=1e-12, equal_nan=True)
    std = features._rolling_std(returns.to_numpy(), window)
    expected = returns.rolling(window, min_periods=window).std().to_numpy()
    np.testing.assert_allclose(std, expected, rtol=1e-9, atol=1e-15, equal_nan=True)
    flat = std[260:330, 3]
    if window < 70:
        assert (flat[window:] == 0.0).all()  # exactly zero, as pandas gives


def test_rolling_corr_equals_pandas(ragged: pd.DataFrame) -> None:
    returns = np.log(ragged).diff()
    market = returns.mean(axis=1)
    got = features._rolling_corr(returns.to_numpy(), market.to_numpy())
    expected = returns.rolling(63, min_periods=63).corr(market).to_numpy()
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-12)


def test_market_inputs_equal_pandas(ragged: pd.DataFrame) -> None:
    returns = np.log(ragged).diff()
    market, market_vol, dispersion, _ = features._market_inputs(returns.to_numpy())
    expected = returns.mean(axis=1)
    np.testing.assert_allclose(market[:, 0], expected, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(
        market_vol[:, 0],
        expected.rolling(21, min_periods=21).std(),
        rtol=1e-9,
        equal_nan=True,
    )
    np.testing.assert_allclose(
        dispersion[:, 0], returns.std(axis=1, ddof=0), rtol=1e-12, equal_nan=True
    )


def test_volume_z_equals_pandas(ragged: pd.DataFrame) -> None:
    volume = ragged * 1e3
    volume.iloc[100:180, 0] = 5e5  # constant volume: no z-score, not a huge one
    log_volume = np.log(volume)
    mean = log_volume.rolling(63, min_periods=63).mean()
    std = log_volume.rolling(63, min_periods=63).std()
    expected = ((log_volume - mean) / std.where(std > 0)).to_numpy().copy()
    # On a constant window pandas' running sums leave a residue (a std of 4e-8 here)
    # and give a z-score of 0/4e-8; the variance is zero, so there is none.
    residue = (std < 1e-6).to_numpy()
    assert residue[162:180, 0].all() and not residue[:162].any()
    expected[residue] = np.nan
    got = features._volume_z(volume.to_numpy())
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("adjust", [True, False])
@pytest.mark.parametrize("column_with_gap", [True, False])
def test_ewm_mean_equals_pandas(
    ragged: pd.DataFrame, adjust: bool, column_with_gap: bool
) -> None:
    # Column 2 has a gap after its start: a filter without adjustment cannot follow
    # pandas' rule there and must fall back to it.
    frame = ragged if column_with_gap else ragged.drop(columns=2)
    for alpha, min_periods in [(1 / 14, 14), (2 / 13, 12), (2 / 27, 26)]:
        got = features._ewm_mean(frame.to_numpy(), alpha, min_periods, adjust)
        expected = frame.ewm(alpha=alpha, min_periods=min_periods, adjust=adjust)
        np.testing.assert_allclose(
            got, expected.mean().to_numpy(), rtol=1e-12, equal_nan=True
        )
