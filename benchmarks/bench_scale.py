"""Backtest cost in the number of assets: 20, 100 and 500, Ledoit-Wolf and LSTM.

Each case is one run of the project's backtest (``portfolio.backtest.run.run``, as
``portfolio backtest`` runs a config) on seeded synthetic prices from a 5-factor
model (`bench_backtest.synthetic_prices`, written to a Parquet file the config
names): monthly rebalancing from 2010-01-01 to 2015-12-31 with the years before as
history, retraining every 12 months, the default strategies and the default
optimizer settings, and the forecaster ``ledoit_wolf`` or ``lstm`` with the project's
default settings (`forecasting.settings`). Each case runs in its own process, so its
peak resident memory is its own (``ru_maxrss`` of that process).

The JSON (default ``benchmarks/results/scale.json``) has, per case, the wall time of
the child process (start-up and data included) and of ``run`` alone, the peak
memory and the seconds per stage of the backtest:

- ``fit``: forecaster fitting at each retrain;
- ``predict``: forecasts (asked by the first strategy that needs them, so their
  time is taken out of that strategy's decision);
- ``decide``: the strategies' decisions without the forecasts;
- ``simulate``: drifting the weights between rebalances;
- ``other``: the rest of ``run`` (loading, checks, recording, result tables and
  metrics).

Per forecaster it fits the exponent ``b`` of ``cost = a * n^b`` (least squares on
logs) for the run's wall time and for ``decide`` alone, and checks the targets: ``b``
at most 1.5, the 500-asset LSTM run under 600 s and every case under 3 GB.

BLAS threads are the library's default unless ``--blas-threads`` sets
``OPENBLAS_NUM_THREADS`` for the cases (recorded under ``machine``). Each decision
holds BLAS at one thread itself (`portfolio.backtest.decision.decide_at`): before it
did, on a 2-core machine busy with other work, threaded BLAS spin-waited and the
500-asset Ledoit-Wolf case took 567 s against 23 s with one thread.

Usage: ``python benchmarks/bench_scale.py [--quick] [--out FILE] [--forecasters
ledoit_wolf lstm] [--n 20 100 500] [--blas-threads 1]``. ``--quick`` runs 20 and 50
assets over 2014-2015 to check the script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_backtest import run_child, synthetic_prices  # noqa: E402

SIZES = (20, 100, 500)
FORECASTERS = ("ledoit_wolf", "lstm")
START, END = "2010-01-01", "2015-12-31"
QUICK_SIZES, QUICK_START = (20, 50), "2014-01-01"
HISTORY_FROM = "2004-01-01"  # six years before the start: the lookback and features
TARGETS = {"max_exponent": 1.5, "lstm_500_wall_s": 600.0, "peak_memory_mb": 3072.0}


def case_config(prices_path: str, forecaster: str, start: str) -> dict:
    """The run config of one case: defaults but data, dates and forecaster kind."""
    return {
        "name": f"scale_{forecaster}",
        "data": {"dataset": None, "path": prices_path, "risk_free": 0.0},
        "backtest": {"start": start, "end": END, "rebalance": "M"},
        "forecaster": {"kind": forecaster, "retrain_months": 12},
    }


def stages(timings: dict[str, float]) -> dict[str, float]:
    """Fit, predict, decide and simulate seconds from a backtest's timings."""

    def total(prefix: str) -> float:
        return sum(v for k, v in timings.items() if k.startswith(prefix))

    predict = total("predict:")
    return {
        "fit": total("fit:"),
        "predict": predict,
        # Forecasts are made inside the first decision that asks for them.
        "decide": max(total("decide:") - predict, 0.0),
        "simulate": timings.get("simulate", 0.0),
    }


