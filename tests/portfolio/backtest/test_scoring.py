"""metrics.json's significance numbers against the formulas written out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from foliocast.portfolio.backtest.engine import REBALANCE_COLUMNS, BacktestResult
from foliocast.portfolio.backtest.scoring import strategy_summaries
from tests.risk.test_significance import reference_dsr

STRATEGIES = ["model_mvo", "baseline_mvo", "min_variance", "equal_weight"]


@pytest.fixture(scope="module")
def backtest() -> tuple[BacktestResult, pd.Series]:
    """Three years of seeded daily returns of four strategies and an index."""
    rng = np.random.default_rng(42)
    dates = pd.bdate_range("2015-01-01", periods=756)
    means = [0.0002, 0.0005, 0.0004, 0.0006, 0.0004]
    draws = rng.standard_t(6, (dates.size, 5)) * 0.009 + means
    returns = pd.DataFrame(draws, index=dates, columns=[*STRATEGIES, "index"])
    rebalance_dates = dates[::21]
    rebalances = pd.DataFrame(
        [
            (date, name, 0.1, 0.0002, "traded", "", 0.04, False, 0.01)
            for date in rebalance_dates
            for name in STRATEGIES
        ],
        columns=REBALANCE_COLUMNS,
    )
    result = BacktestResult(
        returns=returns,
        gross_returns=returns,
        weights=pd.DataFrame(),
        trades=pd.DataFrame(),
        rebalances=rebalances,
        forecasts=pd.DataFrame(),
        timings={},
    )
    risk_free = pd.Series(0.00008, index=dates)
    return result, risk_free


def test_dsr_deflates_by_the_variance_of_annualised_sharpe_ratios(backtest):
    result, risk_free = backtest
    summaries = strategy_summaries(result, risk_free)
    excess = {
        name: (result.returns[name] - risk_free).to_numpy() for name in STRATEGIES
    }
    annual_sharpes = [
        x.mean() / x.std(ddof=1) * math.sqrt(252) for x in excess.values()
    ]
    variance = float(np.var(annual_sharpes, ddof=1))
    for name in STRATEGIES:
        expected = reference_dsr(excess[name], len(STRATEGIES), variance)
        assert summaries[name]["dsr"] == pytest.approx(expected, rel=1e-12), name
        # The per-period variance (the old mistake) gives a visibly higher DSR.
        lenient = reference_dsr(excess[name], len(STRATEGIES), variance / 252)
        assert lenient - expected > 1e-3, name
    assert "dsr" not in summaries["index"]  # the benchmark is not a trial


def test_sharpe_in_metrics_is_the_annualised_excess_sharpe(backtest):
    result, risk_free = backtest
    summaries = strategy_summaries(result, risk_free)
    for name in [*STRATEGIES, "index"]:
        x = (result.returns[name] - risk_free).to_numpy()
        expected = x.mean() / x.std(ddof=1) * math.sqrt(252)
        assert summaries[name]["sharpe"] == pytest.approx(expected, rel=1e-12)


def test_n_trials_overrides_the_count_of_strategies(backtest):
    result, risk_free = backtest
    few = strategy_summaries(result, risk_free)
    many = strategy_summaries(result, risk_free, n_trials=100)
    for name in STRATEGIES:
        assert many[name]["dsr"] < few[name]["dsr"]
