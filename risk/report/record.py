"""What the report is rendered from: a plain record of frames, dicts and numbers.

`ReportInput` holds everything the report shows, so the report needs no run folder,
no config class and no backtest: the backtest fills it from a run folder
(`foliocast.portfolio.backtest.report_input`), and a test or a user can build one by
hand from their own return series. `RunSettings` holds the settings of the run the
report states, as typed values.

Units: returns and the risk-free rate are daily simple returns; ``predicted_vol``
and ``predicted_te`` (``rebalances``) and ``risk_contribution`` (``weights``) are
volatilities over the forecast horizon of ``RunSettings.horizon`` trading days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["RunSettings", "ReportInput"]


def _empty(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


@dataclass(frozen=True)
class RunSettings:
    """The settings of a run that the report states and reasons with.

    None means "not stated": the report shows a dash, or leaves out what depends on
    it; it never assumes a value.

    Attributes
    ----------
    name : str
        Run name: the page title.
    forecaster : str
        Kind of the model's forecaster (``lstm``, ``ewma``, ...).
    horizon : int
        Trading days of a forecast; horizon volatilities are annualised by
        ``sqrt(252 / horizon)``.
    cost_bps : float
        Trading costs, bp of the value traded.
    rebalance : str, optional
        Rebalance frequency: ``W``, ``M``, ``Q`` (or any text).
    start, end : str, optional
        Configured first and last day of the backtest (``end`` None: end of data).
    min_history_days : int, optional
        Days of prices an asset needs to be investable.
    on_failure : str, optional
        What a failed optimization does (``hold`` or ``raise``).
    cash : bool, optional
        Whether weight left uninvested earns the risk-free rate.
    dataset : str, optional
        Bundled dataset of the prices (None for a user's file).
    risk_free : str or float, optional
        Risk-free source (``fama_french``) or annual rate.
    retrain_months : int, optional
        Months between refits of the forecaster.
    window : str, optional
        Training window: ``expanding`` or ``rolling``.
    lookback_days : int, optional
        Length of a rolling window.
    model, train : mapping, optional
        Model and training settings of the LSTM (shown only for ``lstm``).
    optimizer : mapping
        Optimizer settings, shown as ``key: value`` pairs.
    """

    name: str
    forecaster: str
    horizon: int
    cost_bps: float
    rebalance: str | None = None
    start: str | None = None
    end: str | None = None
    min_history_days: int | None = None
    on_failure: str | None = None
    cash: bool | None = None
    dataset: str | None = None
    risk_free: str | float | None = None
    retrain_months: int | None = None
    window: str | None = None
    lookback_days: int | None = None
    model: Mapping[str, Any] | None = None
    train: Mapping[str, Any] | None = None
    optimizer: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse a horizon the annualiser cannot divide by."""
        if not isinstance(self.horizon, int) or self.horizon < 1:
            raise ValueError(
                f"RunSettings.horizon: {self.horizon!r} is not a whole number of "
                "trading days >= 1"
            )


@dataclass(frozen=True)
class ReportInput:
    """Everything a report shows, as plain data.

    Attributes
    ----------
    returns : pandas.DataFrame of shape (n_days, n_strategies)
        Daily net returns, indexed by date, one column per strategy in the order
        the report lists them.
    metrics : mapping
        ``{"strategies": {name: summary}, "forecast": {"model": {...}, "baseline":
        {...}}, "run": provenance, "held_out": {...}}`` (the layout of a run's
        ``metrics.json``). Summaries have the keys of
        `foliocast.risk.metrics.performance_summary` plus ``psr``, ``dsr`` and the
        ``sharpe_diff_*`` test against 1/N, optionally ``active_tracking_error``
        and ``ex_ante_tracking_error`` (to the benchmark portfolio,
        `risk.report.active`); ``run`` may hold ``name``, ``start``,
        ``end``, ``rebalances``, ``retrains``, ``retrain_dates``, ``risk_free``
        (text) and ``data`` (``source``, ``dataset``, ``path``, ``first_date``,
        ``last_date``, ``fingerprint``). Every part is optional.
    settings : RunSettings
        The run's settings the report states.
    main : str
        The strategy the report looks at closely; a column of ``returns``.
    config : mapping
        The resolved configuration as plain data, shown verbatim as YAML.
    descriptions : mapping of str to str
        What each strategy is, in one phrase, by name.
    weights : pandas.DataFrame
        ``date, strategy, asset, weight`` per rebalance, optionally
        ``risk_contribution`` (horizon volatility).
    rebalances : pandas.DataFrame
        ``date, strategy, turnover, cost, status, reason, predicted_vol``,
        optionally ``predicted_te`` (horizon tracking error to the benchmark
        portfolio).
    forecasts : pandas.DataFrame
        ``date, forecaster, asset, mu, vol``, optionally ``mu_std``; the model's
        forecaster is named ``model``.
    forecast_skill : pandas.DataFrame
        Per-date skill of the model's forecasts, indexed by date (``ic``,
        ``rank_ic``, ...).
    risk_free : pandas.Series
        Daily risk-free return by date.
    assets : pandas.DataFrame
        ``asset, asset_class, sector``.
    benchmark : str, optional
        The column of ``returns`` that is an untraded benchmark index.
    one_over_n : str, optional
        The strategy that is 1/N: the reference of the significance tests.
    """

    returns: pd.DataFrame
    metrics: Mapping[str, Any]
    settings: RunSettings
    main: str
    config: Mapping[str, Any] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    weights: pd.DataFrame = field(
        default_factory=lambda: _empty("date", "strategy", "asset", "weight")
    )
    rebalances: pd.DataFrame = field(
        default_factory=lambda: _empty(
            "date", "strategy", "turnover", "cost", "status", "reason", "predicted_vol"
        )
    )
    forecasts: pd.DataFrame = field(
        default_factory=lambda: _empty("date", "forecaster", "asset", "mu", "vol")
    )
    forecast_skill: pd.DataFrame = field(default_factory=pd.DataFrame)
    risk_free: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    assets: pd.DataFrame = field(
        default_factory=lambda: _empty("asset", "asset_class", "sector")
    )
    benchmark: str | None = None
    one_over_n: str | None = None

    def __post_init__(self) -> None:
        """Refuse a record the report cannot be drawn from, naming the problem."""
        returns = self.returns
        if not isinstance(returns, pd.DataFrame) or returns.empty:
            raise ValueError("ReportInput.returns: no returns to report")
        if not isinstance(returns.index, pd.DatetimeIndex):
            raise ValueError("ReportInput.returns: the index must hold dates")
        if self.main not in returns.columns:
            raise ValueError(
                f"ReportInput.main: {self.main!r} is not a column of the returns "
                f"({', '.join(map(str, returns.columns))})"
            )

    @property
    def provenance(self) -> Mapping[str, Any]:
        """What the run ran on and when (``metrics["run"]``; empty if absent)."""
        return self.metrics.get("run") or {}

    @property
    def summaries(self) -> Mapping[str, Mapping[str, Any]]:
        """Per-strategy summaries (``metrics["strategies"]``; empty if absent)."""
        return self.metrics.get("strategies") or {}

    @property
    def traded(self) -> list[str]:
        """Strategies of ``returns`` that trade: all but the benchmark."""
        return [name for name in self.returns.columns if name != self.benchmark]
