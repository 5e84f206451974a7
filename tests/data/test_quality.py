"""Quality warnings: unadjusted splits and non-daily prices are named, never silent."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foliocast.data import DataQualityWarning, check_prices, load_dataset, load_prices
from foliocast.data.datasets import DATASETS
from foliocast.data.quality import (
    DEFAULT_MAX_DAILY_MOVE,
    median_spacing_days,
    price_jumps,
)
from foliocast.portfolio.config import ConfigError, DataConfig, config_from_dict


def random_walk(index: pd.DatetimeIndex, columns=("AAA", "BBB")) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    steps = rng.normal(0.0, 0.01, size=(len(index), len(columns)))
    return pd.DataFrame(
        100 * np.exp(np.cumsum(steps, axis=0)), index=index, columns=list(columns)
    )


DAILY = pd.bdate_range("2021-01-04", periods=60)


def write_csv(tmp_path: Path, prices: pd.DataFrame) -> Path:
    path = tmp_path / "prices.csv"
    prices.rename_axis("date").to_csv(path)
    return path


def no_warnings(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        return call(*args, **kwargs)


# Jumps -------------------------------------------------------------------------


def test_price_jumps_against_hand_computed_ratios():
    prices = pd.DataFrame(
        {
            # Not trading yet, then x3.4 (kept), x3.6 (flagged), x1/3.6 (flagged).
            "AAA": [np.nan, 10.0, 34.0, 122.4, 34.0, 35.0],
            "BBB": [5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
        },
        index=DAILY[:6],
    )
    jumps = price_jumps(prices, 3.5)
    assert list(jumps["asset"]) == ["AAA", "AAA"]
    assert list(jumps["date"]) == [DAILY[3], DAILY[4]]
    assert list(jumps["previous_date"]) == [DAILY[2], DAILY[3]]
    np.testing.assert_allclose(jumps["ratio"], [122.4 / 34.0, 34.0 / 122.4])


def test_unadjusted_split_in_a_file_warns_naming_asset_and_date(tmp_path):
    prices = random_walk(DAILY)
    prices.loc[DAILY[30] :, "BBB"] *= 1000  # a 1000x jump on the 31st date
    prices.loc[DAILY[40] :, "AAA"] /= 50  # a 50:1 split not adjusted for
    path = write_csv(tmp_path, prices)
    with pytest.warns(DataQualityWarning) as caught:
        load_prices(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert str(path) in message
    assert f"BBB on {DAILY[30]:%Y-%m-%d} x99" in message  # 1000 x one day's move
    assert f"AAA on {DAILY[40]:%Y-%m-%d} x0.020" in message and "(1/49." in message
    assert "data.checks: false" in message and "data.max_daily_move" in message


def test_jump_warning_is_silenced_on_purpose(tmp_path):
    prices = random_walk(DAILY)
    prices.loc[DAILY[30] :, "BBB"] *= 1000
    path = write_csv(tmp_path, prices)
    no_warnings(load_prices, path, checks=False)
    no_warnings(load_prices, path, max_daily_move=2000)
    # Python users filter by category.
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DataQualityWarning)
        load_prices(path)
    assert not seen


def test_long_list_of_jumps_is_shortened(tmp_path):
    prices = random_walk(DAILY, columns=[f"T{i}" for i in range(8)])
    prices.loc[DAILY[20] :] *= 10
    (message,) = check_prices_quietly(prices)
    assert "and 3 more" in message
    assert message.count(f"on {DAILY[20]:%Y-%m-%d}") == 5


def check_prices_quietly(prices, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return check_prices(prices, source="test", **kwargs)


# Frequency ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("freq", "guess"), [("W-FRI", "weekly"), ("ME", "monthly"), ("QE", "not daily")]
)
def test_not_daily_prices_warn_with_the_spacing(tmp_path, freq, guess):
    index = pd.date_range("2015-01-01", periods=40, freq=freq)
    spacing = np.median(
        [(b - a).days for a, b in zip(index[:-1], index[1:], strict=True)]
    )
    path = write_csv(tmp_path, random_walk(index))
    with pytest.warns(DataQualityWarning, match=f"median {spacing:g} calendar days"):
        load_prices(path)
    (message,) = check_prices_quietly(random_walk(index))
    assert guess in message and "252 a year" in message
    assert f"{index[0]:%Y-%m-%d} to {index[-1]:%Y-%m-%d}" in message
    no_warnings(load_prices, path, checks=False)


def test_daily_prices_with_holidays_and_weekends_do_not_warn():
    index = pd.bdate_range("2021-01-04", periods=120)
    index = index.delete([5, 17, 18, 60])  # holidays, a long weekend
    assert median_spacing_days(index) == 1.0
    assert check_prices_quietly(random_walk(index)) == []


# Bundled data and run configs --------------------------------------------------


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_no_warning_on_bundled_datasets(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. skfolio's own deprecations
        prices = load_dataset(name)
    assert check_prices_quietly(prices, max_daily_move=DEFAULT_MAX_DAILY_MOVE) == []


def test_run_config_passes_the_settings_to_the_loader(tmp_path):
    from foliocast.portfolio.backtest.run import load_run_data

    prices = random_walk(DAILY)
    prices.loc[DAILY[30] :, "BBB"] *= 1000
    path = write_csv(tmp_path, prices)
    data = {"path": str(path), "dataset": None, "risk_free": 0.02}
    with pytest.warns(DataQualityWarning, match="BBB on"):
        load_run_data(config_from_dict({"data": data}))
    no_warnings(load_run_data, config_from_dict({"data": {**data, "checks": False}}))
    raised = {**data, "max_daily_move": 1001}
    no_warnings(load_run_data, config_from_dict({"data": raised}))


def test_config_default_is_the_data_layer_default_and_is_validated():
    assert DataConfig().max_daily_move == DEFAULT_MAX_DAILY_MOVE
    with pytest.raises(ConfigError, match="data.max_daily_move"):
        config_from_dict({"data": {"max_daily_move": 1.0}})
    with pytest.raises(ConfigError, match="data.checks"):
        config_from_dict({"data": {"checks": "no"}})
