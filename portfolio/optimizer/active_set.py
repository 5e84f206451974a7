"""quadprog's exact active-set solve of the dense QP, from a guessed active set.

The dense QP (see :class:`~foliocast.portfolio.optimizer.dense.DenseQpSolve`) is
``min x'Gx/2 - a'x`` subject to rows ``l <= A x <= u`` (budget, groups, target
return) and bounds ``lower <= x <= upper``. quadprog (Goldfarb-Idnani's dual
active-set method) solves it exactly, in finitely many steps, on the active set it
ends with: no tolerances, no iteration state. :func:`solve_active_set` starts it
from a guessed active set and checks the answer against the full problem's KKT
conditions; :func:`quadprog_data` gives quadprog's own form of the whole problem.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy.linalg import lapack

__all__ = ["DenseQp", "active_set_solution", "quadprog_data", "solve_active_set"]


class DenseQp(NamedTuple):
    """The dense QP ``min x'Gx/2 - a'x`` s.t. ``l <= A x <= u`` and the bounds.

    Attributes
    ----------
    g : ndarray of shape (n, n)
        ``G``, both triangles.
    a : ndarray of shape (n,)
        The linear term, ``-q`` in OSQP's form.
    general : ndarray of shape (k, n)
        The rows ``A`` other than the bounds: budget, groups, target return.
    low, high : ndarray of shape (k,)
        Their sides ``l`` and ``u``; an absent side is inf.
    box_low, box_high : ndarray of shape (n,)
        The bounds ``lower`` and ``upper``; an absent side is inf.
    """

    g: np.ndarray
    a: np.ndarray
    general: np.ndarray
    low: np.ndarray
    high: np.ndarray
    box_low: np.ndarray
    box_high: np.ndarray


_EXACT_TOL = 1e-9
"""How far a quadprog answer may miss a constraint (or, relative to the data's
scale, the KKT conditions) and still count."""
_GUESS_FROM = 60
"""Problems of this many assets and more start quadprog from a guessed active set;
smaller ones go to quadprog whole (its few steps cost less than the guess)."""
_GUESS_ROUNDS = 8
"""Rounds of :func:`_refine_sides`, at most."""
_GUESS_FEW = 0.5
"""A round of :func:`_refine_sides` that fixes fewer than this share of the assets it
looked at is the last: quadprog adds the few bounds left faster than another round
(its Cholesky factorisation and index work) finds them. Long-only utility problems,
n = 60 to 200: 10% to 25% less time than running the rounds out; n = 500 alike."""
_SMALL_START = 40
"""Free assets of a fresh start after an infeasible guess (`_start_small`)."""
_FREE_TOL = 1e-12
"""Reduced gradient (relative to the data's scale) that frees a fixed asset."""


def quadprog_data(qp: DenseQp) -> tuple[Any, ...]:
    """The data ``G, a, C, b, meq`` of quadprog for the whole of ``qp``.

    Each row ``l_i <= A_i x <= u_i`` gives an equality ``A_i x = l_i`` where
    ``l_i == u_i`` (these columns of ``C`` come first, ``meq`` of them), else
    ``A_i x >= l_i`` for a finite ``l_i`` and ``-A_i x >= -u_i`` for a finite
    ``u_i``; the bounds likewise.

    Returns
    -------
    tuple
        ``G`` (n, n), ``a`` (n,), ``C`` (n, k), ``b`` (k,) and ``meq``.
    """
    g, a, *constraints = qp
    c, b, meq, _ = _quadprog_constraints(*constraints)
    return g, a, c, b, meq


def solve_active_set(qp: DenseQp) -> np.ndarray | None:
    """The solution of ``qp`` from quadprog, or ``None`` where it does not count.

    See `active_set_solution`, which also gives the rows' multipliers.
    """
    solution = active_set_solution(qp)
    return None if solution is None else solution[0]


def active_set_solution(qp: DenseQp) -> tuple[np.ndarray, np.ndarray] | None:
    """The solution of ``qp`` and its rows' multipliers, or ``None``.

    quadprog starts from the unconstrained minimum and adds one violated
    constraint per step, each step O(n^2): on a long-only problem with few assets
    held that is one step per asset left out (about 0.6 ms a step at n = 500). So
    from :data:`_GUESS_FROM` assets up, assets are first fixed at a bound where the
    minimum under the equality rows alone (one Cholesky solve) puts them beyond
    it, quadprog solves for the others (their own bounds included), and any fixed
    asset whose reduced gradient says it should move is freed and the reduced
    problem solved again. The free set only grows, so this ends (at worst with the
    full problem), and it ends on the KKT point of the full problem: the optimum,
    unique for a positive definite ``G``.

    ``None`` where ``G`` is not positive definite (a singular covariance), on
    inconsistent constraints, or where the answer fails the check of the full
    problem's KKT conditions: finite, every constraint met to 1e-9, and
    stationarity, multiplier signs and complementarity to 1e-9 (of the data's
    scale for the gradient).

    Parameters
    ----------
    qp : DenseQp

    Returns
    -------
    tuple of (ndarray of shape (n,), ndarray of shape (k,)) or None
        ``x`` and the rows' multipliers ``y``: ``G x - a - A^T y`` is what the
        bounds hold.
    """
    import quadprog  # an optional dependency: the caller checked it is installed

    g, a, general, low, high, box_low, box_high = qp
    pinned = box_low == box_high  # always fixed, never freed
    # side: 0 free, -1 fixed at its lower bound, +1 at its upper bound.
    side = np.where(pinned, -1, 0).astype(np.int8)
    at = None
    if len(a) >= _GUESS_FROM:
        try:
            at = _equality_minimum(g, a, general, low, high)
        except np.linalg.LinAlgError:
            return None  # not positive definite: quadprog would refuse it
        if at is not None and np.all(np.isfinite(at)):
            side[(at <= box_low) & ~pinned] = -1
            side[(at >= box_high) & ~pinned] = 1
            if np.all(side != 0):
                side[~pinned] = 0
            _refine_sides(side, g, a, general, low, high, box_low, box_high)
        else:
            at = None
    # max |G|, without an n x n temporary.
    scale = max(1.0, float(np.abs(a).max(initial=0.0)), float(g.max()), -float(g.min()))
    while True:
        try:
            x, multipliers, kkt = _solve_reduced(
                quadprog, side, g, a, general, low, high, box_low, box_high, scale
            )
        except ValueError:  # inconsistent, or not positive definite
            if np.all(side[~pinned] == 0):
                return None
            # A fixed set that leaves no feasible point: once, the favoured few
            # (after that the free set only grows, so this ends); then all.
            if at is None or not _start_small(side, at, box_low, pinned):
                side[~pinned] = 0
            at = None
            continue
        fixed = np.flatnonzero((side != 0) & ~pinned)
        if len(fixed) == 0:
            break
        # The bounds' multipliers: up at a lower bound, down at an upper one.
        bound = g[fixed] @ x - a[fixed] - multipliers @ general[:, fixed]
        limit = _FREE_TOL * scale
        wrong = fixed[np.where(side[fixed] < 0, bound < -limit, bound > limit)]
        if len(wrong) == 0:
            break
        side[wrong] = 0
    # The reduced problem's KKT conditions and the fixed assets' multiplier
    # signs are the full problem's KKT conditions.
    return (x, multipliers) if kkt else None


def _unit_columns(n: int, index: np.ndarray, sign: float) -> np.ndarray:
    """``sign`` times the columns ``index`` of the n x n identity."""
    columns = np.zeros((n, len(index)))
    columns[index, np.arange(len(index))] = sign
    return columns


def _quadprog_constraints(
    general: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    box_low: np.ndarray,
    box_high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int, tuple[np.ndarray, ...]]:
    """``C, b, meq`` for ``l <= A x <= u`` and ``lower <= x <= upper``.

    Returns
    -------
    c, b, meq
        quadprog's constraints ``C^T x >= b``, the first ``meq`` equalities.
    rows : tuple of ndarray
        The rows of ``A`` behind the first columns of ``C``: equalities, lower
        sides, upper sides (see :func:`_row_multipliers`).
    """
    n = len(box_low)
    eq, box_eq = low == high, box_low == box_high
    lo = np.flatnonzero(np.isfinite(low) & ~eq)
    hi = np.flatnonzero(np.isfinite(high) & ~eq)
    eq = np.flatnonzero(eq)
    box_lo = np.flatnonzero(np.isfinite(box_low) & ~box_eq)
    box_hi = np.flatnonzero(np.isfinite(box_high) & ~box_eq)
    box_eq = np.flatnonzero(box_eq)
    # Rows of A first (their multipliers are read back), then the bounds.
    c = np.hstack(
        (
            general[eq].T,
            general[lo].T,
            -general[hi].T,
            _unit_columns(n, box_eq, 1.0),
            _unit_columns(n, box_lo, 1.0),
            _unit_columns(n, box_hi, -1.0),
        )
    )
    b = np.concatenate(
        (
            low[eq],
            low[lo],
            -high[hi],
            box_low[box_eq],
            box_low[box_lo],
            -box_high[box_hi],
        )
    )
    # quadprog wants the equalities first: the rows' ones, then the pinned bounds.
    k_eq, k_rows = len(eq), len(eq) + len(lo) + len(hi)
    meq = k_eq + len(box_eq)
    if len(box_eq):
        order = np.r_[
            np.arange(k_eq),
            np.arange(k_rows, k_rows + len(box_eq)),
            np.arange(k_eq, k_rows),
            np.arange(k_rows + len(box_eq), len(b)),
        ]
        c, b = c[:, order], b[order]
        rows = (eq, lo, hi, order)
    else:
        rows = (eq, lo, hi, None)
    return c, b, meq, rows


def _row_multipliers(
    lagrangian: np.ndarray, rows: tuple[np.ndarray, ...], k: int
) -> np.ndarray:
    """``y`` of the ``k`` rows of ``A`` from quadprog's multipliers."""
    eq, lo, hi, order = rows
    if order is not None:
        unordered = np.empty_like(lagrangian)
        unordered[order] = lagrangian
        lagrangian = unordered
    y = np.zeros(k)
    y[eq] = lagrangian[: len(eq)]
    start = len(eq)
    y[lo] += lagrangian[start : start + len(lo)]
    start += len(lo)
    y[hi] -= lagrangian[start : start + len(hi)]
    return y


def _equality_minimum(
    g: np.ndarray,
    a: np.ndarray,
    general: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> np.ndarray | None:
    """The minimum of ``x'Gx/2 - a'x`` under the equality rows alone.

    ``None`` where the equality rows are dependent.

    Raises
    ------
    numpy.linalg.LinAlgError
        Where ``G`` is not positive definite.
    """
    # G is symmetric, so G^T (Fortran order for a C-ordered G) is G: LAPACK takes
    # it without a transposing copy.
    factor, info = lapack.dpotrf(g.T, lower=0, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError("not positive definite")
    eq = low == high
    rows = general[eq]
    k = len(rows)
    rhs = np.empty((len(a), 1 + k), order="F")  # [a, A_eq^T], as LAPACK takes it
    rhs[:, 0] = a
    rhs[:, 1:] = rows.T
    solved, info = lapack.dpotrs(factor, rhs, lower=0)
    if info != 0:
        raise np.linalg.LinAlgError("dpotrs failed")
    x = solved[:, 0]
    if k == 0:
        return x
    z = solved[:, 1:]
    gram, residual = rows @ z, rows @ x - low[eq]
    if k == 1:  # one row (the budget): the 1 x 1 system, as LAPACK solves it
        if gram[0, 0] == 0.0:
            return None
        return x - z[:, 0] * (residual[0] / gram[0, 0])
    try:
        nu = np.linalg.solve(gram, residual)
    except np.linalg.LinAlgError:
        return None  # dependent equality rows: no guess
    return x - z @ nu


def _refine_sides(
    side: np.ndarray,
    g: np.ndarray,
    a: np.ndarray,
    general: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    box_low: np.ndarray,
    box_high: np.ndarray,
) -> None:
    """Fix, in place, the free assets that the equality minimum puts past a bound.

    Repeats the guess on the assets still free, with the fixed ones at their
    bounds, until a round fixes none or few of them (or a few rounds): one
    Cholesky solve of the free block a round, and a smaller problem for quadprog.
    Only a guess; the caller frees whatever it got wrong.
    """
    for _ in range(_GUESS_ROUNDS):
        free = np.flatnonzero(side == 0)
        fixed = np.flatnonzero(side != 0)
        if len(fixed) == 0:
            return  # the first guess, on the full problem, stands
        x_fixed = np.where(side < 0, box_low, box_high)[fixed]
        shift = general[:, fixed] @ x_fixed
        try:
            at = _equality_minimum(
                g[np.ix_(free, free)],
                a[free] - g[np.ix_(free, fixed)] @ x_fixed,
                general[:, free],
                low - shift,
                high - shift,
            )
        except np.linalg.LinAlgError:
            return
        if at is None:
            return
        below = at <= box_low[free]
        above = at >= box_high[free]
        if not (below.any() or above.any()) or np.all(below | above):
            return
        side[free[below]] = -1
        side[free[above]] = 1
        if np.count_nonzero(below) + np.count_nonzero(above) < _GUESS_FEW * len(free):
            return


def _start_small(
    side: np.ndarray, at: np.ndarray, box_low: np.ndarray, pinned: np.ndarray
) -> bool:
    """Start again, in place, from the assets the equality minimum favours most.

    For a guess that leaves no feasible point. Of the assets not pinned that have
    a finite lower bound, the `_SMALL_START` with the largest weight in the
    equality minimum ``at`` are free and the others fixed at that bound. On a
    long-only mean-variance problem of hundreds of assets with a noisy ``mu`` the
    equality minimum swings far past both bounds, and the guess fixes more assets
    at their upper bound than the budget allows; starting with every asset free
    then costs quadprog about 0.3 s at n = 500, while the portfolio holds a few
    dozen at most. From the favoured few quadprog solves a small problem, and the
    caller's loop frees the assets it should not have fixed.

    Returns
    -------
    bool
        Whether it applied (more movable assets than `_SMALL_START`).
    """
    movable = np.flatnonzero(~pinned & np.isfinite(box_low))
    if len(movable) <= _SMALL_START:
        return False
    order = movable[np.argsort(at[movable])]
    side[order[:-_SMALL_START]] = -1
    side[order[-_SMALL_START:]] = 0
    return True


def _solve_reduced(
    quadprog: Any,
    side: np.ndarray,
    g: np.ndarray,
    a: np.ndarray,
    general: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    box_low: np.ndarray,
    box_high: np.ndarray,
    scale: float,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Solve with quadprog for the free assets, the others fixed at a bound.

    Returns
    -------
    x : ndarray of shape (n,)
    multipliers : ndarray of shape (k,)
        ``y`` of the rows of ``A``: ``G x - a - A^T y`` is what the bounds hold.
    kkt : bool
        Whether the answer is a KKT point of the reduced problem to 1e-9 (the
        gradient to 1e-9 of ``scale``): finite, every constraint met, the
        multipliers of inequalities nonnegative and zero where not active.

    Raises
    ------
    ValueError
        From quadprog: not positive definite, or inconsistent constraints.
    """
    free = np.flatnonzero(side == 0)
    x = np.where(side < 0, box_low, box_high)
    if len(free) == len(side):
        g_free, a_free, rows, low_free, high_free = g, a, general, low, high
    else:
        fixed = np.flatnonzero(side != 0)
        x_fixed = x[fixed]
        shift = general[:, fixed] @ x_fixed
        g_free = g[np.ix_(free, free)]
        a_free = a[free] - g[np.ix_(free, fixed)] @ x_fixed
        rows = general[:, free]
        low_free, high_free = low - shift, high - shift
    c, b, meq, row_index = _quadprog_constraints(
        rows, low_free, high_free, box_low[free], box_high[free]
    )
    if c.shape[1]:
        result = quadprog.solve_qp(g_free, a_free, c, b, meq)
    else:
        result = quadprog.solve_qp(g_free, a_free)
    x_free = np.asarray(result[0], dtype=float)
    lagrangian = np.asarray(result[4], dtype=float)
    x[free] = x_free
    multipliers = _row_multipliers(lagrangian, row_index, len(low))
    tol, grad_tol = _EXACT_TOL, _EXACT_TOL * scale
    slack = c.T @ x_free - b
    residual = g_free @ x_free - a_free - c @ lagrangian
    inequality, active = lagrangian[meq:], slack[meq:]
    kkt = bool(
        np.all(np.isfinite(x_free))
        and np.all(np.isfinite(lagrangian))
        and np.all(np.abs(slack[:meq]) <= tol)
        and np.all(active >= -tol)
        and np.all(inequality >= -grad_tol)
        and not np.any((inequality > grad_tol) & (active > tol))
        and np.all(np.abs(residual) <= grad_tol)
    )
    return x, multipliers, kkt
