"""Strategies: what `MeanVariance` hands the optimizer from its decision context."""

import numpy as np
import pandas as pd
import pytest

from forecasting.forecast import Forecast
from portfolio.optimizer import optimize
from portfolio.strategies import DecisionContext, MeanVariance


@pytest.fixture
def forecast() -> Forecast:
    """A three-asset monthly forecast whose tangency portfolio depends on rf."""
    tickers = ["A", "B", "C"]
    mu = pd.Series([0.004, 0.012, 0.03], index=tickers)
    vol = np.array([0.01, 0.04, 0.09])
    corr = np.array([[1.0, 0.3, 0.2], [0.3, 1.0, 0.4], [0.2, 0.4, 1.0]])
    cov = pd.DataFrame(np.outer(vol, vol) * corr, index=tickers, columns=tickers)
    return Forecast(pd.Timestamp("2020-01-31"), 21, mu, cov)


def _context(forecast: Forecast, rf_daily: float) -> DecisionContext:
    return DecisionContext(
        forecast.as_of,
        forecast.tickers,
        pd.Series(0.0, index=forecast.tickers),
        lambda name: forecast,
        risk_free=rf_daily,
    )


def test_max_sharpe_compounds_the_daily_rate_over_the_horizon(forecast):
    rf_daily = 1.05 ** (1 / 252) - 1  # 5% a year, as data.risk_free_rate makes it
    strategy = MeanVariance(
        "ms", "f", objective="max_sharpe", constraints={"long_only": True}
    )
    weights = strategy.decide(_context(forecast, rf_daily))
    horizon_rf = 1.05 ** (21 / 252) - 1
    assert strategy.horizon_risk_free(
        _context(forecast, rf_daily), 21
    ) == pytest.approx(horizon_rf, rel=1e-12)
    expected = optimize(
        forecast.mu,
        forecast.cov,
        objective="max_sharpe",
        constraints={"long_only": True},
        risk_free_rate=horizon_rf,
    )
    pd.testing.assert_series_equal(weights, expected, atol=1e-8, check_names=False)
    at_zero = optimize(
        forecast.mu,
        forecast.cov,
        objective="max_sharpe",
        constraints={"long_only": True},
    )
    assert np.abs(weights - at_zero).max() > 0.01


def test_an_explicit_risk_free_setting_is_kept(forecast):
    strategy = MeanVariance(
        "ms", "f", objective="max_sharpe", constraints={"long_only": True}, risk_free=0
    )
    weights = strategy.decide(_context(forecast, 0.0004))
    expected = optimize(
        forecast.mu,
        forecast.cov,
        objective="max_sharpe",
        constraints={"long_only": True},
        risk_free_rate=0.0,
    )
    pd.testing.assert_series_equal(weights, expected, atol=1e-8, check_names=False)
