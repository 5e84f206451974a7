"""Compile once: the problem cache and re-solves of a compiled problem."""

from __future__ import annotations

import numpy as np
import pytest

from foliocast.portfolio.optimizer.cache import DEFAULT_CACHE, ProblemCache
from foliocast.portfolio.optimizer.markowitz import markowitz, optimize
from tests.portfolio.conftest import factor_problem


def test_second_call_reuses_the_compiled_dpp_problem():
    DEFAULT_CACHE.clear()
    mu1, cov1, _, _ = factor_problem(10, seed=22)
    mu2, cov2, _, _ = factor_problem(10, seed=23)
    first = markowitz(mu1, cov1, risk_aversion=2.0, constraints={"max_weight": 0.3})
    compiled = DEFAULT_CACHE.peek(first.spec)
    assert compiled is not None and compiled.problem.is_dpp()
    second = markowitz(mu2, cov2, risk_aversion=7.0, constraints={"max_weight": 0.4})
    assert second.spec == first.spec
    assert DEFAULT_CACHE.peek(second.spec) is compiled
    info = DEFAULT_CACHE.info()
    assert (info.misses, info.hits, info.currsize) == (1, 1, 1)
    unit = np.diag(cov2).mean()  # the problem works in units of mean variance
    np.testing.assert_allclose(
        compiled.parameters["mu"].value, mu2.to_numpy() / (7.0 * unit)
    )
    np.testing.assert_allclose(compiled.parameters["upper"].value, 0.4)
    # The re-solve equals a solve on a freshly compiled problem.
    DEFAULT_CACHE.clear()
    fresh = optimize(mu2, cov2, risk_aversion=7.0, constraints={"max_weight": 0.4})
    np.testing.assert_allclose(second.weights, fresh, atol=1e-7)


@pytest.mark.parametrize(
    ("n", "form", "solver"),
    [(12, "factor", "CLARABEL"), (12, "full", "QUADPROG"), (60, "full", "QUADPROG")],
)
def test_weights_do_not_depend_on_earlier_calls(n, form, solver):
    problems = []
    for seed in range(30, 34):
        mu, cov, b, d = factor_problem(n, seed=seed)
        problems.append((mu, cov if form == "full" else (b, d)))
    DEFAULT_CACHE.clear()
    first = markowitz(*problems[-1], risk_aversion=3.0)
    assert first.solver == solver
    for mu, cov in problems[:-1]:
        optimize(mu, cov, risk_aversion=3.0)
    again = optimize(*problems[-1], risk_aversion=3.0)
    # bitwise: reruns reproduce
    assert (first.weights.to_numpy() == again.to_numpy()).all()


def test_a_new_structure_compiles_a_new_problem():
    DEFAULT_CACHE.clear()
    mu, cov, b, d = factor_problem(6, seed=24)
    optimize(mu, cov)
    optimize(mu, (b, d))
    optimize(mu, cov, objective="min_variance")
    optimize(mu, cov, constraints={"max_weight": 0.5})
    optimize(mu.iloc[:5], cov.iloc[:5, :5])
    assert DEFAULT_CACHE.info().currsize == 5


def test_a_callers_own_cache_leaves_the_default_alone():
    mu, cov, _, _ = factor_problem(8, seed=26)
    own = ProblemCache(maxsize=2)
    DEFAULT_CACHE.clear()
    first = markowitz(mu, cov, cache=own)
    again = optimize(mu, cov, cache=own)
    assert DEFAULT_CACHE.info().currsize == 0
    assert (own.info().misses, own.info().hits) == (1, 1)
    assert own.peek(first.spec) is not None and DEFAULT_CACHE.peek(first.spec) is None
    np.testing.assert_array_equal(first.weights, again)
    # Least recently used out: the first structure goes when a third comes in.
    optimize(mu, cov, objective="min_variance", cache=own)
    optimize(mu, cov, constraints={"max_weight": 0.5}, cache=own)
    assert own.info().currsize == 2 and own.peek(first.spec) is None
    own.clear()
    assert own.info() == (0, 0, 2, 0)


def test_a_cache_needs_a_positive_size_and_the_option_a_cache():
    with pytest.raises(ValueError, match="maxsize must be an integer >= 1"):
        ProblemCache(maxsize=0)
    mu, cov, _, _ = factor_problem(4, seed=27)
    with pytest.raises(TypeError, match="cache must be a ProblemCache, got dict"):
        optimize(mu, cov, cache={})
