"""Strategies: what `MeanVariance` hands the optimizer from its decision context."""

import numpy as np
import pandas as pd
import pytest

from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.backtest.strategies import DecisionContext, MeanVariance, Views
from foliocast.portfolio.optimizer.markowitz import optimize


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


def _views_context(model: Forecast, historical: Forecast) -> DecisionContext:
    books = {"model": model, "ledoit_wolf": historical}
    return DecisionContext(
        model.as_of,
        model.tickers,
        pd.Series([0.2, 0.5, 0.3], index=model.tickers),
        books.__getitem__,
    )


def _posterior_mean(prior, views, cov, omega, tau):
    """Precision-weighted mean, written independently of forecasting.posterior."""
    prior_precision = np.linalg.inv(tau * cov)
    view_precision = np.diag(1.0 / omega)
    return np.linalg.solve(
        prior_precision + view_precision,
        prior_precision @ prior + view_precision @ views,
    )


def test_lstm_bl_optimizes_the_posterior_mean(forecast):
    std = pd.Series([0.002, 0.03, 0.001], index=forecast.tickers)
    model = Forecast(forecast.as_of, 21, forecast.mu, forecast.cov, mu_std=std)
    historical_mu = pd.Series([0.008, 0.004, 0.002], index=forecast.tickers)
    historical = Forecast(forecast.as_of, 21, historical_mu, forecast.cov * 1.1)
    settings = {
        "risk_aversion": 5.0,
        "constraints": {"long_only": True, "max_weight": 0.6},
        "cost_penalty_bps": 10.0,
    }
    strategy = MeanVariance(
        "lstm_bl", "model", views=Views("historical", 0.05), **settings
    )
    context = _views_context(model, historical)
    weights = strategy.decide(context)
    cov = forecast.cov.to_numpy()
    mean = _posterior_mean(
        historical_mu.to_numpy(), forecast.mu.to_numpy(), cov, std.to_numpy() ** 2, 0.05
    )
    expected = optimize(
        pd.Series(mean, index=forecast.tickers),
        forecast.cov,
        risk_aversion=5.0,
        constraints=settings["constraints"],
        prev_weights=context.drifted,
        cost_penalty=10.0 / 1e4,
    )
    pd.testing.assert_series_equal(weights, expected, atol=1e-8, check_names=False)
    raw = MeanVariance("lstm_mvo", "model", **settings).decide(context)
    assert np.abs(weights - raw).max() > 0.01  # the views step changed the decision


def test_lstm_bl_equilibrium_prior_is_one_over_n_implied(forecast):
    strategy = MeanVariance(
        "lstm_bl",
        "model",
        risk_aversion=3.0,
        constraints={"long_only": True},
        views=Views("equilibrium", 0.1),
    )
    # The historical forecaster must not be asked for an equilibrium prior.
    context = DecisionContext(
        forecast.as_of,
        forecast.tickers,
        pd.Series(0.0, index=forecast.tickers),
        {"model": forecast}.__getitem__,
    )
    weights = strategy.decide(context)
    cov = forecast.cov.to_numpy()
    prior = 3.0 * cov @ np.full(3, 1 / 3)
    # No mu_std: He & Litterman's default view variance, tau times each variance.
    mean = _posterior_mean(prior, forecast.mu.to_numpy(), cov, 0.1 * np.diag(cov), 0.1)
    expected = optimize(
        pd.Series(mean, index=forecast.tickers),
        forecast.cov,
        risk_aversion=3.0,
        constraints={"long_only": True},
    )
    pd.testing.assert_series_equal(weights, expected, atol=1e-8, check_names=False)


def test_lstm_bl_is_described_with_its_prior_and_tau():
    from foliocast.portfolio.backtest.strategies import describe_strategy
    from foliocast.portfolio.config import config_from_dict, config_to_dict

    config = config_from_dict(
        {"forecaster": {"kind": "ewma", "views": {"prior": "equilibrium", "tau": 0.2}}}
    )
    text = describe_strategy("ewma_bl", config_to_dict(config))
    assert text.startswith("the ewma forecaster's mean blended with the equilibrium")
    assert "Black-Litterman, tau 0.2" in text and "risk aversion 5.0" in text
