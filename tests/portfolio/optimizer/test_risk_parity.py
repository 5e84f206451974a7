"""Risk parity and HRP: checked by formula, by PyPortfolioOpt and inside a run."""

import warnings

import numpy as np
import pandas as pd
import pytest

from foliocast.data import load_dataset
from foliocast.forecasting.baselines import make_forecaster
from foliocast.portfolio.backtest.strategies import describe_strategy
from foliocast.portfolio.config import (
    STRATEGIES,
    BacktestConfig,
    ForecasterConfig,
    RunConfig,
    config_to_dict,
)
from foliocast.portfolio.errors import InfeasibleError
from foliocast.portfolio.optimizer.risk_parity import (
    equal_risk_contribution,
    hierarchical_risk_parity,
    weight_bounds,
)


@pytest.fixture(scope="module")
def lw_cov() -> pd.DataFrame:
    """Ledoit-Wolf 21-day covariance of the 20 bundled S&P 500 stocks, end 2019."""
    prices = load_dataset("sp500").loc[:"2019-12-31"]
    forecaster = make_forecaster("ledoit_wolf", horizon=21)
    forecaster.fit(prices)
    return forecaster.predict(prices).cov


def risk_shares(weights: pd.Series, cov: pd.DataFrame) -> np.ndarray:
    """Each asset's share of portfolio variance, ``w_i (cov w)_i / w' cov w``."""
    w, c = weights.to_numpy(), cov.to_numpy()
    return w * (c @ w) / (w @ c @ w)


def test_erc_risk_contributions_are_equal(lw_cov):
    weights = equal_risk_contribution(lw_cov)
    assert list(weights.index) == list(lw_cov.index)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (weights > 0).all()
    np.testing.assert_allclose(risk_shares(weights, lw_cov), 1 / 20, atol=1e-6)
    # Not 1/N: the test would pass trivially on equal variances.
    assert np.ptp(weights) > 0.02


def reference_erc(cov: pd.DataFrame, sweeps: int = 2000) -> np.ndarray:
    """Independent ERC reference: cyclical coordinate descent on Spinu's form.

    ``x_i (cov x)_i = 1/n`` for every asset is the optimum of the convex
    ``0.5 x' cov x - sum_i log(x_i) / n`` over ``x > 0``; with the others fixed,
    each ``x_i`` solves ``c_ii x_i^2 + a_i x_i - 1/n = 0``, ``a_i = sum_{j != i}
    c_ij x_j``, in closed form (Griveau-Billion, Richard and Roncalli, 2013).
    Normalising ``x`` gives the ERC weights.
    """
    c = cov.to_numpy() / np.mean(np.diag(cov.to_numpy()))
    n = len(c)
    x = np.full(n, 1.0 / n)
    for _ in range(sweeps):
        for i in range(n):
            a = c[i] @ x - c[i, i] * x[i]
            x[i] = (-a + np.sqrt(a * a + 4 * c[i, i] / n)) / (2 * c[i, i])
    return x / x.sum()


def test_erc_matches_an_independent_solution_of_the_same_covariance(lw_cov):
    reference = reference_erc(lw_cov)
    np.testing.assert_allclose(
        risk_shares(pd.Series(reference), lw_cov), 1 / 20, atol=1e-9
    )
    np.testing.assert_allclose(equal_risk_contribution(lw_cov), reference, atol=1e-7)


@pytest.mark.parametrize("as_of", ["1998-02-27", "2015-10-30", "2019-04-30"])
def test_erc_is_accurate_where_the_solver_first_stops_short(as_of):
    """Dates where CLARABEL first stops 'inaccurate', contributions 4e-6 apart."""
    prices = load_dataset("sp500").loc[:as_of]
    forecaster = make_forecaster("ledoit_wolf", horizon=21)
    forecaster.fit(prices)
    cov = forecaster.predict(prices).cov
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Solution may be inaccurate"
        weights = equal_risk_contribution(cov)
    np.testing.assert_allclose(risk_shares(weights, cov), 1 / len(cov), atol=1e-7)
    np.testing.assert_allclose(weights, reference_erc(cov), atol=1e-6)


def test_erc_equals_inverse_volatility_under_constant_correlation():
    """Closed form: with one correlation for all pairs, ERC weights are 1/sigma_i."""
    vol = np.array([0.05, 0.10, 0.20, 0.40])
    corr = np.full((4, 4), 0.3) + 0.7 * np.eye(4)
    tickers = list("ABCD")
    cov = pd.DataFrame(np.outer(vol, vol) * corr, tickers, tickers)
    expected = (1 / vol) / (1 / vol).sum()
    np.testing.assert_allclose(equal_risk_contribution(cov), expected, atol=1e-7)


def test_erc_keeps_a_binding_max_weight(lw_cov):
    free = equal_risk_contribution(lw_cov)
    cap = 0.9 * free.max()
    capped = equal_risk_contribution(lw_cov, upper=np.full(20, cap))
    assert capped.max() <= cap + 1e-8
    assert capped.sum() == pytest.approx(1.0, abs=1e-12)


