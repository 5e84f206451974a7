"""Benchmark-relative objectives against PyPortfolioOpt and closed forms."""

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, objective_functions

from foliocast.portfolio.optimizer.markowitz import markowitz, optimize

MAX_WEIGHT = 0.12


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(42)
    n = 12
    tickers = [f"A{i}" for i in range(n)]
    loadings = rng.normal(size=(n, 3)) * 0.1
    idio = rng.uniform(0.01, 0.04, n)
    cov = pd.DataFrame(
        loadings @ loadings.T + np.diag(idio), index=tickers, columns=tickers
    )
    return {
        "mu": pd.Series(rng.normal(0.05, 0.03, n), index=tickers),
        "cov": cov,
        "factors": (
            pd.DataFrame(loadings, index=tickers),
            pd.Series(idio, index=tickers),
        ),
        "benchmark": pd.Series(rng.dirichlet(np.ones(n)), index=tickers),
    }


def _tracking_error(weights, benchmark, cov):
    active = weights - benchmark
    return float(np.sqrt(active @ cov @ active))


def test_minimum_tracking_error_matches_pyportfolioopt(problem):
    mu, cov, b = problem["mu"], problem["cov"], problem["benchmark"]
    ours = optimize(
        mu,
        cov,
        objective="tracking_error",
        benchmark=b,
        constraints={"max_weight": MAX_WEIGHT},
    )
    reference = EfficientFrontier(mu, cov, weight_bounds=(0, MAX_WEIGHT))
    reference.convex_objective(
        objective_functions.ex_ante_tracking_error,
        cov_matrix=cov.to_numpy(),
        benchmark_weights=b.to_numpy(),
    )
    expected = pd.Series(reference.weights, index=mu.index)
    assert b.max() > MAX_WEIGHT  # the cap binds: the answer is not the benchmark
    np.testing.assert_allclose(ours, expected, atol=1e-7)
    assert _tracking_error(ours, b, cov) == pytest.approx(
        _tracking_error(expected, b, cov), rel=1e-9
    )


def test_active_utility_matches_pyportfolioopt(problem):
    mu, cov, b = problem["mu"], problem["cov"], problem["benchmark"]
    gamma = 5.0
    ours = markowitz(
        mu,
        cov,
        objective="active_utility",
        benchmark=b,
        risk_aversion=gamma,
        constraints={"max_weight": MAX_WEIGHT},
    )
    reference = EfficientFrontier(mu, cov, weight_bounds=(0, MAX_WEIGHT))
    reference.convex_objective(
        lambda w, m, s, bench: (
            -(m @ (w - bench)) + gamma / 2 * cp.quad_form(w - bench, s)
        ),
        m=mu.to_numpy(),
        s=cov.to_numpy(),
        bench=b.to_numpy(),
    )
    np.testing.assert_allclose(ours.weights, reference.weights, atol=1e-7)
    # The result reports the forecast's own return, not the solver's tilted mean.
    assert ours.expected_return == pytest.approx(float(mu @ ours.weights))
    assert ours.objective == "active_utility"


def test_a_feasible_benchmark_is_its_own_minimum_tracking_error_portfolio(problem):
    mu, cov, b = problem["mu"], problem["cov"], problem["benchmark"]
    weights = optimize(mu, cov, objective="tracking_error", benchmark=b)
    np.testing.assert_allclose(weights, b, atol=1e-9)


def test_the_default_benchmark_is_equal_weight(problem):
    mu, cov = problem["mu"], problem["cov"]
    weights = optimize(mu, cov, objective="tracking_error")
    np.testing.assert_allclose(weights, 1 / len(mu), atol=1e-9)


def test_factor_form_gives_the_full_form_answer(problem):
    mu, b = problem["mu"], problem["benchmark"]
    settings = {
        "objective": "tracking_error",
        "benchmark": b,
        "constraints": {"max_weight": MAX_WEIGHT},
    }
    full = optimize(mu, problem["cov"], **settings)
    factor = optimize(mu, problem["factors"], **settings)
    np.testing.assert_allclose(factor, full, atol=1e-7)


def test_a_benchmark_outside_the_universe_is_refused(problem):
    b = pd.concat([problem["benchmark"] * 0.9, pd.Series({"ZZZ": 0.1})])
    with pytest.raises(ValueError, match="outside the universe.*ZZZ"):
        optimize(problem["mu"], problem["cov"], objective="tracking_error", benchmark=b)


def test_a_benchmark_with_another_objective_is_refused(problem):
    with pytest.raises(ValueError, match="benchmark is only used"):
        optimize(problem["mu"], problem["cov"], benchmark=problem["benchmark"])
