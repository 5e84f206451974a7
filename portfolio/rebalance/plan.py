"""The monthly rebalance run: holdings in, target weights, trade list and risk out.

``rebalance(config, holdings, as_of)`` forecasts with the configured forecaster on
prices up to and including ``as_of`` (nothing later is read), optimises target
weights from the current ones, rounds them to whole shares within the cash the
account has, and measures the pre-trade risk of the current and target portfolios.
``write_plan`` saves the plan into a run folder atomically; ``rebalance_command``
handles the ``portfolio rebalance`` subcommand.

Holdings file: CSV with columns ``ticker,shares`` and at most one ``CASH`` row (the
cash in the account); `portfolio.holdings` reads and validates it. Negative shares
are short positions and only allowed when the config's constraints set
``long_only: false``; negative cash is never allowed.

Account value ``V``: ``--value`` when given; otherwise the market value of the shares
at the ``as_of`` close plus the ``CASH`` row. With ``--value``, cash is
``V - market value``: a value above the holdings plus cash is a deposit, one below is
a withdrawal met by selling (both are noted in the summary).

Dates: ``as_of`` is ISO (``YYYY-MM-DD``) and must lie within the price data, or at
most `STALE_DAYS` weekdays after its last day; a date that is not a trading day of
the data (weekend, holiday, just after the end) snaps to the previous trading day,
with a note (`portfolio.valuation.resolve_as_of`).
The universe is the assets with ``backtest.min_history_days`` prices up to ``as_of``
and a price on it; ``backtest.end`` is ignored (``as_of`` is the cut). A held asset
outside the universe is sold at its last price. A held asset whose last price is
more than `STALE_DAYS` trading days before ``as_of`` is an error: its value is
unknown.

Rounding (`portfolio.rounding.whole_shares`): target weights below `DUST_WEIGHT`
count as 0 and the others become whole shares that the account's cash pays for,
costs included, without pushing any upper limit further out; each rounded weight is
within one share of its target (plus the scaling that leaves room for the costs).

Terms: ``weights`` are fractions of ``V``; ``turnover`` is one-way,
``0.5 * sum |w_target - w_current|``; the estimated cost is ``cost_bps`` of traded
notional (``= cost_bps * 2 * turnover * V``). Volatilities are ex-ante from the
forecast covariance of horizon returns, annualised by ``sqrt(252 / horizon)``; VaR is
the historical one-day 95% VaR over the last `VAR_DAYS` daily returns, as a return
(a loss is negative).

Layout: this module plans and registers the command. The forecast and the
optimizer's weights come from the backtest's own decision at a date
(`portfolio.backtest.decision.decide_at`, called once for the `PLANNED` strategy),
so the plan and the backtest cannot disagree on the universe, the forecast, the
optimizer settings or the risk-free rate at ``as_of``. `portfolio.rebalance.valuation`
resolves the date and values the account, `portfolio.rebalance.trades` builds the
book, the trade list and the weights table, `portfolio.rebalance.pretrade` the risk
and constraint tables, `portfolio.rebalance.record` the plan record and its summary
and `portfolio.rebalance.output` the plan's files. `portfolio.rebalance.holdings`
reads the holdings file and `portfolio.rebalance.rounding` rounds to whole shares.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from foliocast.data.errors import DataError
from foliocast.data.fingerprint import prices_fingerprint
from foliocast.forecasting.base import Forecaster
from foliocast.portfolio.backtest.benchmark import load_benchmark_weights
from foliocast.portfolio.backtest.book import (
    ForecastBook,
    ForecastError,
    months_between,
    training_rows,
)
from foliocast.portfolio.backtest.decision import Decision, decide_at, investable
from foliocast.portfolio.backtest.run import (
    MODEL,
    build_strategies,
    load_run_data,
    make_model_forecaster,
    run_risk_free,
)
from foliocast.portfolio.backtest.runfolder import MODEL_DIR
from foliocast.portfolio.backtest.strategies import Strategy
from foliocast.portfolio.config import ConfigError, RunConfig, load_config
from foliocast.portfolio.names import LSTM_MVO
from foliocast.portfolio.optimizer.constraints import Constraints
from foliocast.portfolio.output_folder import check_output
from foliocast.portfolio.progress import Reporter
from foliocast.portfolio.rebalance.holdings import (
    CASH,
    Holdings,
    as_holdings,
    check_holdings,
    parse_holdings,
    read_holdings,
)
from foliocast.portfolio.rebalance.output import write_plan
from foliocast.portfolio.rebalance.pretrade import (
    VAR_DAYS,
    constraint_table,
    risk_table,
)
from foliocast.portfolio.rebalance.record import RebalancePlan
from foliocast.portfolio.rebalance.rounding import DUST_WEIGHT, whole_shares
from foliocast.portfolio.rebalance.trades import trade_book, trade_list, weights_table
from foliocast.portfolio.rebalance.valuation import (
    STALE_DAYS,
    account_value,
    last_prices,
    resolve_as_of,
)

if TYPE_CHECKING:
    from foliocast.forecasting.train import (
        EpochCallback,  # imports jax: for typing only
    )

PLANNED = LSTM_MVO
"""The strategy a rebalance plans: the configured forecaster's mean-variance
weights, built as the backtest builds it (`portfolio.backtest.run.build_strategies`).
"""

__all__ = [
    "CASH",
    "STALE_DAYS",
    "VAR_DAYS",
    "DUST_WEIGHT",
    "Holdings",
    "RebalancePlan",
    "read_holdings",
    "parse_holdings",
    "resolve_as_of",
    "whole_shares",
    "plan_rebalance",
    "rebalance",
    "write_plan",
    "rebalance_command",
]


# ------------------------------------------------------------------------ plan


def _constraints(config: RunConfig) -> Constraints:
    try:
        return Constraints.from_dict(config.optimizer.constraints)
    except ValueError as err:
        raise ConfigError(f"optimizer.constraints: {err}") from None


def plan_rebalance(
    prices: pd.DataFrame,
    config: RunConfig,
    holdings: Holdings | pd.DataFrame | str | Path,
    as_of: str | pd.Timestamp,
    *,
    value: float | None = None,
    forecaster: Forecaster | None = None,
    fitted: bool = False,
    volume: pd.DataFrame | None = None,
    on_epoch: EpochCallback | None = None,
    replaced: pd.Timestamp | None = None,
) -> RebalancePlan:
    """Plan a rebalance from given prices (the computation behind `rebalance`).

    Parameters
    ----------
    prices : pandas.DataFrame of shape (n_days, n_assets)
        Daily prices; only rows up to and including ``as_of`` are read.
    config : RunConfig
        Forecaster, optimizer, ``backtest.min_history_days`` and ``cost_bps``.
    holdings : Holdings, DataFrame or path
        Current holdings (see the module docstring for the format).
    as_of : date-like
        Rebalance date (snapped back to a trading day of ``prices``).
    value : float, optional
        Account value; default shares at market plus the ``CASH`` row.
    forecaster : Forecaster, optional
        Forecaster to use; default the configured kind, built fresh.
    fitted : bool
        ``forecaster`` is already fitted (e.g. loaded from a checkpoint): predict
        only.
    volume : pandas.DataFrame, optional
        Daily traded volume (dates x tickers) for forecasters that use it; only rows
        up to ``as_of`` are read, as for ``prices``.
    on_epoch : callable, optional
        Progress callback handed to a forecaster that trains in epochs (the LSTM:
        `forecasting.train.EpochEnd` after each epoch); ignored by the others.

    Returns
    -------
    RebalancePlan
    """
    holdings = as_holdings(holdings)
    constraints = _constraints(config)
    date, snapped = resolve_as_of(prices.index, as_of)
    past = prices.loc[:date]  # the only prices anything below sees
    check_holdings(holdings, past, constraints)
    notes = [snapped] if snapped else []

    held = holdings.shares[holdings.shares != 0]
    held_prices = last_prices(past, list(held.index), holdings.source)
    market_value = float((held * held_prices).sum())
    value, cash, flow_notes = account_value(holdings, market_value, value)
    notes += flow_notes

    current_weights = held * held_prices / value
    if forecaster is None:
        forecaster = model_forecaster(config)
    elif fitted:
        _check_fit_date(forecaster, date)
    if on_epoch is not None and hasattr(forecaster, "on_epoch"):
        # Training the LSTM takes minutes: let the caller show how far it is.
        forecaster.on_epoch = on_epoch
    strategy = _planned_strategy(config)
    decision = _decide(
        past, config, strategy, forecaster, fitted, current_weights, volume
    )
    universe = decision.universe
    optimal = decision.strategies[strategy.name].target
    forecast = decision.strategies[strategy.name].forecast
    outside = [t for t in held.index if t not in universe]
    if outside:
        notes.append(
            f"{', '.join(outside)} not investable on {date:%Y-%m-%d} (fewer than "
            f"{config.backtest.min_history_days} days of prices or no price that "
            "day): sold"
        )

    price = past[universe].iloc[-1]
    current = held.reindex(universe, fill_value=0.0)
    cost_rate = config.backtest.cost_bps / 1e4
    sold_value = float((held[outside] * held_prices[outside]).sum())
    sold_cost = cost_rate * float((held[outside].abs() * held_prices[outside]).sum())
    resolved = constraints.resolve(universe)
    try:
        target_shares = whole_shares(
            optimal,
            price,
            current,
            value,
            cash=cash + sold_value - sold_cost,
            cost_rate=cost_rate,
            resolved=resolved,
            sold=float(current_weights[outside].abs().sum()),
        )
    except ValueError as err:
        raise ConfigError(f"value: {err} ({value:,.2f})") from None

    book = trade_book(held, held_prices, target_shares, price, cost_rate)
    residual = cash - float((book["trade_shares"] * book["price"]).sum())
    residual -= float(book["est_cost"].sum())
    weights = weights_table(book, optimal, forecast, value)
    rounded = weights.set_index("ticker")["target_weight"].drop(CASH)
    risk = risk_table(
        past,
        forecast,
        weights,
        book,
        value,
        cash,
        residual,
        outside,
        benchmark=decision.benchmark,
    )
    checks = constraint_table(
        resolved, optimal, rounded, current_weights, book, value, cost_rate
    )
    if not checks["ok"].all():
        failed = ", ".join(checks.loc[~checks["ok"], "constraint"])
        notes.append(f"after rounding to whole shares, not within limits: {failed}")
    return RebalancePlan(
        name=config.name,
        as_of=date,
        value=value,
        cash=cash,
        residual_cash=residual,
        forecast=forecast,
        trades=trade_list(book),
        weights=weights,
        risk=risk,
        constraints=checks,
        notes=tuple(notes),
        config=config,
        model=_model_note(config, forecaster, fitted, date, replaced),
    )


def model_forecaster(config: RunConfig) -> Forecaster:
    """The configured forecaster, built as the backtest builds ``lstm_mvo``'s."""
    try:
        return make_model_forecaster(config)
    except ValueError as err:
        raise ConfigError(f"forecaster: {err}") from None


