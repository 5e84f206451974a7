"""Black-Litterman posterior, equilibrium returns and the view-scale calibration."""

import numpy as np
import pandas as pd
import pytest

from foliocast import data
from foliocast.forecasting.forecast import Forecast
from foliocast.forecasting.posterior import (
    VIEW_SCALE_RANGE,
    apply_views,
    black_litterman,
    calibrate_view_scale,
    equilibrium_returns,
)


@pytest.fixture(scope="module")
def cov() -> pd.DataFrame:
    """Covariance of 21-day returns of six sp500 stocks over 2015-2019."""
    prices = data.load_dataset("sp500").loc["2015":"2019"].iloc[:, :6].dropna()
    returns = prices.pct_change().dropna()
    return returns.cov() * 21


@pytest.fixture(scope="module")
def inputs(cov):
    """Prior, views and view variances drawn at random around the covariance."""
    rng = np.random.default_rng(42)
    tickers = cov.index
    vol = np.sqrt(np.diag(cov.to_numpy()))
    prior = pd.Series(rng.normal(0.01, 0.01, len(tickers)), index=tickers)
    views = pd.Series(rng.normal(0.01, 0.03, len(tickers)), index=tickers)
    omega = pd.Series((vol * rng.uniform(0.1, 1.0, len(tickers))) ** 2, index=tickers)
    return prior, views, omega


def test_black_litterman_matches_pypfopt(cov, inputs):
    from pypfopt.black_litterman import BlackLittermanModel

    prior, views, omega = inputs
    tau = 0.05
    mean, posterior_cov = black_litterman(prior, cov, views, omega, tau)
    model = BlackLittermanModel(
        cov,
        pi=prior,
        absolute_views=views.to_dict(),
        omega=np.diag(omega.to_numpy()),
        tau=tau,
    )
    expected_mean = model.bl_returns()
    expected_cov = model.bl_cov()
    np.testing.assert_allclose(
        mean.to_numpy(), expected_mean.reindex(cov.index).to_numpy(), atol=1e-10
    )
    np.testing.assert_allclose(
        posterior_cov.to_numpy(),
        expected_cov.reindex(index=cov.index, columns=cov.index).to_numpy(),
        atol=1e-10,
    )
    # The views move the mean: the test would fail if the prior came back.
    assert np.abs(mean - prior).max() > 1e-3


def test_closed_form_for_one_asset():
    # Scalar Bayes: precision-weighted average of prior and view.
    sigma2, tau, q, pi, w2 = 0.04, 0.1, 0.03, 0.01, 0.002
    mean, posterior_cov = black_litterman(
        pd.Series([pi], index=["A"]),
        pd.DataFrame([[sigma2]], index=["A"], columns=["A"]),
        pd.Series([q], index=["A"]),
        pd.Series([w2], index=["A"]),
        tau,
    )
    prior_var = tau * sigma2
    expected = (pi / prior_var + q / w2) / (1 / prior_var + 1 / w2)
    assert mean["A"] == pytest.approx(expected, rel=1e-12)
    posterior_var = 1 / (1 / prior_var + 1 / w2)
    assert posterior_cov.loc["A", "A"] == pytest.approx(sigma2 + posterior_var)


def test_certain_views_are_taken_and_vague_views_leave_the_prior(cov, inputs):
    prior, views, omega = inputs
    exact, exact_cov = black_litterman(prior, cov, views, omega * 0.0, 0.05)
    np.testing.assert_allclose(exact.to_numpy(), views.to_numpy(), atol=1e-12)
    # Certain views leave no uncertainty about the mean: cov + M = cov.
    np.testing.assert_allclose(exact_cov.to_numpy(), cov.to_numpy(), atol=1e-12)
    gaps = []
    for scale in (1e-8, 1e-4, 1.0, 1e4, 1e8):
        mean, _ = black_litterman(prior, cov, views, omega * scale, 0.05)
        gaps.append((np.abs(mean - views).max(), np.abs(mean - prior).max()))
    to_views, to_prior = np.array(gaps).T
    assert to_views[0] < 1e-8 and to_prior[-1] < 1e-8
    # Monotone in between: more spread, further from the views, nearer the prior.
    assert (np.diff(to_views) > 0).all() and (np.diff(to_prior) < 0).all()