def run_case(n_assets: int, forecaster: str, start: str, out: Path) -> None:
    """In the child process: run one case and write its measurements to ``out``."""
    import time

    from foliocast.portfolio.backtest.run import run
    from foliocast.portfolio.config import config_from_dict

    prices = synthetic_prices(n_assets, 17).loc[HISTORY_FROM:END]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "prices.parquet")
        prices.rename_axis("date").to_parquet(path)
        config = config_from_dict(case_config(path, forecaster, start))
        started = time.perf_counter()
        output = run(config)
        run_s = time.perf_counter() - started
    result = output.result
    split = stages(result.timings)
    rebalances = int(result.rebalances["date"].nunique())
    out.write_text(
        json.dumps(
            {
                "run_s": run_s,
                "rebalances": rebalances,
                "retrains": len(output.metrics["run"]["retrain_dates"]),
                "stages_s": {**split, "other": run_s - sum(split.values())},
                "decide_per_rebalance_s": split["decide"] / rebalances,
                "timings_s": result.timings,
            }
        )
    )


def exponent(sizes: list[int], seconds: list[float]) -> float | None:
    """Least-squares slope of log(seconds) on log(n); None under two sizes."""
    if len(set(sizes)) < 2 or min(seconds) <= 0:
        return None
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(slope)


def machine() -> dict:
    """Where the numbers were measured."""
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15": list(os.getloadavg()),
        "python": platform.python_version(),
        "versions": {
            name: version(name)
            for name in ("numpy", "pandas", "cvxpy", "clarabel", "jax", "flax")
        },
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def summary(cases: list[dict], forecaster: str) -> dict:
    """Exponents and targets of one forecaster's cases."""
    own = [c for c in cases if c["forecaster"] == forecaster]
    sizes = [c["n_assets"] for c in own]
    fits = {
        "wall_exponent": exponent(sizes, [c["run_s"] for c in own]),
        "decide_exponent": exponent(sizes, [c["stages_s"]["decide"] for c in own]),
    }
    checks = {
        "exponent_at_most_1_5": None
        if fits["wall_exponent"] is None
        else fits["wall_exponent"] <= TARGETS["max_exponent"],
        "peak_under_3_gb": all(
            c["peak_memory_mb"] < TARGETS["peak_memory_mb"] for c in own
        ),
    }
    if forecaster == "lstm":
        largest = [c for c in own if c["n_assets"] == 500]
        checks["lstm_500_under_600_s"] = (
            largest[0]["wall_s"] < TARGETS["lstm_500_wall_s"] if largest else None
        )
    return {**fits, "targets_met": checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/scale.json"))
    parser.add_argument("--quick", action="store_true", help="20 and 50 assets, 2 y")
    parser.add_argument("--forecasters", nargs="+", default=list(FORECASTERS))
    parser.add_argument("--n", nargs="+", type=int, default=None)
    parser.add_argument("--blas-threads", type=int, default=None)
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # N KIND START
    parser.add_argument("--case-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        n_assets, forecaster, start = args.case
        run_case(int(n_assets), forecaster, start, Path(args.case_out))
        return
    if args.blas_threads is not None:  # the cases' processes inherit it
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)
    sizes = args.n or (QUICK_SIZES if args.quick else SIZES)
    start = QUICK_START if args.quick else START
    report: dict = {"machine": machine(), "period": [start, END], "cases": []}
    for forecaster in args.forecasters:
        for n_assets in sizes:
            with tempfile.TemporaryDirectory() as folder:
                out = Path(folder, "case.json")
                wall, peak = run_child(
                    [sys.executable, __file__, "--case", str(n_assets), forecaster]
                    + [start, "--case-out", str(out)]
                )
                measured = json.loads(out.read_text())
            case = {"forecaster": forecaster, "n_assets": n_assets, "wall_s": wall}
            case |= {"peak_memory_mb": peak, **measured}
            report["cases"].append(case)
            print(json.dumps(case), flush=True)
    report["scaling"] = {f: summary(report["cases"], f) for f in args.forecasters}
    report["targets"] = TARGETS
    report["machine"]["load_average_after"] = list(os.getloadavg())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["scaling"], indent=2))


if __name__ == "__main__":
    main()
