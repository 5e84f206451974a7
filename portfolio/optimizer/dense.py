"""The dense QP path: a full-covariance QP solved on ``P`` = the covariance.

The compiled problem (:mod:`~foliocast.portfolio.optimizer.problem`) writes risk
through the Cholesky factor, which suits cvxpy and the interior point; for OSQP
and quadprog the same problem on the covariance itself, in the weights alone, is
several times faster. :class:`DenseQpSolve` builds those data from the compiled
problem's parameter values (the covariance itself where the caller holds it, else
formed from the factor) and solves them with quadprog's exact active-set method
(:mod:`~foliocast.portfolio.optimizer.active_set`), else with OSQP
(:class:`_OsqpRunner`). Its answer names the solver that produced it
(:class:`DenseAnswer`); no answer sends the caller on to the compiled paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from foliocast.portfolio.optimizer.active_set import (
    DenseQp,
    quadprog_data,
    solve_active_set,
)
from foliocast.portfolio.optimizer.cost_active_set import solve_with_costs
from foliocast.portfolio.optimizer.direct import CVXPY_LEVEL_OPTIONS

__all__ = ["COVARIANCE", "DENSE_OBJECTIVES", "DenseAnswer", "DenseQpSolve"]

DENSE_OBJECTIVES: frozenset[str] = frozenset(
    {"utility", "min_variance", "target_return"}
)
"""Objectives that :class:`DenseQpSolve` covers (a quadratic risk term, no cone)."""

COVARIANCE = "covariance"
"""Key of the optional entry of the values :class:`DenseQpSolve` takes: ``U^T U``,
the scaled covariance with both triangles, which the caller may already hold (then
it is not formed again from the factor ``cov_factor``)."""


class DenseAnswer(NamedTuple):
    """Weights from the dense path and the solver that produced them.

    Attributes
    ----------
    weights : ndarray of shape (n_assets,)
    solver : {"QUADPROG", "OSQP"}
    """

    weights: np.ndarray
    solver: str


class _OsqpRunner:
    """OSQP set up afresh for every solve; a polished optimum or nothing.

    A fresh solver every call: no warm start, no rho carried over, so the weights
    are a function of the inputs alone.

    Raises
    ------
    ValueError
        For a single-precision OSQP build.
    """

    def __init__(self) -> None:
        import osqp

        probe = osqp.OSQP()
        self.algebra = probe.algebra
        self.ext = probe.ext
        if probe.ext.OSQP_USE_FLOAT:
            raise ValueError("single-precision OSQP build")
        self.plain_settings = frozenset(
            name for name in vars(probe.ext.OSQPSettings) if not name.startswith("_")
        ) - {"linsys_solver", "cg_precond", "device"}
        self.infinity = float(osqp.constant("OSQP_INFTY"))
        self.index = np.int64 if probe.ext.OSQP_USE_LONG else np.int32
        from cvxpy.reductions.solvers.qp_solvers.osqp_qpif import OSQP

        self.status_map = OSQP.STATUS_MAP

    def solve(
        self, arrays: tuple[Any, ...], options: Mapping[str, Any]
    ) -> np.ndarray | None:
        """Solve OSQP's ``P, q, A, l, u``; ``None`` short of a polished optimum.

        Parameters
        ----------
        arrays : tuple
            ``P`` (upper triangle, CSC), ``q``, ``A`` (CSC), ``l``, ``u``.
        options : mapping
            OSQP settings, as given to ``Problem.solve``.

        Returns
        -------
        ndarray of shape (n,) or None
        """
        # cvxpy's defaults for OSQP (see cvxpy's OSQP.solve_via_data).
        settings = {"eps_abs": 1e-5, "eps_rel": 1e-5, "max_iter": 10_000}
        settings["polishing"] = True
        settings.update(options)
        if settings.keys() <= self.plain_settings:
            status_val, status_polish, x = self._run_lean(arrays, settings)
        else:
            status_val, status_polish, x = self._run_wrapped(arrays, settings)
        status = self.status_map.get(status_val)
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
        ext = self.ext
        p, q, a, low, high = arrays
        config = ext.OSQPSettings()
        ext.osqp_set_default_settings(config)
        config.verbose = False
        for name, value in settings.items():
            setattr(config, name, value)
        solver = ext.OSQPSolver(ext.CSC(p), q, ext.CSC(a), low, high, *a.shape, config)
        solver.solve()
        info = solver.info
        return int(info.status_val), int(info.status_polish), solver.solution.x

    def _run_wrapped(
        self, arrays: tuple[Any, ...], settings: Mapping[str, Any]
    ) -> tuple[int, int, np.ndarray]:
        """OSQP through its Python API (settings it renames or translates)."""
        import osqp

        solver = osqp.OSQP(algebra=self.algebra)
        solver.setup(*arrays, verbose=False, **settings)
        result = solver.solve(raise_error=False)
        status_polish = getattr(result.info, "status_polish", 0)
        return int(result.info.status_val), int(status_polish), result.x


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
    (:meth:`solve_exact`, :mod:`~foliocast.portfolio.optimizer.active_set`), a
    dense active-set solver that ends on the exact optimum, from a guessed active
    set from 60 assets up: on the benchmark's long-only utility problems it takes
    about 0.13 ms at n = 20 (OSQP 0.12 ms), 0.6 ms at n = 100 (OSQP 1.3 ms) and
    10 ms at n = 500 (OSQP 95 ms). Its answer counts only if it is a KKT point to
    1e-9 (finite, every constraint met, multipliers of the right sign, stationary
    to 1e-9 of the data's scale); a singular covariance (not positive definite),
    inconsistent constraints or a failed check hand the solve on to OSQP.

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
        The options of :attr:`solver` under which :meth:`solve` tries quadprog
        first (the caller's defaults); ``None`` (the default) never tries it.
    costs : bool, default False
        Whether the problem has the cost term ``cost @ |w - prev_weights|``. Then
        only the exact solve is tried
        (:func:`~foliocast.portfolio.optimizer.cost_active_set.solve_with_costs`),
        in place of a CLARABEL attempt (:attr:`solver`): OSQP's polishing often
        fails on the L1 term.

    Raises
    ------
    ValueError
        For a structure this path does not cover (see :data:`DENSE_OBJECTIVES`).
    """

    def __init__(
        self,
        n_assets: int,
        objective: str,
        budget: str,
        lower_bounds: bool,
        upper_bounds: bool,
        n_groups: int,
        exact_options: Mapping[str, Any] | None = None,
        costs: bool = False,
    ) -> None:
        if objective not in DENSE_OBJECTIVES:
            raise ValueError(f"no dense OSQP path for objective {objective!r}")
        self._costs = costs
        # The solver whose attempts this path answers first.
        self.solver = "CLARABEL" if costs else "OSQP"
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
        self._a_indices = _row_pattern(n, *self._blocks)
        self._a_indptr = np.arange(n + 1, dtype=np.int64) * per_column
        self._per_column = per_column
        # triu(P) in CSC order: column j holds rows 0..j.
        self._factor_rows, self._factor_cols = np.triu_indices(n)  # row-major
        col, row = np.tril_indices(n)  # (col, row) pairs with row <= col, by col
        self._p_rows, self._p_cols = row, col
        self._p_indices = row.astype(np.int64)
        self._p_indptr = np.concatenate(([0], np.cumsum(np.arange(1, n + 1))))
        self._osqp = _OsqpRunner()
        index = self._osqp.index
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
        self._exact_options = None if exact_options is None else dict(exact_options)
        try:
            import quadprog  # noqa: F401
        except ImportError:
            self._exact_options = None

    def accepts(self, options: Mapping[str, Any]) -> bool:
        """Whether ``options`` are plain solver settings this path can pass on."""
        return not (CVXPY_LEVEL_OPTIONS & options.keys())

    def data(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """OSQP's ``P, q, A, l, u`` for the compiled problem's parameter values.

        Parameters
        ----------
        values : mapping of str -> array or float
            The values of the compiled problem's parameters, by name, and
            optionally the scaled covariance (:data:`COVARIANCE`).

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
        np.maximum(low, -self._osqp.infinity, out=low)
        np.minimum(high, self._osqp.infinity, out=high)
        return p, np.ascontiguousarray(q, dtype=float), a, low, high

    def _gram(self, values: Mapping[str, Any]) -> np.ndarray:
        """``U^T U``: its upper triangle is right, the lower one may be 0.

        The caller's ``covariance`` where given (both triangles), else formed from
        the factor (Fortran order, lower triangle 0).
        """
        from scipy.linalg import blas

        if COVARIANCE in values:
            return values[COVARIANCE]
        n = self.n
        upper = np.zeros((n, n), order="F")
        upper[self._factor_rows, self._factor_cols] = values["cov_factor"]
        return blas.dsyrk(1.0, upper, trans=1, lower=0)

    def _exact_parts(self, values: Mapping[str, Any]) -> DenseQp:
        """``G``, ``a``, the rows other than the bounds and the bounds, dense.

        Returns
        -------
        DenseQp
            ``G`` (n, n; both triangles of ``P``), ``a = -q``, the budget, group
            and target rows ``A`` (k, n) with their sides ``l`` and ``u`` (k,),
            and the bounds ``lower`` and ``upper`` (n,); an absent side is inf.
        """
        n = self.n
        gram = self._gram(values)
        g = gram if COVARIANCE in values else gram + np.triu(gram, 1).T
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
        return DenseQp(g, a, general, low, high, box_low, box_high)

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
            The values of the compiled problem's parameters, by name, and
            optionally the scaled covariance (:data:`COVARIANCE`).

        Returns
        -------
        tuple
            ``G`` (n, n), ``a`` (n,), ``C`` (n, k), ``b`` (k,) and ``meq``.
        """
        return quadprog_data(self._exact_parts(values))

    def solve_exact(self, values: Mapping[str, Any]) -> np.ndarray | None:
        """The weights from quadprog, or ``None`` where its answer does not count.

        See :func:`~foliocast.portfolio.optimizer.active_set.solve_active_set`: an
        exact solve from a guessed active set, checked against the full problem's
        KKT conditions; ``None`` for a singular covariance, inconsistent
        constraints or a failed check.

        Parameters
        ----------
        values : mapping of str -> array or float
            The values of the compiled problem's parameters, by name, and
            optionally the scaled covariance (:data:`COVARIANCE`).

        Returns
        -------
        ndarray of shape (n_assets,) or None
        """
        return solve_active_set(self._exact_parts(values))

    def solve(
        self, values: Mapping[str, Any], options: Mapping[str, Any]
    ) -> DenseAnswer | None:
        """Solve exactly (quadprog), else with OSQP; ``None`` where neither counts.

        quadprog (:meth:`solve_exact`) is tried first when ``options`` are the
        ``exact_options`` given at construction (the caller's defaults): options
        that differ ask for OSQP's own behaviour, so OSQP runs alone.

        Returns
        -------
        DenseAnswer or None
            The weights and the solver that produced them.
        """
        exact = self._exact_options is not None and dict(options) == self._exact_options
        if self._costs:
            if not exact:
                return None
            weights = solve_with_costs(
                self._exact_parts(values),
                np.asarray(values["cost"], dtype=float),
                np.asarray(values["prev_weights"], dtype=float),
            )
            return None if weights is None else DenseAnswer(weights, "QUADPROG")
        if exact:
            weights = self.solve_exact(values)
            if weights is not None:
                return DenseAnswer(weights, "QUADPROG")
        weights = self.solve_osqp(values, options)
        return None if weights is None else DenseAnswer(weights, "OSQP")

    def solve_osqp(
        self, values: Mapping[str, Any], options: Mapping[str, Any]
    ) -> np.ndarray | None:
        """Solve with OSQP; the weights, or ``None`` short of a polished optimum.

        Parameters
        ----------
        values : mapping of str -> array or float
            The values of the compiled problem's parameters, by name, and
            optionally the scaled covariance (:data:`COVARIANCE`).
        options : mapping
            OSQP settings, as given to ``Problem.solve``.

        Returns
        -------
        ndarray of shape (n_assets,) or None
        """
        return self._osqp.solve(self.data(values), options)


def _row_pattern(
    n: int, has_budget: bool, has_bounds: bool, m: int, has_target: bool
) -> np.ndarray:
    """Row indices of the entries of ``A``, column by column (CSC order).

    The rows are, in this order: budget, bounds (one row per asset), groups,
    target return; every column has one entry in each block.
    """
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
    return np.ascontiguousarray(np.hstack(rows)).ravel()
