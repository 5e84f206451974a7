"""Allocation: the Markowitz optimizer, strategies, walk-forward backtest, CLI.

The names below load their module on first use (PEP 562), so that importing
``portfolio.cli`` for the command line is instant and Ctrl-C while the heavy
libraries load is caught by `portfolio.cli.main`.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it.
_EXPORTS = {
    "BacktestResult": "foliocast.portfolio.backtest.engine",
    "ForecastBook": "foliocast.portfolio.backtest.engine",
    "run_backtest": "foliocast.portfolio.backtest.engine",
    "ConfigError": "foliocast.portfolio.config",
    "RunConfig": "foliocast.portfolio.config",
    "load_config": "foliocast.portfolio.config",
    "Constraints": "foliocast.portfolio.optimize.constraints",
    "InfeasibleError": "foliocast.portfolio.errors",
    "OptimizationError": "foliocast.portfolio.errors",
    "efficient_frontier": "foliocast.portfolio.optimize.markowitz",
    "markowitz": "foliocast.portfolio.optimize.markowitz",
    "MarkowitzOptions": "foliocast.portfolio.optimize.options",
    "optimize": "foliocast.portfolio.optimize.markowitz",
    "optimize_forecast": "foliocast.portfolio.optimize.markowitz",
    "portfolio_return": "foliocast.portfolio.optimize.markowitz",
    "portfolio_volatility": "foliocast.portfolio.optimize.markowitz",
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
