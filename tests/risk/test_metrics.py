import json
import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foliocast.risk.metrics import (
    BENCHMARK_KEYS,
    SUMMARY_KEYS,
    alpha_beta,
    annual_return,
    annual_volatility,
    calmar_ratio,
    conditional_value_at_risk,
    downside_risk,
    excess_kurtosis,
    hit_rate,
    information_ratio,
    performance_summary,
    sharpe_ratio,
    skewness,
    sortino_ratio,
    summary_table,
    tracking_error,
    value_at_risk,
)
from foliocast.risk.trading import annualised_cost_drag, annualised_turnover


@pytest.fixture(scope="module")
def daily() -> pd.Series:
    rng = np.random.default_rng(42)
    dates = pd.bdate_range("2015-01-01", periods=1000)
    return pd.Series(rng.normal(0.0004, 0.01, 1000), index=dates, name="strategy")


@pytest.fixture(scope="module")
def market(daily: pd.Series) -> pd.Series:
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 0.008, daily.size)
    return pd.Series(0.6 * daily.to_numpy() + noise, index=daily.index, name="market")


@pytest.fixture(scope="module")
def rf_series(daily: pd.Series) -> pd.Series:
    rng = np.random.default_rng(42)
    return pd.Series(rng.uniform(0.0, 0.0002, daily.size), index=daily.index)


# --- against empyrical-reloaded -------------------------------------------------


def test_matches_empyrical_on_random_series(daily: pd.Series) -> None:
    assert sharpe_ratio(daily) == pytest.approx(empyrical.sharpe_ratio(daily))
    assert sortino_ratio(daily) == pytest.approx(empyrical.sortino_ratio(daily))
    assert downside_risk(daily) == pytest.approx(empyrical.downside_risk(daily))
    assert annual_return(daily) == pytest.approx(empyrical.annual_return(daily))
    assert annual_volatility(daily) == pytest.approx(empyrical.annual_volatility(daily))
    assert calmar_ratio(daily) == pytest.approx(empyrical.calmar_ratio(daily))
    assert value_at_risk(daily) == pytest.approx(empyrical.value_at_risk(daily))
    # Without ties our "mean of returns at or below VaR" averages the same
    # floor((n - 1) * 0.05) + 1 lowest returns that empyrical averages.
    assert conditional_value_at_risk(daily) == pytest.approx(
        empyrical.conditional_value_at_risk(daily)
    )


def test_matches_empyrical_with_monthly_annualisation(daily: pd.Series) -> None:
    monthly = daily.iloc[:60]
    kw = {"period": "monthly"}
    assert sharpe_ratio(monthly, periods_per_year=12) == pytest.approx(
        empyrical.sharpe_ratio(monthly, **kw)
    )
    assert annual_return(monthly, periods_per_year=12) == pytest.approx(
        empyrical.annual_return(monthly, **kw)
    )


def test_risk_free_rate_matches_empyrical(
    daily: pd.Series, rf_series: pd.Series
) -> None:
    assert sharpe_ratio(daily, rf=1e-4) == pytest.approx(
        empyrical.sharpe_ratio(daily, risk_free=1e-4)
    )
    assert sharpe_ratio(daily, rf=rf_series) == pytest.approx(
        empyrical.sharpe_ratio(daily, risk_free=rf_series)
    )
    assert sortino_ratio(daily, rf=rf_series) == pytest.approx(
        empyrical.sortino_ratio(daily, required_return=rf_series)
    )


def test_alpha_beta_matches_empyrical(daily: pd.Series, market: pd.Series) -> None:
    # Empyrical's beta ignores rf; with a constant rf the two definitions agree.
    expected_alpha, expected_beta = empyrical.alpha_beta(daily, market, risk_free=1e-4)
    alpha, beta = alpha_beta(daily, market, rf=1e-4)
    assert beta == pytest.approx(expected_beta)
    assert alpha == pytest.approx(expected_alpha)


def test_max_drawdown_matches_empyrical(daily: pd.Series) -> None:
    summary = performance_summary(daily)
    assert summary["max_drawdown"] == pytest.approx(empyrical.max_drawdown(daily))


# --- pinned reference values on a small series -------------------------------------


@pytest.fixture
def five_months() -> pd.Series:
    dates = pd.to_datetime(
        ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]
    )
    return pd.Series([0.01, -0.02, 0.03, 0.00, -0.01], index=dates)


