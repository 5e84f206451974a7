"""What ``prepare`` hands the solve: checked names, the covariance and its factor.

The per-call work is trimmed (no second hash table of the tickers, no averaging of
an exactly symmetric covariance, one gather for the factor, the dense form on the
covariance itself, constraint conflicts memoised); these tests hold each shortcut
to what it replaced.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

from foliocast.portfolio.errors import InfeasibleError
from foliocast.portfolio.optimizer.cache import DEFAULT_CACHE
from foliocast.portfolio.optimizer.constraints import Constraints
from foliocast.portfolio.optimizer.dense import COVARIANCE
from foliocast.portfolio.optimizer.inputs import prepare
from foliocast.portfolio.optimizer.markowitz import markowitz, optimize
from tests.portfolio.conftest import factor_problem


def test_duplicate_tickers_are_named():
    mu, cov, _, _ = factor_problem(4, seed=30)
    doubled = pd.concat([mu, mu.iloc[[2]]])
    with pytest.raises(ValueError, match=r"mu has duplicate tickers \['A002'\]"):
        optimize(doubled, cov)


@pytest.mark.parametrize("n", [1, 7, 40])
def test_cov_factor_is_the_scaled_upper_cholesky_factor_row_by_row(n):
    mu, cov, _, _ = factor_problem(n, seed=31 + n)
    risk = prepare(mu, cov, None, None, None).risk
    matrix = cov.to_numpy()
    lower = scipy.linalg.cholesky(matrix, lower=True)
    rows, cols = np.triu_indices(n)
    expected = lower.T[rows, cols] / math.sqrt(risk.scale)
    np.testing.assert_array_equal(risk.values["cov_factor"], expected)
    assert risk.scale == pytest.approx(np.mean(np.diag(matrix)), rel=1e-15)


def test_a_covariance_off_symmetric_by_rounding_is_averaged():
    mu, cov, _, _ = factor_problem(6, seed=32)
    matrix = cov.to_numpy().copy()
    matrix[0, 3] *= 1 + 1e-12  # within the symmetry tolerance
    skewed = pd.DataFrame(matrix, cov.index, cov.columns)
    used = prepare(mu, skewed, None, None, None).risk.cov
    np.testing.assert_array_equal(used, used.T)
    np.testing.assert_array_equal(used, 0.5 * (matrix + matrix.T))
    exact = prepare(mu, cov, None, None, None).risk.cov  # symmetric: as given
    np.testing.assert_array_equal(exact, cov.to_numpy())


@pytest.mark.parametrize("n", [12, 80])
def test_dense_form_on_the_covariance_equals_the_one_from_the_factor(n):
    mu, cov, _, _ = factor_problem(n, seed=33 + n)
    DEFAULT_CACHE.clear()
    result = markowitz(mu, cov, risk_aversion=3.0, constraints={"max_weight": 0.3})
    assert (result.solver, result.path) == ("QUADPROG", "dense")
    problem = DEFAULT_CACHE.peek(result.spec)
    values = {name: p.value for name, p in problem.parameters.items()}
    scaled = prepare(mu, cov, None, None, None).risk.scaled_cov()
    from_factor = problem._dense.exact_data(values)
    given = problem._dense.exact_data(values | {COVARIANCE: scaled})
    assert given[0] is scaled  # taken as it is, not formed again
    np.testing.assert_allclose(given[0], from_factor[0], rtol=1e-12, atol=1e-15)
    for part, reference in zip(given[1:], from_factor[1:], strict=True):
        np.testing.assert_array_equal(part, reference)
    p_given = problem._dense.data(values | {COVARIANCE: scaled})[0].toarray()
    p_factor = problem._dense.data(values)[0].toarray()
    np.testing.assert_allclose(p_given, p_factor, rtol=1e-12, atol=1e-15)
    weights = problem._dense.solve_exact(values)
    np.testing.assert_allclose(result.weights, weights, rtol=0, atol=1e-12)


def test_memoised_conflicts_are_raised_every_time_and_per_constraint_set():
    mu, cov, _, _ = factor_problem(5, seed=34)
    tight = Constraints(max_weight=0.1)  # 5 x 0.1 < 1
    for _ in range(2):  # the second call answers from the memo, the same way
        with pytest.raises(InfeasibleError, match="max weight 0.10 x 5 assets"):
            optimize(mu, cov, constraints=tight)
    # An equal constraint set built anew shares the memo; a different one not.
    with pytest.raises(InfeasibleError, match="max weight 0.10"):
        optimize(mu, cov, constraints={"max_weight": 0.1})
    loose = optimize(mu, cov, constraints=Constraints(max_weight=0.3))
    assert loose.max() <= 0.3 + 1e-12
    with pytest.raises(InfeasibleError, match="max weight 0.15 x 5 assets"):
        optimize(mu, cov, constraints=Constraints(max_weight=0.15))


def test_turnover_conflicts_follow_the_previous_weights():
    # The turnover check depends on prev_weights and is not memoised with the
    # constraint set: the same set is feasible from one start and not another.
    mu, cov, _, _ = factor_problem(4, seed=35)
    limits = Constraints(turnover=0.1)
    near = pd.Series(0.25, index=mu.index)
    far = pd.Series([1.0, 0.0, 0.0, 0.0], index=mu.index)
    assert optimize(mu, cov, constraints=limits, prev_weights=near).sum() == (
        pytest.approx(1.0)
    )
    far_out = pd.Series([0.5, 0.5], index=["X", "Y"])  # all held outside: sold
    with pytest.raises(InfeasibleError, match="turnover limit 0.1000"):
        optimize(mu, cov, constraints=limits, prev_weights=far_out)
    assert optimize(mu, cov, constraints=limits, prev_weights=far).sum() == (
        pytest.approx(1.0)
    )


def test_memoised_constraint_values_follow_each_constraint_set():
    # The spec's constraint fields and the bound values are memoised per resolved
    # constraint set: sets that alternate on one universe each keep their own.
    mu, cov, _, _ = factor_problem(10, seed=36)
    sets = [
        Constraints(max_weight=0.2),
        Constraints(max_weight=0.35),
        Constraints(long_only=False, min_weight=-0.05, max_weight=0.25),
        Constraints(max_weight=0.35, allow_cash=True),
    ]
    first = [markowitz(mu, cov, risk_aversion=1.0, constraints=c) for c in sets]
    caps = [0.2, 0.35, 0.25, 0.35]
    for result, cap in zip(first, caps, strict=True):
        assert result.weights.max() == pytest.approx(cap, abs=1e-9)  # binding
    assert first[2].weights.min() == pytest.approx(-0.05, abs=1e-9)
    assert [result.spec.budget for result in first] == ["equal"] * 3 + ["at_most"]
    for constraints, result in zip(sets * 2, first * 2, strict=True):
        again = markowitz(mu, cov, risk_aversion=1.0, constraints=constraints)
        assert again.spec == result.spec
        np.testing.assert_array_equal(again.weights, result.weights)
