"""The dense QP path: quadprog, then OSQP, on ``P`` = the covariance.

Its weights equal those of the compiled cvxpy problem; quadprog's data are OSQP's;
failures hand the solve on to OSQP and then to the compiled paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foliocast.portfolio.optimizer import active_set, dense
from foliocast.portfolio.optimizer import problem as compiled_problem
from foliocast.portfolio.optimizer.cache import DEFAULT_CACHE
from foliocast.portfolio.optimizer.markowitz import markowitz, optimize
from tests.portfolio.conftest import factor_problem


def _dense_cases():
    """(objective, n, seed, kwargs) over the structures the dense path covers."""
    tickers = [f"A{i:03d}" for i in range(60)]
    groups = {
        "asset_groups": {t: f"g{i % 3}" for i, t in enumerate(tickers)},
        "groups": {"g0": (0.2, 0.5), "g1": (0.0, 0.3)},
    }
    constraint_sets = [
        {},
        {"max_weight": 0.15},
        {"allow_cash": True, "max_weight": 0.2},
        {"long_only": False, "min_weight": -0.1, "max_weight": 0.3},
        {"long_only": False, "budget": None, "max_weight": 0.2, "min_weight": -0.2},
        groups,
        {**groups, "max_weight": 0.15},
        {**groups, "long_only": False, "min_weight": -0.2, "max_weight": 0.25},
        {"allow_cash": True, **groups},
    ]
    objectives = {
        "utility": {"risk_aversion": 4.0},
        "min_variance": {},
        "target_return": {"target": 0.09},
    }
    cases = []
    for objective, base in objectives.items():
        for i, constraints in enumerate(constraint_sets):
            if objective == "min_variance" and (
                constraints.get("budget", 1) is None or constraints.get("allow_cash")
            ):
                continue  # w = 0: degenerate, OSQP's polishing fails on both forms
            for n in (9, 60):
                kwargs = base | {"constraints": constraints}
                cases.append((objective, n, 70 + 7 * i + n, kwargs))
    cases.append(("utility", 150, 77, {"risk_aversion": 2.0, "constraints": {}}))
    return cases


def _constraints_for(n: int, kwargs: dict) -> dict:
    constraints = dict(kwargs["constraints"])
    if "asset_groups" in constraints:
        tickers = [f"A{i:03d}" for i in range(n)]
        constraints["asset_groups"] = {t: f"g{i % 3}" for i, t in enumerate(tickers)}
    return kwargs | {"constraints": constraints}


@pytest.mark.parametrize(("objective", "n", "seed", "kwargs"), _dense_cases())
def test_dense_osqp_path_matches_the_cvxpy_problem(
    monkeypatch, cvxpy_solves, objective, n, seed, kwargs
):
    mu, cov, _, _ = factor_problem(n, seed=seed)
    kwargs = _constraints_for(n, kwargs)
    answered = []
    solve = dense.DenseQpSolve.solve

    def spy(self, values, options):
        answer = solve(self, values, options)
        answered.append(answer is not None)
        return answer

    monkeypatch.setattr(dense.DenseQpSolve, "solve", spy)
    DEFAULT_CACHE.clear()
    result = markowitz(mu, cov, objective=objective, solvers=["OSQP"], **kwargs)
    problem = DEFAULT_CACHE.peek(result.spec)
    assert problem.dense_osqp and problem.problem.is_dpp()
    assert answered == [True] and cvxpy_solves == []
    assert problem.direct_solvers == ()  # the compiled path was not needed
    # The exact solve answered, on the dense form.
    assert (result.solver, result.path) == ("QUADPROG", "dense")
    # OSQP on the same dense data agrees with quadprog's exact answer.
    values = {name: p.value for name, p in problem.parameters.items()}
    osqp_weights = problem._dense.solve_osqp(
        values, compiled_problem.DEFAULT_SOLVER_OPTIONS["OSQP"]
    )
    np.testing.assert_allclose(result.weights, osqp_weights, atol=1e-7, rtol=0)
    # The oracle: the DPP problem through cvxpy, with OSQP and with CLARABEL.
    for solver in ("OSQP", "CLARABEL"):
        DEFAULT_CACHE.clear()
        plain = markowitz(
            mu, cov, objective=objective, solvers=[solver], fast_path=False, **kwargs
        )
        assert plain.status == result.status == "optimal"
        np.testing.assert_allclose(result.weights, plain.weights, atol=1e-7, rtol=0)


def test_quadprog_data_is_the_osqp_data():
    # G = P (both triangles), a = -q, and C^T x >= b holds exactly where
    # l <= A x <= u does.
    mu, cov, _, _ = factor_problem(12, seed=96)
    tickers = list(mu.index)
    constraints = {
        "asset_groups": {t: f"g{i % 3}" for i, t in enumerate(tickers)},
        "groups": {"g0": (0.2, 0.5), "g1": (0.0, 0.3)},
        "max_weight": 0.3,
    }
    DEFAULT_CACHE.clear()
    result = markowitz(
        mu, cov, objective="target_return", target=0.08, constraints=constraints
    )
    problem = DEFAULT_CACHE.peek(result.spec)
    values = {name: p.value for name, p in problem.parameters.items()}
    p, q, a, low, high = problem._dense.data(values)
    g, lin, c, b, meq = problem._dense.exact_data(values)
    upper = p.toarray()
    np.testing.assert_array_equal(g, upper + upper.T - np.diag(upper.diagonal()))
    np.testing.assert_array_equal(lin, -q)
    assert meq == 1  # the budget
    rng = np.random.default_rng(1)
    dense_a = a.toarray()
    for _ in range(200):
        x = rng.dirichlet(np.ones(12)) + rng.normal(0, 0.02, 12)
        x[0] += 1.0 - x.sum()  # on the budget, as the equality requires
        rows = dense_a @ x
        osqp_ok = bool(np.all((rows >= low - 1e-12) & (rows <= high + 1e-12)))
        slack = c.T @ x - b
        assert abs(slack[0]) < 1e-12
        assert osqp_ok == bool(np.all(slack[meq:] >= -1e-12))


def test_singular_covariance_falls_back_from_quadprog_to_osqp(monkeypatch):
    # More assets than observations: the sample covariance is PSD but singular,
    # quadprog refuses it, and the dense OSQP solve answers instead.
    rng = np.random.default_rng(97)
    n, observations = 30, 12
    returns = rng.normal(0.0, 0.02, (observations, n))
    tickers = [f"A{i:03d}" for i in range(n)]
    cov = pd.DataFrame(np.cov(returns, rowvar=False), tickers, tickers)
    mu = pd.Series(rng.normal(0.08, 0.05, n), index=tickers)
    assert np.linalg.matrix_rank(cov.to_numpy()) < n
    exact_answers = []
    solve_exact = dense.DenseQpSolve.solve_exact

    def spy(self, values):
        weights = solve_exact(self, values)
        exact_answers.append(weights)
        return weights

    monkeypatch.setattr(dense.DenseQpSolve, "solve_exact", spy)
    DEFAULT_CACHE.clear()
    result = markowitz(mu, cov, risk_aversion=3.0, solvers=["OSQP"])
    assert exact_answers == [None]  # quadprog was tried and gave no answer
    assert result.status == "optimal"
    assert (result.solver, result.path) == ("OSQP", "dense")
    DEFAULT_CACHE.clear()
    plain = markowitz(mu, cov, risk_aversion=3.0, solvers=["CLARABEL"], fast_path=False)
    assert plain.status == "optimal"
    np.testing.assert_allclose(result.weights, plain.weights, atol=1e-7, rtol=0)


def test_quadprog_failure_falls_back_to_osqp(monkeypatch):
    mu, cov, _, _ = factor_problem(20, seed=98)
    DEFAULT_CACHE.clear()
    reference = markowitz(mu, cov, risk_aversion=2.0, solvers=["OSQP"])
    assert (reference.solver, reference.path) == ("QUADPROG", "dense")

    def inconsistent(*args, **kwargs):
        raise ValueError("constraints are inconsistent, no solution")

    def off_the_budget(g, a, c, b, meq):
        x = np.linalg.solve(g, a)  # ignores every constraint
        return x, 0.0, x, (1, 0), np.zeros(len(b)), np.zeros(0, dtype=int)

    for broken in (inconsistent, off_the_budget):
        monkeypatch.setattr("quadprog.solve_qp", broken)
        result = markowitz(mu, cov, risk_aversion=2.0, solvers=["OSQP"])
        problem = DEFAULT_CACHE.peek(result.spec)
        assert (result.solver, result.status) == ("OSQP", "optimal")
        assert result.path == "dense"
        assert problem.direct_solvers == ()  # the dense OSQP solve answered
        np.testing.assert_allclose(result.weights, reference.weights, atol=1e-7)


@pytest.mark.parametrize("constraint_set", range(4))
def test_guessed_active_set_gives_the_full_quadprog_answer(monkeypatch, constraint_set):
    # The reduced solves from a guessed active set end on the optimum quadprog
    # finds on the whole problem, also when the guess is far off.
    import quadprog

    n = 200
    mu, cov, _, _ = factor_problem(n, seed=100 + constraint_set)
    tickers = list(mu.index)
    groups = {
        "asset_groups": {t: f"g{i % 3}" for i, t in enumerate(tickers)},
        "groups": {"g0": (0.2, 0.5), "g1": (0.0, 0.3)},
    }
    constraints = [
        {},
        {"max_weight": 0.05},
        {**groups, "long_only": False, "min_weight": -0.02, "max_weight": 0.04},
        {"allow_cash": True, **groups},
    ][constraint_set]
    DEFAULT_CACHE.clear()
    result = markowitz(mu, cov, risk_aversion=3.0, constraints=constraints)
    problem = DEFAULT_CACHE.peek(result.spec)
    assert (result.solver, result.path) == ("QUADPROG", "dense")
    dense_qp = problem._dense
    assert dense_qp.n >= active_set._GUESS_FROM
    values = {name: p.value for name, p in problem.parameters.items()}
    whole = quadprog.solve_qp(*dense_qp.exact_data(values))[0]
    np.testing.assert_allclose(dense_qp.solve_exact(values), whole, atol=1e-9, rtol=0)
    np.testing.assert_allclose(result.weights, whole, atol=1e-9, rtol=0)
    # A wrong guess: every asset but the first fixed at its lower bound.
    monkeypatch.setattr(active_set, "_refine_sides", lambda *args: None)
    monkeypatch.setattr(
        active_set,
        "_equality_minimum",
        lambda g, *args: np.r_[0.5, np.full(n - 1, -9.0)],
    )
    np.testing.assert_allclose(dense_qp.solve_exact(values), whole, atol=1e-9, rtol=0)


def test_osqp_options_skip_quadprog():
    # Options of one's own ask for OSQP's behaviour: quadprog is not tried.
    mu, cov, _, _ = factor_problem(20, seed=99)
    DEFAULT_CACHE.clear()
    exact = markowitz(mu, cov, risk_aversion=2.0)
    assert (exact.solver, exact.path) == ("QUADPROG", "dense")
    tight = {"OSQP": {"eps_abs": 1e-7, "eps_rel": 1e-7}}
    result = markowitz(mu, cov, risk_aversion=2.0, solver_options=tight)
    assert (result.solver, result.path) == ("OSQP", "dense")
    np.testing.assert_allclose(result.weights, exact.weights, atol=1e-7)


def test_result_names_the_solver_that_produced_the_weights():
    # The report names who answered, not the chain entry that was attempted:
    # quadprog answers OSQP's attempt on a full covariance under default options.
    mu, cov, b, d = factor_problem(20, seed=99)
    DEFAULT_CACHE.clear()
    exact = markowitz(mu, cov, risk_aversion=2.0)
    assert (exact.solver, exact.status, exact.path) == ("QUADPROG", "optimal", "dense")
    # Options keyed by the requested name still reach OSQP, which then answers.
    tight = {"OSQP": {"eps_abs": 1e-7, "eps_rel": 1e-7}}
    dense_osqp = markowitz(mu, cov, risk_aversion=2.0, solver_options=tight)
    assert (dense_osqp.solver, dense_osqp.path) == ("OSQP", "dense")
    factor = markowitz(mu, (b, d), risk_aversion=2.0)
    assert (factor.solver, factor.path) == ("CLARABEL", "direct")
    # A quadprog answer in an earlier solve does not leak into a later report.
    clarabel = markowitz(mu, cov, risk_aversion=2.0, solvers=["CLARABEL"])
    assert (clarabel.solver, clarabel.path) == ("CLARABEL", "direct")
    # Without the fast path cvxpy's OSQP answers the same problem.
    DEFAULT_CACHE.clear()
    plain = markowitz(mu, cov, risk_aversion=2.0, fast_path=False)
    assert (plain.solver, plain.path) == ("OSQP", "cvxpy")
    for result in (dense_osqp, factor, clarabel, plain):
        np.testing.assert_allclose(result.weights, exact.weights, atol=1e-6)


def test_dense_osqp_data_is_the_compiled_objective():
    # 0.5 w'Pw + q'w equals the cvxpy objective at random points.
    mu, cov, _, _ = factor_problem(12, seed=90)
    DEFAULT_CACHE.clear()
    result = markowitz(mu, cov, risk_aversion=3.0, constraints={"max_weight": 0.3})
    problem = DEFAULT_CACHE.peek(result.spec)
    values = {name: p.value for name, p in problem.parameters.items()}
    p, q, a, low, high = problem._dense.data(values)
    upper = p.toarray()
    full = upper + upper.T - np.diag(upper.diagonal())
    rng = np.random.default_rng(0)
    weights = problem.problem.variables()[0]
    for _ in range(5):
        w = rng.normal(size=12)
        weights.value = w
        expected = problem.problem.objective.value
        assert 0.5 * w @ full @ w + q @ w == pytest.approx(expected, rel=1e-12)
    weights.value = None
    np.testing.assert_array_equal(low[1:], 0.0)  # long-only
    np.testing.assert_array_equal(high[1:], 0.3)
    assert low[0] == high[0] == 1.0  # fully invested
    assert a.shape == (13, 12)


def test_dense_osqp_path_is_deterministic():
    mu, cov, _, _ = factor_problem(60, seed=91)
    DEFAULT_CACHE.clear()
    first = markowitz(mu, cov, risk_aversion=2.0)
    assert first.solver == "QUADPROG" and DEFAULT_CACHE.peek(first.spec).dense_osqp
    for seed in (92, 93):
        optimize(*factor_problem(60, seed=seed)[:2], risk_aversion=2.0)
    again = optimize(mu, cov, risk_aversion=2.0)
    assert (first.weights.to_numpy() == again.to_numpy()).all()


def test_dense_osqp_failure_falls_back_to_the_compiled_path(monkeypatch, cvxpy_solves):
    mu, cov, _, _ = factor_problem(60, seed=94)
    DEFAULT_CACHE.clear()
    reference = markowitz(mu, cov, risk_aversion=2.0, constraints={"max_weight": 0.1})
    for broken in (lambda *args: None, lambda *args: 1 / 0):
        monkeypatch.setattr(dense.DenseQpSolve, "solve", broken)
        result = markowitz(mu, cov, risk_aversion=2.0, constraints={"max_weight": 0.1})
        assert (result.solver, result.status, result.path) == (
            "OSQP",
            "optimal",
            "direct",
        )
        assert DEFAULT_CACHE.peek(result.spec).direct_solvers == ("OSQP",)
        np.testing.assert_allclose(result.weights, reference.weights, atol=1e-7)
    assert cvxpy_solves == []  # the compiled direct path answered


@pytest.mark.parametrize(
    ("form", "kwargs"),
    [
        ("factor", {}),
        ("full", {"objective": "max_sharpe"}),
        ("full", {"objective": "target_volatility", "target": 0.2}),
        ("full", {"cost_penalty": 0.001}),
        ("full", {"constraints": {"long_only": False, "max_leverage": 1.5}}),
        ("full", {"prev_weights": "equal", "constraints": {"turnover": 0.2}}),
    ],
)
def test_dense_osqp_path_only_for_plain_full_covariance_qps(form, kwargs):
    mu, cov, b, d = factor_problem(8, seed=95)
    if kwargs.get("prev_weights") == "equal":
        kwargs = kwargs | {"prev_weights": pd.Series(1 / 8, index=mu.index)}
    DEFAULT_CACHE.clear()
    result = markowitz(mu, cov if form == "full" else (b, d), **kwargs)
    assert not DEFAULT_CACHE.peek(result.spec).dense_osqp
