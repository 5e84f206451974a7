"""Whole-share rounding: target weights to whole shares within the account's cash.

Target weights below `DUST_WEIGHT` count as 0; a whole holding within one share of
its target is kept as it is (no trade for a rounding remainder); the other targets
``w V / price`` are rounded toward zero, scaled down first so that the estimated
trading cost (``backtest.cost_bps`` of traded notional) is paid from cash. Should
cash still fall short (costs, shorts), shares are given up one at a time, each from
the long whose loss leaves the smallest shortfall in value. Then one share at a time
goes to the asset with the largest remaining shortfall (in value) while cash allows
and no upper limit (max weight, bounds, group maximum, leverage, turnover, budget) is
pushed more than `LIMIT_EPS` beyond where it stood; an asset whose next share is
refused gets no more. So buys never exceed cash plus sales, residual cash after
costs is >= 0, and each rounded weight is within one share of its target (plus the
cost scaling).

``V`` is the account value the weights are fractions of; turnover is one-way,
``0.5 * sum |w_target - w_current|``.

Cost. Share by share, the greedy takes as many steps as shares it moves, which for
a large account is unbounded. Both greedy passes therefore jump ahead in bulk when
many steps remain: the shares the greedy would move next, taken in its own order
(ascending loss, descending shortfall), are counted for a threshold on that order,
and the threshold is bisected to the last point where the whole batch is certainly
accepted (cash stays >= 0; every limit stays within its allowance all along the way,
bounded per asset by the larger of its start and end). Single steps then resolve the
boundary. Each jump costs a bisection (at most `_BISECTIONS` sums over the assets)
and is followed by a single step that, but for ties, finishes an asset, so the
work no longer grows with the amount; ordinary accounts (fewer than `BULK_STEPS`
steps to go) take the plain share-by-share greedy. Amounts are bounded: a target
beyond `MAX_ROUNDED_SHARES` shares (above which floats no longer count whole shares
exactly) is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from foliocast.portfolio.optimizer.constraints import ResolvedConstraints

__all__ = [
    "DUST_WEIGHT",
    "LIMIT_EPS",
    "MAX_ROUNDED_SHARES",
    "whole_shares",
]

DUST_WEIGHT = 1e-6
"""Target weights smaller than this (solver noise) are treated as 0."""

LIMIT_EPS = 1e-9
"""Floating-point slack for limits that whole-share rounding is built to respect."""

MAX_ROUNDED_SHARES = 1e15
"""Largest share count rounded (whole numbers are exact in float64 up to 2**53)."""

BULK_STEPS = 1000
"""Above this many remaining greedy steps (plus two per asset) a pass jumps ahead."""

_MAX_PASSES = 10_000
"""Passes of the filling loop beyond ten per asset (each ends an asset or adds one)."""

_BISECTIONS = 200
"""Bisection steps on the greedy order's threshold (float64 halves in ~1100)."""


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
    return _path_excess(weights, weights, resolved, prev, sold)


def _path_excess(
    start: np.ndarray,
    end: np.ndarray,
    resolved: ResolvedConstraints | None,
    prev: np.ndarray,
    sold: float,
) -> np.ndarray:
    """Upper bound of `_upper_excess` on any path from ``start`` up to ``end``.

    Every limit is a sum of per-asset terms that are convex in the asset's weight
    (linear for bounds, groups and budget; ``|w|`` for leverage, ``|w - prev|`` for
    turnover). Along a path on which each weight only grows from ``start`` to
    ``end``, each term is at most the larger of its two end values, so their sum
    bounds the limit all the way. With ``start == end`` this is the excess itself.
    """
    if resolved is None:
        return np.zeros(0)
    c = resolved.constraints
    groups = resolved.group_matrix
    turnover = np.maximum(np.abs(start - prev), np.abs(end - prev)).sum()
    parts = [
        end - resolved.upper,
        np.clip(groups, 0, None) @ end
        + np.clip(groups, None, 0) @ start
        - resolved.group_upper,
        [end.sum() - c.budget if c.budget is not None else -np.inf],
        [
            np.maximum(np.abs(start), np.abs(end)).sum() - c.max_leverage
            if c.max_leverage
            else -np.inf
        ],
        [0.5 * (turnover + sold) - c.turnover if c.turnover is not None else -np.inf],
    ]
    return np.clip(np.concatenate([np.asarray(p, dtype=float) for p in parts]), 0, None)


