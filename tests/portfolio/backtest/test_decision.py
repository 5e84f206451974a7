"""The decision at a date: the rebalance plan and the backtest make the same one."""

import numpy as np
import pandas as pd
import pytest

from foliocast.data import load_dataset
from foliocast.portfolio.backtest.run import model_strategy_name, run
from foliocast.portfolio.config import config_from_dict
from foliocast.portfolio.rebalance.plan import CASH, plan_rebalance

DATE = pd.Timestamp("2022-06-30")  # a month-end rebalance of the backtest below
VALUE = 1e6
SETTINGS = {
    "name": "same_decision",
    "data": {"dataset": "sp500", "risk_free": "fama_french"},
    "backtest": {"start": "2022-03-01", "end": "2022-08-31", "cost_bps": 10},
    # Refit every month, as the plan fits at its date: the same forecast at DATE.
    "forecaster": {"kind": "ledoit_wolf", "lookback_days": 504, "retrain_months": 1},
    "optimizer": {
        "objective": "utility",
        "risk_aversion": 5,
        # A cost penalty makes the answer depend on the weights held going in.
        "cost_penalty_bps": 10,
        "constraints": {"long_only": True, "max_weight": 0.2},
    },
    "strategies": ["lstm_mvo", "equal_weight"],
}


@pytest.fixture(scope="module")
def config():
    return config_from_dict(SETTINGS)


@pytest.fixture(scope="module")
def backtest(config):
    return run(config).result


def test_plan_makes_the_backtests_decision_at_its_date(config, backtest):
    strategy = model_strategy_name(config)
    rows = backtest.weights[
        (backtest.weights["date"] == DATE) & (backtest.weights["strategy"] == strategy)
    ].set_index("asset")
    assert len(rows) > 0 and (rows["drifted"] != 0).any()
    # The account holds exactly what the backtest held going into DATE.
    prices = load_dataset("sp500")
    drifted = rows["drifted"][rows["drifted"] != 0]
    shares = drifted * VALUE / prices.loc[DATE, drifted.index]
    holdings = pd.DataFrame(
        {
            "ticker": [*shares.index, CASH],
            "shares": [*shares.to_numpy(), VALUE * (1.0 - drifted.sum())],
        }
    )
    plan = plan_rebalance(prices, config, holdings, DATE, value=VALUE)

    table = plan.weights.set_index("ticker").drop(CASH)
    current = table["current_weight"].reindex(rows.index, fill_value=0.0)
    np.testing.assert_allclose(current, rows["drifted"], atol=1e-12)
    optimal = table["optimizer_weight"].reindex(rows.index, fill_value=0.0)
    np.testing.assert_allclose(optimal, rows["weight"], rtol=0, atol=1e-10)
    assert set(table.index[table["optimizer_weight"] != 0]) <= set(rows.index)
    # ... from the same forecast.
    recorded = backtest.forecasts[
        (backtest.forecasts["date"] == DATE)
        & (backtest.forecasts["forecaster"] == "model")
    ].set_index("asset")
    np.testing.assert_allclose(
        plan.forecast.mu.reindex(recorded.index), recorded["mu"], rtol=1e-12
    )
