"""A short price file: the messages name settings that exist, and say what works."""

import numpy as np
import pandas as pd
import pytest
import yaml

from foliocast.forecasting.baselines import HistoricalForecaster, LedoitWolfForecaster
from foliocast.portfolio.backtest.run import run
from foliocast.portfolio.cli import main
from foliocast.portfolio.config import ConfigError, config_from_dict


@pytest.fixture
def short_file(tmp_path):
    rng = np.random.default_rng(42)
    index = pd.bdate_range("2021-01-04", periods=80, name="date")
    steps = rng.normal(0.0, 0.01, size=(80, 5))
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(steps, axis=0)), index=index, columns=list("ABCDE")
    )
    path = tmp_path / "short.csv"
    prices.to_csv(path)
    return path


def settings(path, min_history_days):
    return {
        "name": "short",
        "data": {"path": str(path), "risk_free": 0.02},
        "backtest": {"start": None, "min_history_days": min_history_days},
        "forecaster": {"kind": "historical"},
        "strategies": ["lstm_mvo", "equal_weight"],
    }


def test_min_history_days_below_the_forecasters_need_is_refused(short_file):
    with pytest.raises(ConfigError) as caught:
        run(config_from_dict(settings(short_file, 20)))
    message = str(caught.value)
    # The baselines' Ledoit-Wolf risk model needs 63 daily returns: 64 prices.
    assert message.startswith("backtest.min_history_days: 20")
    assert "at least 64" in message and "min_history " not in message


def test_cli_says_it_in_one_line(short_file, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings(short_file, 20)))
    code = main(["backtest", "--config", str(config), "--out", str(tmp_path / "o")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and "backtest.min_history_days" in lines[0], lines


@pytest.mark.parametrize("forecaster", [HistoricalForecaster, LedoitWolfForecaster])
def test_forecaster_message_names_the_run_setting(short_file, forecaster):
    prices = pd.read_csv(short_file, index_col="date", parse_dates=True)
    with pytest.raises(ValueError) as caught:
        forecaster(lookback=None, min_history=100).fit(prices)
    message = str(caught.value)
    assert "backtest.min_history_days of at least 101" in message
    assert "lower min_history" not in message
