"""Portfolio arithmetic between and at rebalances: drift, turnover and costs.

Conventions (one place, used everywhere):

- Weights are fractions of portfolio value; ``cash = 1 - sum(weights)`` earns the
  risk-free rate (zero when fully invested).
- Between rebalances weights drift with returns: ``w_i' = w_i (1 + r_i) / (1 + R)``
  with the portfolio return ``R = sum_i w_i r_i + cash * rf``.
- Trades happen at the rebalance close. One-way turnover is
  ``0.5 * sum_i |w_target_i - w_drifted_i|`` over the risky assets (cash moves are
  free), and the cost, as a fraction of portfolio value, is
  ``sum_i bps_i / 1e4 * |w_target_i - w_drifted_i|``, i.e. ``bps * 2 * turnover``
  for a single rate. The cost hits the return of the rebalance day:
  ``net = (1 + gross) * (1 - cost) - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DriftPath", "drift", "Trade", "trade"]


@dataclass(frozen=True)
class DriftPath:
    """Daily portfolio returns over a holding period and the weights at its end.

    Attributes
    ----------
    returns : ndarray of shape (n_days,)
        Daily portfolio returns before costs.
    weights : ndarray of shape (n_assets,)
        Drifted weights at the close of the last day.
    """

    returns: np.ndarray
    weights: np.ndarray


def drift(weights: np.ndarray, returns: np.ndarray, rf: np.ndarray) -> DriftPath:
    """Let weights drift with asset returns for a block of days.

    Parameters
    ----------
    weights : ndarray of shape (n_assets,)
        Weights at the close before the first day; cash is ``1 - sum(weights)``.
    returns : ndarray of shape (n_days, n_assets)
        Daily simple returns; NaN is allowed only for assets with zero weight
        (not yet in the universe).
    rf : ndarray of shape (n_days,)
        Daily risk-free return earned by cash.

    Returns
    -------
    DriftPath
    """
    weights = np.asarray(weights, dtype=float)
    returns = np.asarray(returns, dtype=float)
    if returns.shape[0] == 0:
        return DriftPath(np.empty(0), weights.copy())
    missing = np.isnan(returns)
    held = weights != 0
    if (missing & held).any():
        asset = int(np.flatnonzero((missing & held).any(axis=0))[0])
        raise ValueError(f"missing return for held asset at position {asset}")
    growth = np.cumprod(1.0 + np.where(missing, 0.0, returns), axis=0)
    cash_growth = np.cumprod(1.0 + np.asarray(rf, dtype=float))
    value = growth @ weights + (1.0 - weights.sum()) * cash_growth
    daily = value / np.concatenate([[1.0], value[:-1]]) - 1.0
    return DriftPath(daily, weights * growth[-1] / value[-1])


@dataclass(frozen=True)
class Trade:
    """A rebalance from drifted to target weights.

    Attributes
    ----------
    delta : ndarray of shape (n_assets,)
        ``target - drifted`` weights traded.
    turnover : float
        One-way turnover ``0.5 * sum |delta|``.
    cost : float
        Cost as a fraction of portfolio value.
    """

    delta: np.ndarray
    turnover: float
    cost: float


def trade(drifted: np.ndarray, target: np.ndarray, cost_rate: np.ndarray) -> Trade:
    """Turnover and cost of moving from ``drifted`` to ``target`` weights.

    Parameters
    ----------
    drifted, target : ndarray of shape (n_assets,)
        Weights before and after the trade.
    cost_rate : ndarray of shape (n_assets,) or float
        Proportional cost per unit of notional traded (bps / 1e4).
    """
    delta = np.asarray(target, dtype=float) - np.asarray(drifted, dtype=float)
    traded = np.abs(delta)
    return Trade(delta, 0.5 * float(traded.sum()), float((cost_rate * traded).sum()))
