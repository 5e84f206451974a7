"""Score a finished backtest: performance, significance and forecast skill.

Produces the ``metrics.json`` document of a run::

    {"strategies": {name: summary}, "forecast": {...}, "run": {...}}

and, when ``backtest.held_out_from`` is set, ``"held_out": {"from", "start", "end",
"days", "strategies", "forecast"}``: the same summaries and forecast skill computed
on the held-out part alone (returns and forecasts dated on or after that day).

Everything in it is a deterministic function of the config and the data (no wall
times), so the same config and seed give the same file.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from foliocast.data.calendar import TRADING_DAYS_PER_YEAR
from foliocast.data.datasets import risk_free_info
from foliocast.forecasting.evaluation import evaluate_forecasts
from foliocast.portfolio.backtest.engine import BacktestResult, ForecastBook
from foliocast.portfolio.config import ConfigError, RunConfig, config_to_dict
from foliocast.portfolio.names import EQUAL_WEIGHT, INDEX
from foliocast.risk.metrics import (
    performance_summary,
    sharpe_ratio,
    tracking_error,
)
from foliocast.risk.significance import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    sharpe_difference_test,
    trial_sharpe_variance,
)
from foliocast.risk.trading import annualised_cost_drag, annualised_turnover

__all__ = [
    "run_metrics",
    "strategy_summaries",
    "active_risk",
    "forecast_skill",
    "held_out_part",
    "held_out_metrics",
    "json_ready",
]


def json_ready(value: Any) -> Any:
    """Plain JSON data: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def strategy_summaries(
    result: BacktestResult,
    risk_free: pd.Series,
    *,
    n_trials: int | None = None,
    benchmark_held: pd.Series | None = None,
    horizon: int | None = None,
) -> dict[str, dict[str, float]]:
    """Performance summary per strategy (and the index), with significance tests.

    The deflated Sharpe ratio of each strategy counts the run's strategies (the
    index excluded) as the trials, or ``n_trials`` when given, with the variance of
    their annualised Sharpe ratios (`risk.significance.trial_sharpe_variance`).
    With ``benchmark_held``, the daily returns of the run's benchmark portfolio
    (`portfolio.backtest.benchmark.benchmark_returns`), and the forecast
    ``horizon`` in days, each strategy also gets `active_risk`'s tracking errors.
    """
    returns = result.returns
    rf = risk_free.reindex(returns.index).fillna(0.0)
    years = len(returns) / TRADING_DAYS_PER_YEAR
    benchmark = returns[INDEX] if INDEX in returns else None
    strategies = [c for c in returns.columns if c != INDEX]
    # The trials' spread in the units the DSR expects: annualised Sharpe ratios,
    # as in the summaries.
    variance = trial_sharpe_variance(
        sharpe_ratio(returns[s], rf=rf, periods_per_year=TRADING_DAYS_PER_YEAR)
        for s in strategies
    )
    summaries = {}
    for name in returns.columns:
        rebalances = result.rebalances[result.rebalances.strategy == name]
        traded = name != INDEX
        summary = performance_summary(
            returns[name],
            rf=rf,
            periods_per_year=TRADING_DAYS_PER_YEAR,
            benchmark=benchmark if traded and benchmark is not None else None,
            turnover=annualised_turnover(rebalances.turnover, years)
            if traded
            else None,
            cost_drag=annualised_cost_drag(rebalances.cost, years) if traded else None,
        )
        summary["psr"] = probabilistic_sharpe_ratio(returns[name], rf=rf)
        if name in strategies:
            summary["dsr"] = deflated_sharpe_ratio(
                returns[name],
                n_trials=n_trials or len(strategies),
                sharpe_variance=variance,
                rf=rf,
                periods_per_year=TRADING_DAYS_PER_YEAR,
            )
        if EQUAL_WEIGHT in returns and name != EQUAL_WEIGHT:
            test = sharpe_difference_test(returns[name], returns[EQUAL_WEIGHT], rf=rf)
            summary["sharpe_diff_vs_equal_weight"] = test.sharpe - test.benchmark_sharpe
            summary["sharpe_diff_statistic"] = test.statistic
            summary["sharpe_diff_pvalue"] = test.p_value
            summary["sharpe_diff_method"] = test.method
        if traded and benchmark_held is not None:
            summary.update(
                active_risk(returns[name], rebalances, benchmark_held, horizon)
            )
        summary["rebalances_held"] = int((rebalances.status == "held").sum())
        summary["rebalances_failed"] = int((rebalances.status == "failed").sum())
        summaries[name] = summary
    return summaries


def active_risk(
    returns: pd.Series,
    rebalances: pd.DataFrame,
    benchmark_held: pd.Series,
    horizon: int | None,
) -> dict[str, float]:
    """Realised and ex-ante tracking error of a strategy to the run's benchmark.

    Parameters
    ----------
    returns : pandas.Series
        The strategy's daily net returns.
    rebalances : pandas.DataFrame
        Its rows of `BacktestResult.rebalances` (``predicted_te`` in horizon units;
        older results have none).
    benchmark_held : pandas.Series
        Daily returns of the benchmark portfolio.
    horizon : int or None
        Forecast horizon in days, the period of ``predicted_te``.

    Returns
    -------
    dict of str to float
        ``active_tracking_error``: annualised standard deviation of the daily
        active return, strategy minus benchmark (`risk.metrics.tracking_error`);
        ``ex_ante_tracking_error``: the mean over rebalances of the predicted
        tracking error, annualised from the forecast horizon
        (``sqrt(252 / horizon)``); NaN without predictions.
    """
    predicted = rebalances.get("predicted_te", pd.Series(dtype=float)).astype(float)
    predicted = predicted[np.isfinite(predicted.to_numpy())]
    ex_ante = (
        float(predicted.mean() * np.sqrt(TRADING_DAYS_PER_YEAR / horizon))
        if len(predicted) and horizon
        else math.nan
    )
    return {
        "active_tracking_error": tracking_error(
            returns, benchmark_held, periods_per_year=TRADING_DAYS_PER_YEAR
        ),
        "ex_ante_tracking_error": ex_ante,
    }


