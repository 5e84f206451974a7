"""Calendars, returns, period ends, schedules and availability, against hand values."""

import numpy as np
import pandas as pd
import pytest

from foliocast.data import (
    align_prices,
    availability_mask,
    log_returns,
    period_ends,
    rebalance_schedule,
    simple_returns,
)


@pytest.fixture
def prices():
    index = pd.bdate_range("2021-01-25", "2021-04-09")
    rng = np.random.default_rng(42)
    values = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (len(index), 2)), axis=0))
    frame = pd.DataFrame(values, index=index, columns=["AAA", "BBB"])
    frame.iloc[:10, 1] = np.nan  # BBB starts later
    return frame


def test_simple_and_log_returns_by_hand(prices):
    simple = simple_returns(prices)
    assert simple.index[0] == prices.index[1]
    p = prices["AAA"].to_numpy()
    assert simple["AAA"].iloc[0] == pytest.approx(p[1] / p[0] - 1, rel=1e-15)
    np.testing.assert_allclose(
        np.log1p(simple), log_returns(prices), rtol=1e-10, atol=1e-15
    )
    # No return is invented before BBB's first price, and the first one is real.
    assert simple["BBB"].iloc[:10].isna().all() and np.isfinite(simple["BBB"].iloc[10])


def test_month_and_quarter_ends(prices):
    ends = period_ends(prices.index, "M")
    expected = ["2021-01-29", "2021-02-26", "2021-03-31", "2021-04-09"]
    assert list(ends) == list(pd.to_datetime(expected))
    assert list(period_ends(prices.index, "Q")) == list(
        pd.to_datetime(["2021-03-31", "2021-04-09"])
    )
    weekly = period_ends(prices.index, "W")
    assert (weekly[:-1].day_of_week == 4).all()  # Fridays


def test_period_end_skips_holiday_to_last_trading_day():
    index = pd.bdate_range("2021-03-01", "2021-04-09").drop(pd.Timestamp("2021-03-31"))
    assert pd.Timestamp("2021-03-30") in period_ends(index, "M")


def test_schedule_respects_window_history_and_last_row(prices):
    schedule = rebalance_schedule(prices.index, "M")
    assert prices.index[-1] not in schedule  # no return follows the last row
    assert list(rebalance_schedule(prices.index, "M", start="2021-02-01")) == list(
        pd.to_datetime(["2021-02-26", "2021-03-31"])
    )
    assert rebalance_schedule(prices.index, "M", min_history=30)[0] == pd.Timestamp(
        "2021-03-31"
    )


def test_unknown_frequency_is_a_clear_error(prices):
    with pytest.raises(ValueError, match="unknown rebalancing frequency 'D'"):
        period_ends(prices.index, "D")


def test_availability_mask_counts_history(prices):
    mask = availability_mask(prices, min_history=5)
    assert not mask["AAA"].iloc[:4].any() and mask["AAA"].iloc[4:].all()
    assert not mask["BBB"].iloc[:14].any() and mask["BBB"].iloc[14]


def test_align_fills_holidays_but_not_outside_life():
    stocks = pd.Series(
        [1.0, 2.0, 3.0, 4.0, 5.0],
        index=pd.to_datetime(
            ["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-07", "2021-01-08"]
        ),
    )
    oil = pd.Series(
        [10.0, 12.0], index=pd.to_datetime(["2021-01-05", "2021-01-07"])
    )  # closed on the 6th, starts on the 5th, stops on the 7th
    aligned = align_prices({"STK": stocks, "OIL": oil}, calendar=stocks.index)
    assert aligned["OIL"].tolist()[1:4] == [10.0, 10.0, 12.0]
    assert np.isnan(aligned["OIL"].iloc[0]) and np.isnan(aligned["OIL"].iloc[4])
    assert aligned["STK"].tolist() == stocks.tolist()
