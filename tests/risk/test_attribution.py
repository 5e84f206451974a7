import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foliocast.risk.attribution import (
    effective_number_of_assets,
    ex_ante_tracking_error,
    ex_ante_volatility,
    group_risk_contributions,
    marginal_risk,
    percent_risk_contributions,
    realised_vs_predicted_volatility,
    risk_contribution_table,
    risk_contributions,
)

TICKERS = ["SPY", "QQQ", "TLT"]


@pytest.fixture
def weights() -> pd.Series:
    return pd.Series([0.5, 0.3, 0.2], index=TICKERS)


@pytest.fixture
def cov() -> pd.DataFrame:
    # Vols 0.1, 0.2, 0.3 per period; SPY-QQQ correlation 0.5, TLT uncorrelated:
    # cov(SPY, QQQ) = 0.5 * 0.1 * 0.2 = 0.01.
    values = [[0.01, 0.01, 0.0], [0.01, 0.04, 0.0], [0.0, 0.0, 0.09]]
    return pd.DataFrame(values, index=TICKERS, columns=TICKERS)


def test_pinned_three_asset_example(weights: pd.Series, cov: pd.DataFrame) -> None:
    # Sigma w = [0.5*0.01 + 0.3*0.01, 0.5*0.01 + 0.3*0.04, 0.2*0.09]
    #         = [0.008, 0.017, 0.018]
    # w' Sigma w = 0.5*0.008 + 0.3*0.017 + 0.2*0.018 = 0.004 + 0.0051 + 0.0036
    #            = 0.0127
    sigma = math.sqrt(0.0127)
    assert ex_ante_volatility(weights, cov) == pytest.approx(sigma)
    np.testing.assert_allclose(
        marginal_risk(weights, cov), np.array([0.008, 0.017, 0.018]) / sigma
    )
    np.testing.assert_allclose(
        risk_contributions(weights, cov), np.array([0.004, 0.0051, 0.0036]) / sigma
    )
    np.testing.assert_allclose(
        percent_risk_contributions(weights, cov),
        np.array([0.004, 0.0051, 0.0036]) / 0.0127,
    )
    groups = {"SPY": "equity", "QQQ": "equity", "TLT": "bonds"}
    by_group = group_risk_contributions(weights, cov, groups)
    assert by_group["equity"] == pytest.approx(0.0091 / sigma)
    assert by_group["bonds"] == pytest.approx(0.0036 / sigma)


def test_annualisation(weights: pd.Series, cov: pd.DataFrame) -> None:
    # A monthly-horizon covariance annualises with 12 periods a year.
    monthly = ex_ante_volatility(weights, cov)
    assert ex_ante_volatility(weights, cov, periods_per_year=12) == pytest.approx(
        monthly * math.sqrt(12)
    )
    annual = risk_contributions(weights, cov, periods_per_year=12)
    assert annual.sum() == pytest.approx(monthly * math.sqrt(12))
    # Shares do not depend on the horizon.
    table = risk_contribution_table(weights, cov, periods_per_year=12)
    assert list(table.columns) == [
        "weight",
        "marginal_risk",
        "risk_contribution",
        "percent_risk_contribution",
    ]
    np.testing.assert_allclose(
        table["percent_risk_contribution"], percent_risk_contributions(weights, cov)
    )


def test_asset_order_does_not_matter(weights: pd.Series, cov: pd.DataFrame) -> None:
    shuffled = weights.iloc[[2, 0, 1]]
    pd.testing.assert_series_equal(
        risk_contributions(shuffled, cov).loc[TICKERS], risk_contributions(weights, cov)
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=2, max_value=12), st.integers(0, 2**32 - 1))
def test_contributions_sum_to_total_volatility(n_assets: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(n_assets, n_assets + 2))
    tickers = [f"A{i}" for i in range(n_assets)]
    cov = pd.DataFrame(loadings @ loadings.T / 100, index=tickers, columns=tickers)
    # Long-short weights, so some contributions are negative.
    weights = pd.Series(rng.normal(size=n_assets), index=tickers)
    total = ex_ante_volatility(weights, cov)
    assert risk_contributions(weights, cov).sum() == pytest.approx(total)
    assert percent_risk_contributions(weights, cov).sum() == pytest.approx(1.0)
    groups = {ticker: f"g{i % 3}" for i, ticker in enumerate(tickers)}
    assert group_risk_contributions(weights, cov, groups).sum() == pytest.approx(total)


def test_realised_volatility_of_simulated_returns_matches_prediction() -> None:
    rng = np.random.default_rng(42)
    tickers = ["a", "b", "c", "d"]
    loadings = rng.normal(size=(4, 4)) * 0.01
    cov = pd.DataFrame(loadings @ loadings.T, index=tickers, columns=tickers)
    weights = pd.Series([0.4, 0.3, 0.2, 0.1], index=tickers)
    draws = rng.multivariate_normal(np.zeros(4), cov.to_numpy(), size=20_000)
    realised = (draws @ weights.to_numpy()).std(ddof=1)
    assert realised == pytest.approx(ex_ante_volatility(weights, cov), rel=0.02)