def forecast_skill(
    book: ForecastBook,
    prices: pd.DataFrame,
    model: str,
    baseline: str,
    *,
    start: str | pd.Timestamp | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Skill of the model's forecasts, with a Diebold-Mariano test against a baseline.

    Only forecasts made on or after ``start`` are scored when it is given. Returns
    the summary dict and the per-date table (as_of rows) of the model.
    """
    first = None if start is None else pd.Timestamp(start)
    by_name: dict[str, list] = {}
    for name, forecast in book.history:
        if first is None or pd.Timestamp(forecast.as_of) >= first:
            by_name.setdefault(name, []).append(forecast)
    if model not in by_name:
        return {}, pd.DataFrame()
    model_result = evaluate_forecasts(
        by_name[model], prices, baseline=by_name.get(baseline)
    )
    baseline_result = evaluate_forecasts(by_name[baseline], prices)
    skill = {"model": model_result.summary, "baseline": baseline_result.summary}
    return skill, model_result.per_date


def held_out_part(result: BacktestResult, start: str | pd.Timestamp) -> BacktestResult:
    """The part of a backtest dated on or after ``start``.

    Daily returns from ``start`` on, and the rebalances, weights, trades and
    forecasts made on or after it: what `strategy_summaries` needs to score that
    part alone (its turnover and costs are those of its own rebalances).
    """
    first = pd.Timestamp(start)

    def since(frame: pd.DataFrame) -> pd.DataFrame:
        if "date" not in frame.columns:
            return frame
        return frame[pd.to_datetime(frame["date"]) >= first]

    return dataclasses.replace(
        result,
        returns=result.returns.loc[result.returns.index >= first],
        gross_returns=result.gross_returns.loc[result.gross_returns.index >= first],
        weights=since(result.weights),
        trades=since(result.trades),
        rebalances=since(result.rebalances),
        forecasts=since(result.forecasts),
        forecast_factors=since(result.forecast_factors),
    )


def held_out_metrics(
    result: BacktestResult,
    book: ForecastBook,
    prices: pd.DataFrame,
    risk_free: pd.Series,
    start: str,
    *,
    benchmark_held: pd.Series | None = None,
    horizon: int | None = None,
) -> dict[str, Any]:
    """Performance, significance and forecast skill of the held-out part alone.

    The same functions as for the whole run (`strategy_summaries`,
    `forecast_skill`), applied to the returns and forecasts dated on or after
    ``start``.

    Raises
    ------
    ConfigError
        If fewer than two days of returns fall on or after ``start``.
    """
    part = held_out_part(result, start)
    if len(part.returns) < 2:
        last = result.returns.index[-1].date()
        raise ConfigError(
            f"backtest.held_out_from: {start} leaves fewer than two days of returns "
            f"(the backtest ends on {last}); set it earlier"
        )
    skill, _ = forecast_skill(book, prices, "model", "ledoit_wolf", start=start)
    return {
        "from": start,
        "start": part.returns.index[0],
        "end": part.returns.index[-1],
        "days": len(part.returns),
        "strategies": strategy_summaries(
            part,
            risk_free,
            benchmark_held=None
            if benchmark_held is None
            else benchmark_held.loc[benchmark_held.index >= pd.Timestamp(start)],
            horizon=horizon,
        ),
        "forecast": skill,
    }


def run_metrics(
    config: RunConfig,
    result: BacktestResult,
    book: ForecastBook,
    prices: pd.DataFrame,
    risk_free: pd.Series,
    provenance: dict[str, str],
    *,
    benchmark_held: pd.Series | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The ``metrics.json`` document of a run and the per-date forecast skill table.

    ``benchmark_held``: daily returns of the run's benchmark portfolio, for each
    strategy's tracking errors (`active_risk`).
    """
    active = {"benchmark_held": benchmark_held, "horizon": config.forecaster.horizon}
    skill, per_date = forecast_skill(book, prices, "model", "ledoit_wolf")
    rebalances = result.rebalances
    run_info = {
        "name": config.name,
        "start": result.returns.index[0],
        "end": result.returns.index[-1],
        "days": len(result.returns),
        "rebalances": int(rebalances.date.nunique()),
        "retrains": len(book.fit_dates),
        "retrain_dates": [d.date().isoformat() for d in book.fit_dates],
        "forecaster": config.forecaster.kind,
        "data": provenance,
        "risk_free": risk_free_info()
        if config.data.risk_free == "fama_french"
        else f"constant {config.data.risk_free:.4%} a year",
        "config": config_to_dict(config),
    }
    metrics = {
        "strategies": strategy_summaries(result, risk_free, **active),
        "forecast": skill,
        "run": run_info,
    }
    held_out = config.backtest.held_out_from
    if held_out is not None:
        metrics["held_out"] = held_out_metrics(
            result, book, prices, risk_free, held_out, **active
        )
    return json_ready(metrics), per_date
