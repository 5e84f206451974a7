"""Shared fixtures for the portfolio tests: bundled S&P 500 data and seeded problems."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

FactorProblem = tuple[pd.Series, pd.DataFrame, pd.DataFrame, pd.Series]


def _load_sp500() -> pd.DataFrame:
    try:
        from foliocast.data import load_dataset

        return load_dataset("sp500")
    except Exception:  # the project loader is optional for these tests
        from skfolio.datasets import load_sp500_dataset

        return load_sp500_dataset()


def factor_problem(n_assets: int, n_factors: int = 3, seed: int = 0) -> FactorProblem:
    """Seeded annual-scale ``mu`` and ``cov = B B^T + diag(d)`` with its factors."""
    rng = np.random.default_rng(seed)
    tickers = [f"A{i:03d}" for i in range(n_assets)]
    loadings = rng.normal(0.0, 0.08, (n_assets, n_factors))
    loadings[:, 0] = np.abs(loadings[:, 0]) + 0.1  # a market factor
    idio = rng.uniform(0.1, 0.3, n_assets) ** 2
    mu = pd.Series(rng.normal(0.08, 0.05, n_assets), index=tickers)
    b = pd.DataFrame(loadings, index=tickers)
    d = pd.Series(idio, index=tickers)
    cov = pd.DataFrame(loadings @ loadings.T + np.diag(idio), tickers, tickers)
    return mu, cov, b, d


@pytest.fixture(scope="session")
def sp500_prices() -> pd.DataFrame:
    """Daily prices of the 20 bundled S&P 500 stocks."""
    return _load_sp500()


@pytest.fixture(scope="session")
def sp500_mu_cov(sp500_prices: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Annualised mean historical return and sample covariance, 2019-2022."""
    from pypfopt import expected_returns, risk_models

    recent = sp500_prices.loc["2019":]
    return (
        expected_returns.mean_historical_return(recent),
        risk_models.sample_cov(recent),
    )


@pytest.fixture(scope="session")
def make_factor_problem() -> Callable[..., FactorProblem]:
    """The :func:`factor_problem` generator: ``(n_assets, n_factors, seed)``."""
    return factor_problem
