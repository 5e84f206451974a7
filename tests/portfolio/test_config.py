"""Config: safe YAML, validation that names the key, round trip."""

import pytest
import yaml

from portfolio.config import (
    ConfigError,
    RunConfig,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
)


def test_default_config_is_valid():
    config = load_config(None)
    assert isinstance(config, RunConfig)
    assert config.forecaster.horizon == 21 and config.backtest.rebalance == "M"
    assert "lstm_mvo" in config.strategies


def test_round_trip_through_yaml(tmp_path):
    config = config_from_dict(
        {
            "name": "rt",
            "backtest": {"start": "2001-01-01", "cost_bps": 5},
            "optimizer": {"risk_aversion": 3, "constraints": {"max_weight": 0.2}},
            "strategies": ["equal_weight", "min_variance"],
        }
    )
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config
    assert config_to_dict(config)["optimizer"]["risk_aversion"] == 3.0


def test_yaml_dates_are_kept_as_text(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("backtest:\n  start: 2001-02-03\n")
    assert load_config(path).backtest.start == "2001-02-03"


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"optimizer": {"risk_aversoin": 3}}, "optimizer.risk_aversoin: unknown key"),
        ({"colour": "red"}, "colour: unknown key"),
        ({"backtest": {"rebalance": "D"}}, "backtest.rebalance: 'D' is not one of"),
        ({"forecaster": {"model": {"hidden": "big"}}}, "forecaster.model.hidden"),
        (
            {"forecaster": {"model": {"hidden": 0}}},
            "forecaster.model.hidden: 0 is outside",
        ),
        ({"backtest": {"cost_bps": -1}}, "backtest.cost_bps"),
        ({"backtest": {"cash": "yes"}}, "backtest.cash: expected true or false"),
        ({"backtest": {"start": "someday"}}, "backtest.start: 'someday' is not a date"),
        ({"strategies": ["lstm"]}, "strategies[0]: unknown strategy 'lstm'"),
        ({"strategies": []}, "strategies: list at least one"),
        ({"data": {"dataset": None}}, "data: give exactly one of"),
        ({"data": {"path": "x.csv", "dataset": "sp500"}}, "data: give exactly one of"),
        ({"optimizer": {"objective": "target_return"}}, "optimizer.target: required"),
        ({"forecaster": "lstm"}, "forecaster: expected a mapping"),
    ],
)
def test_bad_values_name_the_key(values, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_dict(values)
    assert fragment in str(info.value)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("backtest: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError):
        load_config(unsafe)


def test_yaml_list_of_strategies(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"strategies": ["equal_weight", "buy_and_hold"]}))
    assert load_config(path).strategies == ("equal_weight", "buy_and_hold")
