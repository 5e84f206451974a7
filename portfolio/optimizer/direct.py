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
    "CVXPY_LEVEL_OPTIONS",
    "DIRECT_SOLVERS",
    "DirectSolve",
    "compile_direct",
]

DIRECT_SOLVERS: frozenset[str] = frozenset({"CLARABEL", "OSQP"})
"""Solvers that have a direct path; others always go through ``Problem.solve``."""

CVXPY_LEVEL_OPTIONS: frozenset[str] = frozenset(
    {"verbose", "use_quad_obj", "accept_unknown", "warm_start", "warm_starting"}
)
"""Options that change what cvxpy does around the solver rather than the solver's
own settings; with any of them a solve takes cvxpy's path (also the dense one)."""


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
        return not (CVXPY_LEVEL_OPTIONS & options.keys())

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
