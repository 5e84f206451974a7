"""Tests of the baseline forecasters against PyPortfolioOpt, arch and closed forms."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from pypfopt import expected_returns, risk_models
from pypfopt.risk_models import CovarianceShrinkage
from skfolio.datasets import load_sp500_dataset

from foliocast.forecasting.base import Forecaster
from foliocast.forecasting.baselines import (
    FORECASTERS,
    EWMAForecaster,
    GARCHForecaster,
    HistoricalForecaster,
    LedoitWolfForecaster,
    _clip_to_psd,
    horizon_moments,
    make_forecaster,
)
from foliocast.forecasting.forecast import Forecast

KINDS = ["historical", "ewma", "ledoit_wolf", "garch"]


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    """Five real stocks over the last 700 trading days (complete panel)."""
    data = load_sp500_dataset()
    return data[["AAPL", "JPM", "KO", "XOM", "MSFT"]].iloc[-700:].copy()


@pytest.fixture(scope="module")
def ragged(prices: pd.DataFrame) -> pd.DataFrame:
    """The same panel plus an asset that starts trading 400 days in (leading NaNs)."""
    late = load_sp500_dataset()["PG"].iloc[-700:].copy()
    late.iloc[:400] = np.nan
    return prices.assign(LATE=late)


def _min_eig_ok(cov: pd.DataFrame) -> bool:
    values = np.linalg.eigvalsh(cov.to_numpy())
    return values[0] >= -1e-12 * max(values[-1], 1e-300)


# --- horizon mapping -----------------------------------------------------------


def test_horizon_moments_matches_enumeration_of_iid_scenarios() -> None:
    # Daily returns drawn uniformly from 4 scenarios; enumerate all 4**3 paths.
    rng = np.random.default_rng(42)
    scenarios = rng.normal(0.001, 0.02, size=(4, 3))
    mean = scenarios.mean(axis=0)
    cov = np.cov(scenarios, rowvar=False, ddof=0)
    paths = np.array(
        [
            np.prod(1 + scenarios[list(ix)], axis=0) - 1
            for ix in itertools.product(range(4), repeat=3)
        ]
    )
    mu, cov_h = horizon_moments(mean, cov, 3)
    np.testing.assert_allclose(mu, paths.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov_h, np.cov(paths, rowvar=False, ddof=0), rtol=1e-10)


def test_horizon_moments_time_varying_matches_enumeration() -> None:
    # Day 1 and day 2 have different scenario sets with the same mean.
    rng = np.random.default_rng(42)
    day1 = rng.normal(0.0, 0.01, size=(3, 2))
    day2 = rng.normal(0.0, 0.03, size=(3, 2))
    day1 -= day1.mean(axis=0)
    day2 -= day2.mean(axis=0)
    paths = np.array([(1 + a) * (1 + b) - 1 for a in day1 for b in day2])
    covs = np.stack([np.cov(d, rowvar=False, ddof=0) for d in (day1, day2)])
    mu, cov_h = horizon_moments(np.zeros(2), covs, 2)
    np.testing.assert_allclose(mu, 0.0, atol=1e-15)
    np.testing.assert_allclose(cov_h, np.cov(paths, rowvar=False, ddof=0), rtol=1e-10)


def test_horizon_moments_first_order_is_horizon_times_cov() -> None:
    cov = np.array([[1e-6, 2e-7], [2e-7, 4e-6]])
    mu, cov_h = horizon_moments(np.array([1e-5, -1e-5]), cov, 21)
    np.testing.assert_allclose(cov_h, 21 * cov, rtol=1e-3)
    np.testing.assert_allclose(mu, (1 + np.array([1e-5, -1e-5])) ** 21 - 1)


# --- sample estimators against PyPortfolioOpt ---------------------------------


def test_historical_matches_pypfopt_mean_and_sample_cov(prices: pd.DataFrame) -> None:
    lookback = 500
    window = prices.iloc[-(lookback + 1) :]
    fc = HistoricalForecaster(horizon=1, lookback=lookback).predict(prices)
    # frequency=1 keeps PyPortfolioOpt in daily units; horizon=1 makes ours daily.
    mean = expected_returns.mean_historical_return(
        window, compounding=False, frequency=1
    )
    cov = risk_models.sample_cov(window, frequency=1)
    pd.testing.assert_series_equal(fc.mu, mean, check_names=False, rtol=1e-12)
    np.testing.assert_allclose(fc.cov.to_numpy(), cov.to_numpy(), atol=1e-15)


def test_historical_horizon_forecast_is_compounded(prices: pd.DataFrame) -> None:
    fc = HistoricalForecaster(horizon=21, lookback=None).predict(prices)
    returns = prices.pct_change().iloc[1:].to_numpy()
    m, s = returns.mean(axis=0), np.cov(returns, rowvar=False)
    a = np.outer(1 + m, 1 + m)
    np.testing.assert_allclose(fc.mu.to_numpy(), (1 + m) ** 21 - 1, rtol=1e-12)
    np.testing.assert_allclose(fc.cov.to_numpy(), (a + s) ** 21 - a**21, rtol=1e-9)


def test_historical_uses_pairwise_days_for_late_asset(ragged: pd.DataFrame) -> None:
    fc = HistoricalForecaster(horizon=1, lookback=None, min_history=100).predict(ragged)
    returns = ragged.pct_change(fill_method=None).iloc[1:]
    pair = returns[["AAPL", "LATE"]].dropna().to_numpy()
    assert fc.mu["LATE"] == pytest.approx(returns["LATE"].mean())
    assert fc.mu["AAPL"] == pytest.approx(returns["AAPL"].mean())
    assert fc.cov.loc["AAPL", "LATE"] == pytest.approx(np.cov(pair.T)[0, 1], rel=1e-6)
    assert _min_eig_ok(fc.cov)


def test_ewma_demeaned_matches_pypfopt_exp_cov(ragged: pd.DataFrame) -> None:
    lam = 0.94
    span = 2.0 / (1.0 - lam) - 1.0  # pandas alpha = 2 / (span + 1) = 1 - lam
    fc = EWMAForecaster(
        horizon=1, lam=lam, lookback=None, min_history=100, demean=True
    ).predict(ragged)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-PSD repair warning, same method
        expected = risk_models.exp_cov(ragged, span=span, frequency=1)
    np.testing.assert_allclose(fc.cov.to_numpy(), expected.to_numpy(), atol=1e-15)


def test_ewma_riskmetrics_matches_recursion(prices: pd.DataFrame) -> None:
    lam, lookback = 0.94, 300
    fc = EWMAForecaster(horizon=1, lam=lam, lookback=lookback).predict(prices)
    returns = prices.pct_change().iloc[-lookback:].to_numpy()
    sigma = np.zeros((5, 5))
    for r in returns:  # S_t = lam S_{t-1} + (1 - lam) r r^T, started at zero
        sigma = lam * sigma + (1 - lam) * np.outer(r, r)
    # A finite window's weights sum to 1 - lam**T; the estimator renormalises.
    np.testing.assert_allclose(
        fc.cov.to_numpy(), sigma / (1 - lam**lookback), rtol=1e-10
    )
    assert fc.mu.to_numpy() == pytest.approx(returns.mean(axis=0), rel=1e-12)


def test_ledoit_wolf_matches_pypfopt(prices: pd.DataFrame) -> None:
    fc = LedoitWolfForecaster(horizon=1, lookback=None).predict(prices)
    expected = CovarianceShrinkage(prices, frequency=1).ledoit_wolf()
    np.testing.assert_allclose(fc.cov.to_numpy(), expected.to_numpy(), atol=1e-15)


def test_ledoit_wolf_uses_common_window(ragged: pd.DataFrame) -> None:
    fc = LedoitWolfForecaster(horizon=1, lookback=None, min_history=100).predict(ragged)
    common = ragged.pct_change(fill_method=None).iloc[1:].dropna()
    expected = CovarianceShrinkage(common, returns_data=True, frequency=1).ledoit_wolf()
    np.testing.assert_allclose(fc.cov.to_numpy(), expected.to_numpy(), atol=1e-15)


def test_ledoit_wolf_short_common_window_names_late_asset(
    ragged: pd.DataFrame,
) -> None:
    with pytest.raises(ValueError, match="LATE"):
        LedoitWolfForecaster(lookback=None, min_history=299).predict(ragged.iloc[:-1])


# --- GARCH ---------------------------------------------------------------------


def test_garch_variances_match_arch(prices: pd.DataFrame) -> None:
    horizon = 5
    model = GARCHForecaster(horizon=horizon, lookback=None).fit(prices)
    fc = model.predict(prices)
    returns = prices.pct_change().iloc[1:]
    mean = returns.mean().to_numpy()
    for i, ticker in enumerate(prices.columns):
        res = arch_model(
            returns[ticker] * 100, mean="Constant", vol="GARCH", p=1, q=1
        ).fit(disp="off", show_warning=False)
        steps = res.forecast(horizon=horizon, reindex=False).variance
        s = steps.to_numpy()[-1] / 1e4
        g2 = (1 + mean[i]) ** 2
        expected = np.prod(g2 + s) - g2**horizon
        assert fc.cov.iloc[i, i] == pytest.approx(expected, rel=1e-4)
        # To first order the horizon variance is the sum of the step variances.
        assert fc.cov.iloc[i, i] == pytest.approx(s.sum(), rel=0.05)
    corr = model.correlation_.to_numpy()
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert _min_eig_ok(model.correlation_)


def test_garch_requires_fit_and_same_universe(prices: pd.DataFrame) -> None:
    with pytest.raises(RuntimeError, match="fit"):
        GARCHForecaster().predict(prices)
    model = GARCHForecaster(lookback=None).fit(prices)
    with pytest.raises(ValueError, match="refit"):
        model.predict(prices[["AAPL", "KO"]])


def test_garch_on_a_constant_price_gives_the_variance_floor(
    prices: pd.DataFrame,
) -> None:
    # A suspended listing: the price never moves, so GARCH's likelihood is
    # undefined; the asset gets a constant floor variance and no correlation.
    horizon = 5
    panel = prices[["AAPL", "KO"]].assign(HALTED=42.0)
    with pytest.warns(RuntimeWarning, match=r"HALTED did not move.*1e-10"):
        model = GARCHForecaster(horizon=horizon, lookback=500).fit(panel)
    fc = model.predict(panel)
    assert model.flat_ == ["HALTED"]
    assert np.isfinite(fc.cov.to_numpy()).all() and _min_eig_ok(fc.cov)
    # Zero mean, daily variance s for h days: (1 + s)^h - 1 (closed form).
    floor = GARCHForecaster.VARIANCE_FLOOR
    assert fc.cov.loc["HALTED", "HALTED"] == pytest.approx(
        (1 + floor) ** horizon - 1, rel=1e-6
    )
    assert fc.mu["HALTED"] == 0.0
    assert (model.correlation_.loc["HALTED"].drop("HALTED") == 0).all()
    # The moving assets are forecast as without the flat one.
    alone = GARCHForecaster(horizon=horizon, lookback=500).fit(panel[["AAPL", "KO"]])
    np.testing.assert_allclose(
        fc.cov.loc[["AAPL", "KO"], ["AAPL", "KO"]],
        alone.predict(panel[["AAPL", "KO"]]).cov,
        rtol=1e-10,
    )


def test_garch_on_only_constant_prices_does_not_raise() -> None:
    index = pd.bdate_range("2020-01-01", periods=300)
    panel = pd.DataFrame({"A": 10.0, "B": 20.0}, index=index)
    with pytest.warns(RuntimeWarning, match="A, B did not move"):
        model = GARCHForecaster(horizon=3, lookback=None).fit(panel)
    cov = model.predict(panel).cov.to_numpy()
    floor = GARCHForecaster.VARIANCE_FLOOR
    np.testing.assert_allclose(cov, np.eye(2) * ((1 + floor) ** 3 - 1), atol=1e-20)


# --- properties shared by every baseline ----------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_forecast_contract_and_psd(kind: str, ragged: pd.DataFrame) -> None:
    model = make_forecaster(kind, horizon=21, lookback=None, min_history=250)
    assert isinstance(model, Forecaster)
    fc = model.fit(ragged).predict(ragged)
    assert isinstance(fc, Forecast)
    assert fc.as_of == ragged.index[-1]
    assert fc.horizon == 21
    assert fc.tickers == list(ragged.columns)
    assert np.isfinite(fc.mu).all() and np.isfinite(fc.cov.to_numpy()).all()
    np.testing.assert_allclose(fc.cov.to_numpy(), fc.cov.to_numpy().T)
    assert _min_eig_ok(fc.cov)
    # A monthly volatility of daily stock returns lies in a plausible band.
    assert ((fc.volatility > 0.01) & (fc.volatility < 0.5)).all()


@pytest.mark.parametrize("kind", KINDS)
def test_too_short_history_names_the_asset(kind: str, ragged: pd.DataFrame) -> None:
    model = make_forecaster(kind, lookback=None, min_history=400)
    with pytest.raises(ValueError, match=r"LATE \(299\)"):
        model.fit(ragged)


@pytest.mark.parametrize("kind", KINDS)
def test_no_look_ahead(kind: str, ragged: pd.DataFrame) -> None:
    lookback, t = 300, 599
    model = make_forecaster(kind, lookback=lookback, min_history=150)
    model.fit(ragged.iloc[: t + 1])
    rng = np.random.default_rng(42)
    perturbed = ragged.copy()
    perturbed.iloc[t + 1 :] *= rng.uniform(0.5, 1.5, size=perturbed.iloc[t + 1 :].shape)
    base = model.predict(ragged.iloc[: t + 1])
    same = model.predict(perturbed.iloc[: t + 1])
    # Only the last lookback + 1 rows, all at or before t, can matter.
    window_only = model.predict(ragged.iloc[t - lookback : t + 1])
    for other in (same, window_only):
        assert other.as_of == ragged.index[t]
        pd.testing.assert_series_equal(base.mu, other.mu, rtol=1e-12)
        pd.testing.assert_frame_equal(base.cov, other.cov, rtol=1e-9)
    # ... and the row at t itself is used.
    bumped = ragged.iloc[: t + 1].copy()
    bumped.iloc[-1] *= 1.05
    assert not np.allclose(model.predict(bumped).mu, base.mu)


# --- factory ---------------------------------------------------------------------


def test_make_forecaster_builds_each_kind() -> None:
    expected = {
        "historical": HistoricalForecaster,
        "ewma": EWMAForecaster,
        "ledoit_wolf": LedoitWolfForecaster,
        "garch": GARCHForecaster,
    }
    for kind, cls in expected.items():
        model = make_forecaster(kind, horizon=5)
        assert type(model) is cls and model.horizon == 5
    assert "horizon=5" in repr(make_forecaster("ewma", horizon=5))


def test_make_forecaster_rejects_unknown_kind_and_params() -> None:
    with pytest.raises(ValueError, match="unknown forecaster kind 'arima'"):
        make_forecaster("arima")
    with pytest.raises(ValueError, match="span"):
        make_forecaster("ewma", span=30)


def test_registry_takes_a_new_kind_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(FORECASTERS, "hist2", HistoricalForecaster)
    assert isinstance(make_forecaster("hist2", horizon=3), HistoricalForecaster)


# --- PSD projection ------------------------------------------------------------


def _eigen_clipped(matrix: np.ndarray) -> np.ndarray:
    """The reference projection: every eigenvalue below zero set to zero."""
    sym = 0.5 * (matrix + matrix.T)
    values, vectors = np.linalg.eigh(sym)
    clipped = (vectors * np.clip(values, 0.0, None)) @ vectors.T
    return 0.5 * (clipped + clipped.T)


def test_clip_to_psd_keeps_a_psd_matrix_and_clips_one_that_is_not() -> None:
    rng = np.random.default_rng(42)
    a = rng.normal(size=(6, 6))
    definite = a @ a.T
    np.testing.assert_array_equal(_clip_to_psd(definite), 0.5 * (definite + definite.T))
    singular = a[:, :3] @ a[:, :3].T  # PSD, rank 3: no Cholesky factor
    np.testing.assert_allclose(_clip_to_psd(singular), singular, atol=1e-12)
    vectors = np.linalg.qr(a)[0]
    indefinite = (vectors * np.array([-2.0, -0.5, 0.1, 1.0, 2.0, 3.0])) @ vectors.T
    clipped = _clip_to_psd(indefinite)
    np.testing.assert_allclose(clipped, _eigen_clipped(indefinite), atol=1e-12)
    assert np.linalg.eigvalsh(clipped).min() > -1e-12


@pytest.mark.parametrize("target", ["constant_variance", "single_factor"])
def test_ledoit_wolf_forecast_equals_pypfopt_then_horizon_moments(
    ragged: pd.DataFrame, target: str
) -> None:
    forecaster = LedoitWolfForecaster(
        horizon=21, lookback=None, min_history=100, shrinkage_target=target
    )
    fc = forecaster.predict(ragged)
    returns = ragged.pct_change(fill_method=None).iloc[1:]
    shrunk = CovarianceShrinkage(
        returns.dropna(), returns_data=True, frequency=1
    ).ledoit_wolf(target)
    mu, cov = horizon_moments(
        returns.mean().to_numpy(), _eigen_clipped(shrunk.to_numpy()), 21
    )
    np.testing.assert_allclose(fc.cov.to_numpy(), cov, rtol=0, atol=1e-15)
    np.testing.assert_allclose(fc.mu.to_numpy(), mu, rtol=0, atol=1e-15)
