"""Tests of LSTMForecaster: the forecaster contract, determinism, checkpoints."""

from __future__ import annotations

import copy
import json

import jax
import numpy as np
import pandas as pd
import pytest
from flax import nnx

from foliocast.forecasting.base import Forecaster
from foliocast.forecasting.dataset import build_training_data
from foliocast.forecasting.features import compute_features
from foliocast.forecasting.forecast import Forecast
from foliocast.forecasting.lstm import LSTMForecaster
from foliocast.forecasting.train import evaluate_loss

# Tiny but complete: every code path, a few seconds per fit.
SMALL = dict(
    horizon=5,
    seq_len=20,
    hidden=8,
    factors=2,
    max_epochs=4,
    batch_size=64,
    patience=2,
    sample_every=3,
    seed=7,
    ensemble=1,
    mu_smoothing=1,  # one forecast per date: comparable with the model called directly
)


def _synthetic_prices(n_days: int = 520, seed: int = 42) -> pd.DataFrame:
    """Six assets driven by a common factor; the last one starts late."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0004, 0.01, size=(n_days, 1))
    betas = np.array([0.6, 0.9, 1.0, 1.1, 1.3, 0.8])
    log_returns = market * betas + rng.normal(0, 0.012, size=(n_days, 6))
    dates = pd.bdate_range("2015-01-02", periods=n_days)
    prices = pd.DataFrame(
        50 * np.exp(np.cumsum(log_returns, axis=0)),
        index=dates,
        columns=["AAA", "BBB", "CCC", "DDD", "EEE", "NEW"],
    )
    prices.iloc[:300, 5] = np.nan
    return prices


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return _synthetic_prices()


@pytest.fixture(scope="module")
def fitted(prices: pd.DataFrame) -> LSTMForecaster:
    return LSTMForecaster(**SMALL).fit(prices.iloc[:450])


def test_forecast_contract(fitted: LSTMForecaster, prices: pd.DataFrame) -> None:
    history = prices.iloc[:450]
    forecast = fitted.predict(history)
    assert isinstance(fitted, Forecaster)
    assert isinstance(forecast, Forecast)
    assert forecast.as_of == history.index[-1]
    assert forecast.horizon == 5
    assert forecast.tickers == list(prices.columns)
    assert forecast.factors.shape == (6, 2)
    assert (forecast.idio > 0).all()
    cov = forecast.cov.to_numpy()
    assert np.isfinite(cov).all() and np.linalg.eigvalsh(cov).min() > 0
    assert np.isfinite(forecast.mu).all() and forecast.mu.abs().max() < 0.2
    assert fitted.fit_date_ == history.index[-1]
    assert fitted.tickers_ == list(prices.columns)
    assert len(fitted.fingerprint_) == 64


def test_same_seed_gives_identical_forecasts(
    fitted: LSTMForecaster, prices: pd.DataFrame
) -> None:
    again = LSTMForecaster(**SMALL).fit(prices.iloc[:450])
    first, second = fitted.predict(prices.iloc[:450]), again.predict(prices.iloc[:450])
    np.testing.assert_array_equal(first.mu.to_numpy(), second.mu.to_numpy())
    np.testing.assert_array_equal(first.cov.to_numpy(), second.cov.to_numpy())
    assert fitted.history_.train_loss == again.history_.train_loss


def test_early_stopping_keeps_the_best_validation_weights(
    fitted: LSTMForecaster, prices: pd.DataFrame
) -> None:
    history = fitted.history_
    assert 1 <= history.best_epoch <= history.epochs_run <= SMALL["max_epochs"]
    assert history.best_val_loss == min(history.val_loss)
    data = build_training_data(
        compute_features(prices.iloc[:450]),
        prices.iloc[:450],
        horizon=5,
        seq_len=20,
        every=3,
    )
    restored = evaluate_loss(fitted.model_, data.validation)
    np.testing.assert_allclose(restored, history.best_val_loss, rtol=1e-5)


def test_checkpoint_round_trip(
    fitted: LSTMForecaster, prices: pd.DataFrame, tmp_path
) -> None:
    fitted.save(tmp_path / "model")
    loaded = LSTMForecaster.load(tmp_path / "model", prices=prices.iloc[:450])
    before, after = fitted.predict(prices), loaded.predict(prices)
    np.testing.assert_array_equal(before.mu.to_numpy(), after.mu.to_numpy())
    np.testing.assert_array_equal(before.cov.to_numpy(), after.cov.to_numpy())
    assert loaded.get_params() == fitted.get_params()
    # Safe format: plain arrays and JSON, nothing pickled.
    with np.load(tmp_path / "model" / "weights.npz", allow_pickle=False) as weights:
        assert all(weights[key].dtype == np.float32 for key in weights.files)
    meta = json.loads((tmp_path / "model" / "checkpoint.json").read_text())
    assert meta["fingerprint"] == fitted.fingerprint_
    assert meta["feature_names"] == fitted.feature_names_
    assert meta["tickers"] == fitted.tickers_
    with pytest.raises(ValueError, match="fingerprint"):
        LSTMForecaster.load(tmp_path / "model", prices=prices.iloc[:449])
    fitted.save(tmp_path / "model")  # replacing a checkpoint is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        fitted.save(tmp_path / "other")


def _params(forecaster: LSTMForecaster) -> list[np.ndarray]:
    state = nnx.state(forecaster.model_, nnx.Param)
    return [np.asarray(leaf) for leaf in jax.tree.leaves(state)]


def _stop_learning(forecaster: LSTMForecaster) -> None:
    """Set a zero learning rate, below the settings' range (they refuse it)."""
    settings = copy.copy(forecaster.train_settings)
    object.__setattr__(settings, "lr", 0.0)
    forecaster.train_settings = settings