def test_hrp_matches_pyportfolioopt_on_the_same_covariance(lw_cov):
    from pypfopt import HRPOpt

    ours = hierarchical_risk_parity(lw_cov)
    reference = pd.Series(
        HRPOpt(cov_matrix=lw_cov).optimize(linkage_method="single")
    ).reindex(lw_cov.index)
    np.testing.assert_allclose(ours, reference, atol=1e-12)


def test_hrp_of_two_uncorrelated_pairs_by_hand():
    """Two correlated pairs, uncorrelated with each other: two levels of splits.

    Single linkage joins (A, B) and (C, D) first, so the first bisection splits the
    pairs; each pair's variance is that of its inverse-variance portfolio, and the
    pair with the lower variance gets ``V_other / (V_1 + V_2)``. Inside a pair the
    split is again inverse variance.
    """
    vol = np.array([0.1, 0.2, 0.15, 0.3])
    corr = np.array(
        [
            [1.0, 0.8, 0.0, 0.0],
            [0.8, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.6],
            [0.0, 0.0, 0.6, 1.0],
        ]
    )
    tickers = list("ABCD")
    cov = np.outer(vol, vol) * corr
    var = vol**2

    def pair_variance(i, j):
        ivp = np.array([1 / var[i], 1 / var[j]])
        ivp /= ivp.sum()
        block = cov[np.ix_([i, j], [i, j])]
        return ivp @ block @ ivp

    v1, v2 = pair_variance(0, 1), pair_variance(2, 3)
    first = v2 / (v1 + v2)
    expected = np.array(
        [
            first * var[1] / (var[0] + var[1]),
            first * var[0] / (var[0] + var[1]),
            (1 - first) * var[3] / (var[2] + var[3]),
            (1 - first) * var[2] / (var[2] + var[3]),
        ]
    )
    weights = hierarchical_risk_parity(pd.DataFrame(cov, tickers, tickers))
    np.testing.assert_allclose(weights, expected, atol=1e-14)


def test_hrp_keeps_a_max_weight(lw_cov):
    free = hierarchical_risk_parity(lw_cov)
    cap = 0.8 * free.max()
    capped = hierarchical_risk_parity(lw_cov, upper=np.full(20, cap))
    assert capped.max() <= cap + 1e-12
    assert capped.sum() == pytest.approx(1.0, abs=1e-12)


def test_bounds_come_from_the_run_constraints_long_only():
    lower, upper = weight_bounds(
        {
            "long_only": False,
            "min_weight": -0.2,
            "max_weight": 0.3,
            "bounds": {"B": [0.1, 0.2]},
        },
        ["A", "B", "C"],
    )
    np.testing.assert_array_equal(lower, [0.0, 0.1, 0.0])
    np.testing.assert_array_equal(upper, [0.3, 0.2, 0.3])
    lower, upper = weight_bounds({}, ["A", "B"])
    np.testing.assert_array_equal(lower, [0.0, 0.0])
    np.testing.assert_array_equal(upper, [1.0, 1.0])


@pytest.mark.parametrize("method", [equal_risk_contribution, hierarchical_risk_parity])
def test_bounds_that_cannot_hold_everything_are_refused(lw_cov, method):
    with pytest.raises(InfeasibleError, match="max weights add up to 0.8"):
        method(lw_cov, upper=np.full(20, 0.04))


def test_a_run_with_both_strategies_reports_them():
    from foliocast.portfolio.backtest.run import run

    assert {"risk_parity", "hrp"} <= set(STRATEGIES)
    config = RunConfig(
        name="risk_parity_check",
        backtest=BacktestConfig(start="2021-06-01", end="2022-06-30"),
        forecaster=ForecasterConfig(kind="ledoit_wolf"),
        strategies=("risk_parity", "hrp", "min_variance"),
    )
    config.validate()
    output = run(config)
    weights = output.result.weights
    assert set(weights.strategy) == {"risk_parity", "hrp", "min_variance"}
    for strategy in ("risk_parity", "hrp"):
        rows = weights[weights.strategy == strategy]
        sums = rows.groupby("date").weight.sum()
        assert len(sums) >= 12
        np.testing.assert_allclose(sums, 1.0, atol=1e-9)
        assert (rows.weight >= -1e-12).all()
        assert (rows.weight <= 0.25 + 1e-8).all()  # the default max_weight
        assert strategy in output.metrics["strategies"]
        text = describe_strategy(strategy, config_to_dict(config))
        assert "Ledoit-Wolf covariance" in text and "max_weight" in text
    # Different methods, different portfolios.
    last = weights[weights.date == weights.date.max()].pivot(
        index="asset", columns="strategy", values="weight"
    )
    assert np.abs(last["risk_parity"] - last["hrp"]).max() > 1e-3