def _model_note(
    config: RunConfig,
    forecaster: Forecaster,
    fitted: bool,
    date: pd.Timestamp,
    replaced: pd.Timestamp | None = None,
) -> str:
    """Which model made the forecast, when it was fitted and on which prices."""
    kind = config.forecaster.kind
    fit_date = getattr(forecaster, "fit_date_", None)
    if fit_date is None:
        return f"{kind}, estimated from the prices up to {date:%Y-%m-%d}"
    how = "the saved model given with --model" if fitted else "trained for this plan"
    if replaced is not None:
        how += (
            f" (the saved model, fitted {replaced:%Y-%m-%d}, is older than "
            f"forecaster.retrain_months: {config.forecaster.retrain_months})"
        )
    fingerprint = getattr(forecaster, "fingerprint_", "")[:12]
    return (
        f"{kind}, {how}, fitted on prices up to {fit_date:%Y-%m-%d} "
        f"(fingerprint {fingerprint})"
    )


def _planned_strategy(config: RunConfig) -> Strategy:
    """The backtest's `PLANNED` strategy for ``config``, whatever it lists."""
    (strategy,) = build_strategies(dataclasses.replace(config, strategies=(PLANNED,)))
    return strategy


def _decide(
    past: pd.DataFrame,
    config: RunConfig,
    strategy: Strategy,
    forecaster: Forecaster,
    fitted: bool,
    current_weights: pd.Series,
    volume: pd.DataFrame | None,
) -> Decision:
    """The backtest's decision at the last date of ``past``, for ``strategy`` alone.

    Bad settings and failed forecasts become one-line errors naming the setting.
    """
    spec, date = config.forecaster, past.index[-1]
    book = ForecastBook(
        {MODEL: forecaster},
        retrain_months=spec.retrain_months,
        window=spec.window,
        lookback_days=spec.lookback_days,
        refit=not fitted,
    )
    try:
        return decide_at(
            past,
            {strategy.name: current_weights},
            [strategy],
            book,
            # The rate known at as_of, from prices no later than it.
            risk_free=float(run_risk_free(config, past.index).iloc[-1]),
            volume=volume,
            min_history=config.backtest.min_history_days,
            on_failure="raise",
            benchmark=load_benchmark_weights(config, past.columns),
        )
    except ForecastError as err:
        raise DataError(
            f"forecaster {spec.kind!r} could not forecast at {date:%Y-%m-%d}: "
            f"{err.reason}"
        ) from None
    except (DataError, ConfigError):
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"optimizer: {err}") from None