def test_warm_start_continues_from_previous_weights(prices: pd.DataFrame) -> None:
    # With a zero learning rate a refit cannot move the weights, which exposes
    # where it started from.
    warm = LSTMForecaster(**SMALL).fit(prices.iloc[:450])
    trained = _params(warm)
    model = warm.model_
    _stop_learning(warm)
    warm.fit(prices)
    assert warm.model_ is model and warm.n_fits_ == 2
    for after, before in zip(_params(warm), trained, strict=True):
        np.testing.assert_array_equal(after, before)

    cold = LSTMForecaster(**{**SMALL, "warm_start": False}).fit(prices.iloc[:450])
    _stop_learning(cold)
    cold.fit(prices)
    fresh = LSTMForecaster(**SMALL)._new_model(len(cold.feature_names_))
    initial = jax.tree.leaves(nnx.state(fresh, nnx.Param))
    for after, init in zip(_params(cold), initial, strict=True):
        np.testing.assert_array_equal(after, init)


def test_assets_with_little_or_no_history(
    fitted: LSTMForecaster, prices: pd.DataFrame
) -> None:
    history = prices.iloc[:450].copy()
    history["FRESH"] = np.nan
    history.iloc[-8:, -1] = 20.0 * np.exp(np.linspace(0, 0.02, 8))
    history["NOT_YET"] = np.nan
    forecast = fitted.predict(history)
    assert forecast.tickers[-2:] == ["FRESH", "NOT_YET"]
    assert np.isfinite(forecast.mu).all()
    assert np.isfinite(forecast.cov.to_numpy()).all()
    assert (forecast.idio > 0).all()


def test_mean_only_setup(prices: pd.DataFrame) -> None:
    forecaster = LSTMForecaster(**{**SMALL, "loss": "mse", "max_epochs": 2})
    forecast = forecaster.fit(prices.iloc[:450]).predict(prices.iloc[:450])
    cov = forecast.cov.to_numpy()
    assert np.isfinite(forecast.mu).all()
    assert np.linalg.eigvalsh(cov).min() > 0
    # The covariance is a factor model of recent daily returns, scaled to the horizon.
    daily_var = np.log(prices.iloc[:450, 0]).diff().var()
    assert 0.5 < cov[0, 0] / (5 * daily_var) < 2.0