def test_pinned_values_on_five_monthly_returns(five_months: pd.Series) -> None:
    s = performance_summary(five_months, periods_per_year=12)
    # mean = 0.01/5 = 0.002; deviations 0.008, -0.022, 0.028, -0.002, -0.012;
    # squares sum to 6.4e-5 + 4.84e-4 + 7.84e-4 + 4e-6 + 1.44e-4 = 1.48e-3;
    # var (ddof=1) = 1.48e-3 / 4 = 3.7e-4.
    std = math.sqrt(3.7e-4)
    assert s["annual_volatility"] == pytest.approx(std * math.sqrt(12))
    assert s["sharpe"] == pytest.approx(0.002 / std * math.sqrt(12))
    # Downside: min(r, 0) = 0, -0.02, 0, 0, -0.01 -> mean square (4e-4 + 1e-4) / 5
    # = 1e-4 -> deviation 0.01 per month; Sortino = 0.002 * 12 / (0.01 * sqrt(12)).
    assert s["sortino"] == pytest.approx(0.2 * math.sqrt(12))
    # Wealth 1.01, 0.9898, 1.019494, 1.019494, 1.00929906; CAGR over 5/12 years.
    assert s["annual_return"] == pytest.approx(1.00929906 ** (12 / 5) - 1)
    # Drawdowns: 0.9898 / 1.01 - 1 = -0.02 and 1.00929906 / 1.019494 - 1 = -0.01.
    assert s["max_drawdown"] == pytest.approx(-0.02)
    assert s["calmar"] == pytest.approx((1.00929906 ** (12 / 5) - 1) / 0.02)
    # Peak 31 Jan -> recovered 31 Mar (60 days); peak 30 Apr -> open at 31 May (31).
    assert s["max_drawdown_duration_days"] == 60.0
    # Sorted -0.02, -0.01, 0, 0.01, 0.03; the 5% quantile sits at position
    # 0.05 * 4 = 0.2: -0.02 + 0.2 * 0.01 = -0.018. Only -0.02 is at or below it.
    assert s["var_95"] == pytest.approx(-0.018)
    assert s["cvar_95"] == pytest.approx(-0.02)
    # Two of five months are strictly positive; the flat April is not a hit.
    assert s["hit_rate"] == pytest.approx(0.4)
    assert s["skew"] == pytest.approx(five_months.skew())
    assert s["kurtosis"] == pytest.approx(five_months.kurt())


def test_skew_and_excess_kurtosis_match_pandas(daily: pd.Series) -> None:
    assert skewness(daily) == pytest.approx(daily.skew())
    assert excess_kurtosis(daily) == pytest.approx(daily.kurt())
    # Excess, not raw: a large normal sample has kurtosis near 0, not 3.
    assert abs(excess_kurtosis(daily)) < 0.5


def test_benchmark_metrics_by_hand(daily: pd.Series, market: pd.Series) -> None:
    s = performance_summary(daily, benchmark=market)
    assert list(s) == [*SUMMARY_KEYS, *BENCHMARK_KEYS]
    active = (daily - market).to_numpy()
    assert s["tracking_error"] == pytest.approx(active.std(ddof=1) * math.sqrt(252))
    assert s["information_ratio"] == pytest.approx(
        active.mean() / active.std(ddof=1) * math.sqrt(252)
    )
    assert tracking_error(daily, market) == s["tracking_error"]
    assert information_ratio(daily, market) == s["information_ratio"]


def test_benchmark_equal_to_strategy(daily: pd.Series) -> None:
    s = performance_summary(daily, benchmark=daily)
    assert s["beta"] == pytest.approx(1.0)
    assert s["alpha"] == pytest.approx(0.0, abs=1e-12)
    assert s["tracking_error"] == 0.0
    assert math.isnan(s["information_ratio"])


def test_benchmark_uses_common_dates_only(daily: pd.Series, market: pd.Series) -> None:
    partial = market.iloc[100:]
    expected = performance_summary(daily.iloc[100:], benchmark=partial)
    got = performance_summary(daily, benchmark=partial)
    for key in BENCHMARK_KEYS:
        assert got[key] == pytest.approx(expected[key])


def test_time_varying_rf_beta_uses_excess_returns(
    daily: pd.Series, market: pd.Series, rf_series: pd.Series
) -> None:
    _, beta = alpha_beta(daily, market, rf=rf_series)
    x = (market - rf_series).to_numpy()
    y = (daily - rf_series).to_numpy()
    assert beta == pytest.approx(np.cov(x, y)[0, 1] / np.var(x, ddof=1))


# --- contract: keys, plain floats, NaN instead of errors ---------------------------


def test_keys_and_plain_floats(daily: pd.Series) -> None:
    s = performance_summary(daily, turnover=2.5, cost_drag=0.001)
    assert tuple(s) == SUMMARY_KEYS
    assert all(type(value) is float for value in s.values())
    assert s["turnover"] == 2.5
    assert s["cost_drag"] == 0.001
    json.dumps(s)


def test_missing_turnover_is_nan(daily: pd.Series) -> None:
    s = performance_summary(daily)
    assert math.isnan(s["turnover"]) and math.isnan(s["cost_drag"])


def test_constant_returns_give_nan_not_inf() -> None:
    flat = pd.Series(0.001, index=pd.bdate_range("2020-01-01", periods=50))
    s = performance_summary(flat)
    assert math.isnan(s["sharpe"])
    assert math.isnan(s["sortino"])  # no period below rf
    assert math.isnan(s["calmar"])  # never in drawdown
    assert math.isnan(s["skew"]) and math.isnan(s["kurtosis"])
    assert s["annual_volatility"] == 0.0
    assert s["max_drawdown"] == 0.0
    assert s["max_drawdown_duration_days"] == 0.0
    assert not any(math.isinf(value) for value in s.values())


