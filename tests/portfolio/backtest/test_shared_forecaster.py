"""A Ledoit-Wolf model is the Ledoit-Wolf baseline: one object, fitted and asked once.

Before, the run built the baseline and an identical model forecaster and computed
every forecast twice. Sharing the object must change nothing in the results.
"""

import numpy as np
import pandas as pd
import pytest

import foliocast.portfolio.backtest.run as run_module
from foliocast.forecasting.baselines import LedoitWolfForecaster, make_forecaster
from foliocast.portfolio.config import config_from_dict


@pytest.fixture
def config(tmp_path):
    index = pd.bdate_range("2017-01-02", periods=420)
    rng = np.random.default_rng(7)
    rows = []
    for k, ticker in enumerate(["AAA", "BBB", "CCC", "DDD"]):
        steps = 0.0003 * (k + 1) + 0.01 * rng.standard_normal(len(index))
        close = 40 * np.exp(np.cumsum(steps))
        rows.append(pd.DataFrame({"date": index, "ticker": ticker, "close": close}))
    path = tmp_path / "prices.csv"
    pd.concat(rows).to_csv(path, index=False)
    return config_from_dict(
        {
            "name": "shared_forecaster",
            "data": {"dataset": None, "path": str(path), "risk_free": 0.02},
            "backtest": {"start": None, "rebalance": "M", "min_history_days": 130},
            "forecaster": {
                "kind": "ledoit_wolf",
                "retrain_months": 3,
                "lookback_days": 126,
            },
            "strategies": ["lstm_mvo", "baseline_mvo", "equal_weight"],
        }
    )


def _counting(monkeypatch) -> dict[str, list]:
    """Record the date of every Ledoit-Wolf fit and predict."""
    calls: dict[str, list] = {"fit": [], "predict": []}
    fit, predict = LedoitWolfForecaster.fit, LedoitWolfForecaster.predict

    def counted_fit(self, prices, *args, **kwargs):
        calls["fit"].append(prices.index[-1])
        return fit(self, prices, *args, **kwargs)

    def counted_predict(self, prices, *args, **kwargs):
        calls["predict"].append(prices.index[-1])
        return predict(self, prices, *args, **kwargs)

    monkeypatch.setattr(LedoitWolfForecaster, "fit", counted_fit)
    monkeypatch.setattr(LedoitWolfForecaster, "predict", counted_predict)
    return calls


def _separate(config):
    """The forecasters as they were built before: two equal, distinct objects."""
    spec = config.forecaster
    return {
        name: make_forecaster(
            "ledoit_wolf", horizon=spec.horizon, lookback=spec.lookback_days
        )
        for name in (run_module.SHRINKAGE, run_module.MODEL)
    }


def test_a_ledoit_wolf_model_is_fitted_and_asked_once_per_date(config, monkeypatch):
    forecasters = run_module._forecasters(config)
    assert forecasters[run_module.MODEL] is forecasters[run_module.SHRINKAGE]

    calls = _counting(monkeypatch)
    shared = run_module.run(config)
    dates = list(shared.result.rebalances.date.unique())
    retrains = shared.metrics["run"]["retrain_dates"]
    assert len(dates) > len(retrains) > 1
    assert [d.date().isoformat() for d in calls["fit"]] == retrains
    assert calls["predict"] == dates  # once per date, not once per name

    calls["fit"].clear(), calls["predict"].clear()
    monkeypatch.setattr(run_module, "_forecasters", _separate)
    separate = run_module.run(config)
    assert len(calls["predict"]) == 2 * len(dates)  # what the sharing saves

    pd.testing.assert_frame_equal(shared.result.returns, separate.result.returns)
    pd.testing.assert_frame_equal(shared.result.weights, separate.result.weights)
    pd.testing.assert_frame_equal(shared.result.rebalances, separate.result.rebalances)
    pd.testing.assert_frame_equal(shared.result.forecasts, separate.result.forecasts)
    assert set(shared.result.forecasts.forecaster) == {"ledoit_wolf", "model"}
    assert shared.metrics["forecast"] == separate.metrics["forecast"]
    assert shared.metrics["forecast"]["model"]  # skill is still scored by name
    pd.testing.assert_frame_equal(shared.forecast_skill, separate.forecast_skill)
