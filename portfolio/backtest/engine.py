"""Walk-forward backtest: rebalance on a schedule, retrain on a cadence, charge costs.

At each rebalance date ``t`` the engine slices prices (and volume, where the data has
it) up to ``t``, refits the forecasters when a retrain is due, asks every strategy for
target weights, trades at the close of ``t`` and lets weights drift with returns until
the next rebalance. No strategy or forecaster is ever handed a price, a volume or a
risk-free rate after ``t``: look-ahead is impossible by construction. Drift, turnover
and cost conventions are in `portfolio.simulation`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from foliocast.data.calendar import availability_mask
from foliocast.forecasting.base import Forecaster, fit_forecaster, predict_forecaster
from foliocast.forecasting.forecast import Forecast
from foliocast.portfolio.backtest.forecast_tables import FACTOR_COLUMNS, forecast_tables
from foliocast.portfolio.backtest.resume import EngineState, load_state, save_state
from foliocast.portfolio.backtest.simulation import drift, trade
from foliocast.portfolio.backtest.strategies import DecisionContext, Strategy
from foliocast.portfolio.errors import OptimizationError

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
]


def months_between(earlier: pd.Timestamp, later: pd.Timestamp) -> int:
    """Whole calendar months from ``earlier`` to ``later``."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def training_rows(window: str, lookback_days: int) -> slice:
    """Rows of the past a forecaster trains on: all, or the last ``lookback_days``."""
    return slice(None) if window == "expanding" else slice(-lookback_days, None)


