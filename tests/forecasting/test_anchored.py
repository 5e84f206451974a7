"""Tests of the anchored LSTM: a learned correction to a Ledoit-Wolf factor prior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from flax import nnx

from foliocast.forecasting.lstm import LSTMForecaster
from foliocast.forecasting.model import FactorLSTM, ModelInputs
from foliocast.forecasting.prior import prior_at

SMALL = dict(
    horizon=5,
    seq_len=15,
    hidden=6,
    factors=2,
    max_epochs=2,
    batch_size=64,
    sample_every=3,
    covariance="anchored",
    prior_window=120,
    ensemble=1,
)


def _prices(n_days: int = 420, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, n_days)
    returns = market[:, None] * rng.uniform(0.5, 1.5, 5) + rng.normal(
        0, 0.01, (n_days, 5)
    )
    index = pd.bdate_range("2016-01-01", periods=n_days)
    return pd.DataFrame(
        100 * np.exp(np.cumsum(returns, axis=0)),
        index=index,
        columns=[f"A{i}" for i in range(5)],
    )


def _zero_corrections(model: FactorLSTM) -> None:
    for head in (model.loadings_head, model.idio_head):
        head.kernel[...] = np.zeros(head.kernel[...].shape, np.float32)
        head.bias[...] = np.zeros(head.bias[...].shape, np.float32)


def test_an_untrained_anchored_model_forecasts_the_prior_exactly() -> None:
    rng = np.random.default_rng(0)
    model = FactorLSTM(4, hidden=6, factors=3, covariance="anchored", rngs=nnx.Rngs(0))
    inputs = ModelInputs(
        rng.normal(size=(2, 5, 7, 4)).astype(np.float32),
        rng.normal(size=(2, 5, 3)).astype(np.float32),
        rng.uniform(1e-4, 1e-3, size=(2, 5)).astype(np.float32),
    )
    out = nnx.jit(lambda m, x: m(x))(model, inputs)
    np.testing.assert_array_equal(out.loadings, inputs.prior_loadings)
    np.testing.assert_array_equal(out.idio, inputs.prior_idio)
    with pytest.raises(ValueError, match="ModelInputs"):
        model(inputs.sequences)


def test_corrections_are_bounded_scales_of_the_prior() -> None:
    model = FactorLSTM(4, hidden=6, factors=2, covariance="anchored", rngs=nnx.Rngs(1))
    model.idio_head.bias[...] = np.full((1,), 50.0, np.float32)  # far past the bound
    prior = ModelInputs(
        np.zeros((1, 3, 5, 4), np.float32),
        np.ones((1, 3, 2), np.float32),
        np.full((1, 3), 1e-3, np.float32),
    )
    model.eval()
    out = nnx.jit(lambda m, x: m(x))(model, prior)
    np.testing.assert_allclose(out.idio, 1e-3 * np.exp(2.0), rtol=1e-5)


@pytest.fixture(scope="module")
def fitted() -> LSTMForecaster:
    return LSTMForecaster(**SMALL).fit(_prices().iloc[:-20])


def test_with_the_correction_switched_off_the_forecast_is_the_prior(fitted) -> None:
    prices = _prices()
    trained = fitted.predict(prices).cov.to_numpy()
    _zero_corrections(fitted.model_)
    fitted.n_fits_ += 1  # the cached inference weights are stale now
    forecast = fitted.predict(prices)
    loadings, idio = prior_at(prices, 120, 2, 5)
    prior = loadings @ loadings.T + np.diag(idio)
    np.testing.assert_allclose(forecast.cov.to_numpy(), prior, rtol=1e-5)
    assert not np.allclose(trained, prior, rtol=1e-3)  # training did move it


def test_an_anchored_ensemble_fits_predicts_and_reloads(tmp_path) -> None:
    prices = _prices()
    forecaster = LSTMForecaster(**{**SMALL, "ensemble": 2}).fit(prices.iloc[:-20])
    forecast = forecaster.predict(prices)
    assert np.isfinite(forecast.cov.to_numpy()).all() and forecast.mu_std is not None
    forecaster.save(tmp_path / "m")
    again = LSTMForecaster.load(tmp_path / "m").predict(prices)
    pd.testing.assert_frame_equal(forecast.cov, again.cov)
