"""Config: safe YAML, validation that names the key, round trip."""

import time

import pytest
import yaml

from foliocast.portfolio.config import (
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
        (
            {"backtest": {"start": "someday"}},
            "backtest.start: 'someday': not an ISO date",
        ),
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


# --------------------------------------------------------------- run names (item 9)


@pytest.mark.parametrize(
    "name, problem",
    [
        (".", "not a folder name"),
        ("..", "not a folder name"),
        ("", "empty"),
        ("   ", "empty"),
        ("runs/old", "path separator"),
        ("..\\..\\x", "path separator"),
        ("a\x00b", "control"),
        ("two\nlines", "control"),
        ("bell\x07", "control"),
        (".hidden", "starts with '.'"),
        (" padded", "space"),
        ("x" * 101, "101 characters"),
    ],
)
def test_unsafe_run_names_are_refused(name, problem):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"name": name})
    message = str(info.value)
    assert message.startswith("name: ") and problem in message
    assert "\n" not in message and "\x00" not in message


def test_safe_run_names_pass():
    for name in ["lstm_mvo_sp500", "run-2024.01", "x" * 100, "a..b", "p000_gamma=2"]:
        assert config_from_dict({"name": name}).name == name


def test_sweep_names_are_checked_and_point_names_stay_within_the_limit():
    from foliocast.portfolio.sweep.grid import grid_points, spec_from_dict

    with pytest.raises(ConfigError, match=r"name: '\.\.' is not a folder name"):
        spec_from_dict({"name": "..", "grid": {"optimizer.risk_aversion": [1, 2]}})
    values = [0.1 * k for k in range(1, 4)]
    spec = spec_from_dict(
        {
            "name": "s",
            "base": {"name": "b" * 95, "strategies": ["equal_weight", "min_variance"]},
            "grid": {
                "optimizer.risk_aversion": values,
                "optimizer.constraints.max_weight": [0.5, 0.75],
                "backtest.cost_bps": [5.0, 15.5],
            },
        }
    )
    points = grid_points(spec)
    names = [name for name, _ in points] + [config.name for _, config in points]
    assert all(len(name) <= 100 for name in names)
    assert len(set(names)) == len(names) == 2 * spec.size  # shortened, still distinct


# ---------------------------------------------------------- YAML reading (item 12)


BOMB = "".join(
    f"l{k}: &l{k} [{', '.join([f'*l{k - 1}' if k else 'lol'] * 9)}]\n" for k in range(9)
)


def test_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)  # 9 ** 9 values once expanded, from 81 aliases
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="more than 100000 values once its aliases"):
        load_config(path)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("strategies: &s [equal_weight, *s]\n", "contains itself"),
        (
            "a: &a 1\n" + "".join(f"k{i}: *a\n" for i in range(101)),
            "more than 100 aliases",
        ),
        ("x: " + "[" * 60 + "]" * 60 + "\n", "nested more than 50 levels"),
        (
            "name: a\nbacktest: {cost_bps: 5}\nname: b\n",
            "duplicate key 'name' at line 3",
        ),
        (
            "optimizer:\n  constraints:\n    max_weight: 0.2\n    max_weight: 0.3\n",
            "duplicate key 'max_weight' at line 4 (first at line 3)",
        ),
        ("", "has no settings"),
        ("# only a comment\n\n", "has no settings"),
    ],
)
def test_hostile_or_empty_yaml_is_refused_with_the_reason(tmp_path, text, fragment):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)


def test_oversized_and_binary_files_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: x\n" + "# padding\n" * 120_000)
    with pytest.raises(ConfigError, match="larger than 1 MB"):
        load_config(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"name: \xff\xfe\x00\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_a_few_anchors_and_merge_keys_still_work(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "backtest: &bt {cost_bps: 5, rebalance: Q}\n"
        "optimizer:\n"
        "  constraints: {<<: {max_weight: 0.3, long_only: true}, max_weight: 0.2}\n"
        "strategies: &s [equal_weight, min_variance]\n"
    )
    config = load_config(path)
    assert config.backtest.cost_bps == 5 and config.backtest.rebalance == "Q"
    assert config.optimizer.constraints == {"max_weight": 0.2, "long_only": True}
    assert config.strategies == ("equal_weight", "min_variance")


# ----------------------------------------- numbers and constraints (items 15, 17)


