import empyrical
import numpy as np
import pandas as pd
import pytest

from foliocast.risk.metrics import sharpe_ratio
from foliocast.risk.rolling import (
    calendar_year_returns,
    monthly_returns_table,
    rolling_sharpe,
    rolling_volatility,
)


@pytest.fixture(scope="module")
def daily() -> pd.Series:
    rng = np.random.default_rng(42)
    dates = pd.bdate_range("2019-01-01", periods=800)
    return pd.Series(rng.normal(0.0004, 0.01, dates.size), index=dates)


@pytest.mark.parametrize("end", [251, 400, 799])
def test_rolling_matches_full_sample_metrics_on_each_window(
    daily: pd.Series, end: int
) -> None:
    window = daily.iloc[end - 251 : end + 1]
    assert rolling_sharpe(daily).iloc[end] == pytest.approx(
        empyrical.sharpe_ratio(window)
    )
    assert rolling_volatility(daily).iloc[end] == pytest.approx(
        empyrical.annual_volatility(window)
    )


def test_rolling_starts_after_a_full_window(daily: pd.Series) -> None:
    sharpe = rolling_sharpe(daily)
    assert sharpe.iloc[:251].isna().all() and sharpe.iloc[251:].notna().all()
    early = rolling_sharpe(daily, min_periods=20)
    assert early.iloc[:19].isna().all()
    assert early.iloc[19] == pytest.approx(sharpe_ratio(daily.iloc[:20]))


def test_rolling_with_time_varying_rf(daily: pd.Series) -> None:
    rf = pd.Series(np.linspace(0.0, 2e-4, daily.size), index=daily.index)
    got = rolling_sharpe(daily, window=60, rf=rf)
    assert got.iloc[-1] == pytest.approx(
        sharpe_ratio(daily.iloc[-60:], rf=rf.iloc[-60:])
    )


def test_rolling_of_a_frame(daily: pd.Series) -> None:
    frame = pd.DataFrame({"a": daily, "b": -daily})
    sharpe = rolling_sharpe(frame, window=63)
    pd.testing.assert_series_equal(
        sharpe["a"], rolling_sharpe(daily, window=63), check_names=False
    )
    np.testing.assert_allclose(sharpe["b"], -sharpe["a"])


def test_flat_window_is_nan_not_huge() -> None:
    flat = pd.Series(0.001, index=pd.bdate_range("2024-01-01", periods=30))
    assert rolling_sharpe(flat, window=10).isna().all()


def test_window_validation(daily: pd.Series) -> None:
    with pytest.raises(ValueError, match="window"):
        rolling_sharpe(daily, window=1)
    with pytest.raises(ValueError, match="min_periods"):
        rolling_volatility(daily, window=20, min_periods=30)


def test_pinned_monthly_table() -> None:
    dates = pd.to_datetime(["2023-01-03", "2023-01-04", "2023-02-01", "2024-03-15"])
    r = pd.Series([0.10, 0.10, -0.05, 0.02], index=dates)
    table = monthly_returns_table(r)
    assert list(table.index) == [2023, 2024]
    assert list(table.columns) == list(range(1, 13))
    # January 2023 compounds 1.1 * 1.1 - 1 = 0.21; months without data stay NaN.
    assert table.loc[2023, 1] == pytest.approx(0.21)
    assert table.loc[2023, 2] == pytest.approx(-0.05)
    assert table.loc[2024, 3] == pytest.approx(0.02)
    assert table.notna().sum().sum() == 3
    # 2023: 1.21 * 0.95 - 1 = 0.1495.
    years = calendar_year_returns(r)
    assert years.loc[2023] == pytest.approx(0.1495)
    assert years.loc[2024] == pytest.approx(0.02)


def test_calendar_tables_match_empyrical(daily: pd.Series) -> None:
    yearly = calendar_year_returns(daily)
    expected_yearly = empyrical.aggregate_returns(daily, "yearly")
    np.testing.assert_allclose(yearly.to_numpy(), expected_yearly.to_numpy())
    monthly = monthly_returns_table(daily).stack().dropna()
    expected_monthly = empyrical.aggregate_returns(daily, "monthly")
    np.testing.assert_allclose(monthly.to_numpy(), expected_monthly.to_numpy())


def test_calendar_returns_compound_to_total(daily: pd.Series) -> None:
    total = (1 + daily).prod()
    assert (1 + calendar_year_returns(daily)).prod() == pytest.approx(total)
    table = monthly_returns_table(daily)
    assert (1 + table.stack().dropna()).prod() == pytest.approx(total)


def test_calendar_returns_of_a_frame(daily: pd.Series) -> None:
    late = daily.where(daily.index >= pd.Timestamp("2020-01-01"))
    frame = pd.DataFrame({"a": daily, "late": late})
    years = calendar_year_returns(frame)
    assert np.isnan(years.loc[2019, "late"])
    assert years.loc[2020, "late"] == pytest.approx(years.loc[2020, "a"])