def test_zero_portfolio_gives_nan_contributions(cov: pd.DataFrame) -> None:
    flat = pd.Series(0.0, index=TICKERS)
    assert ex_ante_volatility(flat, cov) == 0.0
    assert risk_contributions(flat, cov).isna().all()
    assert percent_risk_contributions(flat, cov).isna().all()


def test_ex_ante_tracking_error_matches_pyportfolioopt() -> None:
    from pypfopt import objective_functions

    rng = np.random.default_rng(42)
    tickers = [f"A{i}" for i in range(12)]
    loadings = rng.normal(size=(12, 3)) * 0.1
    cov = pd.DataFrame(
        loadings @ loadings.T + np.diag(rng.uniform(0.01, 0.04, 12)), tickers, tickers
    )
    weights = pd.Series(rng.dirichlet(np.ones(12)), tickers)
    benchmark = pd.Series(rng.dirichlet(np.ones(12)), tickers)
    # PyPortfolioOpt's objective is the tracking variance (w - b)' Sigma (w - b).
    variance = objective_functions.ex_ante_tracking_error(
        weights.to_numpy(), cov.to_numpy(), benchmark.to_numpy()
    )
    assert ex_ante_tracking_error(weights, benchmark, cov) == pytest.approx(
        math.sqrt(variance), rel=1e-12
    )
    annual = ex_ante_tracking_error(weights, benchmark, cov, periods_per_year=12)
    assert annual == pytest.approx(math.sqrt(12 * variance), rel=1e-12)


def test_ex_ante_tracking_error_by_hand(weights: pd.Series, cov: pd.DataFrame) -> None:
    # Active weights (-0.5, 0.3, 0.2) against 100% SPY, a benchmark that leaves
    # QQQ and TLT out: 0.25*0.01 + 0.09*0.04 + 0.04*0.09 - 2*0.15*0.01 = 0.0067.
    benchmark = pd.Series({"SPY": 1.0})
    tracking = ex_ante_tracking_error(weights, benchmark, cov)
    assert tracking == pytest.approx(math.sqrt(0.0067))
    assert ex_ante_tracking_error(weights, weights, cov) == 0.0
    with pytest.raises(ValueError, match="no weight for.*IEF"):
        ex_ante_tracking_error(weights, pd.Series({"IEF": 1.0}), cov)


def test_misaligned_inputs_raise(weights: pd.Series, cov: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="different assets"):
        ex_ante_volatility(weights.drop("TLT"), cov)
    with pytest.raises(ValueError, match="without a group"):
        group_risk_contributions(weights, cov, {"SPY": "equity"})
    with pytest.raises(ValueError, match="finite"):
        ex_ante_volatility(weights.replace(0.5, np.nan), cov)


def test_effective_number_of_assets() -> None:
    assert effective_number_of_assets(pd.Series([0.25] * 4)) == pytest.approx(4.0)
    assert effective_number_of_assets(pd.Series([1.0, 0.0, 0.0])) == 1.0
    # 1 / (0.5^2 + 0.3^2 + 0.2^2) = 1 / 0.38
    assert effective_number_of_assets(pd.Series([0.5, 0.3, 0.2])) == pytest.approx(
        1 / 0.38
    )
    assert math.isnan(effective_number_of_assets(pd.Series([0.0, 0.0])))


def test_realised_vs_predicted_periods() -> None:
    dates = pd.bdate_range("2024-01-01", periods=10)
    r = pd.Series([0.01, -0.01, 0.02, 0.0, 0.01, -0.02, 0.03, 0.01, 0.0, -0.01], dates)
    rebalances = dates[[0, 4]]
    predicted = pd.Series([0.15, 0.20], index=rebalances)
    table = realised_vs_predicted_volatility(r, predicted, periods_per_year=252)
    # Period 1 holds returns after 1 Jan up to and including 5 Jan (positions 1-4):
    # the rebalance day's own return was earned by the previous holdings.
    first = r.iloc[1:5].std(ddof=1) * math.sqrt(252)
    second = r.iloc[5:].std(ddof=1) * math.sqrt(252)
    assert table["realised"].tolist() == pytest.approx([first, second])
    assert table["n_obs"].tolist() == [4, 5]
    assert table["ratio"].tolist() == pytest.approx([first / 0.15, second / 0.20])
    assert list(table.columns) == ["predicted", "realised", "ratio", "n_obs"]


def test_realised_vs_predicted_short_period_is_nan() -> None:
    dates = pd.bdate_range("2024-01-01", periods=5)
    r = pd.Series([0.01, -0.01, 0.02, 0.0, 0.01], index=dates)
    predicted = pd.Series([0.1, 0.1], index=dates[[0, 3]])
    table = realised_vs_predicted_volatility(r, predicted)
    assert np.isnan(table["realised"].iloc[1])  # a single return after 4 Jan
    assert table["n_obs"].iloc[1] == 1