# ------------------------------------------------------------------ top level


def load_plan_data(config: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Prices and volume of the config's data, not cut at ``backtest.end``."""
    # as_of is the cut of a rebalance; backtest.end belongs to backtests only.
    uncut = dataclasses.replace(
        config, backtest=dataclasses.replace(config.backtest, end=None)
    )
    prices, volume, _ = load_run_data(uncut)
    return prices, volume


def _saved_model(config: RunConfig, model: str | Path) -> Forecaster:
    """The trained LSTM in ``model``: a run folder (its ``model/``) or a model folder.

    See `forecasting.checkpoint` for the format (no pickle).
    """
    path = Path(model)
    if not path.exists():
        raise DataError("saved model not found", source=str(path))
    if (path / MODEL_DIR).is_dir():
        path = path / MODEL_DIR  # a run folder of `portfolio backtest`
    if config.forecaster.kind != "lstm":
        raise ConfigError(
            f"forecaster.kind {config.forecaster.kind!r} is fitted on the data, not "
            "loaded; drop --model (a saved model holds a trained LSTM)"
        )
    # Imported here: the LSTM imports JAX, slow to load and needed only here.
    from foliocast.forecasting.lstm import LSTMForecaster

    try:
        return LSTMForecaster.load(path)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(
            f"not a readable LSTM checkpoint ({err})",
            source=str(path),
            hint="Point --model at a run folder of an LSTM backtest, or at a "
            "folder written by LSTMForecaster.save",
        ) from None


def _check_training_prices(
    forecaster: Forecaster, prices: pd.DataFrame, config: RunConfig
) -> None:
    """Refuse a saved model whose training prices these prices do not extend.

    The backtest fitted it at ``fit_date_`` on the investable assets' prices up to
    that date (the configured window); the same slice of these prices must give
    the same fingerprint, so the model is applied to the history it learned from.
    Assets that start later are fine: the LSTM's weights are shared across assets.
    """
    fit_date = getattr(forecaster, "fit_date_", None)
    recorded = getattr(forecaster, "fingerprint_", None)
    if fit_date is None or recorded is None:
        return
    past = prices.loc[:fit_date]
    spec = config.forecaster
    universe = investable(past, config.backtest.min_history_days)
    train = past[universe].iloc[training_rows(spec.window, spec.lookback_days)]
    if prices_fingerprint(train, layout="checkpoint") != recorded:
        raise DataError(
            f"the saved model was fitted on other prices up to {fit_date:%Y-%m-%d} "
            "(their fingerprint differs: other tickers, dates or values)",
            hint="Rebalance with the data and config the model's backtest ran on, "
            "or fit a new model on these prices",
        )


def _check_fit_date(forecaster: Forecaster, date: pd.Timestamp) -> None:
    """A loaded model trained on prices after ``date`` would carry look-ahead."""
    fit_date = getattr(forecaster, "fit_date_", None)
    if fit_date is not None and pd.Timestamp(fit_date) > date:
        raise DataError(
            f"the checkpoint was trained on prices up to {fit_date:%Y-%m-%d}, after "
            f"as_of {date:%Y-%m-%d}: it has seen the future",
            hint="Use a checkpoint trained up to as_of, or drop --checkpoint to fit",
        )


def rebalance(
    config: RunConfig,
    holdings: Holdings | pd.DataFrame | str | Path,
    as_of: str | pd.Timestamp,
    *,
    value: float | None = None,
    model: str | Path | None = None,
    on_epoch: EpochCallback | None = None,
) -> RebalancePlan:
    """Plan the rebalance of an account on ``as_of`` with the configured model.

    Parameters
    ----------
    config : RunConfig
        Data source, forecaster, optimizer and costs.
    holdings : Holdings, DataFrame or path
        Current holdings; a path is read with `read_holdings`.
    as_of : date-like
        Rebalance date; only prices up to and including it are used.
    value : float, optional
        Account value; default the holdings at market plus the ``CASH`` row.
    model : path, optional
        A run folder of an LSTM backtest (its last fitted model, ``model/``) or a
        folder written by ``LSTMForecaster.save``, to predict with instead of
        training. It must have been trained on prices up to ``as_of`` at the
        latest, and on the history these prices hold up to its fit date.
    on_epoch : callable, optional
        Progress callback for the LSTM's training epochs (see `plan_rebalance`).

    Returns
    -------
    RebalancePlan

    Raises
    ------
    DataError, ConfigError
        On bad holdings, dates, prices or settings (one clear message).
    """
    holdings = as_holdings(holdings)  # a bad file fails before the data loads
    prices, volume = load_plan_data(config)
    forecaster = _saved_model(config, model) if model else None
    replaced = None
    if forecaster is not None:
        _check_training_prices(forecaster, prices, config)
        date, _ = resolve_as_of(prices.index, as_of)
        fit_date = forecaster.fit_date_
        if months_between(fit_date, date) >= config.forecaster.retrain_months:
            # The config's schedule: a model this old is refitted, and the plan
            # says so (never silently).
            forecaster, replaced = None, fit_date
    return plan_rebalance(
        prices,
        config,
        holdings,
        as_of,
        value=value,
        forecaster=forecaster,
        fitted=forecaster is not None,
        volume=volume,
        on_epoch=on_epoch,
        replaced=replaced,
    )


# ------------------------------------------------------------------------ CLI


def rebalance_command(args: argparse.Namespace) -> int:
    """Handle ``portfolio rebalance`` (arguments parsed by `portfolio.cli`)."""
    config = load_config(args.config)
    out = Path(args.out)
    check_output(out, force=args.force, kind="plan")  # fail before the slow part
    # Training shows its epochs: a bar on a terminal, lines on stderr otherwise.
    with warnings.catch_warnings(), Reporter(quiet=args.quiet) as reporter:
        if args.quiet:
            warnings.simplefilter("ignore")
        plan = rebalance(
            config,
            args.holdings,
            args.as_of,
            value=args.value,
            model=args.model,
            on_epoch=reporter.epoch,
        )
    write_plan(plan, out, force=args.force)
    if args.quiet:
        print(out)
    else:
        sys.stdout.write(plan.summary())
        print(f"plan: {out}")
    return 0