def test_apply_views_uses_mu_std_as_view_uncertainty(cov, inputs):
    prior, views, omega = inputs
    forecast = Forecast(pd.Timestamp("2019-12-31"), 21, views, cov)
    with_std = Forecast(
        forecast.as_of, 21, views, cov, mu_std=np.sqrt(omega).rename(None)
    )
    posterior = apply_views(with_std, prior, tau=0.05)
    expected, expected_cov = black_litterman(prior, cov, views, omega, 0.05)
    np.testing.assert_allclose(posterior.mu.to_numpy(), expected.to_numpy())
    # Risk model kept; mu_std the posterior standard error sqrt(diag(M)).
    assert posterior.cov is cov
    np.testing.assert_allclose(
        posterior.mu_std.to_numpy() ** 2,
        np.diag(expected_cov.to_numpy() - cov.to_numpy()),
        atol=1e-15,
    )
    default = apply_views(forecast, prior, tau=0.05)
    he_litterman, _ = black_litterman(
        prior, cov, views, pd.Series(0.05 * np.diag(cov.to_numpy()), cov.index), 0.05
    )
    np.testing.assert_allclose(default.mu.to_numpy(), he_litterman.to_numpy())


def test_apply_views_keeps_the_factor_form():
    tickers = ["A", "B", "C"]
    factors = pd.DataFrame([[0.05], [0.04], [0.03]], index=tickers, columns=["f1"])
    idio = pd.Series([1e-3, 2e-3, 3e-3], index=tickers)
    mu = pd.Series([0.01, 0.02, -0.01], index=tickers)
    forecast = Forecast.from_factors(pd.Timestamp("2020-01-31"), 21, mu, factors, idio)
    prior = pd.Series(0.005, index=tickers[::-1])  # any order
    posterior = apply_views(forecast, prior, tau=0.05)
    assert posterior.factors is factors and posterior.idio is idio
    assert posterior.mu.index.tolist() == tickers
    with pytest.raises(ValueError, match="prior_mu has no value for C"):
        apply_views(forecast, prior.iloc[1:], tau=0.05)
    with pytest.raises(ValueError, match="tau"):
        apply_views(forecast, prior, tau=0.0)


def test_equilibrium_returns_closed_form(cov):
    n = len(cov)
    weights = pd.Series(1.0 / n, index=cov.index[::-1])
    implied = equilibrium_returns(cov, weights, 5.0)
    sigma = cov.to_numpy()
    expected = [5.0 * sum(sigma[i, j] / n for j in range(n)) for i in range(n)]
    np.testing.assert_allclose(implied.to_numpy(), expected, rtol=1e-12)
    assert implied.index.equals(cov.index)
    # Reverse optimisation: these returns make the weights the utility's optimum.
    solution = np.linalg.solve(5.0 * sigma, implied.to_numpy())
    np.testing.assert_allclose(solution, 1.0 / n, rtol=1e-8)


def _calibration_sample(scale: float, rng: np.random.Generator, shape=(400, 20)):
    spread = rng.uniform(0.005, 0.02, shape)
    noise_var = rng.uniform(0.001, 0.004, shape)
    expected = rng.normal(0.0, 0.02, shape)
    views = expected + rng.normal(size=shape) * np.sqrt(scale) * spread
    realised = expected + rng.normal(size=shape) * np.sqrt(noise_var)
    return realised, views, spread, noise_var


def test_calibrate_view_scale_recovers_a_known_factor():
    rng = np.random.default_rng(7)
    for scale in (4.0, 25.0):
        realised, views, spread, noise_var = _calibration_sample(scale, rng)
        fitted = calibrate_view_scale(realised, views, spread, noise_var)
        assert fitted == pytest.approx(scale, rel=0.1)


def test_calibrate_view_scale_respects_the_mask_and_nans():
    rng = np.random.default_rng(11)
    realised, views, spread, noise_var = _calibration_sample(25.0, rng)
    # Rows 200+ come from another world; masked out (or NaN) they must not count.
    realised[200:] += 1.0
    mask = np.zeros(realised.shape, bool)
    mask[:200] = True
    assert calibrate_view_scale(
        realised, views, spread, noise_var, mask
    ) == pytest.approx(25.0, rel=0.15)
    assert calibrate_view_scale(realised, views, spread, noise_var) > 1000
    realised[200:] = np.nan
    assert calibrate_view_scale(realised, views, spread, noise_var) == (
        calibrate_view_scale(realised, views, spread, noise_var, mask)
    )


def test_calibrate_view_scale_clips_and_refuses_empty_samples():
    rng = np.random.default_rng(3)
    realised, views, spread, noise_var = _calibration_sample(1.0, rng, (50, 5))
    low, high = VIEW_SCALE_RANGE
    # Forecast variance far above the errors: negative moment, clipped up.
    assert calibrate_view_scale(realised, views, spread, noise_var * 100) == low
    assert calibrate_view_scale(realised + 10, views, spread, noise_var) == high
    with pytest.raises(ValueError, match="no entry"):
        calibrate_view_scale(realised, views, spread, noise_var, np.zeros((50, 5)))
    with pytest.raises(ValueError, match="zero on every entry"):
        calibrate_view_scale(realised, views, spread * 0, noise_var)
    with pytest.raises(ValueError, match="same shape"):
        calibrate_view_scale(realised, views, spread[:, :2], noise_var)