@pytest.mark.parametrize(
    "values, fragment",
    [
        (
            {"optimizer": {"constraints": {"max_weight": "abc"}}},
            "optimizer.constraints.max_weight must be a number",
        ),
        (
            {"optimizer": {"constraints": {"max_weight": float("nan")}}},
            "optimizer.constraints.max_weight must be finite",
        ),
        (
            {"optimizer": {"constraints": {"max_wieght": 0.2}}},
            "optimizer.constraints.max_wieght: unknown key",
        ),
        (
            {"optimizer": {"constraints": {"groups": {"equity": [0.8, 0.2]}}}},
            "optimizer.constraints.groups['equity']: lower 0.8 exceeds upper 0.2",
        ),
        (
            {"optimizer": {"constraints": {"min_weight": 0.3, "max_weight": 0.2}}},
            "optimizer.constraints.min_weight 0.3 exceeds max_weight 0.2",
        ),
        (
            {"optimizer": {"constraints": {"long_only": "yes"}}},
            "optimizer.constraints.long_only must be true or false",
        ),
        (
            {
                "data": {"path": "prices.csv"},
                "optimizer": {"constraints": {"groups": {"equity": [0, 1]}}},
            },
            "optimizer.constraints.groups: a price file has no asset classes",
        ),
        ({"data": {"risk_free": float("nan")}}, "data.risk_free: nan is not allowed"),
        ({"data": {"risk_free": -0.01}}, "data.risk_free: -0.01 is outside [0, 1]"),
        ({"data": {"risk_free": 2}}, "data.risk_free: 2.0 is outside [0, 1]"),
        ({"backtest": {"cost_bps": float("nan")}}, "backtest.cost_bps: nan"),
        ({"optimizer": {"risk_aversion": float("inf")}}, "optimizer.risk_aversion"),
        (
            {"optimizer": {"objective": "target_return", "target": float("nan")}},
            "optimizer.target: nan is not allowed",
        ),
        (
            {"optimizer": {"objective": "target_volatility", "target": 0.0}},
            "optimizer.target: a volatility target must be > 0",
        ),
    ],
)
def test_bad_numbers_and_constraints_name_the_key(values, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_dict(values)
    assert fragment in str(info.value)


def test_group_bounds_without_membership_pass_for_a_bundled_dataset():
    config = config_from_dict(
        {
            "data": {"dataset": "multi_asset"},
            "optimizer": {"constraints": {"groups": {"us_equity": [0.3, 1.0]}}},
        }
    )
    assert config.optimizer.parsed_constraints().groups == {"us_equity": (0.3, 1.0)}


def test_a_path_alone_replaces_the_default_dataset():
    config = config_from_dict({"data": {"path": "my_prices.csv"}})
    assert config.data.path == "my_prices.csv" and config.data.dataset is None
    assert config_from_dict({"data": {"risk_free": 0.02}}).data.dataset == "sp500"
    with pytest.raises(ConfigError, match="give exactly one"):
        config_from_dict({"data": {"path": "my_prices.csv", "dataset": "sp500"}})
    # The resolved config round-trips with the dataset cleared.
    assert config_from_dict(config_to_dict(config)) == config


# ------------------------------------------- what the config makes of min_variance


def test_min_variance_is_pure_whatever_the_optimizer_settings():
    import numpy as np
    import pandas as pd

    from foliocast.forecasting.forecast import Forecast
    from foliocast.portfolio.backtest.run import build_strategies
    from foliocast.portfolio.backtest.strategies import (
        DecisionContext,
        describe_strategy,
    )

    config = config_from_dict(
        {
            "optimizer": {
                "objective": "target_return",
                "target": 0.05,
                "risk_aversion": 50,
                "cost_penalty_bps": 500,
                "constraints": {"long_only": False},
            },
            "strategies": ["min_variance"],
        }
    )
    (strategy,) = build_strategies(config)
    rng = np.random.default_rng(7)
    tickers = ["A", "B", "C", "D"]
    root = rng.normal(0.0, 0.03, (4, 4))
    cov = root @ root.T + np.diag([0.002, 0.001, 0.003, 0.0015])
    forecast = Forecast(
        pd.Timestamp("2020-01-31"),
        21,
        pd.Series(rng.normal(0.01, 0.02, 4), index=tickers),
        pd.DataFrame(cov, index=tickers, columns=tickers),
    )
    held = pd.Series([0.7, 0.1, 0.1, 0.1], index=tickers)  # costs would pull here
    context = DecisionContext(forecast.as_of, tickers, held, lambda name: forecast)
    weights = strategy.decide(context)
    # Global minimum variance with a full budget: inv(cov) 1 / (1' inv(cov) 1).
    ones = np.linalg.solve(cov, np.ones(4))
    np.testing.assert_allclose(weights.to_numpy(), ones / ones.sum(), atol=1e-6)
    text = describe_strategy("min_variance", config_to_dict(config))
    assert "minimum variance" in text and "cost penalty 0 bp" in text


def test_a_sweep_that_sets_one_price_source_replaces_the_other():
    from foliocast.portfolio.sweep.grid import grid_points, spec_from_dict

    spec = spec_from_dict(
        {
            "base": {"strategies": ["equal_weight"]},
            "set": {"data.path": "my_prices.csv"},
            "grid": {"backtest.cost_bps": [5, 10]},
        }
    )
    assert {(c.data.dataset, c.data.path) for _, c in grid_points(spec)} == {
        (None, "my_prices.csv")
    }
    spec = spec_from_dict(
        {
            "base": {"strategies": ["equal_weight"], "data": {"path": "x.csv"}},
            "grid": {"data.dataset": ["sp500", "factors"]},
        }
    )
    assert [(c.data.dataset, c.data.path) for _, c in grid_points(spec)] == [
        ("sp500", None),
        ("factors", None),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("05/06/2021", "ambiguous"),
        ("June 5 2021", "not an ISO date"),
        ("2021-02-30", "not a calendar date"),
    ],
)
def test_config_dates_must_be_iso(value, reason):
    with pytest.raises(ConfigError, match=f"backtest.start: .*{reason}.*YYYY-MM-DD"):
        config_from_dict({"backtest": {"start": value}})


