"""Allocation: the Markowitz optimizer, strategies, walk-forward backtest, CLI.

The names below load their module on first use (PEP 562), so that importing
``portfolio.cli`` for the command line is instant and Ctrl-C while the heavy
libraries load is caught by `portfolio.cli.main`.
"""

from __future__ import annotations

from foliocast._exports import lazy_exports

# Public name -> the module that defines it.
_EXPORTS = {
    "BacktestResult": "foliocast.portfolio.backtest.engine",
    "ForecastBook": "foliocast.portfolio.backtest.engine",
    "run_backtest": "foliocast.portfolio.backtest.engine",
    "ConfigError": "foliocast.portfolio.config",
    "RunConfig": "foliocast.portfolio.config",
    "load_config": "foliocast.portfolio.config",
    "Constraints": "foliocast.portfolio.optimizer.constraints",
    "InfeasibleError": "foliocast.portfolio.errors",
    "OptimizationError": "foliocast.portfolio.errors",
    "efficient_frontier": "foliocast.portfolio.optimizer.markowitz",
    "markowitz": "foliocast.portfolio.optimizer.markowitz",
    "MarkowitzOptions": "foliocast.portfolio.optimizer.options",
    "optimize": "foliocast.portfolio.optimizer.markowitz",
    "optimize_forecast": "foliocast.portfolio.optimizer.markowitz",
    "portfolio_return": "foliocast.portfolio.optimizer.markowitz",
    "portfolio_volatility": "foliocast.portfolio.optimizer.markowitz",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
