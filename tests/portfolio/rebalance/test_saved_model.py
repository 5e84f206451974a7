"""The production loop: the backtest's last model runs the live rebalance."""

import numpy as np
import pandas as pd
import pytest
import yaml

from foliocast.data import DataError
from foliocast.portfolio.backtest.run import model_strategy_name, run
from foliocast.portfolio.backtest.runfolder import MODEL_DIR, save_output
from foliocast.portfolio.config import ConfigError, config_from_dict
from foliocast.portfolio.rebalance.fit import fit_model
from foliocast.portfolio.rebalance.plan import CASH, rebalance
from tests.cli_runner import run_main

VALUE = 1e6
TICKERS = ["AAA", "BBB", "CCC", "DDD"]


def _prices(path, *, bump: float = 1.0):
    """Seeded wide prices; ``bump`` scales one early price (other data)."""
    index = pd.bdate_range("2017-01-02", periods=420)
    rng = np.random.default_rng(7)
    steps = 0.0004 + 0.01 * rng.standard_normal((len(index), len(TICKERS)))
    frame = pd.DataFrame(50 * np.exp(np.cumsum(steps, axis=0)), index, TICKERS)
    frame.iloc[10, 0] *= bump
    frame.rename_axis("date").to_csv(path)
    return path


def _settings(path):
    return {
        "name": "saved_model",
        "data": {"dataset": None, "path": str(path), "risk_free": 0.02},
        "backtest": {"start": None, "rebalance": "M", "min_history_days": 252},
        "forecaster": {
            "kind": "lstm",
            "retrain_months": 12,
            "lookback_days": 252,
            "model": {"hidden": 4, "seq_len": 10, "factors": 1, "ensemble": 1},
            "train": {"max_epochs": 2, "batch_size": 64},
        },
        "optimizer": {"cost_penalty_bps": 10, "constraints": {"max_weight": 0.5}},
        "strategies": ["lstm_mvo", "equal_weight"],
    }


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved_model")
    config = config_from_dict(_settings(_prices(folder / "prices.csv")))
    output = run(config)
    run_dir = folder / "run"
    run_dir.mkdir()
    save_output(run_dir, output)
    return config, output, run_dir


def _holdings_going_into(weights: pd.DataFrame, prices: pd.DataFrame, date):
    drifted = weights.set_index("asset")["drifted"]
    drifted = drifted[drifted != 0]
    shares = drifted * VALUE / prices.loc[date, drifted.index]
    return pd.DataFrame(
        {
            "ticker": [*shares.index, CASH],
            "shares": [*shares.to_numpy(), VALUE * (1.0 - drifted.sum())],
        }
    )


def test_the_run_folder_keeps_the_last_fitted_model(backtest):
    from foliocast.forecasting.lstm import LSTMForecaster  # JAX: only this test

    _, output, run_dir = backtest
    saved = LSTMForecaster.load(run_dir / MODEL_DIR)
    assert saved.fit_date_ == output.model.fit_date_
    assert saved.fingerprint_ == output.model.fingerprint_
    assert saved.fit_date_ <= output.result.returns.index[-1]


def test_rebalance_from_the_run_folder_repeats_the_last_decision(backtest):
    config, output, run_dir = backtest
    weights = output.result.weights
    strategy = model_strategy_name(config)
    mine = weights[weights["strategy"] == strategy]
    last = mine["date"].max()
    rows = mine[mine["date"] == last]
    prices = pd.read_csv(config.data.path, index_col=0, parse_dates=True)
    holdings = _holdings_going_into(rows, prices, last)

    plan = rebalance(config, holdings, last, value=VALUE, model=run_dir)
    fit_date = output.model.fit_date_
    assert plan.model.startswith("lstm, the saved model given with --model")
    assert f"prices up to {fit_date:%Y-%m-%d}" in plan.model
    assert output.model.fingerprint_[:12] in plan.model
    assert f"- Model: {plan.model}" in plan.summary()

    table = plan.weights.set_index("ticker").drop(CASH)
    expected = rows.set_index("asset")["weight"]
    optimal = table["optimizer_weight"].reindex(expected.index, fill_value=0.0)
    np.testing.assert_allclose(optimal, expected, rtol=0, atol=1e-8)


def test_a_model_fitted_on_other_prices_is_refused(backtest, tmp_path):
    config, output, run_dir = backtest
    other = _prices(tmp_path / "other.csv", bump=1.01)
    settings = _settings(other)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(settings))
    changed = config_from_dict(settings)
    last = output.result.returns.index[-1]
    holdings = pd.DataFrame({"ticker": [CASH], "shares": [VALUE]})
    with pytest.raises(DataError, match="fitted on other prices"):
        rebalance(changed, holdings, last, model=run_dir)


def test_fit_trains_on_the_slice_the_backtest_trained_on(backtest):
    config, output, _ = backtest
    fitted = fit_model(config, output.model.fit_date_.strftime("%Y-%m-%d"))
    assert fitted.fit_date_ == output.model.fit_date_
    assert fitted.fingerprint_ == output.model.fingerprint_


def test_portfolio_fit_then_rebalance_with_its_model(backtest, tmp_path):
    config, output, _ = backtest
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_settings(config.data.path)))
    as_of = output.result.returns.index[-1].strftime("%Y-%m-%d")
    fitted = run_main(
        "fit", "--config", str(path), "--as-of", as_of, "--out", str(tmp_path / "m")
    )
    assert fitted.returncode == 0, fitted.stderr
    assert f"prices up to {as_of}" in fitted.stdout
    holdings = tmp_path / "holdings.csv"
    holdings.write_text(f"ticker,shares\n{CASH},{VALUE}\n")
    planned = run_main(
        "rebalance",
        *["--config", str(path), "--holdings", str(holdings), "--as-of", as_of],
        *["--out", str(tmp_path / "plan"), "--model", str(tmp_path / "m"), "--quiet"],
    )
    assert planned.returncode == 0, planned.stderr
    assert (tmp_path / "plan" / "target_weights.csv").is_file()


def test_fit_refuses_a_forecaster_that_is_not_fitted_ahead(tmp_path):
    settings = _settings(_prices(tmp_path / "p.csv"))
    settings["forecaster"] = {"kind": "ledoit_wolf"}
    with pytest.raises(ConfigError, match="not fitted ahead"):
        fit_model(config_from_dict(settings), "2018-01-31")


def test_a_model_older_than_retrain_months_is_refitted_and_the_plan_says_so(
    backtest,
):
    config, output, run_dir = backtest
    monthly = config_from_dict(
        {
            **_settings(config.data.path),
            "forecaster": {
                **_settings(config.data.path)["forecaster"],
                "retrain_months": 1,
            },
        }
    )
    last = output.result.returns.index[-1]
    assert (last.year - output.model.fit_date_.year) * 12 + last.month - (
        output.model.fit_date_.month
    ) >= 1
    holdings = pd.DataFrame({"ticker": [CASH], "shares": [VALUE]})
    plan = rebalance(monthly, holdings, last, model=run_dir)
    assert plan.model.startswith("lstm, trained for this plan")
    assert f"fitted on prices up to {last:%Y-%m-%d}" in plan.model
    assert "older than forecaster.retrain_months: 1" in plan.model