# ------------------------------------------------- confidence-weighted views (lstm_bl)


def test_views_default_and_settings():
    config = load_config(None)
    assert config.forecaster.views.prior == "historical"
    assert config.forecaster.views.tau == 0.05
    assert "lstm_bl" in config.strategies
    views = config_from_dict(
        {"forecaster": {"views": {"prior": "equilibrium", "tau": 1}}}
    ).forecaster.views
    assert (views.prior, views.tau) == ("equilibrium", 1.0)


@pytest.mark.parametrize(
    "views, fragment",
    [
        ({"tau": 0}, "forecaster.views.tau: 0.0 is outside (0, 1]"),
        ({"tau": -0.1}, "forecaster.views.tau: -0.1 is outside (0, 1]"),
        ({"tau": 1.5}, "forecaster.views.tau: 1.5 is outside (0, 1]"),
        ({"tau": "small"}, "forecaster.views.tau: expected a number"),
        ({"tau": float("nan")}, "forecaster.views.tau: nan is not allowed"),
        ({"prior": "market"}, "forecaster.views.prior: 'market' is not one of"),
        ({"prior_mean": "historical"}, "forecaster.views.prior_mean: unknown key"),
        ("historical", "forecaster.views: expected a mapping"),
    ],
)
def test_bad_views_name_the_key(views, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"forecaster": {"views": views}})
    assert fragment in str(info.value)


def test_the_benchmark_is_equal_weight_or_a_file(tmp_path):
    from foliocast.portfolio.config import BenchmarkFile

    assert load_config(None).optimizer.benchmark == "equal_weight"
    path = tmp_path / "c.yaml"
    path.write_text(
        "optimizer: {objective: tracking_error, benchmark: {path: bench.csv}}\n"
    )
    config = load_config(path)
    assert config.optimizer.benchmark == BenchmarkFile("bench.csv")
    # The file is read when a run starts, not when the config is: a run folder's
    # config.yaml stays readable after the file moves.
    assert config_to_dict(config)["optimizer"]["benchmark"] == {"path": "bench.csv"}
    path.write_text(dump_config(config))
    assert load_config(path) == config


@pytest.mark.parametrize(
    "benchmark, fragment",
    [
        (
            "index",
            "optimizer.benchmark: 'index' is not a benchmark; write equal_weight",
        ),
        (
            {"file": "b.csv"},
            "optimizer.benchmark.file: unknown key; allowed here: path",
        ),
        ({}, "optimizer.benchmark.path: give the CSV file of benchmark weights"),
        ({"path": " "}, "optimizer.benchmark.path: give the CSV file"),
        ({"path": 3}, "optimizer.benchmark.path: expected a string"),
    ],
)
def test_a_bad_benchmark_names_the_key(benchmark, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"optimizer": {"benchmark": benchmark}})
    assert fragment in str(info.value)
