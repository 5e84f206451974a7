"""The exact dense solve with a cost term, and the active-set start it relies on."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, objective_functions

from foliocast.portfolio.optimizer import active_set, cost_active_set
from foliocast.portfolio.optimizer.active_set import DenseQp, solve_active_set
from foliocast.portfolio.optimizer.cache import DEFAULT_CACHE
from foliocast.portfolio.optimizer.cost_active_set import solve_with_costs
from foliocast.portfolio.optimizer.markowitz import markowitz
from tests.portfolio.conftest import factor_problem


def _previous(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "cash":
        return np.zeros(n)
    prev = rng.dirichlet(np.ones(n))
    if kind == "over":  # one holding above max_weight: it can only be sold
        prev[0] = 0.6
        prev /= prev.sum()
    return prev


@pytest.mark.parametrize("n", [20, 120])
@pytest.mark.parametrize("kind", ["cash", "held", "over"])
def test_utility_with_costs_matches_pypfopt_transaction_cost(n, kind):
    rng = np.random.default_rng(42 + n)
    mu, cov, _, _ = factor_problem(n, seed=n)
    prev = pd.Series(_previous(n, kind, rng), index=mu.index)
    gamma, kappa, cap = 5.0, 0.02, max(0.1, 2.0 / n)
    settings = {
        "risk_aversion": gamma,
        "constraints": {"long_only": True, "max_weight": cap},
        "prev_weights": prev,
        "cost_penalty": kappa,
    }
    result = markowitz(mu, cov, **settings)
    assert (result.solver, result.path) == ("QUADPROG", "dense")
    frontier = EfficientFrontier(
        mu,
        cov,
        weight_bounds=(0, cap),
        solver="CLARABEL",
        solver_options={"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12},
    )
    frontier.add_objective(objective_functions.transaction_cost, w_prev=prev, k=kappa)
    frontier.max_quadratic_utility(risk_aversion=gamma)
    reference = pd.Series(frontier.weights, index=mu.index)
    np.testing.assert_allclose(result.weights, reference, atol=1e-6, rtol=0)
    tight = markowitz(mu, cov, fast_path=False, **settings)
    assert tight.solver == "CLARABEL"
    np.testing.assert_allclose(result.weights, tight.weights, atol=1e-7, rtol=0)
    if kind != "cash":  # from cash a fully invested portfolio pays one fixed cost
        free = markowitz(mu, cov, **{**settings, "cost_penalty": None})
        assert np.abs(result.weights - free.weights).max() > 1e-3


def _cvxpy_reference(qp: DenseQp, cost: np.ndarray, prev: np.ndarray) -> np.ndarray:
    g, a, general, low, high, box_low, box_high = qp
    x = cp.Variable(len(a))
    rows = general @ x
    constraints = [x >= box_low, x <= box_high]
    constraints += [rows[i] >= low[i] for i in np.flatnonzero(np.isfinite(low))]
    constraints += [rows[i] <= high[i] for i in np.flatnonzero(np.isfinite(high))]
    goal = 0.5 * cp.quad_form(x, cp.psd_wrap(g)) - a @ x + cost @ cp.abs(x - prev)
    tight = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
    cp.Problem(cp.Minimize(goal), constraints).solve(solver="CLARABEL", **tight)
    return x.value


@pytest.mark.parametrize("seed", range(4))
def test_solve_with_costs_is_the_optimum_with_rows_and_open_bounds(seed):
    rng = np.random.default_rng(seed)
    n = 30
    factor = rng.normal(size=(n, n)) / np.sqrt(n)
    g = factor @ factor.T + 0.1 * np.eye(n)
    a = rng.normal(size=n)
    groups = np.zeros((2, n))
    groups[0, : n // 2] = 1.0
    groups[1] = 1.0
    general = groups
    low = np.array([0.2, -np.inf])  # a group floor, and cash allowed (sum <= 1)
    high = np.array([0.7, 1.0])
    box_low = np.where(np.arange(n) % 5 == 0, -0.1, 0.0)  # a few may go short
    box_high = np.full(n, 0.15)
    prev = rng.dirichlet(np.ones(n)) * 0.9
    cost = rng.uniform(0.0, 0.05, n)
    qp = DenseQp(g, a, general, low, high, box_low, box_high)
    x = solve_with_costs(qp, cost, prev)
    assert x is not None
    np.testing.assert_allclose(x, _cvxpy_reference(qp, cost, prev), atol=1e-7)


def test_a_failed_check_hands_the_solve_to_clarabel(monkeypatch):
    mu, cov, _, _ = factor_problem(40, seed=3)
    settings = {"prev_weights": pd.Series(1 / 40, index=mu.index)}
    settings["cost_penalty"] = 0.001
    DEFAULT_CACHE.clear()
    exact = markowitz(mu, cov, **settings)
    monkeypatch.setattr(cost_active_set, "_kkt", lambda *args: False)
    DEFAULT_CACHE.clear()
    fallback = markowitz(mu, cov, **settings)
    assert exact.solver == "QUADPROG" and fallback.solver == "CLARABEL"
    np.testing.assert_allclose(exact.weights, fallback.weights, atol=1e-7)


def test_an_infeasible_guess_restarts_from_a_few_favoured_assets(monkeypatch):
    # 500 assets, a noisy mean: the equality minimum swings far past both bounds
    # and the guess fixes more at max_weight than the budget allows. Starting
    # again with every asset free costs quadprog a 500-asset solve.
    rng = np.random.default_rng(7)
    n = 500
    loadings = rng.normal(size=(n, 5)) * 0.05
    g = loadings @ loadings.T + np.diag(rng.uniform(0.002, 0.01, n))
    unit = np.diag(g).mean()
    qp = DenseQp(
        g / unit,
        rng.normal(0.005, 0.02, n) / (5 * unit),
        np.ones((1, n)),
        np.array([1.0]),
        np.array([1.0]),
        np.zeros(n),
        np.full(n, 0.25),
    )
    free_counts = []
    solve_reduced = active_set._solve_reduced

    def counted(quadprog, side, *args):
        free_counts.append(int((side == 0).sum()))
        return solve_reduced(quadprog, side, *args)

    monkeypatch.setattr(active_set, "_solve_reduced", counted)
    x = solve_active_set(qp)
    assert x is not None
    assert max(free_counts) <= 4 * active_set._SMALL_START
    no_cost = np.zeros(n)
    np.testing.assert_allclose(x, _cvxpy_reference(qp, no_cost, no_cost), atol=1e-7)
