"""Re-solve a compiled DPP problem without cvxpy's per-call Python pipeline.

cvxpy compiles a DPP problem once into a *parametric program*: sparse tensors that
map the vector of parameter values to the solver's data (the linear cost ``q``, the
constraint matrix ``A`` with its right-hand side ``b``, and the quadratic cost
``P``). Each ``Problem.solve`` still walks ``get_problem_data`` ->
``apply_parameters`` -> several scipy.sparse constructions -> a new solver ->
``unpack_results``: about 2.5 ms of Python for a 20-asset problem whose
interior-point solve takes 0.2 ms. A :class:`DirectSolve` keeps the tensors of
that compilation (stacked into one sparse matrix) with the index maps from their
output to the solver's arrays, and per call does one sparse product, a few index
operations and one call into the solver's own Python API; the primal solution is
read at the offsets of the wanted variables.

Every call builds a fresh solver object. Clarabel's ``update`` re-applies the
equilibration computed for the *first* data it saw, and OSQP's ``update`` keeps
the step size rho adapted on earlier solves (and warm starts by default), so a
persistent solver would make the weights depend on earlier calls in the last bits;
a rerun or a resumed backtest must reproduce them exactly. Setting a solver up is
cheap next to the pipeline it replaces.

A :class:`DirectSolve` is only built when its data provably matches cvxpy's: at
build time the arrays it produces are compared, entry for entry, with the ones
cvxpy hands the solver for the same parameter values. The caller falls back to
``Problem.solve`` whenever :meth:`DirectSolve.solve` returns ``None`` (any status
but an accurate optimum) or raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from cvxpy.reductions.solution import Solution

__all__ = [
    "DENSE_OBJECTIVES",
    "DIRECT_SOLVERS",
    "DenseQpSolve",
    "DirectSolve",
    "compile_direct",
]

DIRECT_SOLVERS: frozenset[str] = frozenset({"CLARABEL", "OSQP"})
"""Solvers that have a direct path; others always go through ``Problem.solve``."""
DENSE_OBJECTIVES: frozenset[str] = frozenset(
    {"utility", "min_variance", "target_return"}
)
"""Objectives that :class:`DenseQpSolve` covers (a quadratic risk term, no cone)."""

# Options that change what cvxpy does around the solver rather than the solver's
# own settings; with any of them the call takes cvxpy's path.
_CVXPY_LEVEL_OPTIONS = frozenset(
    {"verbose", "use_quad_obj", "accept_unknown", "warm_start", "warm_starting"}
)


class _ParametricProgram:
    """The affine maps from the parameter vector to ``q``, ``[A | b]`` and ``P``.

    Parameters
    ----------
    program : cvxpy ParamConeProg
        cvxpy's compiled program (``data["param_prob"]``).
    parameters : sequence of cvxpy.Parameter
        The problem's parameters; the program must use exactly these.
    """

    def __init__(self, program: Any, parameters: Sequence[cp.Parameter]) -> None:
        by_id = {p.id: p for p in parameters}
        total = int(program.total_param_size)
        self.slots: list[tuple[int, int, cp.Parameter]] = []
        self.constant = -1
        for param_id, col in program.param_id_to_col.items():
            if param_id in by_id:
                parameter = by_id[param_id]
                self.slots.append((int(col), int(parameter.size), parameter))
            elif col == total:
                self.constant = total  # the column of the constant 1
            else:  # a parameter some reduction made up (e.g. a reduced PSD one)
                raise _Unsupported(f"unknown parameter id {param_id} at column {col}")
        if self.constant != total or len(self.slots) != len(program.parameters):
            raise _Unsupported("the program's parameters are not the problem's")
        if any(
            getattr(program, name, None) is not None
            for name in ("lower_bounds", "upper_bounds", "lb_tensor", "ub_tensor")
        ):
            raise _Unsupported("variable bounds are passed to the solver")
        self.size = total + 1
        self.n_x = int(program.x.size)
        self.x_id = program.x.id  # the stacked variable the solver solves for
        q_map = sp.csr_array(program.q)  # (n_x + 1, size): q and the offset
        a_map, (a_indices, a_indptr, a_shape) = _reduced(program.reduced_A)
        if a_shape[1] != self.n_x + 1:
            raise _Unsupported(f"A has shape {a_shape} for {self.n_x} variables")
        self.m = int(a_shape[0])
        end = int(a_indptr[self.n_x])
        self.a_nnz = end
        self.a_indices = np.asarray(a_indices[:end], dtype=np.int64)
        self.a_indptr = np.asarray(a_indptr[: self.n_x + 1], dtype=np.int64)
        self.b_rows = np.asarray(a_indices[end:], dtype=np.int64)
        _check_sorted(self.a_indices, self.a_indptr)
        maps = [q_map, a_map]
        if program.P is None:
            self.p_indices = np.zeros(0, dtype=np.int64)
            self.p_indptr = np.zeros(self.n_x + 1, dtype=np.int64)
            self.p_select = np.zeros(0, dtype=np.int64)
        else:
            p_map, (p_indices, p_indptr, p_shape) = _reduced(program.reduced_P)
            if tuple(p_shape) != (self.n_x, self.n_x):
                raise _Unsupported(f"P has shape {p_shape} for {self.n_x} variables")
            maps.append(p_map)
            # Upper triangle, in the order sp.triu(P).tocsc() gives: both solvers
            # take only that half of the symmetric P.
            cols = np.repeat(np.arange(self.n_x), np.diff(p_indptr))
            keep = np.asarray(p_indices) <= cols
            self.p_select = np.flatnonzero(keep)
            self.p_indices = np.asarray(p_indices, dtype=np.int64)[keep]
            self.p_indptr = np.concatenate(
                ([0], np.cumsum(np.bincount(cols[keep], minlength=self.n_x)))
            ).astype(np.int64)
            _check_sorted(self.p_indices, self.p_indptr)
        # One product for all three maps: stacking keeps each row's entries in
        # order, so every value is summed as cvxpy sums it.
        self.maps = sp.csr_array(sp.vstack(maps, format="csr"))
        self.a_start = self.n_x + 1
        self.p_start = self.a_start + a_map.shape[0]
        self.p_select += self.p_start

    def parameter_vector(self) -> np.ndarray:
        """The parameter values stacked as cvxpy stacks them (plus the constant 1)."""
        vector = np.zeros(self.size)
        for col, size, parameter in self.slots:
            value = parameter.value
            if value is None:
                raise _Unsupported(f"parameter {parameter.name()} has no value")
            vector[col : col + size] = np.ravel(value, order="F")
        vector[self.constant] = 1.0
        return vector

    def apply(self, p_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate the maps at the current parameter values.

        Parameters
        ----------
        p_out : ndarray
            Receives the values of triu(P), in the order of :meth:`p_template`.

        Returns
        -------
        q : ndarray of shape (n_x,)
        a_values : ndarray
            The stored values of ``[A | b]``: A's in :meth:`a_template` order, then
            b's (see :meth:`b_vector`).
        """
        values = self.maps @ self.parameter_vector()
        np.take(values, self.p_select, out=p_out)
        return values[: self.n_x], values[self.a_start : self.p_start]

    def b_vector(self, a_values: np.ndarray) -> np.ndarray:
        """The constant column of ``[A | b]`` as a dense vector."""
        b = np.zeros(self.m)
        b[self.b_rows] = a_values[self.a_nnz :]
        return b

    def p_template(self, kind: type) -> Any:
        """triu(P) as a ``kind`` sparse matrix, with values to fill in."""
        values = np.zeros(len(self.p_indices))
        return kind((values, self.p_indices, self.p_indptr), shape=(self.n_x,) * 2)

    def a_template(self, kind: type) -> Any:
        """A (without b) as a ``kind`` sparse matrix, with values to fill in."""
        values = np.zeros(self.a_nnz)
        return kind((values, self.a_indices, self.a_indptr), shape=(self.m, self.n_x))


