"""Warm re-solve of the compiled optimizer vs a fresh PyPortfolioOpt EfficientFrontier.

For each case (n assets, full or factor covariance) the script draws seeded
factor-model problems (``cov = B B^T + diag(d)``, k = 10 factors), solves the
long-only, fully invested utility problem ``max mu^T w - (gamma/2) w^T cov w`` with

- ``portfolio.optimize`` on a warm compiled problem (compiled once on a first draw,
  then timed on fresh draws; the Cholesky factor of a full covariance is computed in
  each timed call), through its direct solver path (for OSQP on a full covariance
  the dense form, ``P`` = the covariance, of ``portfolio.optimize.dense.DenseQpSolve``,
  solved by quadprog or else OSQP: ``dense_path_answered_by`` counts which; "None"
  where the dense form gave no answer or does not apply)
  and, for reference, through cvxpy's own ``Problem.solve`` (``fast_path=False``),
  and
- a fresh ``EfficientFrontier(...).max_quadratic_utility`` per draw (built and
  solved each time, given the full covariance), with tight CLARABEL tolerances so
  that both sides solve the same problem to the same accuracy; PyPortfolioOpt's own
  default solver is timed too, for reference.

Each side runs as a loop (its calls back to back, as in a loop of ``optimize``
calls), in five rounds that alternate between the sides so that load from other
processes hits every side alike. BLAS runs on one thread (``--blas-threads``): on a
2-core machine shared with other jobs, multithreaded BLAS calls stall. The script
writes one JSON file (``benchmarks/results/optimizer.json`` unless ``--out``) with
mean, median and minimum times, the ratios and the largest weight differences,
also against the exact optimum (an active-set solve of the KKT conditions). The
design target is ratio >= 10 with weights equal to 1e-6 for n = 20, 100 and 500
(factor form at 500); ``meets_target`` asks it of the ratio of means and of the
ratio of medians. Run: ``python benchmarks/bench_optimizer.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier

from foliocast.portfolio.optimize.cache import DEFAULT_CACHE
from foliocast.portfolio.optimize.markowitz import markowitz

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


def _via_cvxpy(problem: dict, form: str, solvers: list[str] | None) -> Any:
    """Every solve through cvxpy's ``Problem.solve`` (no direct path)."""
    return ours(problem, form, solvers, fast_path=False)


def ours(
    problem: dict, form: str, solvers: list[str] | None, fast_path: bool = True
) -> Any:
    cov = problem["cov"] if form == "full" else problem["factors"]
    return markowitz(
        problem["mu"], cov, risk_aversion=GAMMA, solvers=solvers, fast_path=fast_path
    )


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


