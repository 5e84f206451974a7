"""Forecasts of horizon returns and covariances: LSTM, baselines, evaluation.

The names below load their module on first use (PEP 562), so importing a light
module such as ``forecasting.forecast`` or ``forecasting.settings`` does not load
arch, PyPortfolioOpt, cvxpy or JAX. The LSTM (and so JAX) is imported only when it
is used: ``forecasting.lstm`` or ``make_forecaster("lstm", ...)``.
"""

from __future__ import annotations

from foliocast._exports import lazy_exports

# Public name -> the module that defines it.
_EXPORTS = {
    "FORECASTERS": "foliocast.forecasting.baselines",
    "EWMAForecaster": "foliocast.forecasting.baselines",
    "Forecast": "foliocast.forecasting.forecast",
    "Forecaster": "foliocast.forecasting.base",
    "GARCHForecaster": "foliocast.forecasting.baselines",
    "HistoricalForecaster": "foliocast.forecasting.baselines",
    "LedoitWolfForecaster": "foliocast.forecasting.baselines",
    "ModelSettings": "foliocast.forecasting.settings",
    "TrainSettings": "foliocast.forecasting.settings",
    "diebold_mariano": "foliocast.forecasting.evaluation",
    "evaluate_forecasts": "foliocast.forecasting.evaluation",
    "make_forecaster": "foliocast.forecasting.baselines",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
