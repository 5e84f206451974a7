"""Walk-forward backtest: rebalance on a schedule, retrain on a cadence, charge costs.

At each rebalance date ``t`` the engine hands prices (and volume, where the data has
it) up to ``t``, the drifted weights and the risk-free rate of ``t`` to the decision
at a date (`portfolio.backtest.decision.decide_at`: the universe, the forecasters'
refit when due, every strategy's target weights), trades at the close of ``t`` and
lets weights drift with returns until the next rebalance. No strategy or forecaster
is ever handed a price, a volume or a risk-free rate after ``t``: look-ahead is
impossible by construction. Drift, turnover and cost conventions are in
`portfolio.backtest.simulation`; the forecast book is `portfolio.backtest.book`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from foliocast.data.units import TRADING_DAYS_PER_YEAR
from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.backtest.book import (
    ForecastBook,
    months_between,
    training_rows,
)
from foliocast.portfolio.backtest.decision import (
    Decision,
    check_on_failure,
    decide_at,
)
from foliocast.portfolio.backtest.forecast_tables import FACTOR_COLUMNS, forecast_tables
from foliocast.portfolio.backtest.resume import EngineState, load_state, save_state
from foliocast.portfolio.backtest.simulation import drift, trade
from foliocast.portfolio.backtest.strategies import Strategy
from foliocast.portfolio.names import INDEX
from foliocast.risk.attribution import (
    ex_ante_tracking_error,
    ex_ante_volatility,
    risk_contributions,
)

__all__ = [
    "REBALANCE_COLUMNS",
    "ForecastBook",
    "BacktestResult",
    "run_backtest",
    "months_between",
    "training_rows",
]

# One row per strategy and rebalance date in `BacktestResult.rebalances`.
REBALANCE_COLUMNS = [
    "date",
    "strategy",
    "turnover",
    "cost",
    "status",
    "reason",
    "predicted_vol",
    "retrained",
    "predicted_te",
]
WEIGHT_COLUMNS = ["date", "strategy", "asset", "weight", "drifted", "risk_contribution"]
TRADE_COLUMNS = ["date", "strategy", "asset", "trade"]


@dataclass
class BacktestResult:
    """Everything a backtest produced.

    Attributes
    ----------
    returns : DataFrame of shape (n_days, n_strategies)
        Daily net returns from the first rebalance date (0 before trading starts).
    gross_returns : DataFrame of shape (n_days, n_strategies)
        Daily returns before costs; ``gross - net`` is the cost in return units.
    weights : DataFrame
        Long: ``date, strategy, asset, weight, drifted, risk_contribution`` at each
        rebalance: target and pre-trade drifted weights, and each asset's
        contribution to the forecast horizon volatility of the target (they sum to
        ``predicted_vol``).
    trades : DataFrame
        Long: ``date, strategy, asset, trade`` (weight change, nonzero only).
    rebalances : DataFrame
        One row per (date, strategy): ``turnover`` (one-way), ``cost`` (fraction of
        value), ``status`` (traded, held, failed), ``reason``, ``predicted_vol``
        (ex-ante horizon volatility of the target weights), ``retrained``,
        ``predicted_te`` (ex-ante horizon tracking error of the target weights to
        the benchmark weights at that date, with the same covariance).
    forecasts : DataFrame
        Long: ``date, forecaster, asset, mu, vol, idio`` (horizon units).
    timings : dict
        Seconds per stage.
    forecast_factors : DataFrame
        Long: ``date, forecaster, asset, factor, loading``; with ``idio`` it gives
        back each forecast covariance (`portfolio.forecast_tables`).
    """

    returns: pd.DataFrame
    gross_returns: pd.DataFrame
    weights: pd.DataFrame
    trades: pd.DataFrame
    rebalances: pd.DataFrame
    forecasts: pd.DataFrame
    timings: dict[str, float]
    forecast_factors: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=FACTOR_COLUMNS)
    )

    def turnover(self) -> pd.DataFrame:
        """One-way turnover per rebalance date (rows) and strategy (columns)."""
        return self.rebalances.pivot(
            index="date", columns="strategy", values="turnover"
        )

    def costs(self) -> pd.DataFrame:
        """Cost per rebalance date and strategy, as a fraction of portfolio value."""
        return self.rebalances.pivot(index="date", columns="strategy", values="cost")


def _ex_ante_risk(
    weights: np.ndarray, tickers: list[str], forecast: Forecast | None
) -> tuple[float, np.ndarray]:
    """Forecast horizon volatility of ``weights`` and each asset's contribution.

    `risk.attribution` computes both; contributions sum to the volatility and are
    NaN without a forecast or with zero risk. Weights outside the forecast's
    universe carry no forecast risk.
    """
    if forecast is None:
        return float("nan"), np.full(len(tickers), np.nan)
    w = pd.Series(weights, index=tickers).reindex(forecast.tickers).fillna(0.0)
    sigma = ex_ante_volatility(w, forecast.cov)
    if sigma == 0.0:
        return sigma, np.full(len(tickers), np.nan)
    contributions = risk_contributions(w, forecast.cov)
    return sigma, contributions.reindex(tickers).fillna(0.0).to_numpy()


def _ex_ante_tracking(
    weights: np.ndarray,
    tickers: list[str],
    forecast: Forecast | None,
    benchmark: pd.Series | None,
) -> float:
    """Forecast horizon tracking error of ``weights`` to the benchmark at the date."""
    if forecast is None or benchmark is None:
        return float("nan")
    # Positions rather than a pandas reindex: this runs per strategy and rebalance.
    assets = forecast.cov.index
    held = pd.Index(tickers).get_indexer(assets)
    w = pd.Series(np.where(held >= 0, weights[held], 0.0), index=assets)
    return ex_ante_tracking_error(w, benchmark, forecast.cov)


@dataclass(frozen=True)
class _Setup:
    """What a run fixes before its first rebalance."""

    tickers: list[str]
    names: list[str]
    asset_returns: np.ndarray  # (n_days, n_assets) daily simple returns
    rf: np.ndarray  # (n_days,) daily risk-free return, 0 where unknown
    cash_rf: np.ndarray  # what uninvested weight earns
    cost_rate: np.ndarray  # (n_assets,) cost per unit of traded weight
    volume: pd.DataFrame | None  # aligned to the prices
    positions: np.ndarray  # rows of the rebalance dates
    stops: list[int]  # last row each rebalance's weights drift to
    first: int  # row of the first rebalance
    fingerprint: str  # identifies the inputs of a checkpoint


def _cost_rate(cost_bps: float | Mapping[str, float], tickers: list[str]) -> np.ndarray:
    if isinstance(cost_bps, Mapping):
        unknown = set(cost_bps) - set(tickers)
        if unknown:
            raise ValueError(f"cost_bps names unknown tickers {sorted(unknown)}")
        return np.array([cost_bps.get(t, 0.0) for t in tickers]) / 1e4
    return np.full(len(tickers), float(cost_bps) / 1e4)


def _setup(
    prices: pd.DataFrame,
    strategies: Sequence[Strategy],
    schedule: pd.DatetimeIndex,
    *,
    cost_bps: float | Mapping[str, float],
    risk_free: pd.Series | None,
    cash: bool,
    volume: pd.DataFrame | None,
    on_failure: str,
    fingerprint: str,
) -> _Setup:
    """Check the arguments and fix the arrays the loop reads."""
    if len(schedule) == 0:
        raise ValueError(
            "no rebalance dates: the backtest window is shorter than one rebalancing "
            "period after the minimum history"
        )
    check_on_failure(on_failure)
    tickers = list(prices.columns)
    rf = (
        np.zeros(len(prices))
        if risk_free is None
        else risk_free.reindex(prices.index).fillna(0.0).to_numpy(dtype=float)
    )
    if volume is not None:
        volume = volume.reindex(index=prices.index, columns=prices.columns)
    cost_rate = _cost_rate(cost_bps, tickers)
    positions = prices.index.get_indexer(schedule)
    if (positions < 0).any():
        raise ValueError("every rebalance date must be a date of the price data")
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise ValueError(f"strategy names must be unique, got {names}")
    first, last = int(positions[0]), len(prices) - 1
    fingerprint = f"{fingerprint}|{names}|{len(positions)}|{first}|{last}"
    if volume is not None:
        # A forecaster fitted without volume cannot predict with it, or vice versa.
        fingerprint += "|volume"
    return _Setup(
        tickers=tickers,
        names=names,
        asset_returns=prices.pct_change(fill_method=None).to_numpy(),
        rf=rf,
        cash_rf=rf if cash else np.zeros(len(prices)),
        cost_rate=cost_rate,
        volume=volume,
        positions=positions,
        stops=[int(p) for p in positions[1:]] + [last],
        first=first,
        fingerprint=fingerprint,
    )


def _start(
    setup: _Setup,
    n_days: int,
    strategies: Sequence[Strategy],
    book: ForecastBook,
    checkpoint: Path | None,
) -> EngineState:
    """A fresh state, or the one a checkpoint of the same inputs saved."""
    state = (
        load_state(checkpoint, dict(book.forecasters), setup.fingerprint)
        if checkpoint is not None
        else None
    )
    if state is None:
        shape = (n_days - setup.first, len(strategies))
        return EngineState(
            next_rebalance=0,
            held=np.zeros((len(strategies), len(setup.tickers))),
            gross=np.zeros(shape),
            costs=np.zeros(shape),
            weight_rows=[],
            trade_rows=[],
            rebalance_rows=[],
            fit_dates=book.fit_dates,
            history=book.history,
            strategy_states={},
            fingerprint=setup.fingerprint,
        )
    book.fit_dates, book.history = state.fit_dates, state.history
    for strategy in strategies:
        if strategy.name in state.strategy_states:
            strategy.set_state(state.strategy_states[strategy.name])
    return state


def _save(
    checkpoint: Path,
    state: EngineState,
    k: int,
    book: ForecastBook,
    strategies: Sequence[Strategy],
) -> None:
    """Checkpoint the run before rebalance ``k`` (a retrain)."""
    snapshot = dataclasses.replace(
        state,
        next_rebalance=k,
        fit_dates=book.fit_dates,
        history=book.history,
        strategy_states={
            s.name: s.get_state() for s in strategies if hasattr(s, "get_state")
        },
    )
    save_state(checkpoint, snapshot, dict(book.forecasters))


def _record(
    state: EngineState, decision: Decision, setup: _Setup, position: int
) -> None:
    """Trade each strategy to its target at the close and record the rebalance."""
    tickers, date = setup.tickers, decision.date
    for j, name in enumerate(setup.names):
        outcome = decision.strategies[name]
        drifted = state.held[j].copy()
        if outcome.target is None:
            new = drifted.copy()
        else:
            new = outcome.target.reindex(tickers).fillna(0.0).to_numpy()
        executed = trade(drifted, new, setup.cost_rate)
        state.costs[position - setup.first, j] = executed.cost
        state.held[j] = new
        sigma, contributions = _ex_ante_risk(new, tickers, outcome.forecast)
        tracking = _ex_ante_tracking(new, tickers, outcome.forecast, decision.benchmark)
        state.rebalance_rows.append(
            (
                date,
                name,
                executed.turnover,
                executed.cost,
                outcome.status,
                outcome.reason,
                sigma,
                decision.retrained,
                tracking,
            )
        )
        for i in np.flatnonzero((new != 0) | (drifted != 0)):
            row = (date, name, tickers[i], new[i], drifted[i], contributions[i])
            state.weight_rows.append(row)
        for i in np.flatnonzero(executed.delta):
            state.trade_rows.append((date, name, tickers[i], executed.delta[i]))


def _simulate(state: EngineState, setup: _Setup, position: int, stop: int) -> None:
    """Let each strategy's weights drift with returns to the next rebalance."""
    block = slice(position + 1, stop + 1)
    rows = slice(position + 1 - setup.first, stop + 1 - setup.first)
    for j in range(len(setup.names)):
        path = drift(state.held[j], setup.asset_returns[block], setup.cash_rf[block])
        state.gross[rows, j] = path.returns
        state.held[j] = path.weights