class _Unsupported(Exception):
    """The compiled program has a form the direct path does not handle."""


def _check_sorted(indices: np.ndarray, indptr: np.ndarray) -> None:
    # The solvers' wrappers sort unsorted indices in place, which would scramble
    # the kept matrices for the next fill.
    starts = np.zeros(len(indices), dtype=bool)
    starts[indptr[:-1][np.diff(indptr) > 0]] = True
    if not np.all((np.diff(indices) > 0) | starts[1:]):
        raise _Unsupported("row indices are not sorted within columns")


def _reduced(mat: Any) -> tuple[sp.csr_array, tuple[np.ndarray, np.ndarray, Any]]:
    mat.cache()
    if mat.problem_data_index is None or mat.reduced_mat is None:
        raise _Unsupported("empty problem data tensor")
    return sp.csr_array(mat.reduced_mat), mat.problem_data_index


class DirectSolve:
    """One solver's direct path for one compiled cvxpy problem.

    Build with :func:`compile_direct`. Not reentrant: the solver's input arrays
    are kept between calls and refilled in place (the owner serialises solves).

    Attributes
    ----------
    solver : str
        cvxpy name of the solver.
    """

    solver: str = ""

    def __init__(
        self,
        program: _ParametricProgram,
        interface: Any,
        dims: Any,
        offsets: Sequence[tuple[int, int]],
    ) -> None:
        self._program = program
        self._interface = interface  # cvxpy's solver interface: status map, options
        self._dims = dims
        self._offsets = list(offsets)

    def accepts(self, options: Mapping[str, Any]) -> bool:
        """Whether ``options`` are plain solver settings this path can pass on."""
        return not (_CVXPY_LEVEL_OPTIONS & options.keys())

    def solve(self, options: Mapping[str, Any]) -> list[np.ndarray] | None:
        """Solve with the current parameter values.

        Parameters
        ----------
        options : mapping
            Solver settings, as given to ``Problem.solve``.

        Returns
        -------
        list of ndarray or None
            The values of the requested variables (copies), or ``None`` when the
            solver did not reach an accurate optimum.
        """
        x = self._run(self._fill(), options)
        if x is None:
            return None
        return [x[start:stop].copy() for start, stop in self._offsets]

    def _fill(self) -> tuple[Any, ...]:
        """The solver's input arrays for the current parameter values."""
        raise NotImplementedError

    def _run(self, arrays: tuple[Any, ...], options: Mapping[str, Any]) -> Any:
        """The primal solution, or ``None`` short of an accurate optimum."""
        raise NotImplementedError

    def _matches(self, data: Mapping[str, Any]) -> bool:
        """Whether :meth:`_fill` equals cvxpy's ``data`` for the current values."""
        raise NotImplementedError


