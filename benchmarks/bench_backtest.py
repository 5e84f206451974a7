"""Backtest speed and memory: the default run, and scaling with assets and years.

Writes JSON (default ``benchmarks/results/backtest.json``) with:

- ``default``: wall time and peak resident memory of ``portfolio backtest`` on the
  built-in default config (LSTM, sp500), run as a separate process;
- ``per_rebalance``: seconds per rebalance excluding forecaster fitting, for
  synthetic universes of 20, 100 and 500 assets with a factor structure;
- ``years``: wall time of the same synthetic run over 5, 10 and 20 years.

Usage: ``python benchmarks/bench_backtest.py [--out FILE] [--skip-default]
[--skip-scaling]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synthetic_prices(n_assets: int, years: int, *, factors: int = 5, seed: int = 0):
    """Daily prices from a k-factor model with realistic daily scales."""
    rng = np.random.default_rng(seed)
    days = 252 * years
    loadings = rng.normal(0.0, 1.0, (n_assets, factors)) * 0.004
    factor_returns = rng.normal(0.0003, 1.0, (days, factors))
    idio = rng.normal(0.0, 0.01, (days, n_assets))
    returns = factor_returns @ loadings.T + idio
    index = pd.bdate_range("2000-01-03", periods=days)
    tickers = [f"A{i:03d}" for i in range(n_assets)]
    return pd.DataFrame(100 * np.exp(np.cumsum(returns, axis=0)), index, tickers)


def synthetic_run(n_assets: int, years: int) -> dict[str, float]:
    """Run baselines on a synthetic universe; time rebalances without fitting."""
    from foliocast.data import rebalance_schedule
    from foliocast.forecasting.baselines import make_forecaster
    from foliocast.portfolio.backtest.engine import ForecastBook, run_backtest
    from foliocast.portfolio.backtest.strategies import EqualWeight, MeanVariance

    prices = synthetic_prices(n_assets, years)
    schedule = rebalance_schedule(prices.index, "M", min_history=252)
    book = ForecastBook(
        {"lw": make_forecaster("ledoit_wolf", horizon=21, lookback=504)},
        retrain_months=12,
    )
    constraints = {"long_only": True, "max_weight": max(0.05, 2.0 / n_assets)}
    strategies = [
        MeanVariance(
            "mvo", "lw", risk_aversion=5, constraints=constraints, cost_penalty_bps=10
        ),
        MeanVariance("minvar", "lw", objective="min_variance", constraints=constraints),
        EqualWeight(),
    ]
    started = time.perf_counter()
    result = run_backtest(prices, strategies, book, schedule, risk_model="lw")
    wall = time.perf_counter() - started
    fit = sum(v for k, v in result.timings.items() if k.startswith("fit:"))
    return {
        "n_assets": n_assets,
        "years": years,
        "rebalances": len(schedule),
        "wall_s": wall,
        "per_rebalance_s": (wall - fit) / len(schedule),
        "fit_s": fit,
    }


def run_child(argv: list[str]) -> tuple[float, float]:
    """Run ``argv`` in a child process from the repository root.

    Returns
    -------
    wall_s : float
        Seconds from start to exit.
    peak_memory_mb : float
        The child's own peak resident memory.

    Raises
    ------
    RuntimeError
        With the end of the child's stderr, if it fails.
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    stderr = child.stderr.read()
    # This child's own usage: RUSAGE_CHILDREN would report the largest of every
    # child this process ever waited for, whatever started it.
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(stderr[-2000:])
    return wall, usage.ru_maxrss / 1024


def default_run() -> dict[str, float]:
    """Time the default CLI backtest in a child process and read its peak RSS."""
    with tempfile.TemporaryDirectory() as folder:
        wall, peak = run_child(
            [
                sys.executable,
                "-m",
                "portfolio",
                "backtest",
                "--out",
                os.path.join(folder, "run"),
                "--quiet",
            ]
        )
        timings = json.loads(Path(folder, "run", "timings.json").read_text())
    return {
        "wall_s": wall,
        "peak_memory_mb": peak,
        "stages_s": timings,
        "target": "under 300 s and 3 GB on 2 CPU cores",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/backtest.json"))
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument(
        "--skip-scaling", action="store_true", help="only the default run"
    )
    args = parser.parse_args()
    report: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
    }
    if not args.skip_scaling:
        report["per_rebalance"] = [synthetic_run(n, 10) for n in (20, 100, 500)]
        report["years"] = [synthetic_run(50, y) for y in (5, 10, 20)]
    if not args.skip_default:
        report["default"] = default_run()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