@dataclass
class ForecastBook:
    """The forecasters of a run: refit on a cadence, asked once per date.

    A forecaster fitted once serves every strategy that names it; its forecast at a
    date is computed on first request and cached for the others. One forecaster
    object may be listed under several names (the run's model is the baseline when
    both are Ledoit-Wolf): it is fitted and asked once per date, and its forecast
    is recorded under each name that is asked for it. Forecasters that
    declare ``uses_volume`` (`forecasting.base.Forecaster`) also get the volume on
    the dates and tickers of the prices they are handed; the others get prices only.

    Parameters
    ----------
    forecasters : mapping of str to Forecaster
        Forecasters by name.
    retrain_months : int
        Refit when this many calendar months have passed since the last fit.
    window : {"expanding", "rolling"}
        Fit on all history up to ``t`` or on the last ``lookback_days`` rows.
    lookback_days : int
        Length of the rolling training window.
    """

    forecasters: Mapping[str, Forecaster]
    retrain_months: int = 12
    window: str = "expanding"
    lookback_days: int = 1260
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    history: list[tuple[str, Forecast]] = field(default_factory=list)
    fit_dates: list[pd.Timestamp] = field(default_factory=list)
    _prices: pd.DataFrame | None = None
    _volume: pd.DataFrame | None = None
    _cache: dict[str, Forecast] = field(default_factory=dict)
    # Forecast at the current date by forecaster object, shared by its names.
    _by_object: dict[int, Forecast] = field(default_factory=dict)

    def retrain_due(self, date: pd.Timestamp) -> bool:
        """Whether the forecasters are refitted at ``date``."""
        if not self.fit_dates:
            return True
        return months_between(self.fit_dates[-1], date) >= self.retrain_months

    def advance(self, prices: pd.DataFrame, volume: pd.DataFrame | None = None) -> bool:
        """Move to the last date of ``prices``; refit if due. Return whether it did.

        Parameters
        ----------
        prices : DataFrame of shape (n_days, n_assets)
            Prices up to the decision date (last row).
        volume : DataFrame, optional
            Daily traded volume; only its rows and columns matching ``prices`` are
            used, so it cannot reach past the decision date.

        Returns
        -------
        bool
            Whether the forecasters were refitted.
        """
        self._prices = prices
        self._volume = (
            None
            if volume is None
            else volume.reindex(index=prices.index, columns=prices.columns)
        )
        self._cache, self._by_object = {}, {}
        date = prices.index[-1]
        if not self.retrain_due(date):
            return False
        rows = training_rows(self.window, self.lookback_days)
        train = prices.iloc[rows]
        train_volume = None if self._volume is None else self._volume.iloc[rows]
        fitted: set[int] = set()
        for name, forecaster in self.forecasters.items():
            if id(forecaster) in fitted:
                continue  # the same object under another name: fitted already
            fitted.add(id(forecaster))
            started = time.perf_counter()
            fit_forecaster(forecaster, train, train_volume)
            self.timings[f"fit:{name}"] += time.perf_counter() - started
        self.fit_dates.append(date)
        return True

    def forecast(self, name: str) -> Forecast:
        """Return the named forecaster's forecast at the current date (cached)."""
        if name not in self._cache:
            if name not in self.forecasters:
                raise KeyError(f"no forecaster named {name!r} in this run")
            forecaster = self.forecasters[name]
            forecast = self._by_object.get(id(forecaster))
            if forecast is None:
                started = time.perf_counter()
                forecast = predict_forecaster(forecaster, self._prices, self._volume)
                self.timings[f"predict:{name}"] += time.perf_counter() - started
                self._by_object[id(forecaster)] = forecast
            self._cache[name] = forecast
            self.history.append((name, forecast))
        return self._cache[name]


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
        (ex-ante horizon volatility of the target weights), ``retrained``.
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

    Contributions ``w_i (Sigma w)_i / sigma`` sum to ``sigma``; NaN without a
    forecast or with zero risk.
    """
    if forecast is None:
        return float("nan"), np.full(len(tickers), np.nan)
    w = pd.Series(weights, index=tickers).reindex(forecast.tickers).fillna(0.0)
    w = w.to_numpy()
    marginal = forecast.cov.to_numpy() @ w
    sigma = float(np.sqrt(max(w @ marginal, 0.0)))
    if sigma == 0.0:
        return sigma, np.full(len(tickers), np.nan)
    contributions = pd.Series(w * marginal / sigma, index=forecast.tickers)
    return sigma, contributions.reindex(tickers).fillna(0.0).to_numpy()


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
    min_history: int = 252,
    on_failure: str = "hold",
    risk_model: str | None = None,
    benchmark: pd.Series | None = None,
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
        On an optimization failure keep the drifted weights (recorded as held), or
        raise.
    risk_model : str, optional
        Forecaster whose covariance gives the ex-ante volatility of strategies that
        use no forecast.
    benchmark : Series, optional
        Daily benchmark returns reported as the ``index`` column.
    progress : callable, optional
        Called as ``progress(done, total, date)`` after each rebalance.
    checkpoint : Path, optional
        Folder for resume checkpoints (`portfolio.resume`), saved before each
        retrain; if it holds one for the same ``fingerprint``, the run resumes there.
    fingerprint : str
        Identifies the inputs (data, volume and config) a checkpoint belongs to.

    Returns
    -------
    BacktestResult
    """
    if len(schedule) == 0:
        raise ValueError(
            "no rebalance dates: the backtest window is shorter than one rebalancing "
            "period after the minimum history"
        )
    if on_failure not in ("hold", "raise"):
        raise ValueError(f"on_failure must be 'hold' or 'raise', got {on_failure!r}")
    tickers = list(prices.columns)
    n_assets = len(tickers)
    asset_returns = prices.pct_change(fill_method=None).to_numpy()
    rf = (
        np.zeros(len(prices))
        if risk_free is None
        else risk_free.reindex(prices.index).fillna(0.0).to_numpy(dtype=float)
    )
    cash_rf = rf if cash else np.zeros(len(prices))
    if volume is not None:
        volume = volume.reindex(index=prices.index, columns=prices.columns)
    if isinstance(cost_bps, Mapping):
        unknown = set(cost_bps) - set(tickers)
        if unknown:
            raise ValueError(f"cost_bps names unknown tickers {sorted(unknown)}")
        cost_rate = np.array([cost_bps.get(t, 0.0) for t in tickers]) / 1e4
    else:
        cost_rate = np.full(n_assets, float(cost_bps) / 1e4)
    available = availability_mask(prices, min_history).to_numpy()
    positions = prices.index.get_indexer(schedule)
    if (positions < 0).any():
        raise ValueError("every rebalance date must be a date of the price data")

    first, last = int(positions[0]), len(prices) - 1
    n_days = last - first + 1
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise ValueError(f"strategy names must be unique, got {names}")
    gross = np.zeros((n_days, len(strategies)))
    cost_series = np.zeros((n_days, len(strategies)))
    held = np.zeros((len(strategies), n_assets))
    weight_rows, trade_rows, rebalance_rows = [], [], []
    timings: dict[str, float] = defaultdict(float)
    stops = list(positions[1:]) + [last]
    fingerprint = f"{fingerprint}|{names}|{len(positions)}|{first}|{last}"
    if volume is not None:
        # A forecaster fitted without volume cannot predict with it, or vice versa.
        fingerprint += "|volume"

    start = 0
    state = (
        load_state(checkpoint, dict(book.forecasters), fingerprint)
        if checkpoint is not None
        else None
    )
    if state is not None:
        start, held, gross, cost_series = (
            state.next_rebalance,
            state.held,
            state.gross,
            state.costs,
        )
        weight_rows, trade_rows = state.weight_rows, state.trade_rows
        rebalance_rows = state.rebalance_rows
        book.fit_dates, book.history = state.fit_dates, state.history
        for strategy in strategies:
            if strategy.name in state.strategy_states:
                strategy.set_state(state.strategy_states[strategy.name])

    for k in range(start, len(positions)):
        position, stop = int(positions[k]), int(stops[k])
        date = prices.index[position]
        if checkpoint is not None and k > start and book.retrain_due(date):
            snapshot = EngineState(
                k,
                held,
                gross,
                cost_series,
                weight_rows,
                trade_rows,
                rebalance_rows,
                book.fit_dates,
                book.history,
                {s.name: s.get_state() for s in strategies if hasattr(s, "get_state")},
                fingerprint,
            )
            save_state(checkpoint, snapshot, dict(book.forecasters))
        past = prices.iloc[: position + 1]  # the only prices anyone sees at `date`
        past_volume = None if volume is None else volume.iloc[: position + 1]
        universe_mask = available[position]
        universe = [t for t, ok in zip(tickers, universe_mask, strict=True) if ok]
        if not universe:
            raise ValueError(
                f"no asset has {min_history} days of history on {date.date()}"
            )
        started = time.perf_counter()
        retrained = book.advance(
            past[universe], None if past_volume is None else past_volume[universe]
        )
        timings["fit"] += time.perf_counter() - started

        for j, strategy in enumerate(strategies):
            drifted = pd.Series(held[j], index=tickers)
            status, reason = "traded", ""
            started = time.perf_counter()
            try:
                target = strategy.decide(
                    DecisionContext(
                        date,
                        universe,
                        drifted[universe],
                        book.forecast,
                        risk_free=float(rf[position]),
                    )
                )
            except OptimizationError as err:
                if on_failure == "raise":
                    raise OptimizationError(
                        f"{strategy.name} on {date.date()}: {err}"
                    ) from err
                target, status, reason = None, "failed", str(err)
            timings[f"decide:{strategy.name}"] += time.perf_counter() - started
            if target is None:
                if status == "traded":
                    status = "held"
                new = held[j].copy()
            else:
                new = (
                    _check_target(target, universe, strategy.name)
                    .reindex(tickers)
                    .fillna(0.0)
                    .to_numpy()
                )
            executed = trade(held[j], new, cost_rate)
            cost_series[position - first, j] = executed.cost
            held[j] = new
            name = strategy.forecaster or risk_model
            forecast = book.forecast(name) if name else None
            sigma, contributions = _ex_ante_risk(new, tickers, forecast)
            rebalance_rows.append(
                (
                    date,
                    strategy.name,
                    executed.turnover,
                    executed.cost,
                    status,
                    reason,
                    sigma,
                    retrained,
                )
            )
            for i in np.flatnonzero((new != 0) | (drifted.to_numpy() != 0)):
                row = (date, strategy.name, tickers[i], new[i], drifted.iloc[i])
                weight_rows.append((*row, contributions[i]))
            for i in np.flatnonzero(executed.delta):
                trade_rows.append((date, strategy.name, tickers[i], executed.delta[i]))

        started = time.perf_counter()
        block = slice(position + 1, stop + 1)
        for j in range(len(strategies)):
            path = drift(held[j], asset_returns[block], cash_rf[block])
            gross[position + 1 - first : stop + 1 - first, j] = path.returns
            held[j] = path.weights
        timings["simulate"] += time.perf_counter() - started
        if progress is not None:
            progress(k + 1, len(positions), date)

    index = prices.index[first:]
    net = (1.0 + gross) * (1.0 - cost_series) - 1.0
    returns = pd.DataFrame(net, index=index, columns=names)
    gross_returns = pd.DataFrame(gross, index=index, columns=names)
    if benchmark is not None:
        bench = benchmark.reindex(index).fillna(0.0)
        bench.iloc[0] = 0.0  # bought at the first rebalance close, like the others
        returns["index"] = bench.to_numpy()
        gross_returns["index"] = bench.to_numpy()
    for key, value in book.timings.items():
        timings[key] += value
    forecasts, factors = forecast_tables(book.history)
    return BacktestResult(
        returns=returns,
        gross_returns=gross_returns,
        weights=pd.DataFrame(
            weight_rows,
            columns=[
                "date",
                "strategy",
                "asset",
                "weight",
                "drifted",
                "risk_contribution",
            ],
        ),
        trades=pd.DataFrame(trade_rows, columns=["date", "strategy", "asset", "trade"]),
        rebalances=pd.DataFrame(rebalance_rows, columns=REBALANCE_COLUMNS),
        forecasts=forecasts,
        timings=dict(timings),
        forecast_factors=factors,
    )
