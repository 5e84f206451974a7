"""The rebalance date: ISO only, non-trading days and a short lag after the data."""

import pandas as pd
import pytest

from foliocast.data import DataError, load_dataset
from foliocast.portfolio.cli import main
from foliocast.portfolio.config import ConfigError, config_from_dict
from foliocast.portfolio.rebalance.plan import CASH, plan_rebalance, resolve_as_of
from foliocast.portfolio.rebalance.valuation import STALE_DAYS

SETTINGS = {
    "name": "rebalance_dates",
    "data": {"dataset": "sp500"},
    "forecaster": {"kind": "ledoit_wolf", "lookback_days": 504},
    "optimizer": {"constraints": {"long_only": True, "max_weight": 0.2}},
    "strategies": ["lstm_mvo"],
}
HOLDINGS = pd.DataFrame([("AAPL", 10), (CASH, 10_000)], columns=["ticker", "shares"])


@pytest.fixture(scope="module")
def index():
    return load_dataset("sp500").index  # last date 2022-12-28, a Wednesday


def test_weekend_month_end_just_after_the_data_uses_its_last_day(index):
    assert index[-1] == pd.Timestamp("2022-12-28")
    date, note = resolve_as_of(index, "2022-12-31")
    assert date == pd.Timestamp("2022-12-28")
    assert "2022-12-31" in note and "used its last trading day, 2022-12-28" in note
    assert "2 weekdays without prices" in note  # Thu 29 and Fri 30 December


def test_lag_after_the_data_is_bounded_by_stale_days(index):
    # Weekdays after 2022-12-28 up to and including the date: 29, 30, 2, 3, 4, 5.
    assert STALE_DAYS == 5
    date, _ = resolve_as_of(index, "2023-01-04")
    assert date == index[-1]
    with pytest.raises(DataError, match="outside the price data") as caught:
        resolve_as_of(index, "2023-01-05")
    assert "2022-12-28" in str(caught.value) and "5 weekdays" in str(caught.value)


def test_holiday_inside_the_data_uses_the_previous_trading_day(index):
    date, note = resolve_as_of(index, "2022-07-04")  # Independence Day, a Monday
    assert date == pd.Timestamp("2022-07-01")
    assert "not a trading day" in note and "2022-07-01" in note
    assert resolve_as_of(index, "2022-07-05") == (pd.Timestamp("2022-07-05"), None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("05/06/2021", "day and month are ambiguous"),
        ("2021/06/05", "not an ISO date"),
        ("2021-06-31", "not a calendar date"),
    ],
)
def test_non_iso_as_of_is_refused(index, text, reason):
    with pytest.raises(ConfigError, match=reason) as caught:
        resolve_as_of(index, text)
    assert "YYYY-MM-DD" in str(caught.value)


def test_plan_on_a_weekend_month_end_says_which_date_it_used():
    prices = load_dataset("sp500")
    plan = plan_rebalance(prices, config_from_dict(SETTINGS), HOLDINGS, "2022-12-31")
    assert plan.as_of == pd.Timestamp("2022-12-28")
    assert "Rebalance rebalance_dates: 2022-12-28" in plan.summary()
    assert any("used its last trading day, 2022-12-28" in n for n in plan.notes)


def test_cli_refuses_an_ambiguous_as_of_with_one_line(tmp_path, capsys):
    import yaml

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(SETTINGS))
    holdings = tmp_path / "holdings.csv"
    holdings.write_text("ticker,shares\nAAPL,10\nCASH,10000\n")
    out = tmp_path / "plan"
    argv = ["rebalance", "--config", str(config), "--holdings", str(holdings)]
    code = main([*argv, "--as-of", "05/06/2021", "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and "ambiguous" in lines[0] and "YYYY-MM-DD" in lines[0]
    assert not out.exists()
