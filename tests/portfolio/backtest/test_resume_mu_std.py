"""Resume checkpoints keep each forecast's standard error of mu, and older ones load."""

import json
import warnings

import numpy as np
import pandas as pd

from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.backtest import resume
from foliocast.portfolio.backtest.resume import EngineState, load_state, save_state

TICKERS = ["A", "B", "C"]
DAY = pd.Timestamp("2020-01-31")


def _state() -> EngineState:
    rng = np.random.default_rng(42)
    factors = pd.DataFrame(rng.normal(0, 0.03, (3, 2)), TICKERS, ["f1", "f2"])
    idio = pd.Series(rng.uniform(1e-4, 1e-3, 3), TICKERS)
    mu = pd.Series(rng.normal(0, 0.01, 3), TICKERS)
    with_std = Forecast.from_factors(
        DAY, 21, mu, factors, idio, mu_std=pd.Series([0.001, 0.002, 0.0], TICKERS)
    )
    plain = Forecast(DAY, 21, mu * 2, with_std.cov)
    return EngineState(
        next_rebalance=1,
        held=np.zeros((1, 3)),
        gross=np.zeros((2, 1)),
        costs=np.zeros((2, 1)),
        weight_rows=[],
        trade_rows=[],
        rebalance_rows=[],
        fit_dates=[DAY],
        history=[("model", with_std), ("ledoit_wolf", plain)],
        strategy_states={},
        fingerprint="inputs",
    )


def test_mu_std_survives_a_checkpoint(tmp_path):
    state = _state()
    save_state(tmp_path, state, {})
    loaded = load_state(tmp_path, {}, "inputs")
    (_, model), (_, plain) = loaded.history
    (_, original), _ = state.history
    pd.testing.assert_series_equal(model.mu_std, original.mu_std, check_names=False)
    pd.testing.assert_frame_equal(model.factors, original.factors)
    assert plain.mu_std is None


def test_a_checkpoint_written_before_mu_std_still_loads(tmp_path):
    save_state(tmp_path, _state(), {})
    current = tmp_path / "current"
    # Rewrite the checkpoint as an older version wrote it: no mu_std anywhere.
    document = json.loads((current / resume.STATE_FILE).read_text())
    for entry in document["forecasts"]:
        entry.pop("mu_std", None)
    (current / resume.STATE_FILE).write_text(json.dumps(document))
    with np.load(current / "forecasts.npz") as arrays:
        kept = {k: arrays[k] for k in arrays.files if not k.endswith("_mu_std")}
        assert len(kept) < len(arrays.files)
    np.savez(current / "forecasts.npz", **kept)
    resume._write_manifest(current)
    with warnings.catch_warnings():
        # A warning would mean the older checkpoint was refused.
        warnings.simplefilter("error", resume.CheckpointWarning)
        loaded = load_state(tmp_path, {}, "inputs")
    assert [f.mu_std for _, f in loaded.history] == [None, None]
