"""The forecast book: a run's forecasters, refitted on a cadence, asked once a date.

`ForecastBook` is the forecast state of a walk-forward run (and of the one-date
rebalance run): which forecasters there are, when they were last fitted and every
forecast they made. It is handed prices (and volume) up to the decision date only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from foliocast.data.errors import DataError
from foliocast.forecasting.base import Forecaster, fit_forecaster, predict_forecaster
from foliocast.forecasting.forecast import Forecast

__all__ = ["ForecastBook", "ForecastError", "months_between", "training_rows"]


class ForecastError(DataError):
    """A forecaster could not fit or forecast on the data it was handed at a date.

    Attributes
    ----------
    forecaster : str
        Name of the forecaster in the book.
    date : pandas.Timestamp
        The decision date.
    reason : str
        The forecaster's own message.
    """

    def __init__(self, forecaster: str, date: pd.Timestamp, reason: str) -> None:
        self.forecaster, self.date, self.reason = forecaster, date, reason
        super().__init__(
            f"forecaster {forecaster!r} could not forecast at {date:%Y-%m-%d}: {reason}"
        )


def months_between(earlier: pd.Timestamp, later: pd.Timestamp) -> int:
    """Whole calendar months from ``earlier`` to ``later``."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def training_rows(window: str, lookback_days: int) -> slice:
    """Rows of the past a forecaster trains on: all, or the last ``lookback_days``."""
    return slice(None) if window == "expanding" else slice(-lookback_days, None)


@dataclass
class ForecastBook:
    """The forecasters of a run: refit on a cadence, asked once per date.

    A forecaster fitted once serves every strategy that names it; its forecast at a
    date is computed on first request and cached for the others. One forecaster
    object may be listed under several names (the run's model is the baseline when
    both are Ledoit-Wolf): it is fitted and asked once per date, and its forecast
    is recorded under each name that is asked for it. Forecasters that
    declare ``uses_volume`` (`forecasting.base.Forecaster`) also get the volume on
    the dates and tickers of the prices they are handed; the others get prices only.

    A plain ``ValueError`` from a forecaster becomes a `ForecastError` naming the
    forecaster and the date; a `DataError` of its own passes unchanged.

    Parameters
    ----------
    forecasters : mapping of str to Forecaster
        Forecasters by name.
    retrain_months : int
        Refit when this many calendar months have passed since the last fit.
    window : {"expanding", "rolling"}
        Fit on all history up to ``t`` or on the last ``lookback_days`` rows.
    lookback_days : int
        Length of the rolling training window.
    refit : bool, default True
        False when the forecasters come fitted (loaded from a checkpoint): they are
        only asked, never refitted.
    """

    forecasters: Mapping[str, Forecaster]
    retrain_months: int = 12
    window: str = "expanding"
    lookback_days: int = 1260
    refit: bool = True
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    history: list[tuple[str, Forecast]] = field(default_factory=list)
    fit_dates: list[pd.Timestamp] = field(default_factory=list)
    _prices: pd.DataFrame | None = None
    _volume: pd.DataFrame | None = None
    _cache: dict[str, Forecast] = field(default_factory=dict)
    # Forecast at the current date by forecaster object, shared by its names.
    _by_object: dict[int, Forecast] = field(default_factory=dict)

    def retrain_due(self, date: pd.Timestamp) -> bool:
        """Whether the forecasters are refitted at ``date``."""
        if not self.refit:
            return False
        if not self.fit_dates:
            return True
        return months_between(self.fit_dates[-1], date) >= self.retrain_months

    def advance(self, prices: pd.DataFrame, volume: pd.DataFrame | None = None) -> bool:
        """Move to the last date of ``prices``; refit if due. Return whether it did.

        Parameters
        ----------
        prices : DataFrame of shape (n_days, n_assets)
            Prices up to the decision date (last row).
        volume : DataFrame, optional
            Daily traded volume; only its rows and columns matching ``prices`` are
            used, so it cannot reach past the decision date.

        Returns
        -------
        bool
            Whether the forecasters were refitted.
        """
        self._prices = prices
        self._volume = (
            None
            if volume is None
            else volume.reindex(index=prices.index, columns=prices.columns)
        )
        self._cache, self._by_object = {}, {}
        date = prices.index[-1]
        if not self.retrain_due(date):
            return False
        rows = training_rows(self.window, self.lookback_days)
        train = prices.iloc[rows]
        train_volume = None if self._volume is None else self._volume.iloc[rows]
        fitted: set[int] = set()
        for name, forecaster in self.forecasters.items():
            if id(forecaster) in fitted:
                continue  # the same object under another name: fitted already
            fitted.add(id(forecaster))
            started = time.perf_counter()
            try:
                fit_forecaster(forecaster, train, train_volume)
            except DataError:
                raise
            except ValueError as err:
                raise ForecastError(name, date, str(err)) from err
            self.timings[f"fit:{name}"] += time.perf_counter() - started
        self.fit_dates.append(date)
        return True

    def forecast(self, name: str) -> Forecast:
        """Return the named forecaster's forecast at the current date (cached)."""
        if name not in self._cache:
            if name not in self.forecasters:
                raise KeyError(f"no forecaster named {name!r} in this run")
            forecaster = self.forecasters[name]
            forecast = self._by_object.get(id(forecaster))
            if forecast is None:
                started = time.perf_counter()
                try:
                    forecast = predict_forecaster(
                        forecaster, self._prices, self._volume
                    )
                except DataError:
                    raise
                except ValueError as err:
                    date = self._prices.index[-1]
                    raise ForecastError(name, date, str(err)) from err
                self.timings[f"predict:{name}"] += time.perf_counter() - started
                self._by_object[id(forecaster)] = forecast
            self._cache[name] = forecast
            self.history.append((name, forecast))
        return self._cache[name]
