"""A report record built by hand from seeded synthetic frames: no backtest needed.

`synthetic_record` returns a `ReportInput` shaped like a short run: daily returns
of four traded strategies and an index, monthly rebalances with weights, risk
contributions and predicted volatilities, forecasts of two forecasters and their
per-date skill, and metrics with the summaries, forecast skill and provenance the
report states.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from foliocast.risk.report.record import ReportInput, RunSettings

MAIN = "ewma_mvo"
ONE_OVER_N = "equal_weight"
BENCHMARK = "index"
STRATEGIES = (MAIN, "min_variance", ONE_OVER_N, "buy_and_hold", BENCHMARK)
ASSETS = ("AAPL", "MSFT", "XOM", "JNJ", "JPM")
FINGERPRINT = "ab" * 32
RETRAIN_DATES = ["2016-02-01", "2017-01-31"]
RISK_FREE_TEXT = "Fama-French RF, daily, last month (2018-11)"
SETTINGS = RunSettings(
    name="synthetic_run",
    forecaster="ewma",
    horizon=21,
    cost_bps=10.0,
    rebalance="M",
    start="2016-01-01",
    end="2018-06-29",
    min_history_days=252,
    on_failure="hold",
    cash=False,
    dataset="sp500",
    risk_free="fama_french",
    retrain_months=12,
    window="expanding",
    lookback_days=1260,
    optimizer={"objective": "utility", "risk_aversion": 5.0, "cost_penalty_bps": 10},
)


def _sharpe(returns: pd.Series, rf: pd.Series) -> float:
    excess = returns - rf
    return float(excess.mean() / excess.std(ddof=1) * np.sqrt(252))


def _summaries(returns: pd.DataFrame, rf: pd.Series, rng) -> dict[str, dict]:
    """Summaries with the report's keys; the tests' numbers are drawn, not scored."""
    reference = _sharpe(returns[ONE_OVER_N], rf)
    summaries = {}
    for name in returns.columns:
        r = returns[name]
        wealth = (1.0 + r).cumprod()
        summary: dict[str, Any] = {
            "annual_return": float(wealth.iloc[-1] ** (252 / len(r)) - 1.0),
            "annual_volatility": float(r.std(ddof=1) * np.sqrt(252)),
            "sharpe": _sharpe(r, rf),
            "max_drawdown": float((wealth / wealth.cummax() - 1.0).min()),
            "turnover": float(rng.uniform(0.5, 3.0)),
            "cost_drag": float(rng.uniform(1e-4, 3e-3)),
            "psr": float(rng.uniform(0.5, 1.0)),
            "dsr": float(rng.uniform(0.2, 1.0)),
        }
        if name not in (BENCHMARK, ONE_OVER_N):
            summary.update(
                sharpe_diff_vs_equal_weight=summary["sharpe"] - reference,
                sharpe_diff_statistic=float(rng.normal()),
                sharpe_diff_pvalue=float(rng.uniform(0.0, 1.0)),
                sharpe_diff_method="jobson_korkie_memmel",
            )
        summaries[name] = summary
    return summaries


def _rebalance_frames(
    dates: pd.DatetimeIndex, traded: list[str], rng
) -> tuple[pd.DataFrame, pd.DataFrame]:
    weights, rebalances = [], []
    for date in dates:
        for name in traded:
            w = rng.dirichlet(np.ones(len(ASSETS)))
            contribution = w * rng.uniform(0.02, 0.08, len(ASSETS))
            weights += [
                {
                    "date": date,
                    "strategy": name,
                    "asset": asset,
                    "weight": w[i],
                    "drifted": w[i],
                    "risk_contribution": contribution[i],
                }
                for i, asset in enumerate(ASSETS)
            ]
            turnover = float(rng.uniform(0.0, 0.4))
            rebalances.append(
                {
                    "date": date,
                    "strategy": name,
                    "turnover": turnover,
                    "cost": turnover * 1e-3,
                    "status": "traded",
                    "reason": "",
                    "predicted_vol": float(contribution.sum()),
                    "retrained": str(date.date()) in RETRAIN_DATES,
                    # 1/N is the benchmark portfolio; no draw, so the seeded
                    # numbers above stay as they were.
                    "predicted_te": 0.0
                    if name == ONE_OVER_N
                    else 0.25 * float(contribution.sum()),
                }
            )
    return pd.DataFrame(weights), pd.DataFrame(rebalances)


def _forecasts(dates: pd.DatetimeIndex, rng) -> pd.DataFrame:
    rows = [
        {
            "date": date,
            "forecaster": forecaster,
            "asset": asset,
            "mu": float(rng.normal(0.005, 0.02)),
            "vol": float(rng.uniform(0.04, 0.1)),
            "idio": float(rng.uniform(0.01, 0.03)),
        }
        for date in dates
        for forecaster in ("model", "ledoit_wolf")
        for asset in ASSETS
    ]
    return pd.DataFrame(rows)


def _forecast_scores(rng) -> dict[str, dict[str, float]]:
    keys = ("n_forecasts", "rmse", "directional_accuracy", "ic_mean", "ic_tstat")
    return {
        part: {key: float(rng.uniform(0.01, 0.6)) for key in keys}
        for part in ("model", "baseline")
    }


def synthetic_record(seed: int = 0, days: int = 640, **changes: Any) -> ReportInput:
    """A seeded record of a run of ``days`` business days from 2016-01-01.

    ``changes`` replace fields of the record (`dataclasses.replace`).
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2016-01-01", periods=days, name="date")
    market = rng.normal(3e-4, 8e-3, days)
    noise = rng.normal(0.0, 4e-3, (days, len(STRATEGIES)))
    returns = pd.DataFrame(market[:, None] + noise, index=dates, columns=STRATEGIES)
    risk_free = pd.Series(1e-4, index=dates, name="rf")
    rebalance_dates = dates[::21]
    traded = [name for name in STRATEGIES if name != BENCHMARK]
    weights, rebalances = _rebalance_frames(rebalance_dates, traded, rng)
    skill = pd.DataFrame(
        {
            "ic": rng.normal(0.02, 0.1, len(rebalance_dates)),
            "rank_ic": rng.normal(0.02, 0.1, len(rebalance_dates)),
        },
        index=pd.DatetimeIndex(rebalance_dates, name="as_of"),
    )
    summaries = _summaries(returns, risk_free, rng)
    for name in traded:
        active = returns[name] - returns[ONE_OVER_N]
        summaries[name]["active_tracking_error"] = float(active.std() * np.sqrt(252))
    metrics = {
        "strategies": summaries,
        "forecast": _forecast_scores(rng),
        "run": {
            "name": SETTINGS.name,
            "start": str(dates[0].date()),
            "end": str(dates[-1].date()),
            "rebalances": len(rebalance_dates),
            "retrains": len(RETRAIN_DATES),
            "retrain_dates": RETRAIN_DATES,
            "risk_free": RISK_FREE_TEXT,
            "data": {
                "source": "bundled",
                "dataset": "sp500",
                "first_date": "1990-01-02",
                "last_date": str(dates[-1].date()),
                "fingerprint": FINGERPRINT,
            },
        },
    }
    record = ReportInput(
        returns=returns,
        metrics=metrics,
        settings=SETTINGS,
        main=MAIN,
        config={"name": SETTINGS.name, "forecaster": {"kind": "ewma"}},
        descriptions={name: f"the {name} strategy" for name in STRATEGIES},
        weights=weights,
        rebalances=rebalances,
        forecasts=_forecasts(rebalance_dates, rng),
        forecast_skill=skill,
        risk_free=risk_free,
        assets=pd.DataFrame(
            {
                "asset": list(ASSETS),
                "asset_class": ["equity"] * len(ASSETS),
                "sector": ["Tech", "Tech", "Energy", "Health", "Financials"],
            }
        ),
        benchmark=BENCHMARK,
        one_over_n=ONE_OVER_N,
    )
    return dataclasses.replace(record, **changes) if changes else record