def _result(
    state: EngineState,
    setup: _Setup,
    index: pd.DatetimeIndex,
    book: ForecastBook,
    benchmark: pd.Series | None,
    timings: dict[str, float],
) -> BacktestResult:
    """Assemble the result frames from the state after the last rebalance."""
    net = (1.0 + state.gross) * (1.0 - state.costs) - 1.0
    returns = pd.DataFrame(net, index=index, columns=setup.names)
    gross_returns = pd.DataFrame(state.gross, index=index, columns=setup.names)
    if benchmark is not None:
        bench = benchmark.reindex(index).fillna(0.0)
        bench.iloc[0] = 0.0  # bought at the first rebalance close, like the others
        returns[INDEX] = bench.to_numpy()
        gross_returns[INDEX] = bench.to_numpy()
    for key, value in book.timings.items():
        timings[key] += value
    forecasts, factors = forecast_tables(book.history)
    return BacktestResult(
        returns=returns,
        gross_returns=gross_returns,
        weights=pd.DataFrame(state.weight_rows, columns=WEIGHT_COLUMNS),
        trades=pd.DataFrame(state.trade_rows, columns=TRADE_COLUMNS),
        rebalances=pd.DataFrame(state.rebalance_rows, columns=REBALANCE_COLUMNS),
        forecasts=forecasts,
        timings=dict(timings),
        forecast_factors=factors,
    )


