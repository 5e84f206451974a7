"""Whole-share rounding: target weights to whole shares within the account's cash.

Target weights below `DUST_WEIGHT` count as 0; a whole holding within one share of
its target is kept as it is (no trade for a rounding remainder); the other targets
``w V / price`` are rounded toward zero, scaled down first so that the estimated
trading cost (``backtest.cost_bps`` of traded notional) is paid from cash; then one
share at a time goes to the asset with the largest remaining shortfall (in value)
while cash allows and no upper limit (max weight, bounds, group maximum, leverage,
turnover, budget) is pushed further out. So buys never exceed cash plus sales,
residual cash after costs is >= 0, and each rounded weight is within one share of
its target (plus the cost scaling).

``V`` is the account value the weights are fractions of; turnover is one-way,
``0.5 * sum |w_target - w_current|``.
"""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

from portfolio.constraints import ResolvedConstraints

__all__ = [
    "DUST_WEIGHT",
    "LIMIT_EPS",
    "whole_shares",
]

DUST_WEIGHT = 1e-6
"""Target weights smaller than this (solver noise) are treated as 0."""

LIMIT_EPS = 1e-9
"""Floating-point slack for limits that whole-share rounding is built to respect."""


def _upper_excess(
    weights: np.ndarray,
    resolved: ResolvedConstraints | None,
    prev: np.ndarray,
    sold: float,
) -> np.ndarray:
    """How far ``weights`` lie above each upper-type limit (0 where within).

    One entry per asset upper bound, group maximum, the budget (as a maximum),
    gross leverage and one-way turnover, in a fixed order.
    """
    if resolved is None:
        return np.zeros(0)
    c = resolved.constraints
    parts = [
        weights - resolved.upper,
        resolved.group_matrix @ weights - resolved.group_upper,
        [weights.sum() - c.budget if c.budget is not None else -np.inf],
        [np.abs(weights).sum() - c.max_leverage if c.max_leverage else -np.inf],
        [
            0.5 * (np.abs(weights - prev).sum() + sold) - c.turnover
            if c.turnover is not None
            else -np.inf
        ],
    ]
    return np.clip(np.concatenate([np.asarray(p, dtype=float) for p in parts]), 0, None)


def whole_shares(
    target: pd.Series,
    prices: pd.Series,
    current: pd.Series,
    value: float,
    *,
    cash: float,
    cost_rate: float = 0.0,
    resolved: ResolvedConstraints | None = None,
    sold: float = 0.0,
) -> pd.Series:
    """Round target weights to whole shares within the account's cash.

    Parameters
    ----------
    target : pandas.Series of shape (n_assets,)
        Target weights (fractions of ``value``) by ticker.
    prices : pandas.Series of shape (n_assets,)
        Price per share, same tickers.
    current : pandas.Series of shape (n_assets,)
        Shares held now, same tickers (0 where none).
    value : float
        Account value ``V`` the weights refer to.
    cash : float
        Cash before trading, ``V`` minus the market value of every holding
        (negative when a withdrawal must be met by selling). Sales of holdings
        outside ``target`` must already be counted in it.
    cost_rate : float
        Trading cost as a fraction of traded notional, paid from cash.
    resolved : ResolvedConstraints, optional
        Limits on ``target.index``; a share is only added if it pushes no upper
        limit further out.
    sold : float
        Weight of holdings outside ``target`` that are sold (counts as turnover).

    Returns
    -------
    pandas.Series of shape (n_assets,)
        Whole target shares (int) with ``cash + sum((current - shares) * price)
        - cost >= 0``.
    """
    price = prices.to_numpy(dtype=float)
    held = current.to_numpy(dtype=float)
    weights = target.to_numpy(dtype=float)
    exact = np.where(np.abs(weights) < DUST_WEIGHT, 0.0, weights) * value / price
    # A whole holding within one share of its target stays as it is: trading a
    # share to chase a rounding remainder costs more than it corrects.
    settled = (np.abs(exact - held) < 1) & (held == np.round(held))

    def cash_after(shares: np.ndarray) -> float:
        traded = np.abs(shares - held) * price
        return cash + float(((held - shares) * price).sum() - cost_rate * traded.sum())

    # Leave room for the cost of the trades so that the rounded portfolio fits.
    invested = float((exact * price).sum())
    room = (
        cash
        + float((held * price).sum())
        - cost_rate * float((np.abs(exact - held) * price).sum())
    )
    scale = min(1.0, room / invested) if invested > 0 else 1.0
    shares = np.where(settled, held, np.trunc(exact * max(scale, 0.0)))
    while cash_after(shares) < 0:  # only when costs or shorts upset the scaling
        longs = np.flatnonzero(shares > 0)
        if not len(longs):
            raise ValueError("no whole-share portfolio fits the account value")
        # Give up the share whose loss leaves the smallest shortfall in value.
        after = (exact[longs] - shares[longs] + 1) * price[longs]
        over = longs[np.argmin(after)]
        shares[over] -= 1
        settled[over] = False

    prev = held * price / value
    excess = _upper_excess(shares * price / value, resolved, prev, sold)
    shortfall = (exact - shares) * price
    queue = [(-shortfall[i], i) for i in np.flatnonzero((shortfall > 0) & ~settled)]
    heapq.heapify(queue)
    while queue:
        _, i = heapq.heappop(queue)
        shares[i] += 1
        trial = _upper_excess(shares * price / value, resolved, prev, sold)
        if cash_after(shares) < 0 or (trial > excess + LIMIT_EPS).any():
            shares[i] -= 1  # unaffordable or over a limit: this asset is done
            continue
        excess = np.maximum(excess, trial)
        remaining = (exact[i] - shares[i]) * price[i]
        if remaining > 0:
            heapq.heappush(queue, (-remaining, i))
    return pd.Series(shares.astype(np.int64), index=target.index, name="shares")
