"""Forecasts of horizon returns and covariances: LSTM, baselines, evaluation.

The names below load their module on first use (PEP 562), so importing a light
module such as ``forecasting.forecast`` or ``forecasting.settings`` does not load
arch, PyPortfolioOpt, cvxpy or JAX. The LSTM (and so JAX) is imported only when it
is used: ``forecasting.lstm`` or ``make_forecaster("lstm", ...)``.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    """Load a public name, or a submodule, on first use."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
