"""``portfolio fit``: fit the configured model on data up to a date and save it.

The model is fitted exactly as the backtest fits it at a rebalance date: on the
assets investable at that date (`backtest.decision.investable`), over the configured
training window (`backtest.book.training_rows`). So ``portfolio rebalance --model``
can check a saved model against the prices it is given, whether a backtest or this
command fitted it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from foliocast.forecasting.base import Forecaster, fit_forecaster
from foliocast.portfolio.backtest.book import training_rows
from foliocast.portfolio.backtest.decision import investable
from foliocast.portfolio.config import ConfigError, RunConfig, load_config
from foliocast.portfolio.output_folder import staging
from foliocast.portfolio.progress import Reporter
from foliocast.portfolio.rebalance.plan import load_plan_data, model_forecaster
from foliocast.portfolio.rebalance.valuation import resolve_as_of

__all__ = ["fit_model", "fit_command"]


def fit_model(config: RunConfig, as_of: str, *, on_epoch=None) -> Forecaster:
    """Fit the config's model forecaster on its data up to ``as_of``.

    Parameters
    ----------
    config : RunConfig
        Data and forecaster settings (``forecaster.kind`` must be ``lstm``).
    as_of : date-like
        Last date of the training data (a non-trading day uses the one before).
    on_epoch : callable, optional
        Progress callback for the training epochs.

    Returns
    -------
    Forecaster
        The fitted forecaster; its ``save`` writes a model folder.

    Raises
    ------
    ConfigError
        If the forecaster is not one that is fitted ahead (the classical ones are
        estimated from the prices at each rebalance).
    """
    if config.forecaster.kind != "lstm":
        raise ConfigError(
            f"forecaster.kind {config.forecaster.kind!r} is estimated from the prices "
            "at each rebalance, not fitted ahead; portfolio fit trains the LSTM"
        )
    prices, volume = load_plan_data(config)
    date, _ = resolve_as_of(prices.index, as_of)
    past = prices.loc[:date]
    universe = investable(past, config.backtest.min_history_days)
    rows = training_rows(config.forecaster.window, config.forecaster.lookback_days)
    train = past[universe].iloc[rows]
    train_volume = None
    if volume is not None:
        train_volume = volume.reindex(index=past.index, columns=universe).iloc[rows]
    forecaster = model_forecaster(config)
    if on_epoch is not None and hasattr(forecaster, "on_epoch"):
        forecaster.on_epoch = on_epoch
    fit_forecaster(forecaster, train, train_volume)
    return forecaster


def fit_command(args: argparse.Namespace) -> int:
    """Handle ``portfolio fit`` (arguments parsed by `portfolio.cli`)."""
    config = load_config(args.config)
    out = Path(args.out)
    with Reporter(quiet=args.quiet) as reporter:
        forecaster = fit_model(config, args.as_of, on_epoch=reporter.epoch)
    with staging(out, force=args.force, kind="model") as folder:
        forecaster.save(folder / "model")
    fitted = forecaster.fit_date_
    print(
        f"model fitted on prices up to {fitted:%Y-%m-%d} "
        f"(fingerprint {forecaster.fingerprint_[:12]}): {out}",
        file=sys.stdout,
    )
    return 0