def run_backtest(
    prices: pd.DataFrame,
    strategies: Sequence[Strategy],
    book: ForecastBook,
    schedule: pd.DatetimeIndex,
    *,
    cost_bps: float | Mapping[str, float] = 10.0,
    risk_free: pd.Series | None = None,
    cash: bool = True,
    volume: pd.DataFrame | None = None,
    min_history: int = TRADING_DAYS_PER_YEAR,
    on_failure: str = "hold",
    risk_model: str | None = None,
    benchmark: pd.Series | None = None,
    benchmark_weights: pd.Series | None = None,
    progress: Callable[[int, int, pd.Timestamp], None] | None = None,
    checkpoint: Path | None = None,
    fingerprint: str = "",
) -> BacktestResult:
    """Simulate strategies rebalancing on ``schedule`` over daily ``prices``.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Daily prices; NaN before an asset starts trading.
    strategies : sequence of Strategy
        Strategies run on identical dates.
    book : ForecastBook
        Forecasters the strategies name, refit on the book's cadence.
    schedule : DatetimeIndex
        Rebalance dates, a subset of ``prices.index``.
    cost_bps : float or mapping of ticker to float
        Proportional trading cost in basis points of traded notional.
    risk_free : Series, optional
        Daily risk-free return, indexed like ``prices`` (missing days count as 0).
        Its value at each rebalance date ``t`` is handed to the strategies
        (`DecisionContext.risk_free`: ``max_sharpe`` compounds it over the forecast
        horizon); later values never reach a decision at ``t``.
    cash : bool, default True
        Whether uninvested weight (``1 - sum(weights)``) earns ``risk_free``;
        False leaves it at a zero return.
    volume : DataFrame, optional
        Daily traded volume (dates x tickers, NaN where unknown), aligned to
        ``prices``; forecasters that use volume get it sliced like the prices.
    min_history : int
        Prices an asset needs up to ``t`` to be investable at ``t``.
    on_failure : {"hold", "raise"}
        On an optimization failure keep the drifted weights (recorded as failed), or
        raise.
    risk_model : str, optional
        Forecaster whose covariance gives the ex-ante volatility of strategies that
        use no forecast.
    benchmark : Series, optional
        Daily benchmark returns reported as the ``index`` column.
    benchmark_weights : Series, optional
        Weights of the benchmark portfolio by ticker (``optimizer.benchmark``;
        None is 1/N): what active objectives and ``predicted_te`` measure against.
    progress : callable, optional
        Called as ``progress(done, total, date)`` after each rebalance.
    checkpoint : Path, optional
        Folder for resume checkpoints (`portfolio.backtest.resume`), saved before each
        retrain; if it holds one for the same ``fingerprint``, the run resumes there.
    fingerprint : str
        Identifies the inputs (data, volume and config) a checkpoint belongs to.

    Returns
    -------
    BacktestResult
    """
    setup = _setup(
        prices,
        strategies,
        schedule,
        cost_bps=cost_bps,
        risk_free=risk_free,
        cash=cash,
        volume=volume,
        on_failure=on_failure,
        fingerprint=fingerprint,
    )
    state = _start(setup, len(prices), strategies, book, checkpoint)
    start, total = state.next_rebalance, len(setup.positions)
    timings: dict[str, float] = defaultdict(float)
    for k in range(start, total):
        position, stop = int(setup.positions[k]), setup.stops[k]
        date = prices.index[position]
        if checkpoint is not None and k > start and book.retrain_due(date):
            _save(checkpoint, state, k, book, strategies)
        decision = decide_at(
            prices.iloc[: position + 1],  # the only prices anyone sees at `date`
            {
                name: pd.Series(state.held[j], index=setup.tickers)
                for j, name in enumerate(setup.names)
            },
            strategies,
            book,
            risk_free=float(setup.rf[position]),
            volume=None if setup.volume is None else setup.volume.iloc[: position + 1],
            min_history=min_history,
            on_failure=on_failure,
            risk_model=risk_model,
            benchmark=benchmark_weights,
        )
        for key, seconds in decision.timings.items():
            timings[key] += seconds
        _record(state, decision, setup, position)
        started = time.perf_counter()
        _simulate(state, setup, position, stop)
        timings["simulate"] += time.perf_counter() - started
        if progress is not None:
            progress(k + 1, total, date)
    return _result(state, setup, prices.index[setup.first :], book, benchmark, timings)
