"""Tests of LSTM ensembles: stacking, the vmapped training step, the mixture."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import optax
import pandas as pd
import pytest
from flax import nnx

from foliocast.forecasting.ensemble import (
    member_seed,
    mixture,
    stack_members,
    unstack_member,
)
from foliocast.forecasting.features import compute_features
from foliocast.forecasting.lstm import LSTMForecaster
from foliocast.forecasting.model import FactorLSTM
from foliocast.forecasting.train import (
    TrainSettings,
    _BestWeights,
    _date_weights,
    _ensemble_train_step,
    _train_step,
)

N_FEATURES = 6
K = 3


def _members() -> list[FactorLSTM]:
    return [
        FactorLSTM(N_FEATURES, hidden=8, factors=2, dropout=0.0, rngs=nnx.Rngs(s))
        for s in range(K)
    ]


@pytest.fixture(scope="module")
def batch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    inputs = rng.normal(size=(4, 5, 12, N_FEATURES)).astype(np.float32)
    targets = (0.05 * rng.normal(size=(4, 5))).astype(np.float32)
    mask = rng.random((4, 5)) > 0.2
    return inputs, targets, mask


def test_mixture_is_the_law_of_total_variance() -> None:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(K, 7)) * 0.01
    loadings = rng.normal(size=(K, 7, 2)) * 0.03
    idio = rng.uniform(1e-4, 1e-3, size=(K, 7))
    mixed = mixture(mu, loadings, idio)

    member_covs = [b @ b.T + np.diag(d) for b, d in zip(loadings, idio, strict=True)]
    deviations = mu - mu.mean(axis=0)
    expected = np.mean(member_covs, axis=0) + deviations.T @ deviations / K
    got = mixed.loadings @ mixed.loadings.T + np.diag(mixed.idio)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(mixed.mu, mu.mean(axis=0))
    np.testing.assert_allclose(mixed.spread, mu.std(axis=0, ddof=1))
    # Draws from the mixture have this covariance (independent check by sampling).
    member = rng.integers(K, size=200_000)
    factors = rng.normal(size=(200_000, 2))
    noise = rng.normal(size=(200_000, 7)) * np.sqrt(idio[member])
    draws = mu[member] + np.einsum("snk,sk->sn", loadings[member], factors) + noise
    np.testing.assert_allclose(np.cov(draws.T), expected, atol=3e-5)


def test_a_stacked_member_forecasts_like_the_model_it_came_from(batch) -> None:
    inputs = batch[0]
    members = _members()
    stacked = stack_members(members)
    for model in [stacked, *members]:
        model.eval()
    graphdef, state = nnx.split(stacked)
    out = jax.jit(jax.vmap(lambda s: nnx.merge(graphdef, s)(inputs)))(state)
    for m, model in enumerate(members):
        alone = nnx.jit(lambda model, x: model(x))(model, inputs)
        for got, want in zip(out, alone, strict=True):
            np.testing.assert_allclose(got[m], want, rtol=1e-5, atol=1e-7)
        copy = unstack_member(stacked, m)
        np.testing.assert_array_equal(
            copy.mu_head.kernel[...], model.mu_head.kernel[...]
        )


def test_the_vmapped_step_trains_each_member_as_if_alone(batch) -> None:
    inputs, targets, mask = batch
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2))
    stacked = stack_members(_members())
    graphdef, state = nnx.split((stacked, nnx.Optimizer(stacked, tx, wrt=nnx.Param)))
    weights = np.ones((K, len(targets)), np.float32)
    for _ in range(3):
        state, losses = _ensemble_train_step(
            graphdef, state, inputs, targets, mask, weights, "nll"
        )
    together, _ = nnx.merge(graphdef, state)

    for m, model in enumerate(_members()):
        single_def, single_state = nnx.split(
            (model, nnx.Optimizer(model, tx, wrt=nnx.Param))
        )
        for _ in range(3):
            single_state, loss = _train_step(
                single_def, single_state, inputs, targets, mask, weights[m], "nll"
            )
        alone, _ = nnx.merge(single_def, single_state)
        np.testing.assert_allclose(float(losses[m]), float(loss), rtol=1e-5)
        pairs = zip(
            jax.tree.leaves(nnx.state(together, nnx.Param)),
            jax.tree.leaves(nnx.state(alone, nnx.Param)),
            strict=True,
        )
        for got, want in pairs:
            np.testing.assert_allclose(got[m], want, rtol=2e-4, atol=2e-6)


def test_bootstrap_weights_are_reproducible_poisson_draws() -> None:
    config = TrainSettings(bootstrap=True, seed=3)
    weights = _date_weights(config, 5, 4000)
    np.testing.assert_array_equal(weights, _date_weights(config, 5, 4000))
    assert weights.shape == (4000, 5)
    assert abs(weights.mean() - 1.0) < 0.03 and abs(weights.var() - 1.0) < 0.06
    assert not np.array_equal(weights[:, 0], weights[:, 1])
    assert (_date_weights(TrainSettings(), 5, 10) == 1).all()


def test_each_member_keeps_its_own_best_epoch() -> None:
    model = stack_members(_members())
    best = _BestWeights(K)
    history = {1: [1.0, 1.0, np.nan], 2: [0.5, 2.0, np.nan], 3: [0.7, 0.9, np.nan]}
    kernels = {}
    for epoch, losses in history.items():
        kernel = model.mu_head.kernel[...]
        model.mu_head.kernel[...] = kernel + 1.0  # "training" changes the weights
        kernels[epoch] = np.asarray(model.mu_head.kernel[...])
        best.update(model, epoch, np.array(losses))
    assert not best.exhausted(3, patience=2)  # member 1 improved at epoch 3
    assert best.exhausted(4, patience=1)
    epochs = best.restore(model, epochs_run=3)
    np.testing.assert_array_equal(epochs, [2, 3, 3])
    restored = np.asarray(model.mu_head.kernel[...])
    np.testing.assert_array_equal(restored[0], kernels[2][0])
    np.testing.assert_array_equal(restored[1], kernels[3][1])
    np.testing.assert_array_equal(restored[2], kernels[3][2])  # never improved


def test_member_seeds_never_overlap_across_ensemble_seeds() -> None:
    assert member_seed(7, 0, 1) == 7  # a single model keeps its seed
    seeds = {member_seed(s, m, 5) for s in range(5) for m in range(5)}
    assert len(seeds) == 25


def _prices(n_days: int = 420, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, n_days)
    returns = market[:, None] + rng.normal(0, 0.01, (n_days, 5))
    index = pd.bdate_range("2015-01-01", periods=n_days)
    return pd.DataFrame(
        100 * np.exp(np.cumsum(returns, axis=0)),
        index=index,
        columns=[f"A{i}" for i in range(5)],
    )


ENSEMBLE = dict(
    horizon=5,
    seq_len=15,
    hidden=6,
    factors=2,
    max_epochs=3,
    batch_size=64,
    patience=2,
    sample_every=3,
    ensemble=3,
    mu_smoothing=1,  # one forecast per date; the smoothing test sets its own
)


@pytest.fixture(scope="module")
def fitted() -> LSTMForecaster:
    return LSTMForecaster(**ENSEMBLE, seed=4).fit(_prices().iloc[:-30])


def test_an_ensemble_forecast_is_the_mixture_of_its_members(fitted) -> None:
    prices = _prices()
    forecast = fitted.predict(prices)
    members = np.asarray(fitted.predict_features(compute_features(prices)).mu)[:, 0]
    np.testing.assert_allclose(forecast.mu.to_numpy(), members.mean(axis=0), 1e-6)
    spread = members.std(axis=0, ddof=1) * np.sqrt(fitted.view_scale_)
    np.testing.assert_allclose(forecast.mu_std.to_numpy(), spread, rtol=1e-5)
    assert (forecast.mu_std > 0).all()
    assert forecast.factors.shape == (5, K * 2 + K)
    assert len(fitted.history_.member_best_epochs) == K
    assert np.linalg.eigvalsh(forecast.cov.to_numpy()).min() > 0


def test_an_ensemble_is_seeded_and_survives_a_checkpoint(fitted, tmp_path) -> None:
    prices = _prices()
    again = LSTMForecaster(**ENSEMBLE, seed=4).fit(prices.iloc[:-30])
    first, second = fitted.predict(prices), again.predict(prices)
    pd.testing.assert_series_equal(first.mu, second.mu)
    pd.testing.assert_series_equal(first.mu_std, second.mu_std)

    fitted.save(tmp_path / "model")
    loaded = LSTMForecaster.load(tmp_path / "model")
    reloaded = loaded.predict(prices)
    pd.testing.assert_series_equal(first.mu, reloaded.mu)
    pd.testing.assert_series_equal(first.mu_std, reloaded.mu_std)
    assert loaded.view_scale_ == fitted.view_scale_

    other = LSTMForecaster(**ENSEMBLE, seed=5).fit(prices.iloc[:-30])
    assert not np.allclose(other.predict(prices).mu, first.mu)


def test_smoothing_averages_the_forecasts_of_earlier_weeks(fitted) -> None:
    prices = _prices()
    step = fitted.sample_every
    single = [fitted.predict(prices.iloc[: len(prices) - j * step]) for j in range(3)]
    settings = fitted.model_settings
    fitted.model_settings = dataclasses.replace(settings, mu_smoothing=3)
    try:
        smoothed = fitted.predict(prices)
    finally:
        fitted.model_settings = settings
    expected = np.mean([f.mu.to_numpy() for f in single], axis=0)
    np.testing.assert_allclose(smoothed.mu.to_numpy(), expected, rtol=1e-4, atol=1e-7)
    # The decision date's covariance (the members' mean spread is of smoothed means).
    pd.testing.assert_series_equal(smoothed.idio, single[0].idio)
    pd.testing.assert_frame_equal(smoothed.cov, single[0].cov, rtol=1e-2)
