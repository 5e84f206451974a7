"""The decision at a date: what is known at ``t`` in, target weights out.

`decide_at` is the one step the two runs share. The walk-forward backtest
(`portfolio.backtest.engine`) calls it at every rebalance date; the rebalance run
(`portfolio.rebalance.plan`) calls it once, at ``as_of``, for the strategy it plans.
Its inputs are the past only: prices (and volume) up to and including ``t``, the
weights each strategy holds going in (drifted since its last trade) and the daily
risk-free rate known at ``t``. In it the investable universe is fixed, the
forecasters are refitted when due and asked, and each strategy turns what it may
see into target weights; trading, costs and drift belong to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from foliocast._blas import ONE_BLAS_THREAD
from foliocast.data.calendar import availability_mask
from foliocast.data.errors import DataError
from foliocast.data.units import TRADING_DAYS_PER_YEAR
from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.backtest.benchmark import benchmark_at
from foliocast.portfolio.backtest.book import ForecastBook
from foliocast.portfolio.backtest.strategies import DecisionContext, Strategy
from foliocast.portfolio.errors import OptimizationError

__all__ = [
    "ON_FAILURE",
    "StrategyDecision",
    "Decision",
    "check_on_failure",
    "investable",
    "decide_at",
]

ON_FAILURE = ("hold", "raise")
"""What an optimization failure does: keep the drifted weights, or raise."""


@dataclass(frozen=True)
class StrategyDecision:
    """One strategy's decision at a date.

    Attributes
    ----------
    target : pandas.Series or None
        Target weights indexed by the universe (cash is ``1 - sum``); None keeps the
        drifted weights (no trade).
    status : {"traded", "held", "failed"}
        ``held``: the strategy chose not to trade; ``failed``: its optimization
        failed and the drifted weights are kept (``on_failure="hold"``).
    reason : str
        Why it failed; empty otherwise.
    forecast : Forecast or None
        The forecast whose covariance measures the strategy's ex-ante risk: its own
        forecaster's, else the risk model's; None without either.
    """

    target: pd.Series | None
    status: str
    reason: str
    forecast: Forecast | None


@dataclass(frozen=True)
class Decision:
    """Every strategy's decision at ``date``.

    Attributes
    ----------
    date : pandas.Timestamp
        The decision date (the last price seen).
    universe : list of str
        Tickers investable at ``date``.
    retrained : bool
        Whether the forecasters were refitted at ``date``.
    strategies : dict of str to StrategyDecision
        By strategy name, in the order the strategies were given.
    timings : dict of str to float
        Seconds spent fitting (``fit``) and deciding (``decide:<strategy>``).
    benchmark : pandas.Series or None
        The benchmark over the universe (`benchmark.benchmark_at`); None when none
        of its assets is investable.
    """

    date: pd.Timestamp
    universe: list[str]
    retrained: bool
    strategies: dict[str, StrategyDecision]
    timings: dict[str, float]
    benchmark: pd.Series | None = None


def check_on_failure(on_failure: str) -> None:
    """Refuse an ``on_failure`` other than those of `ON_FAILURE`."""
    if on_failure not in ON_FAILURE:
        raise ValueError(f"on_failure must be 'hold' or 'raise', got {on_failure!r}")


def investable(past: pd.DataFrame, min_history: int) -> list[str]:
    """Tickers investable at the last date of ``past``.

    An asset is investable with ``min_history`` prices up to and including the date
    and a price on it (`data.calendar.availability_mask`).

    Raises
    ------
    DataError
        If no asset is.
    """
    available = availability_mask(past, min_history).iloc[-1].to_numpy()
    universe = list(past.columns[available])
    if not universe:
        raise DataError(
            f"no asset has {min_history} days of prices up to "
            f"{past.index[-1]:%Y-%m-%d}",
            hint="Start later or lower backtest.min_history_days",
        )
    return universe


def _check_target(target: pd.Series, universe: list[str], strategy: str) -> pd.Series:
    outside = set(target.index) - set(universe)
    if outside:
        raise ValueError(
            f"strategy {strategy!r} put weight on {sorted(outside)}, outside the "
            "investable universe"
        )
    values = target.reindex(universe).fillna(0.0)
    if not np.isfinite(values.to_numpy()).all():
        raise ValueError(f"strategy {strategy!r} returned non-finite weights")
    return values


def _decide_one(
    strategy: Strategy, context: DecisionContext, on_failure: str
) -> tuple[pd.Series | None, str, str]:
    """Target (or None to hold), status and reason of one strategy."""
    try:
        target = strategy.decide(context)
    except OptimizationError as err:
        if on_failure == "raise":
            raise OptimizationError(
                f"{strategy.name} on {context.date.date()}: {err}"
            ) from err
        return None, "failed", str(err)
    if target is None:
        return None, "held", ""
    return _check_target(target, context.universe, strategy.name), "traded", ""


def decide_at(
    past: pd.DataFrame,
    drifted: Mapping[str, pd.Series],
    strategies: Sequence[Strategy],
    book: ForecastBook,
    *,
    risk_free: float = 0.0,
    volume: pd.DataFrame | None = None,
    min_history: int = TRADING_DAYS_PER_YEAR,
    on_failure: str = "hold",
    risk_model: str | None = None,
    benchmark: pd.Series | None = None,
) -> Decision:
    """Decide every strategy's target weights at the last date of ``past``.

    Parameters
    ----------
    past : DataFrame of shape (n_days, n_assets)
        Daily prices up to and including the decision date ``t`` (the last row);
        NaN before an asset starts trading.
    drifted : mapping of str to Series
        Weights each strategy holds going into ``t``, by strategy name, indexed by
        ticker (a missing ticker holds 0). Only the universe's are shown to the
        strategy (`DecisionContext.drifted`).
    strategies : sequence of Strategy
        The strategies to decide for.
    book : ForecastBook
        Forecasters the strategies name; refitted at ``t`` when due.
    risk_free : float
        Daily risk-free return known at ``t``.
    volume : DataFrame, optional
        Daily traded volume; only its rows up to ``t`` and the universe's columns
        are read.
    min_history : int
        Prices an asset needs up to ``t`` to be investable (`investable`).
    on_failure : {"hold", "raise"}
        On an optimization failure keep the drifted weights (``failed``), or raise.
    risk_model : str, optional
        Forecaster whose forecast measures the ex-ante risk of strategies that use
        none (`StrategyDecision.forecast`).
    benchmark : Series, optional
        Benchmark weights by ticker (``optimizer.benchmark``); None is 1/N. At
        ``t`` they are restricted to the universe (`benchmark.benchmark_at`).

    Returns
    -------
    Decision

    Raises
    ------
    DataError
        If no asset is investable at ``t``, or a forecaster fails
        (`book.ForecastError`).
    OptimizationError
        If a strategy's optimization fails and ``on_failure`` is ``"raise"``.
    """
    check_on_failure(on_failure)
    # Forecasts, solves and risk on matrices of a few hundred assets at most:
    # threaded BLAS only spin-waits here, and on a busy 2-core machine a
    # 500-asset decision took 2 s instead of 0.13 s (foliocast._blas).
    with ONE_BLAS_THREAD:
        date = past.index[-1]
        universe = investable(past, min_history)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        past_volume = (
            None
            if volume is None
            else volume.reindex(index=past.index, columns=universe)
        )
        retrained = book.advance(past[universe], past_volume)
        timings["fit"] = time.perf_counter() - started

        benchmark_now = benchmark_at(benchmark, universe)
        decisions: dict[str, StrategyDecision] = {}
        for strategy in strategies:
            held = drifted[strategy.name].reindex(universe, fill_value=0.0)
            context = DecisionContext(
                date,
                universe,
                held,
                book.forecast,
                risk_free=float(risk_free),
                benchmark=benchmark_now,
            )
            started = time.perf_counter()
            target, status, reason = _decide_one(strategy, context, on_failure)
            timings[f"decide:{strategy.name}"] = time.perf_counter() - started
            # Asked right after the strategy, as the forecast book records its order.
            name = strategy.forecaster or risk_model
            forecast = book.forecast(name) if name else None
            decisions[strategy.name] = StrategyDecision(
                target, status, reason, forecast
            )
        return Decision(date, universe, retrained, decisions, timings, benchmark_now)
