"""A loop of public ``optimize()`` calls vs a fresh PyPortfolioOpt EfficientFrontier.

For each case (n assets, full or factor covariance) the script draws seeded
factor-model problems (``cov = B B^T + diag(d)``, k = 10 factors) and solves the
long-only, fully invested utility problem ``max mu^T w - (gamma/2) w^T cov w`` with

- ours: ``optimize(mu, cov, risk_aversion=gamma)``, the function a user gets from
  ``from foliocast.portfolio import optimize``, called as a user calls it (no
  options; its default cache keeps the problem compiled on a first, untimed draw,
  so the timed calls on fresh draws validate, set parameters and re-solve; the
  Cholesky factor of a full covariance is computed in each call). Which solver
  and path answered is read afterwards, untimed, from ``markowitz`` on the same
  draws (``dense_path_answered_by``: "quadprog" or "osqp" on the dense form of a
  full covariance, "None" where another path answered);
- the headline reference: a fresh ``EfficientFrontier(mu, cov)
  .max_quadratic_utility(risk_aversion=gamma)`` per draw, with PyPortfolioOpt's
  defaults (no solver or tolerance arguments) and given the full covariance;
- for reference, the same with tight CLARABEL tolerances (our CLARABEL defaults,
  ``pypfopt_clarabel_tight``), which makes PyPortfolioOpt slower but as accurate
  as the exact optimum, and ours through cvxpy's own ``Problem.solve``
  (``optimize(..., fast_path=False)``).

BLAS runs as a user gets it: the script sets no thread limit. ``optimize`` holds
BLAS at one thread during each call itself (``foliocast._blas``); PyPortfolioOpt
runs with the library's default threads (recorded under ``machine.blas``).

Each side runs as a loop (its calls back to back, as in a loop of ``optimize``
calls), in five rounds that alternate between the sides so that load from other
processes hits every side alike; each side's block starts after an (untimed) full
garbage collection, so that a collection set off by one side's garbage is not
timed on another side. The script writes one JSON file
(``benchmarks/results/optimizer.json`` unless ``--out``) with mean, median and
minimum times, the ratios and the largest weight differences, also against the
exact optimum (an active-set solve of the KKT conditions). The design target:
``ratio`` (PyPortfolioOpt's mean time over ours) >= 10 and weights equal to 1e-6
(``max_abs_weight_diff``, against PyPortfolioOpt with its defaults) for n = 20, 100
and 500 (factor form at 500 on our side); ``meets_target`` asks the ratio of means
and the ratio of medians. Run: ``python benchmarks/bench_optimizer.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier

from foliocast.portfolio import optimize
from foliocast.portfolio.optimizer.cache import DEFAULT_CACHE
from foliocast.portfolio.optimizer.markowitz import markowitz

GAMMA = 5.0
N_FACTORS = 10
TARGET_RATIO = 10.0
TARGET_AGREEMENT = 1e-6
# The tolerances our CLARABEL runs at for this problem (DEFAULT_SOLVER_OPTIONS).
TIGHT_CLARABEL = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
DEFAULT_OUT = Path(__file__).parent / "results" / "optimizer.json"
ROUNDS = 5

# (n_assets, covariance form, timed repeats, is a design-target case)
CASES = [
    (20, "full", 200, True),
    (100, "full", 100, True),
    (500, "factor", 30, True),
    (20, "factor", 200, False),
    (100, "factor", 100, False),
    (500, "full", 10, False),
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


def ours(problem: dict, form: str, fast_path: bool = True) -> pd.Series:
    """The public call: ``optimize(mu, cov, risk_aversion=gamma)``."""
    cov = problem["cov"] if form == "full" else problem["factors"]
    if fast_path:
        return optimize(problem["mu"], cov, risk_aversion=GAMMA)
    return optimize(problem["mu"], cov, risk_aversion=GAMMA, fast_path=False)


def ours_reported(problem: dict, form: str) -> Any:
    """The same solve through ``markowitz``, which names the solver and path."""
    cov = problem["cov"] if form == "full" else problem["factors"]
    return markowitz(problem["mu"], cov, risk_aversion=GAMMA)


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


def exact_weights(problem: dict, start: np.ndarray) -> np.ndarray:
    """The exact optimum, by an active-set solve of the KKT system.

    For ``max mu^T w - (gamma/2) w^T cov w`` with ``sum(w) = 1, w >= 0``: on the
    support S the optimum solves ``gamma cov_SS w_S + lambda 1 = mu_S``,
    ``1^T w_S = 1``; off it the gradient ``mu - gamma cov w - lambda`` is <= 0.
    Starting from the support of ``start``, assets are dropped (negative weight)
    or added (positive gradient) one at a time until both hold.
    """
    mu, cov = problem["mu"].to_numpy(), problem["cov"].to_numpy()
    support = start > 1e-7
    for _ in range(4 * len(mu)):
        held = np.flatnonzero(support)
        kkt = np.ones((len(held) + 1, len(held) + 1))
        kkt[:-1, :-1] = GAMMA * cov[np.ix_(held, held)]
        kkt[-1, -1] = 0.0
        solution = np.linalg.solve(kkt, np.append(mu[held], 1.0))
        weights = np.zeros(len(mu))
        weights[held] = solution[:-1]
        if weights[held].min() < 0:
            support[held[np.argmin(weights[held])]] = False
            continue
        gradient = np.where(support, -np.inf, mu - GAMMA * cov @ weights - solution[-1])
        if gradient.max() <= 1e-12:
            return weights
        support[np.argmax(gradient)] = True
    raise RuntimeError("active-set solve did not converge")


def summarise(times: list[float]) -> dict:
    return {
        "mean_s": statistics.fmean(times),
        "median_s": statistics.median(times),
        "min_s": min(times),
    }


def run_case(n_assets: int, form: str, repeats: int) -> dict:
    problems = [draw_problem(n_assets, seed) for seed in range(repeats + 1)]
    DEFAULT_CACHE.clear()
    compile_s, _ = timed(lambda: ours(problems[0], form))
    ours(problems[0], form, fast_path=False)  # compiles the cvxpy path's chain too
    pypfopt(problems[0], tight=True)  # warm imports on their side too
    sides: dict[str, Callable[[dict], pd.Series]] = {
        "ours": lambda p: ours(p, form),
        "cvxpy": lambda p: ours(p, form, fast_path=False),
        "def": lambda p: pypfopt(p, tight=False),
        "tight": lambda p: pypfopt(p, tight=True),
    }
    times: dict[str, list[float]] = {side: [] for side in sides}
    answers: dict[str, list] = {side: [] for side in sides}
    # Rounds of back-to-back calls per side: each side runs as a warm loop (as a
    # backtest calls it), and the rounds spread the machine's noise over all sides.
    timed_problems = problems[1:]
    for chunk in np.array_split(np.arange(len(timed_problems)), ROUNDS):
        for side, call in sides.items():
            # Each side starts its block with no garbage of the other side's
            # pending: a full collection walks every object of the process (about
            # 0.1 s here), and it should land in the block whose garbage set it off.
            gc.collect()
            for i in chunk:
                elapsed, answer = timed(lambda c=call, p=timed_problems[i]: c(p))
                times[side].append(elapsed)
                answers[side].append(answer)
    # Untimed: who answered each draw, and that it is the weights optimize gave.
    reports = [ours_reported(problem, form) for problem in timed_problems]
    direct = DEFAULT_CACHE.peek(reports[0].spec).direct_solvers
    dense = DEFAULT_CACHE.peek(reports[0].spec).dense_osqp
    dense_by = [r.solver.lower() if r.path == "dense" else "None" for r in reports]
    keys = ("def", "tight", "cvxpy", "exact", "def_exact", "tight_exact")
    worst = dict.fromkeys(keys, 0.0)
    for i, w_ours in enumerate(answers["ours"]):
        if not reports[i].weights.equals(w_ours):
            raise RuntimeError("markowitz and optimize disagree on the same draw")
        exact = exact_weights(timed_problems[i], w_ours.to_numpy())
        for key in ("def", "tight", "cvxpy"):
            other = answers[key][i].reindex(w_ours.index).to_numpy()
            worst[key] = max(worst[key], float(np.abs(w_ours - other).max()))
            if key != "cvxpy":
                error = float(np.abs(other - exact).max())
                worst[f"{key}_exact"] = max(worst[f"{key}_exact"], error)
        worst["exact"] = max(worst["exact"], float(np.abs(w_ours - exact).max()))
    ours_s, cvxpy_s, def_s, tight_s = (summarise(times[key]) for key in sides)
    return {
        "n_assets": n_assets,
        "covariance": form if form == "full" else f"factor (k={N_FACTORS})",
        "repeats": repeats,
        "ours_call": "optimize(mu, cov, risk_aversion=5)",
        "solver_used": sorted({r.solver for r in reports}),
        "direct_path_solvers": list(direct),
        "dense_osqp_path": dense,
        "dense_path_answered_by": {
            name: dense_by.count(name) for name in sorted(set(dense_by))
        },
        "pypfopt_default_solver_name": pypfopt_solver_name(problems[0]),
        "ours_first_call_with_compile_s": compile_s,
        "ours": ours_s,
        "ours_via_cvxpy_solve": cvxpy_s,
        "pypfopt_default_solver": def_s,
        "pypfopt_clarabel_tight": tight_s,
        "ratio": def_s["mean_s"] / ours_s["mean_s"],
        "ratio_of_medians": def_s["median_s"] / ours_s["median_s"],
        "ratio_vs_pypfopt_clarabel_tight": tight_s["mean_s"] / ours_s["mean_s"],
        "ratio_of_medians_vs_pypfopt_clarabel_tight": (
            tight_s["median_s"] / ours_s["median_s"]
        ),
        "speedup_over_cvxpy_solve_of_medians": cvxpy_s["median_s"] / ours_s["median_s"],
        "max_abs_weight_diff": worst["def"],
        "max_abs_weight_diff_vs_pypfopt_clarabel_tight": worst["tight"],
        "max_abs_weight_diff_vs_cvxpy_solve": worst["cvxpy"],
        "max_abs_weight_error_vs_exact": worst["exact"],
        "pypfopt_default_max_abs_weight_error_vs_exact": worst["def_exact"],
        "pypfopt_clarabel_tight_max_abs_weight_error_vs_exact": worst["tight_exact"],
    }


def pypfopt_solver_name(problem: dict) -> str:
    """The solver cvxpy picks for PyPortfolioOpt's problem under its defaults."""
    ef = EfficientFrontier(problem["mu"], problem["cov"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ef.max_quadratic_utility(risk_aversion=GAMMA)
    return str(ef._opt.solver_stats.solver_name)


def blas_setting() -> list[dict]:
    """The BLAS libraries loaded and their thread settings, as a user's process has."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "num_threads", "threading_layer")
    return [
        {key: info.get(key) for key in keys}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": list(os.getloadavg()),
        "python": platform.python_version(),
        "versions": {
            name: version(name)
            for name in ("cvxpy", "clarabel", "osqp", "pyportfolioopt", "numpy")
        },
        "blas": blas_setting(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    results = []
    before = machine()
    for n_assets, form, repeats, target_case in CASES:
        repeats = max(2, repeats // 5) if args.quick else repeats
        row = run_case(n_assets, form, repeats)
        row["design_target_case"] = target_case
        row["meets_target"] = bool(
            min(row["ratio"], row["ratio_of_medians"]) >= TARGET_RATIO
            and row["max_abs_weight_diff"] <= TARGET_AGREEMENT
        )
        results.append(row)
        print(
            f"n={n_assets:4d} {form:6s} ours {row['ours']['median_s'] * 1e3:7.2f} ms "
            f"(cvxpy path {row['ours_via_cvxpy_solve']['median_s'] * 1e3:7.2f})  "
            f"pypfopt {row['pypfopt_default_solver']['median_s'] * 1e3:7.2f} ms "
            f"(tight {row['pypfopt_clarabel_tight']['median_s'] * 1e3:7.2f})  "
            f"ratio of medians {row['ratio_of_medians']:5.1f} (means "
            f"{row['ratio']:5.1f}; vs tight "
            f"{row['ratio_vs_pypfopt_clarabel_tight']:5.1f})  "
            f"max|dw| {row['max_abs_weight_diff']:.1e}",
            flush=True,
        )
    info = machine()
    info["load_average_before"] = before["load_average_1_5_15"]
    report = {
        "benchmark": (
            "a loop of optimize() calls vs a fresh PyPortfolioOpt EfficientFrontier "
            "with its defaults"
        ),
        "problem": "max_quadratic_utility, long-only, budget 1, gamma=5",
        "target": {"ratio": TARGET_RATIO, "max_abs_weight_diff": TARGET_AGREEMENT},
        "machine": info,
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
