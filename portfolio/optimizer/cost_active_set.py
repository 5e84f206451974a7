"""The dense QP with a proportional cost term, solved exactly side by side.

The problem is the dense QP of :mod:`~foliocast.portfolio.optimizer.active_set` plus
the cost of trading away from the previous weights ``p``::

    min x'Gx/2 - a'x + sum_i c_i |x_i - p_i|   s.t.  l <= A x <= u,  bounds.

The cost term is linear on each side of ``p_i``: once it is known for each asset
whether it is bought (``x_i >= p_i``) or sold (``x_i <= p_i``), the problem is the
plain dense QP with the linear term ``a_i - c_i`` or ``a_i + c_i`` and the bound
``p_i`` added on that side, which `solve_active_set` solves exactly. The sides start
from the solution without costs; an asset left at ``p_i`` whose other side pays
more than the cost is moved there and the QP solved again, a few rounds at most.
The answer counts only if it is a KKT point of the problem with costs to 1e-9 (the
same tolerances as `solve_active_set`): every constraint met, the rows'
multipliers of the right sign, and at every asset no direction the bounds allow
that lowers the objective by more than the tolerance. Otherwise the caller gets
``None`` and goes on to the compiled problem.
"""

from __future__ import annotations

import numpy as np

from foliocast.portfolio.optimizer.active_set import (
    DenseQp,
    active_set_solution,
    solve_active_set,
)

__all__ = ["solve_with_costs"]

_EXACT_TOL = 1e-9
"""How far an answer may miss a constraint (or, relative to the data's scale, the
KKT conditions) and still count; as in `active_set`."""
_ROUNDS = 6
"""QP solves after the first before the caller is sent on."""


def solve_with_costs(
    qp: DenseQp, cost: np.ndarray, prev: np.ndarray
) -> np.ndarray | None:
    """The solution of ``qp`` plus ``sum(cost * |x - prev|)``, or ``None``.

    Parameters
    ----------
    qp : DenseQp
        ``G`` positive definite, the linear term, the rows and the bounds.
    cost : ndarray of shape (n,)
        Cost per unit traded, at least 0.
    prev : ndarray of shape (n,)
        The weights trading starts from.

    Returns
    -------
    ndarray of shape (n,) or None
        ``None`` where a QP has no answer that counts, the sides do not settle
        within a few rounds, or the answer fails the KKT check.
    """
    g, a, general, low, high, box_low, box_high = qp
    start = solve_active_set(qp)
    if start is None:
        return None
    # +1: bought (x >= prev), -1: sold (x <= prev); where a bound leaves one side
    # only, that side.
    side = np.where(start >= prev, 1, -1).astype(np.int8)
    side[prev < box_low] = 1
    side[prev > box_high] = -1
    scale = max(1.0, float(np.abs(a).max(initial=0.0)), float(np.abs(g).max()))
    tol, grad_tol = _EXACT_TOL, _EXACT_TOL * scale
    for _ in range(_ROUNDS):
        buy = side > 0
        sided = DenseQp(
            g,
            a - cost * side,
            general,
            low,
            high,
            np.where(buy, np.maximum(box_low, prev), box_low),
            np.where(buy, box_high, np.minimum(box_high, prev)),
        )
        solution = active_set_solution(sided)
        if solution is None:
            return None
        x, y = solution
        gain = a - g @ x + general.T @ y  # the objective's decrease per unit bought
        at_prev = np.abs(x - prev) <= tol
        # Left at prev on one side, while the other side gains more than its cost.
        flip = at_prev & np.where(
            buy,
            (gain < -cost - grad_tol) & (prev > box_low + tol),
            (gain > cost + grad_tol) & (prev < box_high - tol),
        )
        if not flip.any():
            return x if _kkt(qp, cost, prev, x, y, gain, tol, grad_tol) else None
        side[flip] = -side[flip]
    return None


def _kkt(
    qp: DenseQp,
    cost: np.ndarray,
    prev: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    gain: np.ndarray,
    tol: float,
    grad_tol: float,
) -> bool:
    """Whether ``x`` with row multipliers ``y`` is optimal for the problem with costs.

    The problem is convex, so it is where ``x`` is feasible, each row's multiplier
    has the sign its active side allows (0 on an inactive row), and no asset can
    move in a direction its bounds allow and lower the objective: buying gains
    ``gain_i`` and costs ``c_i`` from ``prev_i`` up (saves it below), selling the
    reverse.
    """
    _, _, general, low, high, box_low, box_high = qp
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return False
    rows = general @ x
    if np.any(rows < low - tol) or np.any(rows > high + tol):
        return False
    if np.any(x < box_low - tol) or np.any(x > box_high + tol):
        return False
    at_low, at_high = rows <= low + tol, rows >= high - tol
    # y >= 0 holds a row up at its lower side, y <= 0 down at its upper side.
    if np.any((y > grad_tol) & ~at_low) or np.any((y < -grad_tol) & ~at_high):
        return False
    up_cost = np.where(x >= prev - tol, cost, -cost)
    down_cost = np.where(x <= prev + tol, cost, -cost)
    can_buy, can_sell = x < box_high - tol, x > box_low + tol
    if np.any(can_buy & (gain - up_cost > grad_tol)):
        return False
    return not np.any(can_sell & (-gain - down_cost > grad_tol))
