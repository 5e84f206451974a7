"""Trading metrics of a backtest: turnover and cost drag per year.

The backtest computes one-way turnover and costs per rebalance; these turn them into
the annual figures of `risk.metrics.performance_summary` (``turnover`` and
``cost_drag``), which passes them through.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["annualised_turnover", "annualised_cost_drag"]


def _per_year(amounts: pd.Series, years: float, what: str) -> float:
    if not np.isfinite(years) or years <= 0.0:
        raise ValueError(f"years must be a positive number, got {years}")
    values = amounts.to_numpy(dtype=float)
    if np.isnan(values).any() or np.isinf(values).any():
        raise ValueError(f"{what} contains missing or infinite values")
    return float(values.sum() / years)


def annualised_turnover(one_way: pd.Series, years: float) -> float:
    """Return the annualised one-way turnover: total one-way turnover per year.

    Parameters
    ----------
    one_way : pd.Series of shape (n_rebalances,)
        One-way turnover at each rebalance, ``0.5 * sum_i |w_target_i - w_drifted_i|``.
    years : float
        Length of the backtest in years (e.g. trading days over 252).

    Returns
    -------
    float
        ``sum(one_way) / years``; 1.0 means the whole book is replaced once a year.
    """
    return _per_year(one_way, years, "one_way")


def annualised_cost_drag(costs: pd.Series, years: float) -> float:
    """Return the annual cost drag: transaction costs per year as a wealth fraction.

    Parameters
    ----------
    costs : pd.Series of shape (n_rebalances,)
        Cost charged at each rebalance as a fraction of portfolio value,
        ``bps * 1e-4 * 2 * one_way``.
    years : float
        Length of the backtest in years.

    Returns
    -------
    float
        ``sum(costs) / years``, a positive number (0.002 = 20 bp a year).
    """
    return _per_year(costs, years, "costs")
