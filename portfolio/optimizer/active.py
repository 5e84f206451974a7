"""Benchmark-relative objectives: tracking error and utility on active returns.

With benchmark weights ``b`` and active weights ``w - b``:

- ``tracking_error`` minimises the ex-ante tracking variance
  ``(w - b)^T cov (w - b)`` (plus costs); ``mu`` is not used.
- ``active_utility`` maximises ``mu^T (w - b) - (gamma / 2) (w - b)^T cov (w - b)``.

Expanding the square, ``(w - b)^T cov (w - b) = w^T cov w - 2 (cov b)^T w + const``,
so each is the plain utility problem ``max m^T w - (gamma / 2) w^T cov w`` with
``m = gamma cov b`` (tracking error) or ``m = mu + gamma cov b`` (active utility).
Solving it that way keeps the compiled problem, its DPP parameters and the fast
solver paths of the utility objective; the constant does not move the optimum.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from foliocast.portfolio.optimizer.inputs import Inputs

__all__ = ["ACTIVE_OBJECTIVES", "as_utility", "benchmark_weights"]

ACTIVE_OBJECTIVES: tuple[str, ...] = ("tracking_error", "active_utility")


def benchmark_weights(benchmark: pd.Series | None, tickers: pd.Index) -> np.ndarray:
    """Benchmark weights aligned to ``tickers``; 1/N when none are given.

    Parameters
    ----------
    benchmark : pandas.Series, optional
        Weights indexed by ticker; an asset of the universe it leaves out has
        weight 0.
    tickers : pandas.Index
        The universe, in the solve's order.

    Returns
    -------
    numpy.ndarray of shape (n_assets,)

    Raises
    ------
    ValueError
        If a weight is missing or infinite, or the benchmark holds assets outside
        the universe (its tracking error could not be controlled).
    """
    if benchmark is None:
        return np.full(len(tickers), 1.0 / len(tickers))
    if not isinstance(benchmark, pd.Series):
        raise TypeError(
            f"benchmark must be a pandas Series of weights indexed by ticker, got "
            f"{type(benchmark).__name__}"
        )
    outside = benchmark.index.difference(tickers)
    if len(outside):
        raise ValueError(
            f"the benchmark holds assets outside the universe: {list(outside)[:5]}; "
            "give benchmark weights for the optimised assets only"
        )
    values = benchmark.reindex(tickers, fill_value=0.0).to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = list(tickers[~np.isfinite(values)][:5])
        raise ValueError(f"benchmark weights are missing or infinite for {bad}")
    return values


def as_utility(
    inputs: Inputs, objective: str, gamma: float, benchmark: pd.Series | None
) -> Inputs:
    """The utility-problem inputs whose optimum is the benchmark-relative one."""
    b = benchmark_weights(benchmark, inputs.tickers)
    tilt = gamma * inputs.risk.times(b)
    mu = tilt if objective == "tracking_error" else inputs.mu + tilt
    return replace(inputs, mu=mu)