class _ClarabelSolve(DirectSolve):
    """Clarabel: ``min x'Px/2 + q'x`` s.t. ``A x + s = b``, ``s`` in the cones."""

    solver = "CLARABEL"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        from cvxpy.reductions.solvers.conic_solvers.clarabel_conif import (
            dims_to_solver_cones,
        )

        program = self._program
        self._cones = dims_to_solver_cones(self._dims)
        self._p = program.p_template(sp.csc_array)
        self._a = program.a_template(sp.csc_array)
        self._settings_cache: dict[tuple, Any] = {}

    def _fill(self):
        program = self._program
        q, a_values = program.apply(self._p.data)
        # cvxpy's conic form is A x + b in K; Clarabel's is -A x + s = b.
        np.negative(a_values[: program.a_nnz], out=self._a.data)
        return self._p, q, self._a, program.b_vector(a_values)

    def _run(self, arrays, options):
        import clarabel

        settings = self._settings(options)
        solution = clarabel.DefaultSolver(*arrays, self._cones, settings).solve()
        if self._interface.STATUS_MAP.get(str(solution.status)) != cp.OPTIMAL:
            return None
        return np.asarray(solution.x, dtype=float)

    def _settings(self, options: Mapping[str, Any]) -> Any:
        key = tuple(sorted(options.items()))
        settings = self._settings_cache.get(key)
        if settings is None:
            settings = self._interface.parse_solver_opts(False, dict(options))
            if len(self._settings_cache) < 8:
                self._settings_cache[key] = settings
        return settings

    def _matches(self, data):
        p, q, a, b = self._fill()
        if "P" in data:
            reference_p = sp.triu(data["P"]).tocsc()
        else:
            reference_p = sp.csc_array(p.shape)
        return (
            _same_csc(p, reference_p)
            and np.array_equal(q, data["c"])
            and _same_csc(a, data["A"])
            and np.array_equal(b, data["b"])
        )


class _OsqpSolve(DirectSolve):
    """OSQP: ``min x'Px/2 + q'x`` s.t. ``l <= A x <= u``."""

    solver = "OSQP"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        import osqp

        program = self._program
        self._n_eq = int(self._dims.zero)
        # cvxpy's equalities A x + b = 0 become A x = -b, its inequalities
        # A x + b >= 0 become -A x <= b (see cvxpy's QpSolver.apply).
        self._sign = np.where(program.a_indices < self._n_eq, 1.0, -1.0)
        self._p = program.p_template(sp.csc_matrix)  # osqp wants spmatrix
        self._a = program.a_template(sp.csc_matrix)
        # The algebra cvxpy would get; naming it skips the probe for CUDA/MKL
        # builds that osqp.OSQP() runs (file-system lookups) on every call.
        self._algebra = osqp.OSQP().algebra

    def _fill(self):
        program, n_eq = self._program, self._n_eq
        q, a_values = program.apply(self._p.data)
        np.multiply(a_values[: program.a_nnz], self._sign, out=self._a.data)
        b = program.b_vector(a_values)
        upper = b.copy()
        upper[:n_eq] *= -1.0
        lower = upper.copy()
        lower[n_eq:] = -np.inf
        return self._p, q, self._a, lower, upper

    def _run(self, arrays, options):
        import osqp

        # cvxpy's defaults for OSQP (see cvxpy's OSQP.solve_via_data).
        settings = {"eps_abs": 1e-5, "eps_rel": 1e-5, "max_iter": 10_000}
        settings["polishing"] = True
        settings.update(options)
        solver = osqp.OSQP(algebra=self._algebra)
        solver.setup(*arrays, verbose=False, **settings)
        result = solver.solve(raise_error=False)
        status = self._interface.STATUS_MAP.get(result.info.status_val)
        # Only a polished optimum is accurate (see portfolio.problem._polished).
        if status != cp.OPTIMAL or getattr(result.info, "status_polish", 0) != 1:
            return None
        return np.array(result.x, dtype=float)

    def _matches(self, data):
        p, q, a, lower, upper = self._fill()
        n_eq = self._n_eq
        return (
            _same_csc(p, sp.triu(data["P"], format="csc"))
            and np.array_equal(q, data["q"])
            and _same_csc(a, sp.vstack([data["A"], data["F"]]).tocsc())
            and np.array_equal(upper, np.concatenate((data["b"], data["G"])))
            and np.array_equal(lower[:n_eq], data["b"])
            and bool(np.all(lower[n_eq:] == -np.inf))
        )


