"""The direct solver path: cvxpy's compiled data handed straight to the solver.

Its weights equal those of cvxpy's own ``Problem.solve`` (``fast_path=False``),
and any failure or surprise goes back to that path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foliocast.portfolio.errors import InfeasibleError
from foliocast.portfolio.optimizer import direct
from foliocast.portfolio.optimizer.cache import DEFAULT_CACHE
from foliocast.portfolio.optimizer.markowitz import markowitz, optimize
from tests.portfolio.conftest import factor_problem


def _direct_cases():
    """(objective, form, n, seed, kwargs) covering every objective and constraint."""
    cases = []
    objectives = {
        "utility": {"risk_aversion": 3.0},
        "min_variance": {},
        "max_sharpe": {"risk_free_rate": 0.01},
        "target_return": {"target": 0.09},
        "target_volatility": {"target": 0.2},
    }
    extras = [
        {},
        {"constraints": {"max_weight": 0.3}},
        {"constraints": {"long_only": False, "max_leverage": 1.6, "max_weight": 0.4}},
    ]
    for objective, base in objectives.items():
        for form in ("full", "factor"):
            for seed, extra in enumerate(extras):
                cases.append((objective, form, 8 + 4 * seed, 40 + seed, base | extra))
    mu_index = [f"A{i:03d}" for i in range(60)]
    trading = {"prev_weights": pd.Series(1 / 60, index=mu_index)}
    cases += [
        ("utility", "full", 60, 50, {"risk_aversion": 2.0}),  # OSQP leads
        ("min_variance", "full", 60, 51, {"constraints": {"max_weight": 0.05}}),
        ("utility", "full", 60, 52, {**trading, "cost_penalty": 0.002}),
        ("utility", "factor", 60, 53, {**trading, "constraints": {"turnover": 0.1}}),
        (
            "utility",
            "factor",
            60,
            54,
            {
                "constraints": {
                    "asset_groups": {t: f"g{i % 3}" for i, t in enumerate(mu_index)},
                    "groups": {"g0": (0.2, 0.5), "g1": (0.0, 0.3)},
                }
            },
        ),
    ]
    return cases


@pytest.mark.parametrize(("objective", "form", "n", "seed", "kwargs"), _direct_cases())
def test_direct_path_gives_the_plain_cvxpy_weights(
    monkeypatch, cvxpy_solves, objective, form, n, seed, kwargs
):
    mu, cov, b, d = factor_problem(n, seed=seed)
    covariance = cov if form == "full" else (b, d)
    DEFAULT_CACHE.clear()
    fast = markowitz(mu, covariance, objective=objective, **kwargs)
    if fast.solver in (*direct.DIRECT_SOLVERS, "QUADPROG"):
        assert cvxpy_solves == []  # the direct path answered
    # quadprog answers an attempt on the dense form (OSQP's, or CLARABEL's with a
    # cost term); cvxpy has no quadprog.
    dense = DEFAULT_CACHE.peek(fast.spec).dense_solver
    attempted = dense if fast.solver == "QUADPROG" else fast.solver
    DEFAULT_CACHE.clear()
    plain = markowitz(mu, covariance, objective=objective, fast_path=False, **kwargs)
    assert cvxpy_solves[-1] == plain.solver and plain.path == "cvxpy"
    assert attempted == plain.solver and fast.status == plain.status == "optimal"
    np.testing.assert_allclose(fast.weights, plain.weights, atol=1e-7, rtol=0)


def test_direct_path_failure_falls_back_to_cvxpy(monkeypatch, cvxpy_solves):
    mu, _, b, d = factor_problem(10, seed=60)
    cov = (b, d)  # CLARABEL leads on the factor form
    DEFAULT_CACHE.clear()
    reference = markowitz(mu, cov, risk_aversion=2.0)
    assert DEFAULT_CACHE.peek(reference.spec).direct_solvers == ("CLARABEL",)

    def broken(self, arrays, options):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(direct._ClarabelSolve, "_run", broken)
    crashed = markowitz(mu, cov, risk_aversion=2.0)
    monkeypatch.setattr(direct._ClarabelSolve, "_run", lambda *args: None)
    not_optimal = markowitz(mu, cov, risk_aversion=2.0)
    assert cvxpy_solves == ["CLARABEL", "CLARABEL"]
    for result in (crashed, not_optimal):
        assert (result.solver, result.status) == ("CLARABEL", "optimal")
        np.testing.assert_array_equal(result.weights, reference.weights)


def test_direct_path_leaves_failures_to_cvxpy():
    # Statuses other than an accurate optimum come from cvxpy's own solve, so
    # the messages and the fallback chain are unchanged.
    mu, cov, _, _ = factor_problem(6, seed=12)
    DEFAULT_CACHE.clear()
    with pytest.raises(InfeasibleError, match="CLARABEL: infeasible"):
        optimize(mu, cov, objective="target_return", target=5.0)
    starved = {"CLARABEL": {"max_iter": 1}}
    factor = markowitz(mu, factor_problem(6, seed=12)[2:], solver_options=starved)
    assert factor.solver == "OSQP"
    assert DEFAULT_CACHE.peek(factor.spec).direct_solvers == ("CLARABEL", "OSQP")
    # On a full covariance OSQP leads and quadprog answers on the dense form, so
    # no compiled direct path was needed.
    result = markowitz(mu, cov, solver_options=starved)
    assert result.solver == "QUADPROG"
    assert DEFAULT_CACHE.peek(result.spec).direct_solvers == ()
    assert DEFAULT_CACHE.peek(result.spec).dense_osqp


def test_options_for_cvxpy_itself_skip_the_direct_path():
    mu, cov, _, _ = factor_problem(6, seed=61)
    DEFAULT_CACHE.clear()
    reference = optimize(mu, cov)
    verbose_off = {"CLARABEL": {"verbose": False}}
    np.testing.assert_array_equal(
        optimize(mu, cov, solver_options=verbose_off), reference
    )