def test_errors(prices: pd.DataFrame) -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        LSTMForecaster(**SMALL).predict(prices)
    with pytest.raises(ValueError, match="seq_len"):
        LSTMForecaster(**SMALL).fit(prices.iloc[:20])
    with pytest.raises(ValueError, match="loss"):
        LSTMForecaster(loss="mae")
    with pytest.raises(ValueError, match="dropout"):
        LSTMForecaster(dropout=1.5)
    assert "hidden=16" in repr(LSTMForecaster())


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("weights.npz", lambda b: b[: len(b) // 2], "weights.npz is missing, trunc"),
        ("weights.npz", lambda b: b"garbage" * 100, "checksum does not match"),
        ("checkpoint.json", lambda b: b[:-40], "not valid JSON"),
        (
            "checkpoint.json",
            lambda b: b.replace(b'"horizon": ', b'"horizon": 1'),
            "changed after it was written",
        ),
    ],
    ids=["truncated-weights", "garbage-weights", "truncated-json", "edited-json"],
)
def test_a_damaged_checkpoint_is_refused_by_name(
    fitted: LSTMForecaster, tmp_path, name, damage, message
) -> None:
    from foliocast.forecasting.checkpoint import CheckpointError

    fitted.save(tmp_path / "model")
    file = tmp_path / "model" / name
    file.write_bytes(damage(file.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        LSTMForecaster.load(tmp_path / "model")


def test_on_epoch_sees_every_epoch_and_changes_nothing(
    fitted: LSTMForecaster, prices: pd.DataFrame
) -> None:
    from foliocast.forecasting.train import EpochEnd

    seen: list[EpochEnd] = []
    again = LSTMForecaster(**SMALL, on_epoch=seen.append).fit(prices.iloc[:450])
    history = fitted.history_
    assert again.history_.train_loss == history.train_loss
    assert [end.epoch for end in seen] == list(range(1, history.epochs_run + 1))
    assert [end.train_loss for end in seen] == history.train_loss
    assert [end.val_loss for end in seen] == history.val_loss
    assert {end.max_epochs for end in seen} == {SMALL["max_epochs"]}
    assert {end.fit_date for end in seen} == {prices.index[449]}
    assert "on_epoch" not in again.get_params()  # neither compared nor saved


def _direct_mu(forecaster: LSTMForecaster, prices: pd.DataFrame) -> np.ndarray:
    """The model called as a plain module on the scaled last window: the reference."""
    values = compute_features(prices).values[-forecaster.model_settings.seq_len :]
    scaled = forecaster.scaler_.transform(values)
    forecaster.model_.eval()
    out = forecaster.model_(np.transpose(scaled, (1, 0, 2))[None])
    return np.asarray(out.mu, dtype=float)[0]


def test_predict_follows_every_refit_and_reload(prices: pd.DataFrame, tmp_path) -> None:
    # predict reuses the model split once per fit; a warm-started refit trains the
    # same model object in place, so the reused weights must follow each fit.
    forecaster = LSTMForecaster(**SMALL).fit(prices.iloc[:450])
    first = forecaster.predict(prices).mu.to_numpy()
    np.testing.assert_allclose(first, _direct_mu(forecaster, prices), rtol=1e-5)
    model = forecaster.model_
    forecaster.fit(prices)
    assert forecaster.model_ is model
    second = forecaster.predict(prices).mu.to_numpy()
    assert not np.allclose(first, second)
    np.testing.assert_allclose(second, _direct_mu(forecaster, prices), rtol=1e-5)

    forecaster.save_state(tmp_path / "state")
    other = LSTMForecaster(**SMALL).fit(prices.iloc[:450])
    other.predict(prices)  # holds the other model's weights
    other.load_state(tmp_path / "state")
    np.testing.assert_array_equal(other.predict(prices).mu.to_numpy(), second)


def _train_dates(prices: pd.DataFrame) -> int:
    data = build_training_data(
        compute_features(prices), prices, horizon=5, seq_len=20, every=3
    )
    return len(data.train)


def test_a_block_within_the_epoch_budget_trains_exactly_as_without_one(
    fitted: LSTMForecaster, prices: pd.DataFrame
) -> None:
    # The budget only bites above it: at exactly the block's size nothing changes,
    # so runs whose blocks fit (the bundled ones) keep their results.
    sequences = _train_dates(prices.iloc[:450]) * prices.shape[1]
    exact = LSTMForecaster(**SMALL, epoch_sequences=sequences).fit(prices.iloc[:450])
    assert exact.history_.train_loss == fitted.history_.train_loss
    for a, b in zip(_params(exact), _params(fitted), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_block_over_the_epoch_budget_trains_on_a_subset_each_epoch(
    prices: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foliocast.forecasting import train

    steps: list[int] = []
    step = train._train_step

    def counted(*args, **kwargs):
        steps.append(int(np.sum(args[4])))  # observed (date, asset) pairs: the mask
        return step(*args, **kwargs)

    monkeypatch.setattr(train, "_train_step", counted)
    n_assets, dates_per_batch = prices.shape[1], SMALL["batch_size"] // 6
    settings = {**SMALL, "max_epochs": 2, "patience": 5}
    LSTMForecaster(**settings).fit(prices.iloc[:450])
    full = len(steps)
    assert full == 2 * -(-_train_dates(prices.iloc[:450]) // dates_per_batch)
    steps.clear()
    budget = 3 * dates_per_batch * n_assets  # three whole batches per epoch
    LSTMForecaster(**settings, epoch_sequences=budget).fit(prices.iloc[:450])
    assert len(steps) == 2 * 3 < full
    assert max(steps) <= dates_per_batch * n_assets
