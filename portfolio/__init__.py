"""Allocation: the Markowitz optimizer, strategies, walk-forward backtest, CLI."""

from portfolio.backtest import BacktestResult, ForecastBook, run_backtest
from portfolio.config import ConfigError, RunConfig, load_config
from portfolio.constraints import Constraints
from portfolio.errors import InfeasibleError, OptimizationError
from portfolio.optimizer import (
    efficient_frontier,
    markowitz,
    optimize,
    optimize_forecast,
    portfolio_return,
    portfolio_volatility,
)

__all__ = [
    "BacktestResult",
    "ConfigError",
    "Constraints",
    "ForecastBook",
    "InfeasibleError",
    "OptimizationError",
    "RunConfig",
    "efficient_frontier",
    "load_config",
    "markowitz",
    "optimize",
    "optimize_forecast",
    "portfolio_return",
    "portfolio_volatility",
    "run_backtest",
]
