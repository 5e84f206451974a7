"""Bundled real datasets: shapes, dates, cleanliness, and the risk-free rate."""

import warnings

import numpy as np
import pandas as pd
import pytest

from foliocast.data import (
    DataError,
    asset_classes,
    list_datasets,
    load_dataset,
    risk_free_rate,
    sectors,
)


def assert_clean(prices: pd.DataFrame) -> None:
    assert isinstance(prices.index, pd.DatetimeIndex) and prices.index.tz is None
    assert prices.index.is_monotonic_increasing and prices.index.is_unique
    assert all(isinstance(c, str) for c in prices.columns)
    values = prices.to_numpy()
    assert (values[np.isfinite(values)] > 0).all()
    # NaN only before an asset's first price.
    for column in prices:
        assert prices[column].loc[prices[column].first_valid_index() :].notna().all()


@pytest.mark.parametrize(
    "name, n_assets, first_year, last_date",
    [
        ("sp500", 20, 1990, "2022-12-28"),
        ("factors", 5, 2014, "2022-12-28"),
        ("sp500_index", 1, 1990, "2022-12-28"),
        ("wti", 1, 1986, "2019-01-03"),
        ("nasdaq", 1, 1999, "2018-12-31"),
    ],
)
def test_bundled_dataset(name, n_assets, first_year, last_date):
    prices = load_dataset(name)
    assert_clean(prices)
    assert prices.shape[1] == n_assets
    assert prices.index[0].year == first_year
    assert prices.index[-1] == pd.Timestamp(last_date)
    assert prices.notna().all().all()


def test_multi_asset_has_late_starters_on_stock_calendar():
    prices = load_dataset("multi_asset")
    assert_clean(prices)
    starts = prices.apply(pd.Series.first_valid_index)
    assert starts["AAPL"].year == 1990 and starts["WTI"].year == 1990
    assert starts["NASDAQ"].year == 1999 and starts["MTUM"].year == 2014
    assert prices.index.isin(load_dataset("sp500").index).all()
    classes = asset_classes("multi_asset")
    assert set(classes) == {
        "us_equity",
        "equity_factor_etf",
        "commodity",
        "equity_index",
    }
    assert sectors("multi_asset")["XOM"] == "energy"


def test_dataset_is_a_copy():
    first = load_dataset("sp500")
    first.iloc[0, 0] = -1.0
    assert load_dataset("sp500").iloc[0, 0] > 0


def test_unknown_dataset_names_choices():
    with pytest.raises(DataError, match="unknown dataset 'nope'.*sp500"):
        load_dataset("nope")


def test_list_datasets_describes_everything():
    table = list_datasets()
    assert {
        "sp500",
        "factors",
        "sp500_index",
        "wti",
        "multi_asset",
        "risk_free",
    } <= set(table.index)
    for column in ["assets", "asset_classes", "first_date", "last_date", "source"]:
        assert table[column].notna().all()
    assert table.loc["sp500", "assets"] == 20


def test_risk_free_is_the_monthly_t_bill_rate_per_day():
    from arch.data import frenchdata

    french = frenchdata.load()
    months = french.index.asi8  # arch keeps YYYYMM keys as integers
    march_2010 = french["RF"].to_numpy()[months == 201003][0] / 100
    daily = risk_free_rate(pd.bdate_range("2010-01-01", "2010-12-31"))
    march = daily.loc["2010-03"]
    assert march.nunique() == 1
    # 252 / 12 trading days at the daily rate compound back to the monthly rate.
    assert (1 + march.iloc[0]) ** (252 / 12) - 1 == pytest.approx(march_2010, rel=1e-12)


def test_risk_free_after_last_month_carries_forward_with_warning():
    dates = pd.bdate_range("2018-11-01", "2019-02-28")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        daily = risk_free_rate(dates)
    assert any("carried forward" in str(w.message) for w in caught)
    assert daily.loc["2019-02"].iloc[0] == daily.loc["2018-11"].iloc[0]


def test_constant_risk_free_rate():
    daily = risk_free_rate(pd.bdate_range("2020-01-01", periods=252), 0.02)
    assert (1 + daily).prod() == pytest.approx(1.02, rel=1e-12)
