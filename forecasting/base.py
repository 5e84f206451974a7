"""The interface every forecaster shares.

A forecaster is only ever handed prices up to and including the decision date ``t``
(the backtest slices time before calling it), so it cannot see the future by
construction.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

from foliocast.forecasting.forecast import Forecast

__all__ = ["Forecaster", "fit_forecaster", "predict_forecaster", "uses_volume"]


@runtime_checkable
class Forecaster(Protocol):
    """Forecasts horizon returns and their covariance from past prices.

    ``prices`` is a DataFrame of daily prices (sorted tz-naive DatetimeIndex, one
    column per ticker) whose last row is the decision date. Columns may hold leading
    NaNs for assets that started trading later; the forecast covers every column.

    Volume is opt-in. A forecaster that reads daily traded volume declares it with
    the class attribute ``uses_volume = True`` and takes a ``volume`` keyword in both
    ``fit`` and ``predict``: a DataFrame with the index and columns of ``prices``
    (NaN where unknown), or None when the data has no volume. The backtest then
    hands it volume sliced to the same past-only window as the prices (or None, the
    same at fit and predict); forecasters without the attribute are called with
    prices alone, as below.
    """

    horizon: int

    def fit(self, prices: pd.DataFrame) -> Forecaster:
        """Estimate the model from ``prices`` (data up to the fit date only)."""
        ...

    def predict(self, prices: pd.DataFrame) -> Forecast:
        """Forecast the next ``horizon`` days after the last row of ``prices``."""
        ...


def uses_volume(forecaster: object) -> bool:
    """Whether ``forecaster`` declares ``uses_volume = True`` (see `Forecaster`)."""
    return getattr(forecaster, "uses_volume", False) is True


def fit_forecaster(
    forecaster: Forecaster, prices: pd.DataFrame, volume: pd.DataFrame | None
) -> None:
    """Fit ``forecaster`` on ``prices``, with ``volume`` only if it declares it."""
    if uses_volume(forecaster):
        forecaster.fit(prices, volume=volume)
    else:
        forecaster.fit(prices)


def predict_forecaster(
    forecaster: Forecaster, prices: pd.DataFrame, volume: pd.DataFrame | None
) -> Forecast:
    """Forecast with ``forecaster``, handing it ``volume`` only if it declares it."""
    if uses_volume(forecaster):
        return forecaster.predict(prices, volume=volume)
    return forecaster.predict(prices)
