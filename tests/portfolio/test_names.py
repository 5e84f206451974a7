"""Strategy names: each defined once, the model's result name and the main strategy."""

import pytest

from foliocast.portfolio import config as run_config
from foliocast.portfolio import names
from foliocast.portfolio.config import config_from_dict
from foliocast.portfolio.names import main_strategy, model_strategy_name


def test_the_config_accepts_exactly_the_defined_names():
    assert run_config.STRATEGIES is names.STRATEGY_NAMES
    assert len(set(names.STRATEGY_NAMES)) == len(names.STRATEGY_NAMES)


def test_model_strategies_are_named_after_the_forecaster_that_ran():
    ewma = config_from_dict({"forecaster": {"kind": "ewma"}})
    assert model_strategy_name(ewma) == "ewma_mvo"
    assert model_strategy_name(ewma, names.LSTM_BL) == "ewma_bl"
    assert model_strategy_name(ewma, names.MIN_VARIANCE) == "min_variance"
    assert model_strategy_name(config_from_dict({})) == names.LSTM_MVO


def test_main_strategy_prefers_the_model_then_the_first_traded():
    assert main_strategy(["equal_weight", "lstm_mvo", "index"]) == "lstm_mvo"
    names_run = ["baseline_mvo", "ewma_mvo", "index"]
    assert main_strategy(names_run, "ewma") == "ewma_mvo"
    assert main_strategy(names_run) == "baseline_mvo"  # ewma_mvo unrecognised
    assert main_strategy(["index", "min_variance", "equal_weight"]) == "min_variance"
    assert main_strategy(["index"]) == "index"
    with pytest.raises(ValueError, match="no strategy"):
        main_strategy([])
