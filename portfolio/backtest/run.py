"""From a validated `RunConfig` to a finished backtest with its metrics.

``run(config)`` loads the data (prices, and volume where a user file has it), builds
the forecasters and strategies the config names, runs the walk-forward backtest and
scores it; `portfolio.runfolder` writes it.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from foliocast import data
from foliocast.forecasting.base import Forecaster
from foliocast.forecasting.baselines import make_forecaster
from foliocast.portfolio.backtest.benchmark import (
    benchmark_returns,
    load_benchmark_weights,
)
from foliocast.portfolio.backtest.engine import (
    BacktestResult,
    ForecastBook,
    run_backtest,
)
from foliocast.portfolio.backtest.scoring import run_metrics
from foliocast.portfolio.backtest.strategies import (
    MIN_VARIANCE_COST_PENALTY_BPS,
    BuyAndHold,
    EqualWeight,
    MeanVariance,
    RiskBased,
    Strategy,
    Views,
)
from foliocast.portfolio.config import ConfigError, RunConfig, dump_config
from foliocast.portfolio.errors import InfeasibleError
from foliocast.portfolio.names import (
    BASELINE_MVO,
    BUY_AND_HOLD,
    EQUAL_WEIGHT,
    HRP,
    INDEX,
    LSTM_BL,
    LSTM_MVO,
    MIN_VARIANCE,
    MODEL_STRATEGIES,
    RISK_PARITY,
    model_strategy_name,
)
from foliocast.portfolio.optimizer.constraints import check_feasibility

__all__ = [
    "RunOutput",
    "run",
    "load_run_data",
    "run_risk_free",
    "build_strategies",
    "load_benchmark",
    "check_constraints",
    "check_min_history",
]

# Benchmark index of each bundled dataset that has one.
DEFAULT_INDEX = {"sp500": "sp500_index", "multi_asset": "sp500_index"}
# Strategies that solve the optimizer under optimizer.constraints.
CONSTRAINED = (LSTM_MVO, LSTM_BL, BASELINE_MVO, MIN_VARIANCE)
MODEL = "model"  # forecaster behind lstm_mvo and lstm_bl (the configured kind)
SHRINKAGE = "ledoit_wolf"  # historical mean + Ledoit-Wolf: baselines and risk model


@dataclass
class RunOutput:
    """A finished run: the backtest, its metrics and what it ran on."""

    config: RunConfig
    result: BacktestResult
    metrics: dict[str, Any]
    forecast_skill: pd.DataFrame
    risk_free: pd.Series
    assets: pd.DataFrame
    model: Forecaster | None = None  # the last fitted model forecaster, if savable


def load_run_data(
    config: RunConfig,
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, str]]:
    """Prices and volume for the run (cut at ``backtest.end``) and their provenance.

    Volume comes from the ``volume`` column of a long user file; it is None for
    bundled datasets, wide files and files whose volume column is empty. When
    present it has the dates and tickers of the prices and its fingerprint is in
    the provenance (``volume_fingerprint``).
    """
    source = config.data
    volume = None
    if source.path is not None:
        prices, volume = data.load_prices(
            source.path,
            fill_limit=source.fill_limit,
            with_volume=True,
            checks=source.checks,
            max_daily_move=source.max_daily_move,
        )
        provenance = {"source": "file", "path": str(source.path)}
    else:
        prices = data.load_dataset(source.dataset)
        info = data.list_datasets().loc[source.dataset]
        provenance = {"source": info["source"], "dataset": source.dataset}
    if config.backtest.end is not None:
        end = pd.Timestamp(config.backtest.end)
        if len(prices.index) and end < prices.index[0]:
            raise ConfigError(
                f"backtest.end: {config.backtest.end} is before the data starts "
                f"({prices.index[0].date()}); set it later or leave it out (null) "
                "to run to the end of the data"
            )
        prices = prices.loc[:end]
    prices = prices.dropna(axis=1, how="all")
    provenance["fingerprint"] = data.prices_fingerprint(prices)
    if volume is not None:
        volume = volume.reindex(index=prices.index, columns=prices.columns)
        if volume.notna().to_numpy().any():
            provenance["volume_fingerprint"] = data.prices_fingerprint(volume)
        else:
            volume = None
    provenance["first_date"] = prices.index[0].date().isoformat()
    provenance["last_date"] = prices.index[-1].date().isoformat()
    provenance["assets"] = ", ".join(prices.columns)
    return prices, volume, provenance


def asset_table(config: RunConfig, tickers: pd.Index) -> pd.DataFrame:
    """Asset class and sector of each ticker (``unknown`` for user files)."""
    if config.data.dataset is None:
        unknown = ["unknown"] * len(tickers)
        return pd.DataFrame(
            {"asset": tickers, "asset_class": unknown, "sector": unknown}
        )
    classes = data.asset_classes(config.data.dataset).reindex(tickers)
    sectors = data.sectors(config.data.dataset).reindex(tickers)
    return pd.DataFrame(
        {
            "asset": tickers,
            "asset_class": classes.to_numpy(),
            "sector": sectors.to_numpy(),
        }
    )


def load_benchmark(config: RunConfig, index: pd.DatetimeIndex) -> pd.Series | None:
    """Daily returns of the benchmark index on ``index``, or None without one.

    The benchmark is ``data.index`` or the default index of the bundled dataset; it
    must be a dataset of one series (a 20-stock dataset is not an index).

    Raises
    ------
    ConfigError
        Naming ``data.index`` when it is unknown or holds more than one series.
    data.DataError
        If strategy ``index`` is listed but there is no benchmark.
    """
    name = config.data.index or DEFAULT_INDEX.get(config.data.dataset or "")
    if name is None:
        if INDEX in config.strategies:
            raise data.DataError(
                "strategy 'index' needs a benchmark index",
                hint="Set data.index to a bundled index dataset such as sp500_index",
            )
        return None
    try:
        levels = data.load_dataset(name)
    except data.DataError as err:
        raise ConfigError(f"data.index: {err}") from None
    if levels.shape[1] != 1:
        shown = ", ".join(map(str, levels.columns[:3]))
        more = ", ..." if levels.shape[1] > 3 else ""
        raise ConfigError(
            f"data.index: dataset {name!r} holds {levels.shape[1]} series ({shown}"
            f"{more}); a benchmark is a single series: use an index dataset such as "
            "sp500_index or nasdaq"
        )
    return levels.iloc[:, 0].pct_change(fill_method=None).reindex(index)


def check_constraints(
    config: RunConfig, prices: pd.DataFrame, schedule: pd.DatetimeIndex
) -> None:
    """Refuse ``optimizer.constraints`` that no portfolio can meet, before any work.

    The constraint set is checked on every distinct universe of the schedule (assets
    join as their history grows), and at the first rebalance, which starts from
    cash, with the turnover limit too. The checks are those of
    `portfolio.constraints.check_feasibility`: bounds against the budget, group
    limits, leverage and the turnover the first trade needs.

    Raises
    ------
    ConfigError
        Naming the date, the universe size and the constraints that conflict.
    """
    if not any(name in CONSTRAINED for name in config.strategies):
        return
    constraints = config.optimizer.parsed_constraints()
    constraints = dataclasses.replace(
        constraints, asset_groups=_with_asset_groups(config).get("asset_groups")
    )
    # Later rebalances start from holdings not known yet: no turnover check there.
    later = dataclasses.replace(constraints, turnover=None)
    available = data.availability_mask(prices, config.backtest.min_history_days)
    checked: set[tuple[str, ...]] = set()
    for position, date in enumerate(schedule):
        row = available.loc[date].to_numpy()
        universe = tuple(str(t) for t in prices.columns[row])
        first = position == 0
        if not universe or (not first and universe in checked):
            continue  # an empty universe is the backtest's own error
        checked.add(universe)
        try:
            check_feasibility((constraints if first else later).resolve(universe))
        except InfeasibleError as err:
            start = " (the first rebalance, starting from cash)" if first else ""
            raise ConfigError(
                f"optimizer.constraints: cannot be met on {date.date()}{start} by any "
                f"portfolio of the {len(universe)} investable assets. {err}"
            ) from None


def make_model_forecaster(config: RunConfig) -> Forecaster:
    """The configured forecaster (the one behind `lstm_mvo`), unfitted."""
    spec = config.forecaster
    if spec.kind == "lstm":
        params = {**vars(spec.model), **vars(spec.train), "horizon": spec.horizon}
        # The LSTM trains on the last lookback_days of the history it is given,
        # which keeps each retrain's cost flat over a long backtest.
        params["lookback_days"] = spec.lookback_days
        # An anchored model's prior is the Ledoit-Wolf baseline's own window.
        params["prior_window"] = spec.lookback_days
    else:
        params = {"horizon": spec.horizon, "lookback": spec.lookback_days}
    return make_forecaster(spec.kind, **params)


def _forecasters(config: RunConfig) -> dict[str, Forecaster]:
    """The run's forecasters by name: the Ledoit-Wolf baseline, and the model.

    A Ledoit-Wolf model is built with the baseline's own parameters, so it is the
    baseline: the same object serves both names and the book fits and asks it once
    per date instead of computing the same forecast twice.
    """
    spec = config.forecaster
    forecasters: dict[str, Forecaster] = {
        SHRINKAGE: make_forecaster(
            "ledoit_wolf", horizon=spec.horizon, lookback=spec.lookback_days
        )
    }
    if any(name in config.strategies for name in MODEL_STRATEGIES):
        forecasters[MODEL] = (
            forecasters[SHRINKAGE]
            if spec.kind == "ledoit_wolf"
            else make_model_forecaster(config)
        )
    return forecasters


def check_min_history(config: RunConfig, forecasters: dict[str, Forecaster]) -> None:
    """Refuse a ``backtest.min_history_days`` below what a forecaster needs.

    An asset enters the universe with ``min_history_days`` prices; a sample-based
    forecaster needs ``min_history`` daily returns of each asset, so one more price.
    Shorter, the first retrain fails halfway through the run.

    Raises
    ------
    ConfigError
        Naming the setting, the forecaster and the smallest value that works.
    """
    days = config.backtest.min_history_days
    for name, forecaster in forecasters.items():
        needed = getattr(forecaster, "min_history", 0) + 1
        if days < needed:
            kind = config.forecaster.kind if name == MODEL else name
            raise ConfigError(
                f"backtest.min_history_days: {days} is fewer than the {needed} days "
                f"of prices the {kind} forecaster needs ({needed - 1} daily returns); "
                f"set it to at least {needed} (and give a price history longer than "
                "that)"
            )


def _with_asset_groups(config: RunConfig) -> dict:
    """Constraints, with group membership filled from the dataset's asset classes.

    A config may bound groups (``groups: {us_equity: [0.3, 1]}``) without listing
    every ticker's group when the data is a bundled dataset.
    """
    constraints = dict(config.optimizer.constraints)
    if constraints.get("groups") and not constraints.get("asset_groups"):
        if config.data.dataset is None:
            raise data.DataError(
                "optimizer.constraints.groups needs asset_groups for a price file",
                hint="Map every ticker to its group under asset_groups",
            )
        classes = data.asset_classes(config.data.dataset)
        constraints["asset_groups"] = {str(k): str(v) for k, v in classes.items()}
    return constraints


def build_strategies(config: RunConfig) -> list[Strategy]:
    """The strategies the config lists (the index is a benchmark column instead)."""
    opt, views = config.optimizer, config.forecaster.views
    mvo = {
        "objective": opt.objective,
        "risk_aversion": opt.risk_aversion,
        "constraints": _with_asset_groups(config),
        "cost_penalty_bps": opt.cost_penalty_bps,
        "target": opt.target,
    }
    makers: dict[str, Callable[[], Strategy]] = {
        LSTM_MVO: lambda: MeanVariance(model_strategy_name(config), MODEL, **mvo),
        LSTM_BL: lambda: MeanVariance(
            model_strategy_name(config, LSTM_BL),
            MODEL,
            **mvo,
            views=Views(views.prior, views.tau, historical=SHRINKAGE),
        ),
        BASELINE_MVO: lambda: MeanVariance(BASELINE_MVO, SHRINKAGE, **mvo),
        # Pure minimum variance: the constraints only, not the utility's risk
        # aversion or cost penalty (gamma only scales the objective without costs).
        MIN_VARIANCE: lambda: MeanVariance(
            MIN_VARIANCE,
            SHRINKAGE,
            objective="min_variance",
            risk_aversion=1.0,
            constraints=mvo["constraints"],
            cost_penalty_bps=MIN_VARIANCE_COST_PENALTY_BPS,
        ),
        # Risk-based baselines read the risk model's covariance, not its mean.
        RISK_PARITY: lambda: RiskBased(
            RISK_PARITY, SHRINKAGE, "risk_parity", mvo["constraints"]
        ),
        HRP: lambda: RiskBased(HRP, SHRINKAGE, "hrp", mvo["constraints"]),
        EQUAL_WEIGHT: EqualWeight,
        BUY_AND_HOLD: BuyAndHold,
    }
    return [makers[name]() for name in config.strategies if name != INDEX]


def run_risk_free(config: RunConfig, index: pd.DatetimeIndex) -> pd.Series:
    """Daily risk-free return on ``index`` from ``data.risk_free`` (rate or source)."""
    with warnings.catch_warnings():
        # The carry-forward after the last Fama-French month is documented in the
        # report's provenance; one warning per run is noise.
        warnings.simplefilter("ignore")
        return data.risk_free_rate(index, config.data.risk_free)


def run(
    config: RunConfig,
    *,
    progress: Callable[[int, int, pd.Timestamp], None] | None = None,
    checkpoint: Path | None = None,
    on_epoch: Callable[[Any], None] | None = None,
) -> RunOutput:
    """Run the backtest a config describes and score it.

    Parameters
    ----------
    config : RunConfig
        A validated configuration.
    progress : callable, optional
        ``progress(done, total, date)`` after each rebalance.
    checkpoint : Path, optional
        Folder for resume checkpoints; a run started again with the same folder
        and the same config and data resumes from its last completed retrain.
    on_epoch : callable, optional
        Called after each training epoch of a forecaster that trains in epochs (the
        LSTM, with a `forecasting.train.EpochEnd`): retrains take minutes.

    Returns
    -------
    RunOutput
    """
    prices, volume, provenance = load_run_data(config)
    test = config.backtest
    schedule = data.rebalance_schedule(
        prices.index,
        test.rebalance,
        start=test.start,
        min_history=test.min_history_days,
    )
    if len(schedule) == 0:
        raise data.DataError(
            "no rebalance date between backtest.start and the end of the data after "
            f"{test.min_history_days} days of history",
            hint="Move backtest.start earlier or lower backtest.min_history_days",
        )
    # Cheap checks of the config against the data, before any forecaster trains.
    benchmark = load_benchmark(config, prices.index)
    benchmark_weights = load_benchmark_weights(config, prices.columns)
    check_constraints(config, prices, schedule)
    forecasters = _forecasters(config)
    check_min_history(config, forecasters)
    if on_epoch is not None and hasattr(forecasters.get(MODEL), "on_epoch"):
        forecasters[MODEL].on_epoch = on_epoch
    risk_free = run_risk_free(config, prices.index)
    spec = config.forecaster
    book = ForecastBook(
        forecasters,
        retrain_months=spec.retrain_months,
        window=spec.window,
        lookback_days=spec.lookback_days,
    )
    result = run_backtest(
        prices,
        build_strategies(config),
        book,
        schedule,
        cost_bps=test.cost_bps,
        risk_free=risk_free,
        cash=test.cash,
        volume=volume,
        min_history=test.min_history_days,
        on_failure=test.on_failure,
        risk_model=SHRINKAGE,
        benchmark=benchmark,
        benchmark_weights=benchmark_weights,
        progress=progress,
        checkpoint=checkpoint,
        fingerprint=provenance["fingerprint"]
        + provenance.get("volume_fingerprint", "")
        + dump_config(config),
    )
    held = benchmark_returns(prices, schedule, benchmark_weights, test.min_history_days)
    metrics, skill = run_metrics(
        config, result, book, prices, risk_free, provenance, benchmark_held=held
    )
    return RunOutput(
        config,
        result,
        metrics,
        skill,
        risk_free.loc[result.returns.index],
        asset_table(config, prices.columns),
        model=_savable(book.forecasters.get(MODEL)),
    )


def _savable(forecaster: Forecaster | None) -> Forecaster | None:
    """The model forecaster if it was fitted and can be saved (the LSTM), else None.

    The classical forecasters keep nothing a later run could reuse: they are
    estimated from the prices at each date.
    """
    fitted = getattr(forecaster, "fit_date_", None) is not None
    return forecaster if fitted and hasattr(forecaster, "save") else None
