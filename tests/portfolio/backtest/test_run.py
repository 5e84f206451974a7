"""`portfolio.run`: from a config on a user price file to a finished backtest."""

import numpy as np
import pandas as pd
import pytest

import foliocast.portfolio.backtest.run as run_module
from foliocast.portfolio.config import config_from_dict


def _long_file(tmp_path, *, with_volume: bool = True):
    """A small seeded long-form CSV (date, ticker, close[, volume])."""
    index = pd.bdate_range("2017-01-02", periods=520)
    rng = np.random.default_rng(42)
    rows = []
    for k, ticker in enumerate(["AAA", "BBB", "CCC", "DDD"]):
        steps = 0.0004 * (k + 1) + 0.01 * rng.standard_normal(len(index))
        close = 50 * np.exp(np.cumsum(steps))
        frame = pd.DataFrame({"date": index, "ticker": ticker, "close": close})
        if with_volume:
            frame["volume"] = rng.lognormal(12.0, 0.5, len(index)).round()
        rows.append(frame)
    path = tmp_path / "prices.csv"
    pd.concat(rows).sample(frac=1.0, random_state=0).to_csv(path, index=False)
    return path


def _config(path):
    return config_from_dict(
        {
            "name": "volume_test",
            "data": {"dataset": None, "path": str(path), "risk_free": 0.02},
            "backtest": {"start": None, "rebalance": "Q", "min_history_days": 252},
            "forecaster": {
                "kind": "lstm",
                "retrain_months": 12,
                "lookback_days": 504,
                "model": {"hidden": 8, "seq_len": 21, "factors": 2, "ensemble": 1},
                "train": {"max_epochs": 2, "batch_size": 64},
            },
            "strategies": ["lstm_mvo", "equal_weight"],
        }
    )


def test_volume_of_a_long_file_reaches_the_lstm(tmp_path, monkeypatch):
    built = []
    make = run_module.make_model_forecaster

    def recording(config):
        built.append(make(config))
        return built[-1]

    monkeypatch.setattr(run_module, "make_model_forecaster", recording)
    output = run_module.run(_config(_long_file(tmp_path)))
    (lstm,) = built
    assert lstm.n_fits_ >= 1 and "volume_z" in lstm.feature_names_
    assert "volume_fingerprint" in output.metrics["run"]["data"]
    assert output.result.rebalances.status.eq("traded").all()


@pytest.mark.parametrize("with_volume", [True, False])
def test_load_run_data_returns_volume_aligned_with_prices(tmp_path, with_volume):
    config = _config(_long_file(tmp_path, with_volume=with_volume))
    prices, volume, provenance = run_module.load_run_data(config)
    if with_volume:
        assert volume.index.equals(prices.index)
        assert list(volume.columns) == list(prices.columns)
        assert "volume_fingerprint" in provenance
    else:
        assert volume is None and "volume_fingerprint" not in provenance


def test_lstm_bl_alone_builds_the_model_and_is_named_by_its_kind(tmp_path):
    from foliocast.portfolio.backtest.strategies import Views

    values = {
        "name": "views_test",
        "data": {"dataset": None, "path": str(_long_file(tmp_path)), "risk_free": 0.02},
        "backtest": {"start": None, "rebalance": "Q", "min_history_days": 252},
        "forecaster": {"kind": "ewma", "views": {"prior": "equilibrium", "tau": 0.1}},
        "strategies": ["lstm_bl", "equal_weight"],
    }
    config = config_from_dict(values)
    assert run_module.MODEL in run_module._forecasters(config)
    bl, _ = run_module.build_strategies(config)
    assert bl.name == "ewma_bl" and bl.forecaster == run_module.MODEL
    assert bl.views == Views("equilibrium", 0.1, historical=run_module.SHRINKAGE)
    output = run_module.run(config)
    assert list(output.result.returns.columns) == ["ewma_bl", "equal_weight"]
    assert output.result.rebalances.status.eq("traded").all()
    assert "ewma_bl" in output.metrics["strategies"]


def test_a_minimum_tracking_error_run_to_one_over_n_holds_one_over_n(tmp_path):
    # 1/N is feasible (4 assets, max weight 0.5) and trading carries no penalty in
    # the objective, so the minimum tracking-error portfolio is 1/N itself at every
    # rebalance: the strategy trades exactly as equal_weight does and earns the
    # same returns after costs. (With a cost penalty it stops short of 1/N.)
    config = config_from_dict(
        {
            "name": "tracking_test",
            "data": {
                "dataset": None,
                "path": str(_long_file(tmp_path)),
                "risk_free": 0.0,
            },
            "backtest": {"start": None, "rebalance": "Q", "min_history_days": 252},
            "forecaster": {"kind": "ledoit_wolf", "lookback_days": 252},
            "optimizer": {
                "objective": "tracking_error",
                "cost_penalty_bps": 0,
                "constraints": {"long_only": True, "max_weight": 0.5},
            },
            "strategies": ["lstm_mvo", "equal_weight"],
        }
    )
    returns = run_module.run(config).result.returns
    assert returns.shape[0] > 200
    np.testing.assert_allclose(
        returns["ledoit_wolf_mvo"], returns["equal_weight"], atol=1e-10
    )