def _bisect(
    accept: Callable[[float], bool], low: float, high: float
) -> tuple[float, float]:
    """Narrow ``(low, high]`` to adjacent floats around where ``accept`` turns True.

    ``accept`` must be monotone, False at ``low`` and True at ``high``; the
    returned pair keeps that (``low`` refused, ``high`` accepted).
    """
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        if not low < middle < high:
            break
        if accept(middle):
            high = middle
        else:
            low = middle
    return low, high


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
        limit more than `LIMIT_EPS` beyond where it stood before rounding.
    sold : float
        Weight of holdings outside ``target`` that are sold (counts as turnover).

    Returns
    -------
    pandas.Series of shape (n_assets,)
        Whole target shares (int) with ``cash + sum((current - shares) * price)
        - cost >= 0``.

    Raises
    ------
    ValueError
        If an amount is not finite, a price is not positive, a target or holding
        exceeds `MAX_ROUNDED_SHARES` shares, or no whole-share portfolio fits the
        account value.
    """
    price = prices.to_numpy(dtype=float)
    held = current.to_numpy(dtype=float)
    weights = target.to_numpy(dtype=float)
    exact = np.where(np.abs(weights) < DUST_WEIGHT, 0.0, weights) * value / price
    _check_amounts(target.index, price, held, exact, value, cash)
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
    _give_up(shares, settled, exact, price, cost_rate, cash_after)
    _fill(
        shares,
        settled,
        exact,
        price,
        held,
        cost_rate,
        cash_after,
        value,
        resolved,
        sold,
    )
    return pd.Series(shares.astype(np.int64), index=target.index, name="shares")


def _check_amounts(
    tickers: pd.Index,
    price: np.ndarray,
    held: np.ndarray,
    exact: np.ndarray,
    value: float,
    cash: float,
) -> None:
    """Refuse amounts that whole-share arithmetic in float64 cannot count exactly."""
    if not (math.isfinite(value) and math.isfinite(cash)):
        raise ValueError(f"account value {value!r} and cash {cash!r} must be finite")
    if not (np.isfinite(price).all() and (price > 0).all()):
        bad = ", ".join(map(str, tickers[~(np.isfinite(price) & (price > 0))]))
        raise ValueError(f"prices of {bad} are not positive finite numbers")
    for what, amounts in (("target", exact), ("holding", held)):
        over = ~(np.abs(amounts) <= MAX_ROUNDED_SHARES)
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise ValueError(
                f"{what} of {amounts[i]:.3g} shares of {tickers[i]} (price "
                f"{price[i]:.3g}) is beyond the {MAX_ROUNDED_SHARES:.0e} shares "
                "that whole-share rounding counts exactly"
            )


def _give_up(
    shares: np.ndarray,
    settled: np.ndarray,
    exact: np.ndarray,
    price: np.ndarray,
    cost_rate: float,
    cash_after: Callable[[np.ndarray], float],
) -> None:
    """Give up long shares until cash is >= 0, in place (only costs or shorts need it).

    The k-th share given up from an asset leaves the shortfall
    ``(exact - shares + k) * price``; the greedy gives up, one at a time, the share
    whose loss leaves the smallest one.
    """
    while (deficit := -cash_after(shares)) > 0:
        longs = shares > 0
        if not longs.any():
            raise ValueError("no whole-share portfolio fits the account value")
        back = price[longs].min() * max(1.0 - cost_rate, 1e-12)  # least cash a share
        if deficit / back > BULK_STEPS + 2 * len(shares):
            taken = _give_up_batch(shares, longs, exact, price, cash_after)
            shares -= taken
            settled[taken > 0] = False
        longs = np.flatnonzero(shares > 0)
        if not len(longs) or cash_after(shares) >= 0:
            continue  # the loop test decides
        after = (exact[longs] - shares[longs] + 1) * price[longs]
        over = longs[np.argmin(after)]
        shares[over] -= 1
        settled[over] = False


def _give_up_batch(
    shares: np.ndarray,
    longs: np.ndarray,
    exact: np.ndarray,
    price: np.ndarray,
    cash_after: Callable[[np.ndarray], float],
) -> np.ndarray:
    """Shares per asset the greedy certainly gives up before cash turns >= 0."""
    base = exact - shares
    first = (base + 1) * price
    last = (base + shares + 1) * price

    def count(threshold: float) -> np.ndarray:
        # Shares of each long whose loss leaves a shortfall below the threshold.
        with np.errstate(invalid="ignore", over="ignore"):
            k = np.ceil(threshold / price - base) - 1
        return np.where(longs, np.clip(k, 0, shares), 0.0)

    low = float(first[longs].min())
    low -= max(1.0, abs(low))
    high = float(last[longs].max())
    high += max(1.0, abs(high))
    if cash_after(shares - count(high)) < 0:
        raise ValueError("no whole-share portfolio fits the account value")
    # Every batch up to ``low`` leaves cash short, so the greedy gives all of it up.
    low, _ = _bisect(lambda t: cash_after(shares - count(t)) >= 0, low, high)
    return count(low)


def _fill(
    shares: np.ndarray,
    settled: np.ndarray,
    exact: np.ndarray,
    price: np.ndarray,
    held: np.ndarray,
    cost_rate: float,
    cash_after: Callable[[np.ndarray], float],
    value: float,
    resolved: ResolvedConstraints | None,
    sold: float,
) -> None:
    """Add shares, largest shortfall first, while cash and limits allow (in place).

    An asset's next share leaves the shortfall ``(exact - shares) * price`` before
    it is added; ties go to the first asset. An asset whose next share is refused
    (cash or a limit) gets no more: cash only falls as shares are added.
    """
    prev = held * price / value

    def excess(start: np.ndarray, end: np.ndarray) -> np.ndarray:
        return _path_excess(
            start * price / value, end * price / value, resolved, prev, sold
        )

    allowed = excess(shares, shares) + LIMIT_EPS
    active = ~settled
    for _ in range(_MAX_PASSES + 10 * len(shares)):  # bounded; stopping early is safe
        shortfall = (exact - shares) * price
        active &= shortfall > 0
        if not active.any():
            return
        back = price[active].min() * max(1.0 - cost_rate, 1e-12)
        steps = min(
            float(np.ceil(exact - shares)[active].sum()),
            max(cash_after(shares), 0.0) / back,
        )
        if steps > BULK_STEPS + 2 * len(shares):
            shares += _fill_batch(
                shares, active, shortfall, exact, price, cash_after, excess, allowed
            )
            shortfall = (exact - shares) * price
            active &= shortfall > 0
            if not active.any():
                return
        i = int(np.argmax(np.where(active, shortfall, -np.inf)))
        shares[i] += 1
        if cash_after(shares) < 0 or (excess(shares, shares) > allowed).any():
            shares[i] -= 1
            active[i] = False


def _fill_batch(
    shares: np.ndarray,
    active: np.ndarray,
    shortfall: np.ndarray,
    exact: np.ndarray,
    price: np.ndarray,
    cash_after: Callable[[np.ndarray], float],
    excess: Callable[[np.ndarray, np.ndarray], np.ndarray],
    allowed: np.ndarray,
) -> np.ndarray:
    """Shares per asset the greedy certainly adds next (all of them accepted)."""
    missing = exact - shares

    def count(threshold: float) -> np.ndarray:
        # Shares of each active asset added while its shortfall is above threshold.
        k = np.ceil(missing - threshold / price)
        return np.where(active, np.clip(k, 0, None), 0.0)

    def accept(threshold: float) -> bool:
        end = shares + count(threshold)
        if cash_after(end) < 0:
            return False
        return bool((excess(shares, end) <= allowed).all())

    if accept(0.0):
        return count(0.0)
    high = float(shortfall[active].max())
    high += max(1.0, high)
    _, high = _bisect(accept, 0.0, high)
    return count(high) if accept(high) else np.zeros_like(shares)
