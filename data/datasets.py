"""Real market data bundled with well-kept packages, available offline.

Sources:

- skfolio (``skfolio.datasets``): daily adjusted closes of 20 S&P 500 stocks
  (1990-2022), five iShares factor ETFs (2014-2022) and the S&P 500 index.
- arch (``arch.data``): WTI crude oil spot (FRED ``DCOILWTICO``, 1986-2019), the
  NASDAQ Composite (1999-2018) and the Fama-French monthly factors, whose ``RF``
  column (one-month T-bill return) gives the risk-free rate.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR, align_prices
from foliocast.data.catalogue import CATALOGUE, catalogue_rows, risk_free_description
from foliocast.data.errors import DataError
from foliocast.data.validation import validate_price_frame

__all__ = [
    "DatasetInfo",
    "load_dataset",
    "list_datasets",
    "asset_classes",
    "sectors",
    "risk_free_rate",
    "risk_free_info",
]

# GICS sectors of skfolio's 20 S&P 500 stocks, for sector group constraints.
SP500_SECTORS = {
    "AAPL": "information_technology",
    "AMD": "information_technology",
    "MSFT": "information_technology",
    "BAC": "financials",
    "JPM": "financials",
    "BBY": "consumer_discretionary",
    "HD": "consumer_discretionary",
    "CVX": "energy",
    "XOM": "energy",
    "RRC": "energy",
    "GE": "industrials",
    "JNJ": "health_care",
    "LLY": "health_care",
    "MRK": "health_care",
    "PFE": "health_care",
    "UNH": "health_care",
    "KO": "consumer_staples",
    "PEP": "consumer_staples",
    "PG": "consumer_staples",
    "WMT": "consumer_staples",
}


@dataclass(frozen=True)
class DatasetInfo:
    """What a bundled dataset holds and where it comes from."""

    name: str
    description: str
    source: str
    load: Callable[[], pd.DataFrame]
    asset_class: Callable[[str], str]


def _tidy(prices: pd.DataFrame, name: str) -> pd.DataFrame:
    prices = prices.astype(float)
    prices.columns = pd.Index([str(c) for c in prices.columns])
    prices.columns.name = None
    prices.index = pd.DatetimeIndex(prices.index).tz_localize(None)
    prices.index.name = "date"
    return validate_price_frame(prices.sort_index(), source=f"dataset {name!r}")


def _sp500() -> pd.DataFrame:
    from skfolio.datasets import load_sp500_dataset

    return load_sp500_dataset()


def _factors() -> pd.DataFrame:
    from skfolio.datasets import load_factors_dataset

    return load_factors_dataset()


def _sp500_index() -> pd.DataFrame:
    from skfolio.datasets import load_sp500_index

    return load_sp500_index()


def _wti() -> pd.DataFrame:
    from arch.data import wti

    # FRED leaves US holidays empty; drop them so the series is on its own calendar.
    return wti.load().rename(columns={"DCOILWTICO": "WTI"}).dropna()


def _nasdaq() -> pd.DataFrame:
    from arch.data import nasdaq

    return nasdaq.load()[["Adj Close"]].rename(columns={"Adj Close": "NASDAQ"})


def _multi_asset() -> pd.DataFrame:
    stocks = load_dataset("sp500")
    parts = [
        stocks,
        load_dataset("wti"),
        load_dataset("nasdaq"),
        load_dataset("factors"),
    ]
    # The stock exchange calendar is the trading calendar; the window ends on the
    # last date every asset still has data for (crude and NASDAQ stop at end-2018).
    end = min(part.index[-1] for part in parts)
    calendar = stocks.index[stocks.index <= end]
    return align_prices(parts, calendar=calendar)


def _stock_class(ticker: str) -> str:
    return "us_equity"


DATASETS: dict[str, DatasetInfo] = {
    name: DatasetInfo(
        name, CATALOGUE[name].description, CATALOGUE[name].source, load, asset_class
    )
    for name, load, asset_class in [
        ("sp500", _sp500, _stock_class),
        ("factors", _factors, lambda ticker: "equity_factor_etf"),
        ("sp500_index", _sp500_index, lambda ticker: "equity_index"),
        ("wti", _wti, lambda ticker: "commodity"),
        ("nasdaq", _nasdaq, lambda ticker: "equity_index"),
        ("multi_asset", _multi_asset, lambda ticker: _multi_asset_class(ticker)),
    ]
}


def _multi_asset_class(ticker: str) -> str:
    for name in ("sp500", "factors", "wti", "nasdaq"):
        if ticker in load_dataset(name).columns:
            return DATASETS[name].asset_class(ticker)
    raise KeyError(ticker)


def _info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}",
            hint=f"Choose one of {', '.join(DATASETS)} (see `portfolio datasets`), or "
            "give a price file with `path:`",
        ) from None


@functools.cache
def _load_cached(name: str) -> pd.DataFrame:
    return _tidy(_info(name).load(), name)


def load_dataset(name: str) -> pd.DataFrame:
    """Load a bundled price dataset.

    Parameters
    ----------
    name : str
        One of the names in `list_datasets`.

    Returns
    -------
    pandas.DataFrame
        Daily prices of shape (n_dates, n_assets); NaN before an asset's first price.
    """
    return _load_cached(name).copy()


def asset_classes(name: str) -> pd.Series:
    """Asset class of each ticker of a bundled dataset (for group constraints)."""
    info = _info(name)
    tickers = load_dataset(name).columns
    return pd.Series(
        [info.asset_class(t) for t in tickers], index=tickers, name="class"
    )


def sectors(name: str) -> pd.Series:
    """Sector of each stock (GICS) and asset class of everything else."""
    classes = asset_classes(name)
    return pd.Series(
        [SP500_SECTORS.get(t, c) for t, c in classes.items()],
        index=classes.index,
        name="sector",
    )


def list_datasets() -> pd.DataFrame:
    """Describe every bundled dataset: assets, classes, dates, frequency, source.

    The table is `data.catalogue.CATALOGUE`: no dataset is loaded.

    Returns
    -------
    pandas.DataFrame
        One row per dataset (plus the risk-free rate), indexed by name.
    """
    return pd.DataFrame(catalogue_rows()).set_index("name")


@functools.cache
def _fama_french_rf() -> pd.Series:
    """Monthly one-month T-bill return (fraction), indexed by month start."""
    from arch.data import frenchdata

    french = frenchdata.load()
    # arch stores the YYYYMM month keys as nanosecond integers.
    months = pd.to_datetime(french.index.asi8.astype(str), format="%Y%m")
    return pd.Series(french["RF"].to_numpy() / 100.0, index=months, name="rf")


def risk_free_info() -> str:
    """How the daily risk-free rate is made, in one sentence for reports."""
    return risk_free_description(_fama_french_rf().index[-1].strftime("%Y-%m"))


def risk_free_rate(
    dates: pd.DatetimeIndex, source: str | float = "fama_french"
) -> pd.Series:
    """Risk-free return per trading day on ``dates``.

    Parameters
    ----------
    dates : pandas.DatetimeIndex
        Trading days to give a rate for.
    source : "fama_french" or float
        The Fama-French T-bill series, or a constant annual rate (e.g. 0.02),
        converted as ``(1 + r)^(1/252) - 1``.

    Returns
    -------
    pandas.Series
        Daily simple risk-free return, indexed by ``dates``.

    Notes
    -----
    The monthly T-bill return for month m is known at the start of month m (it is the
    yield of a bill bought then), so using it for the days of month m does not look
    ahead. Dates after the last published month get the last rate, with a warning.
    """
    if not isinstance(source, str):
        rate = float(source)
        if not np.isfinite(rate) or rate <= -1:
            raise ValueError(
                f"risk-free rate must be a finite annual rate, got {source}"
            )
        daily = (1 + rate) ** (1 / TRADING_DAYS_PER_YEAR) - 1
        return pd.Series(daily, index=dates, name="rf")
    if source != "fama_french":
        raise ValueError(
            f"unknown risk-free source {source!r}; use 'fama_french' or an annual "
            "number"
        )
    monthly = _fama_french_rf()
    if len(dates) and dates[0] < monthly.index[0]:
        raise DataError(
            f"the Fama-French risk-free rate starts in {monthly.index[0]:%Y-%m}",
            where=f"first date {dates[0].date()}",
            hint="Use a constant annual rate for earlier dates",
        )
    months = dates.to_period("M").to_timestamp()
    if len(dates) and months[-1] > monthly.index[-1]:
        warnings.warn(
            f"Fama-French risk-free rate ends {monthly.index[-1]:%Y-%m}; the last "
            "monthly rate is carried forward after it",
            stacklevel=2,
        )
    filled = monthly.reindex(monthly.index.union(months.unique())).ffill()
    rate = filled.reindex(months)
    daily = (1 + rate.to_numpy()) ** (12 / TRADING_DAYS_PER_YEAR) - 1
    return pd.Series(daily, index=dates, name="rf")
