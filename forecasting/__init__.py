"""Forecasts of horizon returns and covariances: LSTM, baselines, evaluation.

The LSTM (and so JAX) is imported only when it is used: ``forecasting.lstm`` or
``make_forecaster("lstm", ...)``.
"""

from forecasting.base import Forecaster
from forecasting.baselines import (
    FORECASTERS,
    EWMAForecaster,
    GARCHForecaster,
    HistoricalForecaster,
    LedoitWolfForecaster,
    make_forecaster,
)
from forecasting.evaluation import diebold_mariano, evaluate_forecasts
from forecasting.forecast import Forecast

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
