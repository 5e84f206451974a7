"""Tests of the factor-form Ledoit-Wolf covariance prior and of its training samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt.risk_models import CovarianceShrinkage
from sklearn.covariance import ledoit_wolf as sklearn_ledoit_wolf

from foliocast.forecasting.dataset import build_training_data
from foliocast.forecasting.features import compute_features
from foliocast.forecasting.model import IDIO_FLOOR
from foliocast.forecasting.prior import (
    factor_prior,
    factor_priors,
    ledoit_wolf,
    prior_at,
)

HORIZON = 21


def _returns(n_days: int, n_assets: int, seed: int = 42) -> np.ndarray:
    """Daily returns with a market factor, so the top component dominates."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0004, 0.01, size=(n_days, 1))
    betas = rng.uniform(0.5, 1.5, size=n_assets)
    return market * betas + rng.normal(0.0, 0.012, size=(n_days, n_assets))


def _prices(n_days: int, n_assets: int, seed: int = 42) -> np.ndarray:
    returns = _returns(n_days, n_assets, seed)
    return 100.0 * np.cumprod(1.0 + np.vstack([np.zeros(n_assets), returns]), axis=0)


def _reference(returns: np.ndarray) -> np.ndarray:
    """PyPortfolioOpt's Ledoit-Wolf towards a scaled identity, scaled to the horizon."""
    shrinkage = CovarianceShrinkage(
        pd.DataFrame(returns), returns_data=True, frequency=1
    )
    return HORIZON * shrinkage.ledoit_wolf("constant_variance").to_numpy()


def _window(prices: np.ndarray, row: int, window: int) -> np.ndarray:
    """The daily returns of the window ending at ``row``, written out independently."""
    first = max(row - window + 1, 1)
    days = np.arange(first, row + 1)
    with np.errstate(invalid="ignore"):
        return prices[days] / prices[days - 1] - 1.0


def test_ledoit_wolf_matches_sklearn_and_pypfopt() -> None:
    returns = _returns(300, 8)
    cov, shrinkage = ledoit_wolf(returns)
    expected_cov, expected_shrinkage = sklearn_ledoit_wolf(returns)
    np.testing.assert_allclose(shrinkage, expected_shrinkage, rtol=1e-10)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-10, atol=1e-18)
    np.testing.assert_allclose(HORIZON * cov, _reference(returns), rtol=1e-10)
    assert 0.0 < shrinkage < 1.0


