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
    "BacktestResult": "portfolio.backtest",
    "ForecastBook": "portfolio.backtest",
    "run_backtest": "portfolio.backtest",
    "ConfigError": "portfolio.config",
    "RunConfig": "portfolio.config",
    "load_config": "portfolio.config",
    "Constraints": "portfolio.constraints",
    "InfeasibleError": "portfolio.errors",
    "OptimizationError": "portfolio.errors",
    "efficient_frontier": "portfolio.optimizer",
    "markowitz": "portfolio.optimizer",
    "optimize": "portfolio.optimizer",
    "optimize_forecast": "portfolio.optimizer",
    "portfolio_return": "portfolio.optimizer",
    "portfolio_volatility": "portfolio.optimizer",
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