def _same_csc(left: Any, right: Any) -> bool:
    right = sp.csc_array(right)
    return (
        left.shape == right.shape
        and np.array_equal(left.indptr, right.indptr)
        and np.array_equal(left.indices, right.indices)
        and np.array_equal(left.data, right.data)
    )


_CLASSES: dict[str, type[DirectSolve]] = {
    "CLARABEL": _ClarabelSolve,
    "OSQP": _OsqpSolve,
}


def compile_direct(
    problem: cp.Problem,
    solver: str,
    parameters: Sequence[cp.Parameter],
    variables: Sequence[cp.Variable],
) -> DirectSolve | None:
    """Compile ``problem`` for ``solver`` and build its direct path.

    Every parameter must have a value: the direct data are checked against
    cvxpy's for those values. The compilation is cvxpy's own and stays cached in
    ``problem``, so its ``solve(solver=...)`` afterwards does not compile again.

    Parameters
    ----------
    problem : cvxpy.Problem
        A DPP problem.
    solver : str
        One of :data:`DIRECT_SOLVERS`.
    parameters : sequence of cvxpy.Parameter
        All parameters of ``problem``.
    variables : sequence of cvxpy.Variable
        Variables whose values :meth:`DirectSolve.solve` returns, in this order.

    Returns
    -------
    DirectSolve or None
        ``None`` when the compiled program has a form the direct path does not
        handle; the caller then always uses ``Problem.solve``.

    Raises
    ------
    cvxpy.error.DPPError, cvxpy.error.SolverError
        From cvxpy's compilation (the same errors ``Problem.solve`` would raise).
    """
    kind = _CLASSES.get(solver)
    if kind is None:
        return None
    data, chain, inverse_data = problem.get_problem_data(solver, enforce_dpp=True)
    try:
        program = _ParametricProgram(data["param_prob"], parameters)
        offsets = _variable_offsets(chain, inverse_data, program, variables)
        direct = kind(program, chain.solver, data["dims"], offsets)
        return direct if direct._matches(data) else None
    except (_Unsupported, KeyError, AttributeError, TypeError, ValueError):
        return None


def _variable_offsets(
    chain: Any,
    inverse_data: Sequence[Any],
    program: _ParametricProgram,
    variables: Sequence[cp.Variable],
) -> list[tuple[int, int]]:
    """Where each variable sits in the solver's primal vector.

    Inverts cvxpy's reductions (all but the solver's) on a probe solution
    ``x = 0, 1, 2, ...`` and reads back which entries each variable got.
    """
    probe = np.arange(program.n_x, dtype=float)
    solution = Solution(cp.OPTIMAL, 0.0, {program.x_id: probe}, {}, {})
    for reduction, inverse in reversed(
        list(zip(chain.reductions[:-1], inverse_data[:-1], strict=True))
    ):
        solution = reduction.invert(solution, inverse)
    offsets = []
    for variable in variables:
        value = np.ravel(solution.primal_vars[variable.id], order="F")
        start = int(value[0]) if value.size else 0
        if not np.array_equal(value, np.arange(start, start + variable.size)):
            raise _Unsupported(f"variable {variable.name()} is not a plain slice")
        offsets.append((start, start + variable.size))
    return offsets