def test_single_observation_gives_nan_where_undefined() -> None:
    one = pd.Series([0.01], index=pd.to_datetime(["2024-01-02"]))
    s = performance_summary(one)
    assert math.isnan(s["annual_volatility"]) and math.isnan(s["sharpe"])
    assert s["hit_rate"] == 1.0
    assert s["annual_return"] == pytest.approx(1.01**252 - 1)


def test_missing_values_are_dropped(daily: pd.Series) -> None:
    holed = daily.copy()
    holed.iloc[[3, 50, 400]] = np.nan
    got = performance_summary(holed)
    expected = performance_summary(daily.drop(daily.index[[3, 50, 400]]))
    assert got == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize(
    "bad",
    [
        pd.Series([], dtype=float, index=pd.DatetimeIndex([])),
        pd.Series([np.nan, np.nan], index=pd.bdate_range("2024-01-01", periods=2)),
    ],
    ids=["empty", "all-nan"],
)
def test_empty_or_all_missing_raises(bad: pd.Series) -> None:
    with pytest.raises(ValueError, match="no observations"):
        performance_summary(bad)


def test_bad_inputs_raise_clear_errors(daily: pd.Series) -> None:
    with pytest.raises(TypeError, match="DatetimeIndex"):
        performance_summary(pd.Series([0.01, 0.02]))
    with pytest.raises(ValueError, match="not sorted"):
        performance_summary(daily.iloc[::-1])
    with pytest.raises(ValueError, match="infinite"):
        performance_summary(daily.replace(daily.iloc[0], np.inf))
    with pytest.raises(ValueError, match="rf has no value"):
        performance_summary(daily, rf=pd.Series(0.0, index=daily.index[1:]))
    with pytest.raises(ValueError, match="no dates"):
        performance_summary(daily, benchmark=daily.shift(1, freq="3650D"))
    with pytest.raises(TypeError, match="summary_table"):
        performance_summary(daily.to_frame())


def test_total_loss() -> None:
    wiped = pd.Series([0.1, -1.0], index=pd.bdate_range("2024-01-01", periods=2))
    s = performance_summary(wiped)
    assert s["annual_return"] == -1.0
    assert s["max_drawdown"] == -1.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-0.5, max_value=0.5, allow_nan=False),
        min_size=1,
        max_size=60,
    )
)
def test_summary_is_always_finite_or_nan(values: list[float]) -> None:
    r = pd.Series(values, index=pd.bdate_range("2020-01-01", periods=len(values)))
    s = performance_summary(r, benchmark=r * 0.5)
    assert all(type(value) is float and not math.isinf(value) for value in s.values())
    assert -1.0 <= s["max_drawdown"] <= 0.0
    assert 0.0 <= s["hit_rate"] <= 1.0


# --- helpers and the table ----------------------------------------------------------


def test_annualised_turnover_and_cost_drag() -> None:
    dates = pd.date_range("2020-01-31", periods=24, freq="ME")
    one_way = pd.Series(0.1, index=dates)
    # 24 monthly rebalances of 10% one-way over two years: 2.4 / 2 = 1.2 a year.
    assert annualised_turnover(one_way, years=2.0) == pytest.approx(1.2)
    # 10 bp per side: cost = 1e-3 * 2 * 0.1 = 2e-4 a rebalance, 12 a year.
    costs = 10 * 1e-4 * 2 * one_way
    assert annualised_cost_drag(costs, years=2.0) == pytest.approx(2.4e-3)
    with pytest.raises(ValueError, match="years"):
        annualised_turnover(one_way, years=0.0)


def test_summary_table(daily: pd.Series, market: pd.Series) -> None:
    late = daily.where(daily.index >= daily.index[300])
    frame = pd.DataFrame({"lstm": daily, "late": late})
    table = summary_table(frame, benchmark=market, turnover={"lstm": 3.0})
    assert list(table.index) == ["lstm", "late"]
    assert list(table.columns) == [*SUMMARY_KEYS, *BENCHMARK_KEYS]
    assert table.loc["lstm", "turnover"] == 3.0
    assert math.isnan(table.loc["late", "turnover"])
    # Each strategy is summarised on its own observed dates.
    assert table.loc["late", "sharpe"] == pytest.approx(sharpe_ratio(daily.iloc[300:]))


def test_summary_table_rejects_an_empty_strategy(daily: pd.Series) -> None:
    frame = pd.DataFrame({"ok": daily, "dead": np.nan}, index=daily.index)
    with pytest.raises(ValueError, match="'dead'"):
        summary_table(frame)


def test_hit_rate_counts_strictly_positive() -> None:
    r = pd.Series([0.0, 0.01, -0.01, 0.02], index=pd.bdate_range("2024", periods=4))
    assert hit_rate(r) == 0.5
