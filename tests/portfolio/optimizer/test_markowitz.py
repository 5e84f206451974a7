"""Markowitz optimizer: reference, closed forms, self-consistency, properties, errors.

Three kinds of assertion: against PyPortfolioOpt on the bundled S&P 500 data,
against closed forms, and self-consistency of the reported risk and return.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypfopt import EfficientFrontier, risk_models

from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.errors import (
    CovarianceRepairWarning,
    InfeasibleError,
    OptimizationError,
)
from foliocast.portfolio.optimizer.constraints import Constraints
from foliocast.portfolio.optimizer.markowitz import (
    efficient_frontier,
    forecast_covariance,
    markowitz,
    optimize,
    optimize_forecast,
    portfolio_return,
    portfolio_variance,
    portfolio_volatility,
)
from tests.portfolio.conftest import factor_problem

PYPFOPT_TOL = 1e-5
TIGHT_CLARABEL = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
CHECK_TOL = 1e-6  # constraint satisfaction at our solver tolerances


def _pypfopt(mu: pd.Series, cov: pd.DataFrame) -> EfficientFrontier:
    return EfficientFrontier(mu, cov, solver="CLARABEL", solver_options=TIGHT_CLARABEL)


def _as_series(weights: dict, index: pd.Index) -> pd.Series:
    return pd.Series(weights).reindex(index)


# ------------------------------------------------------ against PyPortfolioOpt


@pytest.fixture(scope="module")
def sp500_targets(sp500_mu_cov):
    """Reachable targets for the efficient_return / efficient_risk cases."""
    mu, cov = sp500_mu_cov
    lowest = markowitz(mu, cov, objective="min_variance")
    return {
        "return": 0.5 * (lowest.expected_return + float(mu.max())),
        "volatility": 1.3 * lowest.volatility,
    }


@pytest.mark.parametrize(
    ("case", "ours", "theirs"),
    [
        (
            "max_quadratic_utility",
            {"objective": "utility", "risk_aversion": 4.0},
            lambda ef, t: ef.max_quadratic_utility(risk_aversion=4.0),
        ),
        (
            "min_volatility",
            {"objective": "min_variance"},
            lambda ef, t: ef.min_volatility(),
        ),
        (
            "max_sharpe",
            {"objective": "max_sharpe", "risk_free_rate": 0.02},
            lambda ef, t: ef.max_sharpe(risk_free_rate=0.02),
        ),
        (
            "efficient_return",
            {"objective": "target_return"},
            lambda ef, t: ef.efficient_return(t["return"]),
        ),
        (
            "efficient_risk",
            {"objective": "target_volatility"},
            lambda ef, t: ef.efficient_risk(t["volatility"]),
        ),
    ],
)
def test_matches_pypfopt_on_sp500(sp500_mu_cov, sp500_targets, case, ours, theirs):
    mu, cov = sp500_mu_cov
    kwargs = dict(ours)
    if case == "efficient_return":
        kwargs["target"] = sp500_targets["return"]
    elif case == "efficient_risk":
        kwargs["target"] = sp500_targets["volatility"]
    weights = optimize(mu, cov, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pypfopt's "may be inaccurate" chatter
        reference = _as_series(theirs(_pypfopt(mu, cov), sp500_targets), mu.index)
    np.testing.assert_allclose(weights, reference, atol=PYPFOPT_TOL, rtol=0)
    assert list(weights.index) == list(mu.index)


def test_matches_pypfopt_with_ledoit_wolf_and_max_weight(sp500_prices, sp500_mu_cov):
    mu, _ = sp500_mu_cov
    cov = risk_models.CovarianceShrinkage(sp500_prices.loc["2019":]).ledoit_wolf()
    weights = optimize(
        mu, cov, risk_aversion=2.0, constraints={"max_weight": 0.15, "long_only": True}
    )
    ef = EfficientFrontier(
        mu,
        cov,
        weight_bounds=(0, 0.15),
        solver="CLARABEL",
        solver_options=TIGHT_CLARABEL,
    )
    reference = _as_series(ef.max_quadratic_utility(risk_aversion=2.0), mu.index)
    np.testing.assert_allclose(weights, reference, atol=PYPFOPT_TOL, rtol=0)


def test_pinned_sp500_reference_numbers(sp500_mu_cov):
    # 2019-2022 annualised mean historical return and sample covariance.
    mu, cov = sp500_mu_cov
    lowest = markowitz(mu, cov, objective="min_variance")
    assert lowest.volatility == pytest.approx(0.172845803, abs=1e-7)
    assert lowest.expected_return == pytest.approx(0.129005341, abs=1e-6)
    best = markowitz(mu, cov, objective="max_sharpe", risk_free_rate=0.02)
    assert best.sharpe_ratio(0.02) == pytest.approx(1.23498079, abs=1e-7)
    held = best.weights[best.weights > 1e-6].round(4).to_dict()
    assert held == {"AAPL": 0.401, "LLY": 0.5796, "RRC": 0.0195}


# ------------------------------------------------------------------ closed forms


def test_unconstrained_utility_is_inverse_cov_times_mu():
    mu, cov, _, _ = factor_problem(8, seed=1)
    gamma = 3.0
    free = Constraints(budget=None, long_only=False)
    weights = optimize(mu, cov, risk_aversion=gamma, constraints=free)
    expected = np.linalg.solve(cov.to_numpy(), mu.to_numpy()) / gamma
    np.testing.assert_allclose(weights, expected, atol=1e-7)


def test_min_variance_with_budget_only_is_proportional_to_inverse_cov_ones():
    mu, cov, _, _ = factor_problem(8, seed=2)
    weights = optimize(
        mu, cov, objective="min_variance", constraints={"long_only": False}
    )
    direction = np.linalg.solve(cov.to_numpy(), np.ones(len(mu)))
    np.testing.assert_allclose(weights, direction / direction.sum(), atol=1e-7)


def test_factor_form_gives_the_full_covariance_answer():
    mu, cov, b, d = factor_problem(30, n_factors=4, seed=3)
    kwargs = {"risk_aversion": 2.0, "constraints": {"max_weight": 0.2}}
    full = optimize(mu, cov, **kwargs)
    factor = optimize(mu, (b, d), **kwargs)
    np.testing.assert_allclose(full, factor, atol=1e-6)


def test_optimize_forecast_uses_factors_and_matches_full():
    mu, cov, b, d = factor_problem(12, seed=4)
    forecast = Forecast.from_factors(pd.Timestamp("2020-01-31"), 21, mu, b, d)
    assert isinstance(forecast_covariance(forecast), tuple)
    weights = optimize_forecast(forecast, risk_aversion=5.0)
    np.testing.assert_allclose(weights, optimize(mu, cov, risk_aversion=5.0), atol=1e-6)


# -------------------------------------------------------------- self-consistency


@pytest.mark.parametrize("objective", ["utility", "min_variance", "max_sharpe"])
@pytest.mark.parametrize("form", ["full", "factor"])
def test_reported_risk_and_return_match_the_weights(objective, form):
    mu, cov, b, d = factor_problem(15, seed=5)
    result = markowitz(mu, cov if form == "full" else (b, d), objective=objective)
    w = result.weights.to_numpy()
    assert result.expected_return == pytest.approx(mu.to_numpy() @ w, abs=1e-12)
    assert result.variance == pytest.approx(w @ cov.to_numpy() @ w, rel=1e-10)
    assert result.volatility == pytest.approx(portfolio_volatility(result.weights, cov))
    assert portfolio_variance(result.weights, (b, d)) == pytest.approx(result.variance)
    assert portfolio_return(result.weights, mu) == pytest.approx(result.expected_return)
    assert result.status == "optimal"


def test_max_sharpe_beats_other_portfolios_on_sharpe():
    mu, cov, _, _ = factor_problem(10, seed=6)
    best = markowitz(mu, cov, objective="max_sharpe", risk_free_rate=0.01)
    for gamma in (0.5, 2.0, 10.0):
        other = markowitz(mu, cov, risk_aversion=gamma)
        assert best.sharpe_ratio(0.01) >= other.sharpe_ratio(0.01) - 1e-7


def test_turnover_and_costs_are_reported_and_respected():
    mu, cov, _, _ = factor_problem(10, seed=7)
    prev = pd.Series(0.1, index=mu.index)
    result = markowitz(
        mu, cov, constraints={"turnover": 0.05}, prev_weights=prev, risk_aversion=1.0
    )
    manual = 0.5 * np.abs(result.weights - prev).sum()
    assert result.turnover == pytest.approx(manual)
    assert result.turnover <= 0.05 + CHECK_TOL
    # A cost far above any return gain keeps the (feasible) current holdings.
    frozen = optimize(mu, cov, prev_weights=prev, cost_penalty=10.0)
    np.testing.assert_allclose(frozen, prev, atol=1e-7)
    # Per-asset costs: only the free asset's weight can move up from prev.
    kappa = pd.Series(10.0, index=mu.index)
    kappa.iloc[0] = 0.0
    kappa.iloc[1] = 0.0
    moved = optimize(mu, cov, prev_weights=prev, cost_penalty=kappa)
    np.testing.assert_allclose(moved.iloc[2:], prev.iloc[2:], atol=1e-7)


def test_assets_that_left_the_universe_are_sold_within_the_turnover_limit():
    mu, cov, _, _ = factor_problem(6, seed=8)
    prev = pd.Series(1 / 7, index=[*mu.index, "GONE"])
    result = markowitz(mu, cov, prev_weights=prev, constraints={"turnover": 0.2})
    assert result.turnover <= 0.2 + CHECK_TOL
    assert result.turnover >= 0.5 / 7  # the sale of GONE alone
    with pytest.raises(InfeasibleError, match="turnover limit 0.0500"):
        optimize(mu, cov, prev_weights=prev, constraints={"turnover": 0.05})


def test_efficient_frontier_runs_from_min_variance_to_max_return(sp500_mu_cov):
    mu, cov = sp500_mu_cov
    frontier = efficient_frontier(mu, cov, n_points=6)
    assert frontier.weights.shape == (6, len(mu))
    assert np.all(np.diff(frontier.expected_return) > 0)
    assert np.all(np.diff(frontier.volatility) > -1e-9)
    lowest = optimize(mu, cov, objective="min_variance")
    np.testing.assert_allclose(frontier.weights.iloc[0], lowest, atol=1e-7)
    assert frontier.expected_return.iloc[-1] == pytest.approx(mu.max(), abs=1e-6)
    mid = frontier.expected_return.iloc[2]
    reference = _as_series(_pypfopt(mu, cov).efficient_return(mid), mu.index)
    np.testing.assert_allclose(frontier.weights.iloc[2], reference, atol=PYPFOPT_TOL)
    table = frontier.to_frame()
    assert list(table.columns[:2]) == ["volatility", "expected_return"]


# ---------------------------------------------------- properties (hypothesis)


@st.composite
def feasible_problems(draw):
    """A random problem built around a known feasible portfolio ``anchor``."""
    n = draw(st.sampled_from([4, 7]))
    rng = np.random.default_rng(draw(st.integers(0, 2**20)))
    mu, cov, _, _ = factor_problem(n, seed=int(rng.integers(2**20)))
    long_only = draw(st.booleans())
    anchor = rng.dirichlet(np.ones(n))
    if not long_only:
        anchor = 1.6 * anchor - 0.6 / n  # some shorts, still sums to 1
    lower = anchor - rng.uniform(0.0, 0.3, n)
    if long_only:
        lower = np.clip(lower, 0.0, None)
    upper = anchor + rng.uniform(0.0, 0.3, n)
    spec: dict = {
        "long_only": long_only,
        "allow_cash": draw(st.booleans()),
        "bounds": {
            t: (lo, hi) for t, lo, hi in zip(mu.index, lower, upper, strict=True)
        },
    }
    if draw(st.booleans()):
        labels = rng.integers(0, 2, n)
        spec["asset_groups"] = {
            t: f"g{g}" for t, g in zip(mu.index, labels, strict=True)
        }
        spec["groups"] = {}
        for g in (0, 1):
            held = anchor[labels == g].sum()
            slack = rng.uniform(0.0, 0.2, 2)
            spec["groups"][f"g{g}"] = (held - slack[0], held + slack[1])
    if not long_only and draw(st.booleans()):
        spec["max_leverage"] = float(np.abs(anchor).sum() + rng.uniform(0.0, 0.5))
    prev = None
    if draw(st.booleans()):
        prev = pd.Series(anchor + rng.normal(0.0, 0.05, n), index=mu.index)
        spec["turnover"] = 0.5 * float(np.abs(anchor - prev).sum()) + rng.uniform(
            0, 0.2
        )
    objective = draw(st.sampled_from(["utility", "min_variance", "target_return"]))
    kwargs = {
        "objective": objective,
        "risk_aversion": draw(st.sampled_from([1.0, 5.0])),
    }
    if objective == "target_return":
        kwargs["target"] = float(mu.to_numpy() @ anchor) - 0.01
    if draw(st.booleans()):
        kwargs["cost_penalty"] = 0.002
    return mu, cov, Constraints(**spec), prev, kwargs


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(feasible_problems())
def test_constraints_hold_on_random_feasible_problems(problem):
    mu, cov, constraints, prev, kwargs = problem
    w = optimize(mu, cov, constraints=constraints, prev_weights=prev, **kwargs)
    rc = constraints.resolve(tuple(mu.index))
    total = w.sum()
    if constraints.allow_cash:
        assert total <= constraints.budget + CHECK_TOL
    else:
        assert total == pytest.approx(constraints.budget, abs=CHECK_TOL)
    assert np.all(w >= rc.lower - CHECK_TOL) and np.all(w <= rc.upper + CHECK_TOL)
    if constraints.long_only:
        assert w.min() >= 0.0
    exposure = rc.group_matrix @ w.to_numpy()
    assert np.all(exposure >= rc.group_lower - CHECK_TOL)
    assert np.all(exposure <= rc.group_upper + CHECK_TOL)
    if constraints.max_leverage is not None:
        assert np.abs(w).sum() <= constraints.max_leverage + CHECK_TOL
    if constraints.turnover is not None:
        assert 0.5 * np.abs(w - prev).sum() <= constraints.turnover + CHECK_TOL
    if kwargs["objective"] == "target_return":
        assert mu @ w >= kwargs["target"] - CHECK_TOL


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    n=st.sampled_from([5, 9]),
    seed=st.integers(0, 2**20),
    max_weight=st.floats(0.25, 0.6),
)
def test_max_sharpe_scales_constraints_with_k(n, seed, max_weight):
    mu, cov, _, _ = factor_problem(n, seed=seed)
    mu = mu.abs() + 0.01  # some asset beats the risk-free rate
    w = optimize(
        mu, cov, objective="max_sharpe", constraints={"max_weight": max_weight}
    )
    assert w.sum() == pytest.approx(1.0, abs=CHECK_TOL)
    assert w.max() <= max_weight + CHECK_TOL and w.min() >= 0.0


# ------------------------------------------------------------------ failure modes


def test_min_weight_times_assets_above_budget_is_named(sp500_mu_cov):
    mu, cov = sp500_mu_cov
    with pytest.raises(InfeasibleError) as info:
        optimize(mu, cov, constraints={"min_weight": 0.10})
    assert "min weight 0.10 x 20 assets = 2.00 exceeds the budget 1.00" in str(
        info.value
    )


def test_max_weight_too_small_for_the_budget_is_named(sp500_mu_cov):
    mu, cov = sp500_mu_cov
    with pytest.raises(InfeasibleError, match="max weight 0.04 x 20 assets = 0.80"):
        optimize(mu, cov, constraints={"max_weight": 0.04})
    # With cash allowed the same limit is fine.
    w = optimize(mu, cov, constraints={"max_weight": 0.04, "allow_cash": True})
    assert w.sum() <= 0.8 + CHECK_TOL


def test_group_conflicts_are_named():
    mu, cov, _, _ = factor_problem(4, seed=9)
    groups = {
        "asset_groups": dict(zip(mu.index, ["eq", "eq", "bond", "bond"], strict=True))
    }
    with pytest.raises(InfeasibleError, match="group 'bond' needs at least 0.70"):
        optimize(
            mu,
            cov,
            constraints={**groups, "max_weight": 0.3, "groups": {"bond": (0.7, 1)}},
        )
    with pytest.raises(InfeasibleError, match="group maximums and upper bounds add up"):
        optimize(
            mu,
            cov,
            constraints={**groups, "groups": {"eq": (0, 0.3), "bond": (0, 0.3)}},
        )
    with pytest.raises(InfeasibleError, match="none of its assets is in the universe"):
        optimize(
            mu,
            cov,
            constraints={
                "groups": {"gold": (0.1, 0.2)},
                "asset_groups": {"GLD": "gold"},
            },
        )


def test_leverage_below_budget_is_named():
    mu, cov, _, _ = factor_problem(4, seed=10)
    with pytest.raises(InfeasibleError, match="gross leverage limit 0.80"):
        optimize(mu, cov, constraints={"long_only": False, "max_leverage": 0.8})


def test_turnover_from_cash_is_named():
    mu, cov, _, _ = factor_problem(4, seed=11)
    with pytest.raises(InfeasibleError, match="starts from cash"):
        optimize(mu, cov, constraints={"turnover": 0.1})


def test_solver_infeasibility_lists_constraints_and_the_reachable_return():
    mu, cov, _, _ = factor_problem(6, seed=12)
    with pytest.raises(InfeasibleError) as info:
        optimize(
            mu,
            cov,
            objective="target_return",
            target=5.0,
            constraints={"max_weight": 0.5},
        )
    message = str(info.value)
    assert "CLARABEL: infeasible" in message
    assert "max weight 0.5" in message and "long-only" in message
    assert f"highest expected return reachable is {mu.nlargest(2).mean():g}" in message


def test_target_volatility_below_minimum_names_the_minimum():
    mu, cov, _, _ = factor_problem(6, seed=13)
    lowest = markowitz(mu, cov, objective="min_variance").volatility
    with pytest.raises(
        InfeasibleError, match=f"lowest volatility reachable is {lowest:g}"
    ):
        optimize(mu, cov, objective="target_volatility", target=0.5 * lowest)


def test_max_sharpe_without_excess_return_raises():
    mu, cov, _, _ = factor_problem(5, seed=14)
    with pytest.raises(InfeasibleError, match="no asset has expected return above"):
        optimize(mu - 1.0, cov, objective="max_sharpe")
    with pytest.raises(ValueError, match="cost_penalty does not combine"):
        optimize(mu, cov, objective="max_sharpe", cost_penalty=0.001)
    with pytest.raises(ValueError, match="fully invested positive budget"):
        optimize(mu, cov, objective="max_sharpe", constraints={"allow_cash": True})


def test_fallback_solver_then_optimization_error():
    mu, cov, b, d = factor_problem(6, seed=15)
    starved = {"CLARABEL": {"max_iter": 1}}
    with pytest.raises(OptimizationError, match="CLARABEL: user_limit") as info:
        optimize(mu, cov, solvers=["CLARABEL"], solver_options=starved)
    assert not isinstance(info.value, InfeasibleError)
    # CLARABEL leads on the factor form; OSQP, the next solver, answers.
    result = markowitz(mu, (b, d), solver_options=starved)
    assert result.solver == "OSQP"
    reference = optimize(mu, cov)
    np.testing.assert_allclose(result.weights, reference, atol=1e-6)


def test_default_chain_depends_on_problem_structure():
    mu, cov, b, d = factor_problem(60, seed=25)
    assert markowitz(mu, cov).solver == "QUADPROG"  # OSQP leads, exact dense form
    assert markowitz(mu, (b, d)).solver == "CLARABEL"  # factor form
    # An L1 term: CLARABEL leads, its attempt answered exactly on the dense form.
    assert markowitz(mu, cov, cost_penalty=0.001).solver == "QUADPROG"
    assert markowitz(mu, (b, d), cost_penalty=0.001).solver == "CLARABEL"
    starved = {"OSQP": {"max_iter": 1}}
    assert markowitz(mu, cov, solver_options=starved).solver == "CLARABEL"


def test_unpolished_osqp_answer_counts_as_inaccurate():
    mu, cov, _, _ = factor_problem(6, seed=15)
    rough = {"OSQP": {"polishing": False, "eps_abs": 1e-3, "eps_rel": 1e-3}}
    result = markowitz(mu, cov, solvers=["OSQP", "CLARABEL"], solver_options=rough)
    assert result.solver == "CLARABEL" and result.status == "optimal"
    with pytest.warns(RuntimeWarning, match="OSQP returned an inaccurate solution"):
        alone = markowitz(mu, cov, solvers=["OSQP"], solver_options=rough)
    assert alone.status == "optimal_inaccurate"


def test_unbounded_problem_raises_optimization_error():
    mu, _, b, _ = factor_problem(5, n_factors=2, seed=16)
    singular = (b, pd.Series(0.0, index=mu.index))  # rank 2: free directions
    with pytest.raises(OptimizationError, match="unbounded"):
        optimize(mu, singular, constraints={"budget": None, "long_only": False})


def test_non_psd_covariance_is_repaired_with_a_warning():
    mu, cov, _, _ = factor_problem(6, seed=17)
    broken = cov.copy()
    broken.iloc[0, 1] = broken.iloc[1, 0] = 1.0  # correlation far above 1
    smallest = np.linalg.eigvalsh(broken.to_numpy())[0]
    with pytest.warns(
        CovarianceRepairWarning, match=f"smallest eigenvalue {smallest:.3g}"
    ):
        result = markowitz(mu, broken)
    assert result.weights.sum() == pytest.approx(1.0)
    assert result.variance >= 0.0


def test_singular_psd_covariance_needs_no_warning():
    mu, _, b, _ = factor_problem(6, n_factors=2, seed=18)
    singular = b @ b.T
    with warnings.catch_warnings():
        warnings.simplefilter("error", CovarianceRepairWarning)
        w = optimize(mu, singular, objective="min_variance")
    assert w.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda mu, cov: (mu.mask(mu.index == "A002"), cov), "mu is NaN.*'A002'"),
        (
            lambda mu, cov: (mu, cov.replace(cov.loc["A001", "A001"], np.inf)),
            "cov is NaN or infinite for asset.*'A001'",
        ),
        (lambda mu, cov: (mu, cov.drop(index="A003")), "lack asset.*'A003'"),
        (
            lambda mu, cov: (mu.drop("A004"), cov),
            "cov rows have asset.*'A004'.*not in mu",
        ),
        (
            lambda mu, cov: (mu, cov + np.triu(np.full(cov.shape, 0.5), 1)),
            "cov is not symmetric",
        ),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_asset(mutate, message):
    mu, cov, _, _ = factor_problem(5, seed=19)
    bad_mu, bad_cov = mutate(mu, cov)
    with pytest.raises(ValueError, match=message):
        optimize(bad_mu, bad_cov)


def test_bad_factor_and_side_inputs_name_the_asset():
    mu, _, b, d = factor_problem(5, seed=20)
    with pytest.raises(ValueError, match="idio variances are negative.*'A000'"):
        optimize(mu, (b, d.mask(d.index == "A000", -0.1)))
    with pytest.raises(ValueError, match="prev_weights is NaN.*'A001'"):
        optimize(mu, (b, d), prev_weights=pd.Series([np.nan], index=["A001"]))
    with pytest.raises(ValueError, match="cost_penalty has no entry for.*'A004'"):
        optimize(mu, (b, d), cost_penalty=pd.Series(0.001, index=mu.index[:4]))


def test_bad_settings_raise_value_error():
    mu, cov, _, _ = factor_problem(4, seed=21)
    with pytest.raises(ValueError, match="unknown objective"):
        optimize(mu, cov, objective="max_return_please")
    with pytest.raises(ValueError, match="needs target"):
        optimize(mu, cov, objective="target_return")
    with pytest.raises(ValueError, match="target is only used with"):
        optimize(mu, cov, target=0.1)
    with pytest.raises(ValueError, match="risk_aversion must be > 0"):
        optimize(mu, cov, risk_aversion=0.0)
    with pytest.raises(ValueError, match="not installed"):
        optimize(mu, cov, solvers=["NO_SUCH_SOLVER"])


def test_constraints_validate_and_round_trip():
    config = {"long_only": True, "max_weight": 0.25, "turnover": None, "groups": None}
    constraints = Constraints.from_dict(config)
    assert constraints.max_weight == 0.25 and constraints.budget == 1.0
    assert Constraints.from_dict(constraints.to_dict()) == constraints
    assert hash(Constraints.from_dict(constraints.to_dict())) == hash(constraints)
    with pytest.raises(
        ValueError, match=r"unknown constraint setting\(s\) \['max_wieght'\]"
    ):
        Constraints.from_dict({"max_wieght": 0.2})
    with pytest.raises(ValueError, match="min_weight 0.3 exceeds max_weight 0.2"):
        Constraints(min_weight=0.3, max_weight=0.2)
    with pytest.raises(ValueError, match="allows shorts but long_only=True"):
        Constraints(min_weight=-0.1)
    with pytest.raises(ValueError, match="groups .* and asset_groups .* go together"):
        Constraints(groups={"eq": (0, 1)})
    with pytest.raises(ValueError, match=r"bounds\['X'\] allows a short position"):
        Constraints(bounds={"X": (-0.2, 0.5)})
