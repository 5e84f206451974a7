"""Forecasts of horizon returns and covariances: LSTM, baselines, evaluation.

The LSTM (and so JAX) is imported only when it is used: ``forecasting.lstm`` or
``make_forecaster("lstm", ...)``.
"""

from foliocast.forecasting.base import Forecaster
from foliocast.forecasting.baselines import (
    FORECASTERS,
    EWMAForecaster,
    GARCHForecaster,
    HistoricalForecaster,
    LedoitWolfForecaster,
    make_forecaster,
)
from foliocast.forecasting.evaluation import diebold_mariano, evaluate_forecasts
from foliocast.forecasting.forecast import Forecast

__all__ = [
    "FORECASTERS",
    "EWMAForecaster",
    "Forecast",
    "Forecaster",
    "GARCHForecaster",
    "HistoricalForecaster",
    "LedoitWolfForecaster",
    "diebold_mariano",
    "evaluate_forecasts",
    "make_forecaster",
]