def run_case(n_assets: int, form: str, repeats: int, solvers: list[str] | None) -> dict:
    problems = [draw_problem(n_assets, seed) for seed in range(repeats + 1)]
    DEFAULT_CACHE.clear()
    compile_s, first = timed(lambda: ours(problems[0], form, solvers))
    direct = DEFAULT_CACHE.peek(first.spec).direct_solvers
    dense = DEFAULT_CACHE.peek(first.spec).dense_osqp
    _via_cvxpy(problems[0], form, solvers)  # compiles the cvxpy path's chain too
    pypfopt(problems[0], tight=True)  # warm imports on their side too
    sides: dict[str, Callable[[dict], pd.Series]] = {
        "ours": lambda p: ours(p, form, solvers),
        "cvxpy": lambda p: _via_cvxpy(p, form, solvers),
        "ref": lambda p: pypfopt(p, tight=True),
        "def": lambda p: pypfopt(p, tight=False),
    }
    times: dict[str, list[float]] = {side: [] for side in sides}
    dense_by: list[str] = []
    answers: dict[str, list] = {side: [] for side in sides}
    # Rounds of back-to-back calls per side: each side runs as a warm loop (as a
    # backtest calls it), and the rounds spread the machine's noise over all sides.
    timed_problems = problems[1:]
    for chunk in np.array_split(np.arange(len(timed_problems)), ROUNDS):
        for side, call in sides.items():
            for i in chunk:
                elapsed, answer = timed(lambda c=call, p=timed_problems[i]: c(p))
                times[side].append(elapsed)
                answers[side].append(answer)
                if side == "ours":  # which dense solver answered (untimed)
                    by_dense = answer.path == "dense"
                    dense_by.append(answer.solver.lower() if by_dense else "None")
    used = {result.solver for result in answers["ours"]}
    worst = {"ref": 0.0, "def": 0.0, "cvxpy": 0.0, "exact": 0.0, "ref_exact": 0.0}
    for i, result in enumerate(answers["ours"]):
        w_ours = result.weights
        exact = exact_weights(timed_problems[i], w_ours.to_numpy())
        for key in ("ref", "def", "cvxpy"):
            other = answers[key][i]
            other = other.weights if key == "cvxpy" else other
            diff = float(np.abs(w_ours - other.reindex(w_ours.index)).max())
            worst[key] = max(worst[key], diff)
        ref = answers["ref"][i].reindex(w_ours.index).to_numpy()
        worst["exact"] = max(worst["exact"], float(np.abs(w_ours - exact).max()))
        worst["ref_exact"] = max(worst["ref_exact"], float(np.abs(ref - exact).max()))
    ours_s, cvxpy_s, ref_s, def_s = (summarise(times[key]) for key in times)
    return {
        "n_assets": n_assets,
        "covariance": form if form == "full" else f"factor (k={N_FACTORS})",
        "repeats": repeats,
        "our_solvers": solvers or "default chain",
        "solver_used": sorted(used),
        "direct_path_solvers": list(direct),
        "dense_osqp_path": dense,
        "dense_path_answered_by": {
            name: dense_by.count(name) for name in sorted(set(dense_by))
        },
        "ours_first_call_with_compile_s": compile_s,
        "ours": ours_s,
        "ours_via_cvxpy_solve": cvxpy_s,
        "pypfopt_clarabel_tight": ref_s,
        "pypfopt_default_solver": def_s,
        "ratio": ref_s["mean_s"] / ours_s["mean_s"],
        "ratio_of_medians": ref_s["median_s"] / ours_s["median_s"],
        "ratio_vs_pypfopt_default_solver": def_s["mean_s"] / ours_s["mean_s"],
        "speedup_over_cvxpy_solve_of_medians": cvxpy_s["median_s"] / ours_s["median_s"],
        "max_abs_weight_diff": worst["ref"],
        "max_abs_weight_diff_vs_pypfopt_default": worst["def"],
        "max_abs_weight_diff_vs_cvxpy_solve": worst["cvxpy"],
        "max_abs_weight_error_vs_exact": worst["exact"],
        "pypfopt_clarabel_tight_max_abs_weight_error_vs_exact": worst["ref_exact"],
    }


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[str]:
    """Limit BLAS to ``n`` threads (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield "default (threadpoolctl not installed)"
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield str(n)


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
    parser.add_argument("--blas-threads", type=int, default=1)
    args = parser.parse_args()
    results = []
    before = machine()
    with blas_threads(args.blas_threads) as threads:
        for n_assets, form, repeats, target_case in CASES:
            repeats = max(2, repeats // 5) if args.quick else repeats
            row = run_case(n_assets, form, repeats, args.solvers)
            row["design_target_case"] = target_case
            row["meets_target"] = bool(
                min(row["ratio"], row["ratio_of_medians"]) >= TARGET_RATIO
                and row["max_abs_weight_diff"] <= TARGET_AGREEMENT
            )
            results.append(row)
            print(
                f"n={n_assets:4d} {form:6s} ours {row['ours']['median_s'] * 1e3:8.2f}"
                f" ms (cvxpy path {row['ours_via_cvxpy_solve']['median_s'] * 1e3:8.2f}"
                f")  pypfopt {row['pypfopt_clarabel_tight']['median_s'] * 1e3:8.2f} "
                f"ms  ratio of medians {row['ratio_of_medians']:6.1f} (means "
                f"{row['ratio']:6.1f})  max|dw| {row['max_abs_weight_diff']:.1e}",
                flush=True,
            )
    info = machine()
    info["load_average_before"] = before["load_average_1_5_15"]
    info["blas_threads"] = threads
    report = {
        "benchmark": "warm optimize() vs fresh PyPortfolioOpt EfficientFrontier",
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
