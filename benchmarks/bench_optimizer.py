"""Warm re-solve of the compiled optimizer vs a fresh PyPortfolioOpt EfficientFrontier.

For each case (n assets, full or factor covariance) the script draws seeded
factor-model problems (``cov = B B^T + diag(d)``, k = 10 factors), solves the
long-only, fully invested utility problem ``max mu^T w - (gamma/2) w^T cov w`` with

- ``portfolio.optimize`` on a warm compiled problem (compiled once on a first draw,
  then timed on fresh draws; the Cholesky factor of a full covariance is computed in
  each timed call), and
- a fresh ``EfficientFrontier(...).max_quadratic_utility`` per draw (built and
  solved each time, given the full covariance), with tight CLARABEL tolerances so
  that both sides solve the same problem to the same accuracy; PyPortfolioOpt's own
  default solver is timed too, for reference.

It writes one JSON file (``benchmarks/results/optimizer.json`` unless ``--out``)
with mean/median times, their ratio and the largest weight difference. The design
target is ratio >= 10 with weights equal to 1e-6 for n = 20, 100 and 500 (factor
form at 500). Run: ``python benchmarks/bench_optimizer.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier

from portfolio.optimizer import clear_problem_cache, optimize

GAMMA = 5.0
N_FACTORS = 10
TARGET_RATIO = 10.0
TARGET_AGREEMENT = 1e-6
TIGHT_CLARABEL = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
DEFAULT_OUT = Path(__file__).parent / "results" / "optimizer.json"

# (n_assets, covariance form, timed repeats, is a design-target case)
CASES = [
    (20, "full", 40, True),
    (100, "full", 20, True),
    (500, "factor", 8, True),
    (20, "factor", 40, False),
    (100, "factor", 20, False),
    (500, "full", 4, False),
]


def draw_problem(n_assets: int, seed: int) -> dict:
    """Seeded annual-scale factor-model problem of ``n_assets`` assets."""
    rng = np.random.default_rng(seed)
    tickers = [f"A{i:04d}" for i in range(n_assets)]
    loadings = rng.normal(0.0, 0.05, (n_assets, N_FACTORS))
    loadings[:, 0] = np.abs(loadings[:, 0]) + 0.12  # a market factor
    idio = rng.uniform(0.10, 0.35, n_assets) ** 2
    b = pd.DataFrame(loadings, index=tickers)
    d = pd.Series(idio, index=tickers)
    return {
        "mu": pd.Series(rng.normal(0.08, 0.06, n_assets), index=tickers),
        "cov": pd.DataFrame(loadings @ loadings.T + np.diag(idio), tickers, tickers),
        "factors": (b, d),
    }


def timed(call: Callable[[], pd.Series]) -> tuple[float, pd.Series]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def ours(problem: dict, form: str, solvers: list[str] | None) -> pd.Series:
    cov = problem["cov"] if form == "full" else problem["factors"]
    return optimize(problem["mu"], cov, risk_aversion=GAMMA, solvers=solvers)


def pypfopt(problem: dict, tight: bool) -> pd.Series:
    if tight:
        ef = EfficientFrontier(
            problem["mu"],
            problem["cov"],
            solver="CLARABEL",
            solver_options=TIGHT_CLARABEL,
        )
    else:
        ef = EfficientFrontier(problem["mu"], problem["cov"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "solution may be inaccurate" chatter
        return pd.Series(ef.max_quadratic_utility(risk_aversion=GAMMA))


def summarise(times: list[float]) -> dict:
    return {"mean_s": statistics.fmean(times), "median_s": statistics.median(times)}


def run_case(n_assets: int, form: str, repeats: int, solvers: list[str] | None) -> dict:
    problems = [draw_problem(n_assets, seed) for seed in range(repeats + 1)]
    clear_problem_cache()
    compile_s, _ = timed(lambda: ours(problems[0], form, solvers))
    pypfopt(problems[0], tight=True)  # warm imports on their side too
    ours_times, ref_times, default_times = [], [], []
    worst, worst_default = 0.0, 0.0
    for problem in problems[1:]:
        t_ours, w_ours = timed(lambda p=problem: ours(p, form, solvers))
        t_ref, w_ref = timed(lambda p=problem: pypfopt(p, tight=True))
        t_def, w_def = timed(lambda p=problem: pypfopt(p, tight=False))
        ours_times.append(t_ours)
        ref_times.append(t_ref)
        default_times.append(t_def)
        worst = max(worst, float(np.abs(w_ours - w_ref.reindex(w_ours.index)).max()))
        worst_default = max(
            worst_default, float(np.abs(w_ours - w_def.reindex(w_ours.index)).max())
        )
    ours_s, ref_s, default_s = (
        summarise(ours_times),
        summarise(ref_times),
        summarise(default_times),
    )
    return {
        "n_assets": n_assets,
        "covariance": form if form == "full" else f"factor (k={N_FACTORS})",
        "repeats": repeats,
        "our_solvers": solvers or "default chain",
        "ours_first_call_with_compile_s": compile_s,
        "ours": ours_s,
        "pypfopt_clarabel_tight": ref_s,
        "pypfopt_default_solver": default_s,
        "ratio": ref_s["mean_s"] / ours_s["mean_s"],
        "ratio_of_medians": ref_s["median_s"] / ours_s["median_s"],
        "ratio_vs_pypfopt_default_solver": default_s["mean_s"] / ours_s["mean_s"],
        "max_abs_weight_diff": worst,
        "max_abs_weight_diff_vs_pypfopt_default": worst_default,
    }


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {
            name: version(name)
            for name in ("cvxpy", "clarabel", "osqp", "pyportfolioopt", "numpy")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument(
        "--solvers",
        nargs="+",
        default=None,
        help="our solver chain (default: the optimizer's default chain)",
    )
    args = parser.parse_args()
    results = []
    for n_assets, form, repeats, target_case in CASES:
        repeats = max(2, repeats // 4) if args.quick else repeats
        row = run_case(n_assets, form, repeats, args.solvers)
        row["design_target_case"] = target_case
        row["meets_target"] = bool(
            row["ratio"] >= TARGET_RATIO
            and row["max_abs_weight_diff"] <= TARGET_AGREEMENT
        )
        results.append(row)
        print(
            f"n={n_assets:4d} {form:6s} ours {row['ours']['mean_s'] * 1e3:8.2f} ms  "
            f"pypfopt {row['pypfopt_clarabel_tight']['mean_s'] * 1e3:8.2f} ms  "
            f"ratio {row['ratio']:6.1f}  max|dw| {row['max_abs_weight_diff']:.1e}"
        )
    report = {
        "benchmark": "warm optimize() vs fresh PyPortfolioOpt EfficientFrontier",
        "problem": "max_quadratic_utility, long-only, budget 1, gamma=5",
        "target": {"ratio": TARGET_RATIO, "max_abs_weight_diff": TARGET_AGREEMENT},
        "machine": machine(),
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
