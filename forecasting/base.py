"""The interface every forecaster shares.

A forecaster is only ever handed prices up to and including the decision date ``t``
(the backtest slices time before calling it), so it cannot see the future by
construction.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

from forecasting.forecast import Forecast

__all__ = ["Forecaster"]


@runtime_checkable
class Forecaster(Protocol):
    """Forecasts horizon returns and their covariance from past prices.

    ``prices`` is a DataFrame of daily prices (sorted tz-naive DatetimeIndex, one
    column per ticker) whose last row is the decision date. Columns may hold leading
    NaNs for assets that started trading later; the forecast covers every column.
    """

    horizon: int

    def fit(self, prices: pd.DataFrame) -> Forecaster:
        """Estimate the model from ``prices`` (data up to the fit date only)."""
        ...

    def predict(self, prices: pd.DataFrame) -> Forecast:
        """Forecast the next ``horizon`` days after the last row of ``prices``."""
        ...