def test_full_rank_prior_reconstructs_the_shrunk_covariance() -> None:
    returns = _returns(250, 6)
    reference = _reference(returns)
    loadings, idio = factor_prior(returns, k=6, horizon=HORIZON, floor=0.0)
    assert loadings.shape == (6, 6) and idio.shape == (6,)
    np.testing.assert_allclose(
        loadings @ loadings.T + np.diag(idio), reference, rtol=1e-9, atol=1e-15
    )
    # With the model's floor, all of the covariance is in B and d sits at the floor.
    loadings, idio = factor_prior(returns, k=6, horizon=HORIZON)
    np.testing.assert_allclose(loadings @ loadings.T, reference, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(idio, IDIO_FLOOR * HORIZON / 21)


@pytest.mark.parametrize("k", [1, 3])
def test_low_rank_prior_is_the_top_components_plus_the_exact_diagonal(k: int) -> None:
    returns = _returns(400, 10, seed=7)
    reference = _reference(returns)
    loadings, idio = factor_prior(returns, k=k, horizon=HORIZON)
    assert IDIO_FLOOR * HORIZON / 21 < idio.min()  # nothing clipped here
    eigenvalues, eigenvectors = np.linalg.eigh(reference)
    top = eigenvectors[:, -k:] * eigenvalues[-k:]
    np.testing.assert_allclose(
        loadings @ loadings.T, top @ eigenvectors[:, -k:].T, rtol=1e-8, atol=1e-14
    )
    diagonal = (loadings**2).sum(axis=1) + idio
    np.testing.assert_allclose(diagonal, np.diag(reference))
    # The market factor's loadings all have the sign convention's (positive) sign.
    assert (loadings[:, 0] > 0).all()


def test_missing_days_use_each_asset_own_days() -> None:
    returns = _returns(300, 4, seed=3)
    returns[:180, 1] = np.nan  # a late starter: 120 days
    returns[50:60, 2] = np.nan  # a gap
    cov, shrinkage = ledoit_wolf(returns)
    observed = np.isfinite(returns)
    centred = np.where(observed, returns - np.nanmean(returns, axis=0), 0.0)
    counts = observed.sum(axis=0)
    # C_ij: products over common days over sqrt(T_i T_j); its diagonal is each
    # asset's variance over its own days.
    sample = centred.T @ centred / np.sqrt(np.outer(counts, counts))
    np.testing.assert_allclose(np.diag(sample), np.nanvar(returns, axis=0))
    target = np.trace(sample) / 4
    expected = (1 - shrinkage) * sample + shrinkage * target * np.eye(4)
    np.testing.assert_allclose(cov, expected, rtol=1e-10)
    assert 0.0 < shrinkage < 1.0
    assert np.linalg.eigvalsh(cov).min() > 0.0


def test_assets_without_enough_data_get_zero_loadings_and_the_median_variance() -> None:
    returns = _returns(200, 6, seed=5)
    returns[:-5, 4] = np.nan  # 5 returns: too few for k = 2
    returns[:, 5] = np.nan  # none at all
    loadings, idio = factor_prior(returns, k=2, horizon=HORIZON)
    assert np.isfinite(loadings).all() and np.isfinite(idio).all()
    np.testing.assert_array_equal(loadings[4:], 0.0)
    # The others are estimated exactly as if the short assets were absent.
    alone, alone_idio = factor_prior(returns[:, :4], k=2, horizon=HORIZON)
    np.testing.assert_allclose(loadings[:4], alone, rtol=1e-10)
    np.testing.assert_allclose(idio[:4], alone_idio, rtol=1e-10)
    median = np.median(np.diag(_reference(returns[:, :4])))
    np.testing.assert_allclose(idio[4:], median, rtol=1e-10)
    # A window with no data at all is still finite and positive.
    empty_loadings, empty_idio = factor_prior(
        np.full((30, 3), np.nan), k=2, horizon=HORIZON
    )
    np.testing.assert_array_equal(empty_loadings, 0.0)
    assert np.isfinite(empty_idio).all() and (empty_idio > 0).all()


@pytest.fixture(scope="module")
def gappy_prices() -> np.ndarray:
    prices = _prices(700, 5, seed=11)
    prices[:400, 3] = np.nan  # a late starter
    prices[500:505, 1] = np.nan  # a gap
    prices[:690, 4] = np.nan  # starts ten days before the end
    return prices


def test_each_row_prior_is_the_prior_of_its_own_window(
    gappy_prices: np.ndarray,
) -> None:
    rows = np.arange(30, 700, 9)
    loadings, idio = factor_priors(gappy_prices, rows, 252, 2, HORIZON)
    assert loadings.shape == (len(rows), 5, 2) and idio.shape == (len(rows), 5)
    assert np.isfinite(loadings).all() and (idio > 0).all()
    for j, row in enumerate(rows):
        expected = factor_prior(_window(gappy_prices, row, 252), 2, HORIZON)
        np.testing.assert_allclose(loadings[j], expected[0], rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(idio[j], expected[1], rtol=1e-9, atol=1e-14)
    # Coarser recomputation: the last row is fresh, the others reuse the latest
    # earlier estimate.
    coarse, coarse_idio = factor_priors(gappy_prices, rows, 252, 2, HORIZON, refresh=4)
    source = [0] + [j for j in range(len(rows)) if (len(rows) - 1 - j) % 4 == 0]
    for j in range(len(rows)):
        latest = max(s for s in source if s <= j)
        np.testing.assert_allclose(coarse[j], loadings[latest], rtol=1e-12)
        np.testing.assert_allclose(coarse_idio[j], idio[latest], rtol=1e-12)


def test_prior_uses_nothing_after_its_row(gappy_prices: np.ndarray) -> None:
    rows = np.arange(300, 700, 5)
    t = 550
    shocked = gappy_prices.copy()
    shape = shocked[t + 1 :].shape
    shocked[t + 1 :] *= np.random.default_rng(0).uniform(0.5, 2.0, size=shape)
    before = factor_priors(gappy_prices, rows, 126, 3, HORIZON)
    after = factor_priors(shocked, rows, 126, 3, HORIZON)
    kept = rows <= t
    for a, b in zip(before, after, strict=True):
        np.testing.assert_allclose(a[kept], b[kept], rtol=1e-12, atol=0)
        assert not np.allclose(a[~kept], b[~kept])
    # At the decision date the prior is that of the last row.
    frame = pd.DataFrame(gappy_prices[: t + 1])
    at_t = prior_at(frame, 126, 3, HORIZON)
    np.testing.assert_allclose(at_t[0], before[0][rows == t][0], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(at_t[1], before[1][rows == t][0], rtol=1e-9)


def test_bad_arguments_raise_clear_errors(gappy_prices: np.ndarray) -> None:
    with pytest.raises(ValueError, match="k >= 1"):
        factor_prior(_returns(50, 3), k=0, horizon=HORIZON)
    with pytest.raises(ValueError, match="window"):
        factor_priors(gappy_prices, np.array([100]), 1, 2, HORIZON)
    with pytest.raises(ValueError, match="rows"):
        factor_priors(gappy_prices, np.array([len(gappy_prices)]), 50, 2, HORIZON)


def test_training_blocks_carry_the_prior_of_each_sample_row() -> None:
    dates = pd.bdate_range("2010-01-01", periods=500)
    values = _prices(499, 4, seed=2)
    values[:300, 3] = np.nan
    prices = pd.DataFrame(values, index=dates, columns=["A", "B", "C", "LATE"])
    features = compute_features(prices)
    data = build_training_data(
        features, prices, seq_len=30, every=5, prior_window=126, prior_factors=2
    )
    for block in (data.train, data.validation):
        assert block.prior_loadings.shape == (len(block), 4, 2)
        assert block.prior_idio.shape == (len(block), 4)
        assert block.prior_loadings.dtype == np.float32
        assert np.isfinite(block.prior_loadings).all()
        assert (block.prior_idio > 0).all()
        for j in (0, len(block) // 2, len(block) - 1):
            row = block.rows[j]
            loadings, idio = factor_prior(_window(values, row, 126), 2, HORIZON)
            np.testing.assert_allclose(block.prior_loadings[j], loadings, rtol=1e-5)
            np.testing.assert_allclose(block.prior_idio[j], idio, rtol=1e-5)
    plain = build_training_data(features, prices, seq_len=30, every=5)
    assert plain.train.prior_loadings is None and plain.validation.prior_idio is None
    np.testing.assert_array_equal(plain.train.targets, data.train.targets)