_EXACT_TOL = 1e-9
"""How far a quadprog answer may miss a constraint (or, relative to the data's
scale, the KKT conditions) and still count."""
_GUESS_FROM = 60
"""Problems of this many assets and more start quadprog from a guessed active set;
smaller ones go to quadprog whole (its few steps cost less than the guess)."""
_GUESS_ROUNDS = 8
"""Rounds of :func:`_refine_sides`."""
_FREE_TOL = 1e-12
"""Reduced gradient (relative to the data's scale) that frees a fixed asset."""


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
    from scipy.linalg import lapack

    factor, info = lapack.dpotrf(g, lower=0, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError("not positive definite")
    eq = low == high
    rows = general[eq]
    rhs = np.column_stack((a, rows.T)) if eq.any() else a[:, None]
    solved, info = lapack.dpotrs(factor, rhs, lower=0)
    if info != 0:
        raise np.linalg.LinAlgError("dpotrs failed")
    x = solved[:, 0]
    if not eq.any():
        return x
    z = solved[:, 1:]
    try:
        nu = np.linalg.solve(rows @ z, rows @ x - low[eq])
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
    bounds, until it fixes no more (or a few rounds): one Cholesky solve of the
    free block a round, and a smaller problem for quadprog. Only a guess; the
    caller frees whatever it got wrong.
    """
    for _ in range(_GUESS_ROUNDS):
        free = np.flatnonzero(side == 0)
        fixed = np.flatnonzero(side != 0)
        if len(fixed) == 0:
            return  # the first guess, on the full problem, stands
        x_fixed = np.where(side < 0, box_low, box_high)[fixed]
        shift = general[:, fixed] @ x_fixed
        rows = g[free]
        try:
            at = _equality_minimum(
                rows[:, free],
                a[free] - rows[:, fixed] @ x_fixed,
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
        g_rows = g[free]
        g_free = g_rows[:, free]
        a_free = a[free] - g_rows[:, fixed] @ x_fixed
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


class DenseQpSolve:
    """quadprog, then OSQP, on the covariance itself, for a full-covariance QP.

    The compiled problem writes risk as ``sum_squares(U @ w)`` (``U`` the scaled
    upper-triangular Cholesky factor), which cvxpy hands OSQP as auxiliary
    variables ``y = U w`` with the dense ``U`` in the constraint matrix: OSQP then
    factorises a KKT system of size ``2n + m`` holding ``n^2 / 2`` entries of ``U``
    plus ``n`` identity entries, and its ADMM iterations converge slowly on it.
    Handing OSQP ``P = U^T U`` (the scaled covariance, ``n(n+1)/2`` entries) on the
    weights alone is the same problem in ``n`` variables: at n = 100 OSQP takes
    about half the time (1.1 ms instead of 2.4 ms).

    The data are built here from the compiled problem's own parameter values
    (``P`` from the factor, ``q`` and the constraint rows from ``mu``, the budget,
    bounds, groups and target), so both forms have the same optimum; the cvxpy
    problem stays the reference and the fallback. Only a polished OSQP optimum
    counts (OSQP's polishing solves the KKT system of the active set, which makes
    the weights exact to rounding); any other outcome returns ``None`` and the
    caller goes on to the compiled path.

    Under the caller's default options the same data go first to quadprog
    (:meth:`solve_exact`), a dense active-set solver that ends on the exact
    optimum, from a guessed active set from 60 assets up: on the benchmark's
    long-only utility problems it takes about 0.13 ms at n = 20 (OSQP 0.12 ms),
    0.6 ms at n = 100 (OSQP 1.3 ms) and 10 ms at n = 500 (OSQP 95 ms). Its
    answer counts only if it is a KKT point to 1e-9 (finite, every constraint
    met, multipliers of the right sign, stationary to 1e-9 of the data's
    scale); a singular covariance (not positive definite), inconsistent
    constraints or a failed check hand the solve on to OSQP.

    Parameters
    ----------
    n_assets : int
    objective : {"utility", "min_variance", "target_return"}
    budget : {"equal", "at_most", "free"}
    lower_bounds, upper_bounds : bool
        Whether the problem has the parameters ``lower`` and ``upper``.
    n_groups : int
        Rows of the parameter ``group_matrix``.
    exact_options : mapping, optional
        The OSQP options under which :meth:`solve` tries quadprog first (the
        caller's defaults); ``None`` (the default) never tries it.

    Attributes
    ----------
    answered_by : {"quadprog", "osqp"} or None
        Which solver gave the last :meth:`solve` its answer (``None``: neither).

    Raises
    ------
    ValueError
        For a structure this path does not cover (see :data:`DENSE_OBJECTIVES`).
    """

    solver = "OSQP"

    def __init__(
        self,
        n_assets: int,
        objective: str,
        budget: str,
        lower_bounds: bool,
        upper_bounds: bool,
        n_groups: int,
        exact_options: Mapping[str, Any] | None = None,
    ) -> None:
        import osqp

        if objective not in DENSE_OBJECTIVES:
            raise ValueError(f"no dense OSQP path for objective {objective!r}")
        n, m = int(n_assets), int(n_groups)
        self.n = n
        self._objective = objective
        self._budget = budget
        self._lower_bounds, self._upper_bounds = lower_bounds, upper_bounds
        # Constraint rows, in this order: budget, bounds (one row per asset),
        # groups, target return. Every column of A has one entry in each block,
        # so A's pattern is fixed and its values are a (n, per_column) array.
        has_budget = budget != "free"
        has_bounds = lower_bounds or upper_bounds
        has_target = objective == "target_return"
        self._blocks = (has_budget, has_bounds, m, has_target)
        per_column = int(has_budget) + int(has_bounds) + m + int(has_target)
        self.m = int(has_budget) + (n if has_bounds else 0) + m + int(has_target)
        if self.m == 0:
            raise ValueError("no constraint rows")
        rows = []
        start = 0
        if has_budget:
            rows.append(np.zeros((n, 1), dtype=np.int64))
            start += 1
        if has_bounds:
            rows.append(start + np.arange(n, dtype=np.int64)[:, None])
            start += n
        if m:
            rows.append(np.broadcast_to(start + np.arange(m, dtype=np.int64), (n, m)))
            start += m
        if has_target:
            rows.append(np.full((n, 1), start, dtype=np.int64))
        self._a_indices = np.ascontiguousarray(np.hstack(rows)).ravel()
        self._a_indptr = np.arange(n + 1, dtype=np.int64) * per_column
        self._per_column = per_column
        # triu(P) in CSC order: column j holds rows 0..j.
        self._factor_rows, self._factor_cols = np.triu_indices(n)  # row-major
        col, row = np.tril_indices(n)  # (col, row) pairs with row <= col, by col
        self._p_rows, self._p_cols = row, col
        self._p_indices = row.astype(np.int64)
        self._p_indptr = np.concatenate(([0], np.cumsum(np.arange(1, n + 1))))
        probe = osqp.OSQP()
        self._algebra = probe.algebra
        self._ext = probe.ext
        if probe.ext.OSQP_USE_FLOAT:
            raise ValueError("single-precision OSQP build")
        self._plain_settings = frozenset(
            name for name in vars(probe.ext.OSQPSettings) if not name.startswith("_")
        ) - {"linsys_solver", "cg_precond", "device"}
        self._infinity = float(osqp.constant("OSQP_INFTY"))
        index = np.int64 if probe.ext.OSQP_USE_LONG else np.int32
        self._a_indices = self._a_indices.astype(index)
        self._a_indptr = self._a_indptr.astype(index)
        self._p_indices = self._p_indices.astype(index)
        self._p_indptr = self._p_indptr.astype(index)
        # The matrices are kept and refilled in place (the owner serialises
        # solves, and every solver is set up afresh and dropped within a call).
        self._p = sp.csc_matrix(
            (np.zeros(len(self._p_indices)), self._p_indices, self._p_indptr),
            shape=(n, n),
        )
        self._p_take = self._p_rows + n * self._p_cols  # in the Fortran-order gram
        self._a = sp.csc_matrix(
            (np.zeros(len(self._a_indices)), self._a_indices, self._a_indptr),
            shape=(self.m, n),
        )
        from cvxpy.reductions.solvers.qp_solvers.osqp_qpif import OSQP

        self._status_map = OSQP.STATUS_MAP
        self._exact_options = None if exact_options is None else dict(exact_options)
        try:
            import quadprog  # noqa: F401
        except ImportError:
            self._exact_options = None
        self.answered_by: str | None = None

    def accepts(self, options: Mapping[str, Any]) -> bool:
        """Whether ``options`` are plain solver settings this path can pass on."""
        return not (_CVXPY_LEVEL_OPTIONS & options.keys())

    def data(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """OSQP's ``P, q, A, l, u`` for the compiled problem's parameter values.

        Parameters
        ----------
        values : mapping of str -> array or float
            The values of the compiled problem's parameters, by name.

        Returns
        -------
        tuple
            ``P`` (upper triangle, CSC), ``q``, ``A`` (CSC), ``l``, ``u``. The two
            matrices are kept by this object and refilled by the next call.
        """
        n = self.n
        gram = self._gram(values)
        p = self._p
        np.take(gram.ravel(order="F"), self._p_take, out=p.data)
        if self._objective == "utility":
            q = -np.asarray(values["mu"], dtype=float)
        else:
            q = np.zeros(n)
        has_budget, has_bounds, m, has_target = self._blocks
        a = self._a
        a_values = a.data.reshape(n, self._per_column)  # a view: column by column
        lower, upper_rhs = [], []
        column = 0
        if has_budget:
            a_values[:, column] = 1.0
            column += 1
            budget = float(values["budget"])
            lower.append([budget if self._budget == "equal" else -np.inf])
            upper_rhs.append([budget])
        if has_bounds:
            a_values[:, column] = 1.0
            column += 1
            lower.append(values["lower"] if self._lower_bounds else np.full(n, -np.inf))
            upper_rhs.append(
                values["upper"] if self._upper_bounds else np.full(n, np.inf)
            )
        if m:
            a_values[:, column : column + m] = np.asarray(values["group_matrix"]).T
            column += m
            lower.append(values["group_lower"])
            upper_rhs.append(values["group_upper"])
        if has_target:
            a_values[:, column] = values["mu"]
            lower.append([float(values["target"])])
            upper_rhs.append([np.inf])
        low = np.concatenate([np.asarray(part, dtype=float) for part in lower])
        high = np.concatenate([np.asarray(part, dtype=float) for part in upper_rhs])
        # OSQP's infinity, as its Python API clips (the C code takes no inf).
        np.maximum(low, -self._infinity, out=low)
        np.minimum(high, self._infinity, out=high)
        return p, np.ascontiguousarray(q, dtype=float), a, low, high

    def _gram(self, values: Mapping[str, Any]) -> np.ndarray:
        """``U^T U`` (Fortran order), upper triangle only (the lower one is 0)."""
        from scipy.linalg import blas

        n = self.n
        upper = np.zeros((n, n), order="F")
        upper[self._factor_rows, self._factor_cols] = values["cov_factor"]
        return blas.dsyrk(1.0, upper, trans=1, lower=0)

    def _exact_parts(self, values: Mapping[str, Any]) -> tuple[np.ndarray, ...]:
        """``G``, ``a``, the rows other than the bounds and the bounds, dense.

        Returns
        -------
        tuple of ndarray
            ``G`` (n, n; both triangles of ``P``), ``a = -q``, the budget, group
            and target rows ``A`` (k, n) with their sides ``l`` and ``u`` (k,),
            and the bounds ``lower`` and ``upper`` (n,); an absent side is inf.
        """
        n = self.n
        gram = self._gram(values)
        g = gram + np.triu(gram, 1).T
        if self._objective == "utility":
            a = np.array(values["mu"], dtype=float)
        else:
            a = np.zeros(n)
        has_budget, _, m, has_target = self._blocks
        rows, lower, upper_rhs = [np.zeros((0, n))], [np.zeros(0)], [np.zeros(0)]
        if has_budget:
            rows.append(np.ones((1, n)))
            budget = float(values["budget"])
            lower.append([budget if self._budget == "equal" else -np.inf])
            upper_rhs.append([budget])
        if m:
            rows.append(np.asarray(values["group_matrix"], dtype=float))
            lower.append(values["group_lower"])
            upper_rhs.append(values["group_upper"])
        if has_target:
            rows.append(np.asarray(values["mu"], dtype=float)[None, :])
            lower.append([float(values["target"])])
            upper_rhs.append([np.inf])
        general = np.vstack(rows)
        low = np.concatenate([np.asarray(p, dtype=float) for p in lower])
        high = np.concatenate([np.asarray(p, dtype=float) for p in upper_rhs])
        box_low = np.full(n, -np.inf)
        box_high = np.full(n, np.inf)
        if self._lower_bounds:
            box_low = np.array(values["lower"], dtype=float)
        if self._upper_bounds:
            box_high = np.array(values["upper"], dtype=float)
        return g, a, general, low, high, box_low, box_high

    def exact_data(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The data ``G, a, C, b, meq`` of quadprog for the parameter values.

        The same problem as :meth:`data`: ``G`` is ``P`` (both triangles), ``a``
        is ``-q``, and each row ``l_i <= A_i x <= u_i`` gives an equality
        ``A_i x = l_i`` where ``l_i == u_i`` (these columns of ``C`` come first,
        ``meq`` of them), else ``A_i x >= l_i`` for a finite ``l_i`` and
        ``-A_i x >= -u_i`` for a finite ``u_i``.

        Parameters
        ----------
        values : mapping of str -> array or float
            The values of the compiled problem's parameters, by name.

        Returns
        -------
        tuple
            ``G`` (n, n), ``a`` (n,), ``C`` (n, k), ``b`` (k,) and ``meq``.
        """
        g, a, *constraints = self._exact_parts(values)
        c, b, meq, _ = _quadprog_constraints(*constraints)
        return g, a, c, b, meq

    def solve_exact(self, values: Mapping[str, Any]) -> np.ndarray | None:
        """The weights from quadprog, or ``None`` where its answer does not count.

        quadprog (Goldfarb-Idnani's dual active-set method) solves a QP exactly,
        in finitely many steps, on the active set it ends with: no tolerances, no
        iteration state. It starts from the unconstrained minimum and adds one
        violated constraint per step, each step O(n^2): on a long-only problem
        with few assets held that is one step per asset left out (about 0.6 ms
        a step at n = 500). So assets are first fixed at a bound where the
        minimum under the equality rows alone (one Cholesky solve) puts them
        beyond it, quadprog solves for the others (their own bounds included),
        and any fixed asset whose reduced gradient says it should move is freed
        and the reduced problem solved again. The free set only grows, so this
        ends (at worst with the full problem), and it ends on the KKT point of the
        full problem: the optimum, unique for a positive definite ``P``.

        ``None`` where ``P`` is not positive definite (a singular covariance),
        on inconsistent constraints, or where the answer fails the check of the
        full problem's KKT conditions: finite, every constraint met to 1e-9, and
        stationarity, multiplier signs and complementarity to 1e-9 (of the
        data's scale for the gradient).

        Parameters
        ----------
        values : mapping of str -> array or float
            The values of the compiled problem's parameters, by name.

        Returns
        -------
        ndarray of shape (n_assets,) or None
        """
        import quadprog

        g, a, general, low, high, box_low, box_high = self._exact_parts(values)
        pinned = box_low == box_high  # always fixed, never freed
        # side: 0 free, -1 fixed at its lower bound, +1 at its upper bound.
        side = np.where(pinned, -1, 0).astype(np.int8)
        if self.n >= _GUESS_FROM:
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
        scale = max(1.0, float(np.abs(a).max(initial=0.0)), float(np.abs(g).max()))
        while True:
            try:
                x, multipliers, kkt = _solve_reduced(
                    quadprog, side, g, a, general, low, high, box_low, box_high, scale
                )
            except ValueError:  # inconsistent, or not positive definite
                if np.all(side[~pinned] == 0):
                    return None
                side[~pinned] = 0  # a fixed set that leaves no feasible point
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
        return x if kkt else None

    def solve(
        self, values: Mapping[str, Any], options: Mapping[str, Any]
    ) -> np.ndarray | None:
        """Solve exactly (quadprog), else with OSQP; ``None`` where neither counts.

        quadprog (:meth:`solve_exact`) is tried first when ``options`` are the
        ``exact_options`` given at construction (the caller's defaults): options
        that differ ask for OSQP's own behaviour, so OSQP runs alone. The path that
        answered is left in :attr:`answered_by` (``"quadprog"``, ``"osqp"`` or
        ``None``).
        """
        self.answered_by = None
        if self._exact_options is not None and dict(options) == self._exact_options:
            weights = self.solve_exact(values)
            if weights is not None:
                self.answered_by = "quadprog"
                return weights
        weights = self.solve_osqp(values, options)
        if weights is not None:
            self.answered_by = "osqp"
        return weights

    def solve_osqp(
        self, values: Mapping[str, Any], options: Mapping[str, Any]
    ) -> np.ndarray | None:
        """Solve with OSQP; the weights, or ``None`` short of a polished optimum.

        Parameters
        ----------
        values : mapping of str -> array or float
            The values of the compiled problem's parameters, by name.
        options : mapping
            OSQP settings, as given to ``Problem.solve``.

        Returns
        -------
        ndarray of shape (n_assets,) or None
        """
        # cvxpy's defaults for OSQP (see cvxpy's OSQP.solve_via_data).
        settings = {"eps_abs": 1e-5, "eps_rel": 1e-5, "max_iter": 10_000}
        settings["polishing"] = True
        settings.update(options)
        # A fresh solver every call: no warm start, no rho carried over, so the
        # weights are a function of the inputs alone.
        if settings.keys() <= self._plain_settings:
            status_val, status_polish, x = self._run_lean(self.data(values), settings)
        else:
            status_val, status_polish, x = self._run_wrapped(
                self.data(values), settings
            )
        status = self._status_map.get(status_val)
        if status != cp.OPTIMAL or status_polish != 1:
            return None
        weights = np.array(x, dtype=float)
        return weights if np.all(np.isfinite(weights)) else None

    def _run_lean(
        self, arrays: tuple[Any, ...], settings: Mapping[str, Any]
    ) -> tuple[int, int, np.ndarray]:
        """OSQP's extension module called directly.

        ``osqp.OSQP.setup`` copies every array (``astype``), checks ``P`` for a
        lower triangle, and with ``rho`` among the settings factorises the KKT
        system a second time (``update_rho`` after the setup that already used
        that rho): about a third of the time of a 100-asset solve. The arrays here
        are already what the extension takes, so it gets them as they are, with
        the settings written onto its own defaults; the solver does the same
        arithmetic.
        """
        ext = self._ext
        p, q, a, low, high = arrays
        config = ext.OSQPSettings()
        ext.osqp_set_default_settings(config)
        config.verbose = False
        for name, value in settings.items():
            setattr(config, name, value)
        solver = ext.OSQPSolver(
            ext.CSC(p), q, ext.CSC(a), low, high, self.m, self.n, config
        )
        solver.solve()
        info = solver.info
        return int(info.status_val), int(info.status_polish), solver.solution.x

    def _run_wrapped(
        self, arrays: tuple[Any, ...], settings: Mapping[str, Any]
    ) -> tuple[int, int, np.ndarray]:
        """OSQP through its Python API (settings it renames or translates)."""
        import osqp

        solver = osqp.OSQP(algebra=self._algebra)
        solver.setup(*arrays, verbose=False, **settings)
        result = solver.solve(raise_error=False)
        status_polish = getattr(result.info, "status_polish", 0)
        return int(result.info.status_val), int(status_polish), result.x
