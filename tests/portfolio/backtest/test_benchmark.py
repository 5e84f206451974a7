"""The run's benchmark portfolio: the weights file, the universe rule, its returns."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foliocast.forecasting.baselines import make_forecaster
from foliocast.portfolio.backtest.benchmark import (
    MAX_BENCHMARK_BYTES,
    benchmark_at,
    benchmark_returns,
    load_benchmark_weights,
    read_benchmark_file,
)
from foliocast.portfolio.backtest.book import ForecastBook
from foliocast.portfolio.backtest.decision import decide_at
from foliocast.portfolio.backtest.strategies import MeanVariance, describe_strategy
from foliocast.portfolio.config import (
    BacktestConfig,
    BenchmarkFile,
    ConfigError,
    ForecasterConfig,
    OptimizerConfig,
    RunConfig,
    config_to_dict,
)
from foliocast.portfolio.optimizer.markowitz import optimize_forecast
from foliocast.risk.attribution import ex_ante_tracking_error

FIVE = {"AAPL": 0.3, "AMD": 0.25, "BAC": 0.2, "BBY": 0.15, "CVX": 0.1}


def write(tmp_path: Path, text: str, name: str = "bench.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def five_file(tmp_path: Path) -> Path:
    rows = "".join(f"{asset},{weight}\n" for asset, weight in FIVE.items())
    return write(tmp_path, "asset,weight\n" + rows)


def test_a_weights_file_is_read_in_order_and_rescaled(tmp_path):
    path = write(tmp_path, "\ufeffAsset, Weight\nA,0.3333\nB,0.3333\n\nC,0.3334\n")
    weights = read_benchmark_file(path)
    assert list(weights.index) == ["A", "B", "C"]
    assert weights.sum() == pytest.approx(1.0, abs=1e-15)
    rounded = read_benchmark_file(write(tmp_path, "asset,weight\nA,0.5\nB,0.49995\n"))
    assert rounded["A"] == pytest.approx(0.5 / 0.99995)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty.*start the file with the line asset,weight"),
        ("ticker,w\nA,1\n", "the header is 'ticker,w'"),
        ("asset,weight\nA,abc\n", "line 2: the weight of 'A' is 'abc', not a number"),
        ("asset,weight\nA,nan\n", "the weight of 'A' is 'nan', not a number"),
        ("asset,weight\nA,inf\n", "'inf', not a number"),
        ("asset,weight\nA,1.2\nB,-0.2\n", "line 3: the weight of 'B' is negative"),
        ("asset,weight\nA,0.5\nA,0.5\n", "line 3: 'A' is listed twice"),
        ("asset,weight\nA,0.5,x\n", "line 2 is not 'asset,weight'"),
        ("asset,weight\n,1\n", "line 2 is not 'asset,weight'"),
        ("asset,weight\nA,0.6\nB,0.3\n", "add up to 0.9, not 1"),
        ("asset,weight\n", "add up to 0, not 1"),
    ],
)
def test_a_bad_weights_file_is_refused_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="^optimizer.benchmark.path: .*" + message):
        read_benchmark_file(path)


def test_a_missing_large_or_binary_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="benchmark.path: .*file not found"):
        read_benchmark_file(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="is a folder"):
        read_benchmark_file(tmp_path)
    big = write(tmp_path, "x" * (MAX_BENCHMARK_BYTES + 1), "big.csv")
    with pytest.raises(ConfigError, match="larger than 1 MB"):
        read_benchmark_file(big)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"asset,weight\nA,\xff1\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_benchmark_file(binary)


def _config(benchmark, **optimizer) -> RunConfig:
    return RunConfig(
        name="benchmark_check",
        backtest=BacktestConfig(start="2021-06-01", end="2022-06-30"),
        forecaster=ForecasterConfig(kind="ledoit_wolf"),
        optimizer=OptimizerConfig(benchmark=benchmark, **optimizer),
        strategies=("baseline_mvo", "min_variance", "equal_weight"),
    )


def test_the_file_must_hold_assets_of_the_prices(tmp_path):
    path = write(tmp_path, "asset,weight\nAAPL,0.5\nZZZ,0.25\nYYY,0.25\n")
    config = _config(BenchmarkFile(str(path)))
    with pytest.raises(ConfigError, match="2 asset.s. not in the run's prices: ZZZ"):
        load_benchmark_weights(config, ["AAPL", "MSFT"])
    assert load_benchmark_weights(_config("equal_weight"), ["AAPL"]) is None


def test_the_benchmark_at_a_date_is_restricted_to_the_universe_and_rescaled():
    weights = pd.Series({"A": 0.5, "B": 0.3, "C": 0.2})
    now = benchmark_at(weights, ["B", "C", "D"])
    pd.testing.assert_series_equal(
        now, pd.Series({"B": 0.6, "C": 0.4, "D": 0.0}), check_exact=False
    )
    assert benchmark_at(weights, ["D"]) is None
    equal = benchmark_at(None, ["A", "B", "C", "D"])
    assert (equal == 0.25).all() and list(equal.index) == ["A", "B", "C", "D"]


def test_benchmark_returns_by_hand():
    """Two assets, 50/50 at each rebalance, drifting in between, no costs."""
    dates = pd.bdate_range("2024-01-01", periods=6)
    prices = pd.DataFrame(
        {"A": [100, 110, 121, 121, 133.1, 133.1], "B": [100, 100, 90, 99, 99, 99]},
        index=dates,
        dtype=float,
    )
    weights = pd.Series({"A": 0.5, "B": 0.5})
    held = benchmark_returns(prices, dates[[1, 3]], weights, min_history=1)
    # Day 3: A +10%, B -10% from 50/50 -> 0. Day 4 (rebalance day itself) drifts:
    # weights 0.55/0.45 before it, A 0%, B +10% -> 0.045. Day 5 from 50/50 after
    # the rebalance: A +10% -> 0.05. Day 6: flat.
    expected = [0.0, 0.0, 0.045, 0.05, 0.0]
    np.testing.assert_allclose(held.to_numpy(), expected, atol=1e-12)
    assert held.index[0] == dates[1]


@pytest.fixture(scope="module")
def lw_run(tmp_path_factory):
    from foliocast.portfolio.backtest.run import run

    path = five_file(tmp_path_factory.mktemp("bench"))
    config = _config(BenchmarkFile(str(path)), objective="tracking_error")
    config.validate()
    return config, run(config)


def test_a_run_records_ex_ante_tracking_error_with_its_covariance(lw_run, sp500_prices):
    config, output = lw_run
    rebalances = output.result.rebalances
    date = rebalances.date.iloc[-1]
    row = rebalances[
        (rebalances.date == date) & (rebalances.strategy == "min_variance")
    ]
    weights = output.result.weights
    target = weights[(weights.date == date) & (weights.strategy == "min_variance")]
    forecaster = make_forecaster("ledoit_wolf", horizon=21)
    past = sp500_prices.loc[:date]
    forecaster.fit(past)
    cov = forecaster.predict(past).cov
    w = target.set_index("asset").weight.reindex(cov.index, fill_value=0.0)
    b = pd.Series(FIVE).reindex(cov.index, fill_value=0.0)
    expected = math.sqrt((w - b) @ cov @ (w - b))
    assert row.predicted_te.iloc[0] == pytest.approx(expected, rel=1e-9)
    # Minimising tracking error to a benchmark the caps allow gives it back.
    mvo = weights[(weights.date == date) & (weights.strategy == "baseline_mvo")]
    mvo = mvo.set_index("asset").weight.reindex(cov.index, fill_value=0.0)
    # AAPL's 0.3 is over the 0.25 cap: the rest spreads where it tracks best.
    assert mvo["AAPL"] == pytest.approx(0.25, abs=1e-6)
    assert ex_ante_tracking_error(mvo, b, cov) < 0.1 * expected


def test_the_summary_has_realised_tracking_error_to_the_held_benchmark(
    lw_run, sp500_prices
):
    config, output = lw_run
    returns = output.result.returns
    schedule = pd.DatetimeIndex(output.result.rebalances.date.unique())
    held = benchmark_returns(
        sp500_prices.loc[: returns.index[-1]],
        schedule,
        pd.Series(FIVE),
        config.backtest.min_history_days,
    )
    for name in ("baseline_mvo", "min_variance", "equal_weight"):
        summary = output.metrics["strategies"][name]
        active = (returns[name] - held).to_numpy()
        expected = active.std(ddof=1) * math.sqrt(252)
        assert summary["active_tracking_error"] == pytest.approx(expected, rel=1e-12)
        rows = output.result.rebalances
        predicted = rows[rows.strategy == name].predicted_te
        assert summary["ex_ante_tracking_error"] == pytest.approx(
            predicted.mean() * math.sqrt(252 / 21)
        )
    assert "active_tracking_error" not in output.metrics["strategies"].get("index", {})
    said = describe_strategy("baseline_mvo", config_to_dict(config))
    assert "objective tracking_error to the weights in " in said


def test_equal_weight_tracks_the_default_benchmark_up_to_its_costs(sp500_prices):
    from foliocast.portfolio.backtest.run import run

    config = dataclasses.replace(_config("equal_weight"), strategies=("equal_weight",))
    output = run(config)
    rows = output.result.rebalances
    assert (rows.predicted_te == 0.0).all()
    schedule = pd.DatetimeIndex(rows.date.unique())
    held = benchmark_returns(
        sp500_prices.loc[: output.result.returns.index[-1]],
        schedule,
        None,
        config.backtest.min_history_days,
    )
    # 1/N held without costs is the equal-weight strategy before costs.
    gross = output.result.gross_returns["equal_weight"]
    np.testing.assert_allclose(held.to_numpy(), gross.to_numpy(), atol=1e-15)


def test_the_decision_optimises_against_the_benchmark_of_its_universe(sp500_prices):
    """A benchmark asset not yet investable is left out and the rest rescaled."""
    past = sp500_prices.loc[:"2021-12-31"].copy()
    past.loc[:"2021-06-30", "AAPL"] = np.nan  # too short a history on 2021-12-31
    book = ForecastBook(
        {"ledoit_wolf": make_forecaster("ledoit_wolf", horizon=21)}, retrain_months=12
    )
    strategy = MeanVariance(
        "baseline_mvo",
        "ledoit_wolf",
        objective="tracking_error",
        constraints={"long_only": True, "max_weight": 0.25},
    )
    decision = decide_at(
        past,
        {"baseline_mvo": pd.Series(dtype=float)},
        [strategy],
        book,
        min_history=252,
        benchmark=pd.Series(FIVE),
    )
    assert "AAPL" not in decision.universe
    rest = {asset: weight / 0.7 for asset, weight in FIVE.items() if asset != "AAPL"}
    expected_b = pd.Series(rest).reindex(decision.universe, fill_value=0.0)
    pd.testing.assert_series_equal(decision.benchmark, expected_b, check_names=False)
    reference = optimize_forecast(
        book.forecast("ledoit_wolf"),
        objective="tracking_error",
        constraints={"long_only": True, "max_weight": 0.25},
        benchmark=expected_b,
    )
    target = decision.strategies["baseline_mvo"].target
    np.testing.assert_allclose(target, reference.reindex(target.index), atol=1e-9)
    # AMD's 0.25 / 0.7 = 0.357 is over the cap: the benchmark is not reachable.
    assert target["AMD"] == pytest.approx(0.25, abs=1e-6)


def test_an_active_objective_without_an_investable_benchmark_asset_holds(
    sp500_prices,
):
    past = sp500_prices.loc[:"2021-12-31"]
    book = ForecastBook(
        {"ledoit_wolf": make_forecaster("ledoit_wolf", horizon=21)}, retrain_months=12
    )
    strategy = MeanVariance("baseline_mvo", "ledoit_wolf", objective="tracking_error")
    decision = decide_at(
        past.drop(columns="AAPL"),
        {"baseline_mvo": pd.Series(dtype=float)},
        [strategy],
        book,
        benchmark=pd.Series({"AAPL": 1.0}),
    )
    outcome = decision.strategies["baseline_mvo"]
    assert decision.benchmark is None
    assert outcome.status == "failed"
    assert "no asset of the benchmark (optimizer.benchmark) is investable" in (
        outcome.reason
    )
