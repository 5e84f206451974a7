"""The compiled Markowitz problem: built once per structure, re-solved with new data.

Compile once: the numbers of a problem (mu, the covariance factor, bounds, group
limits, previous weights, costs, targets) are ``cp.Parameter`` s, so a problem is
built per *structure* (:class:`ProblemSpec`: objective, size, risk form and which
constraints are present) and kept in a small LRU cache (:mod:`.cache`); a loop of
solves only sets parameter values and re-solves. Risk is written
``sum_squares(U @ w)`` with ``U`` the upper-triangular Cholesky factor
(``cov = U^T U``), or ``sum_squares(B^T w) + d^T w^2`` in factor form; both are
DPP, unlike ``quad_form(w, Parameter)``.

Solving: a chain of solvers (:data:`DEFAULT_SOLVERS`) is tried until one returns an
accurate answer. For CLARABEL and OSQP each attempt first takes the direct path of
:mod:`.direct` (cvxpy's compiled data, the solver's own API, no per-call cvxpy
pipeline); any answer but an accurate optimum, and any surprise, sends the attempt
through ``Problem.solve`` instead, so statuses, fallbacks and error messages are
cvxpy's. The direct path is only used where its arrays were checked equal to the
ones cvxpy passes, so both paths give the same weights bit for bit. For OSQP on a
full covariance with a utility, minimum-variance or target-return objective and
linear constraints, an attempt first solves the dense form (:mod:`.dense`: ``P``
the scaled covariance on the weights, instead of the Cholesky factor's auxiliary
variables; a 100-asset solve takes less than half the time), under the default
OSQP options first with quadprog's exact active-set method, then with OSQP; only a
checked quadprog answer or a polished OSQP optimum counts, which equals the
compiled problem's to rounding (tested to 1e-7), and anything else goes on to the
compiled path. The outcome names the solver and the path that answered. Solves are
not warm-started and every solve sets a solver up afresh, so the weights are a pure
function of the inputs (a rerun reproduces them exactly). ``fast_path=False``
(an argument of :meth:`MarkowitzProblem.solve`) sends every attempt through
``Problem.solve``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal, get_args

import cvxpy as cp
import numpy as np

from foliocast.portfolio.optimizer.dense import (
    COVARIANCE,
    DENSE_OBJECTIVES,
    DenseAnswer,
    DenseQpSolve,
)
from foliocast.portfolio.optimizer.direct import (
    DIRECT_SOLVERS,
    DirectSolve,
    compile_direct,
)

__all__ = [
    "DEFAULT_SOLVERS",
    "DEFAULT_SOLVER_OPTIONS",
    "OBJECTIVES",
    "MarkowitzProblem",
    "Objective",
    "ProblemSpec",
    "SolveOutcome",
    "default_chain",
    "installed_solvers",
]

Objective = Literal[
    "utility", "min_variance", "max_sharpe", "target_return", "target_volatility"
]
OBJECTIVES: tuple[str, ...] = get_args(Objective)

DEFAULT_SOLVERS: tuple[str, ...] = ("CLARABEL", "OSQP", "SCS")
"""Default fallback chain: interior point, ADMM (QPs only), then SCS.

For a plain QP (no turnover, cost or leverage term, no volatility target) with a
full covariance of 50 or more assets OSQP moves to the front: the Cholesky factor
makes the KKT system dense, which the interior point factorises at every one of its
~10 iterations and OSQP only two or three times, and OSQP's polishing step (the
exact solution on the active set it found) keeps the weights as accurate. An OSQP
answer that was not polished counts as inaccurate and the next solver is tried.
L1 terms make polishing fail often, and on small or factor-form problems fixed
costs dominate, so CLARABEL leads there. The exception is a full covariance with an
objective of :data:`.dense.DENSE_OBJECTIVES`, where OSQP leads at any size: it
solves the dense form (``P`` = the covariance, no auxiliary variables; see
:class:`.dense.DenseQpSolve`), about 1.7x faster than CLARABEL at 20 assets. With
a cost term (and no turnover or leverage limit) CLARABEL still leads, but its
attempt is first answered exactly on the dense form
(:mod:`.cost_active_set`): at 500 assets about 20 ms instead of CLARABEL's 0.4 s
on the Cholesky form.
"""

# CLARABEL: on flat utility problems (many assets of similar merit) weights move by
# ~sqrt(gap) for a change of gap in the objective; 1e-10 left some 100-asset
# problems 4e-6 from the exact solution, 1e-12 keeps them within 1e-7 for about
# one more iteration. See _CONE_OPTIONS for a volatility target.
DEFAULT_SOLVER_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "CLARABEL": MappingProxyType(
            {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
        ),
        "OSQP": MappingProxyType(
            # Loose eps is enough: an answer only counts once polishing made it
            # exact; a capped iteration count hands hard cases on quickly. The
            # problem is in units of the mean asset variance, where rho = 1 takes
            # half the iterations of OSQP's default 0.1 and rarely refactorises
            # (n = 50 to 500, several objectives: 2x to 5x less time).
            {
                "eps_abs": 1e-6,
                "eps_rel": 1e-6,
                "polishing": True,
                "max_iter": 10_000,
                "rho": 1.0,
            }
        ),
        "SCS": MappingProxyType({"eps_abs": 1e-7, "eps_rel": 1e-7}),
    }
)

# A volatility target is a second-order cone, where the interior point stalls short
# of 1e-12 ("almost solved") and the chain would fall through to SCS; there the
# defaults stay at 1e-10.
_CONE_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "CLARABEL": MappingProxyType(
            {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
        )
    }
)

_MIN_SCALE = 1e-12

_Budget = Literal["equal", "at_most", "free"]

_QP_ONLY_SOLVERS = frozenset({"OSQP"})
_DENSE_QP_ASSETS = 50  # from here OSQP beats CLARABEL on full covariances
_CERTIFYING_SOLVERS = frozenset({"CLARABEL"})
_FAILURES = {
    "infeasible": (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE),
    "unbounded": (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE),
}
_NOT_COMPILED = object()


@dataclass(frozen=True)
class ProblemSpec:
    """The structure of a compiled problem, used as its cache key.

    Everything that changes the shape of the cvxpy problem is here; every number
    (mu, covariance, bounds, limits, targets) is a parameter and is not.

    Attributes
    ----------
    objective : str
        One of :data:`OBJECTIVES`, or ``"max_return"`` (used by the frontier).
    n_assets : int
        Number of assets.
    n_factors : int or None
        Factors k of the factor form; ``None`` for a full covariance.
    budget : {"equal", "at_most", "free"}
        ``sum(w) == budget``, ``sum(w) <= budget`` or no budget constraint.
    lower_bounds, upper_bounds : bool
        Whether any asset has a lower/upper weight limit.
    n_groups : int
        Number of bounded groups.
    leverage, turnover, costs : bool
        Whether a gross-leverage limit, a turnover limit and a cost term are on.
    """

    objective: str
    n_assets: int
    n_factors: int | None
    budget: _Budget
    lower_bounds: bool
    upper_bounds: bool
    n_groups: int
    leverage: bool
    turnover: bool
    costs: bool


@dataclass(frozen=True)
class SolveOutcome:
    """What a chain of solvers produced: weights, or why there are none.

    Attributes
    ----------
    weights : ndarray of shape (n_assets,) or None
    solver : str
        Solver that produced the weights ("" without weights): the cvxpy name of
        the chain's solver, or ``"QUADPROG"`` where the exact dense solve answered
        an OSQP attempt.
    status : str
        cvxpy status of that solve ("" without weights).
    attempts : list of str
        ``"SOLVER: status"`` for every solver tried, in order.
    verdict : {"infeasible", "unbounded"} or None
        Why there are no weights, when the solvers agreed on a reason.
    path : {"dense", "direct", "cvxpy"} or ""
        How the weights were computed ("" without weights): the dense QP form
        (:mod:`.dense`), the compiled problem's data handed straight to the
        solver (:mod:`.direct`), or cvxpy's ``Problem.solve``.
    """

    weights: np.ndarray | None
    solver: str
    status: str
    attempts: list[str]
    verdict: str | None
    path: str


class MarkowitzProblem:
    """One cvxpy problem compiled for a :class:`ProblemSpec`, re-solved with new data.

    Parameters
    ----------
    spec : ProblemSpec
        Structure to build.

    Attributes
    ----------
    spec : ProblemSpec
    problem : cvxpy.Problem
        The DPP problem; cvxpy caches its canonicalisation after the first solve.
    parameters : dict of str -> cvxpy.Parameter
        Every number of the problem, by name.
    """

    def __init__(self, spec: ProblemSpec) -> None:
        self.spec = spec
        self.parameters: dict[str, cp.Parameter] = {}
        self._weights = cp.Variable(spec.n_assets, name="weights")
        # The Sharpe transform solves for y = k w with a free scale k >= 0.
        self._scale = (
            cp.Variable(nonneg=True, name="scale")
            if spec.objective == "max_sharpe"
            else None
        )
        self._lock = threading.Lock()
        objective, constraints = self._formulate()
        self.problem = cp.Problem(objective, constraints)
        if not self.problem.is_dpp():  # not `assert`: must hold under python -O
            raise RuntimeError(f"internal error: the problem for {spec} is not DPP")
        # One cvxpy Problem per solver, sharing variables and parameters: cvxpy
        # keeps one compiled chain per Problem, so a fallback solver must not
        # evict the primary solver's compilation.
        self._per_solver: dict[str, cp.Problem] = {}
        self._direct: dict[str, DirectSolve | None] = {}
        self._dense = _dense_path(spec)
        cone = spec.objective == "target_volatility"
        self._default_options = _CONE_OPTIONS if cone else {}

    @property
    def direct_solvers(self) -> tuple[str, ...]:
        """Solvers whose direct path (:mod:`.direct`) is compiled."""
        return tuple(name for name, direct in self._direct.items() if direct)

    @property
    def dense_solver(self) -> str | None:
        """The solver whose attempts the dense path answers first; None without it.

        ``OSQP`` for a plain full-covariance QP, ``CLARABEL`` with a cost term
        (:class:`.dense.DenseQpSolve`).
        """
        return None if self._dense is None else self._dense.solver

    @property
    def dense_osqp(self) -> bool:
        """Whether OSQP attempts first solve the dense form (``P`` = covariance).

        See :class:`.dense.DenseQpSolve`: full-covariance problems with a
        utility, minimum-variance or target-return objective and linear
        constraints only (no leverage, turnover or cost term).
        """
        return self.dense_solver == "OSQP"

    def solve(
        self,
        values: Mapping[str, np.ndarray | float],
        solvers: Sequence[str],
        solver_options: Mapping[str, Mapping[str, Any]],
        *,
        fast_path: bool = True,
        covariance: np.ndarray | None = None,
    ) -> SolveOutcome:
        """Set every parameter and solve, trying each solver until one succeeds.

        Parameters
        ----------
        values : mapping of str -> array or float
            A value for every entry of :attr:`parameters`.
        solvers : sequence of str
            cvxpy solver names, tried in order.
        solver_options : mapping of solver name -> options
            Options passed to that solver (on top of :data:`DEFAULT_SOLVER_OPTIONS`).
        fast_path : bool, default True
            Whether CLARABEL and OSQP attempts try the dense and direct paths
            first; ``False`` sends every attempt through ``Problem.solve`` (for
            debugging, and to compare the paths).
        covariance : ndarray of shape (n_assets, n_assets), optional
            The full covariance in the problem's units, ``U^T U`` for the factor
            ``U`` given as ``cov_factor``, where the caller holds it: the dense
            form then takes it as it is instead of forming it from the factor.

        Returns
        -------
        SolveOutcome
            Weights of shape (n_assets,) or ``None``, with what each solver said.
        """
        if values.keys() != self.parameters.keys():
            raise RuntimeError(
                f"internal error: parameters {sorted(self.parameters)} got values "
                f"for {sorted(values)}"
            )
        with self._lock:  # parameters and solver caches are shared state
            for name, value in values.items():
                _assign(self.parameters[name], value)
            return self._solve_chain(solvers, solver_options, fast_path, covariance)

    # ------------------------------------------------------------ formulation

    def _parameter(self, name: str, shape: tuple[int, ...] = (), **attrs: bool) -> Any:
        parameter = cp.Parameter(shape, name=name, **attrs)
        self.parameters[name] = parameter
        return parameter

    def _scaled(self, rhs: Any) -> Any:
        """Right-hand side of a constraint; scaled by k in the Sharpe transform."""
        return rhs if self._scale is None else rhs * self._scale

    def _risk(self) -> Any:
        spec, w = self.spec, self._weights
        n = spec.n_assets
        if spec.n_factors is None:
            # Only the n(n+1)/2 entries of the triangular factor are parameters:
            # half the nonzeros of a dense factor, so the solver works half as hard.
            upper = cp.vec_to_upper_tri(
                self._parameter("cov_factor", (n * (n + 1) // 2,))
            )
            return cp.sum_squares(upper @ w)
        loadings = self._parameter("loadings", (n, spec.n_factors))
        idio = self._parameter("idio", (n,), nonneg=True)
        # d enters the quadratic term's diagonal directly; sum_squares(sqrt(d) * w)
        # would add n auxiliary variables and n equality rows.
        return cp.sum_squares(loadings.T @ w) + idio @ cp.square(w)

    def _portfolio_constraints(self) -> list[Any]:
        spec, w, param = self.spec, self._weights, self._parameter
        n, m = spec.n_assets, spec.n_groups
        constraints = []
        if spec.budget == "equal":
            constraints.append(cp.sum(w) == self._scaled(param("budget")))
        elif spec.budget == "at_most":
            constraints.append(cp.sum(w) <= self._scaled(param("budget")))
        if spec.lower_bounds:
            constraints.append(w >= self._scaled(param("lower", (n,))))
        if spec.upper_bounds:
            constraints.append(w <= self._scaled(param("upper", (n,))))
        if m:
            exposure = param("group_matrix", (m, n)) @ w
            constraints.append(exposure >= self._scaled(param("group_lower", (m,))))
            constraints.append(exposure <= self._scaled(param("group_upper", (m,))))
        if spec.leverage:
            limit = param("max_leverage", nonneg=True)
            constraints.append(cp.norm1(w) <= self._scaled(limit))
        return constraints

    def _trading(self, constraints: list[Any]) -> Any:
        """Trade variable, turnover limit and cost term (0 when neither is on)."""
        spec = self.spec
        if not (spec.turnover or spec.costs):
            return 0
        n = spec.n_assets
        # trades = w - w_prev as a variable keeps kappa @ |trades| DPP
        # (a parameter times abs(w - parameter) is not).
        trades = cp.Variable(n, name="trades")
        prev = self._parameter("prev_weights", (n,))
        constraints.append(self._weights - trades == self._scaled(prev))
        if spec.turnover:
            limit = self._parameter("trade_limit", nonneg=True)
            constraints.append(cp.norm1(trades) <= self._scaled(limit))
        if spec.costs:
            return self._parameter("cost", (n,), nonneg=True) @ cp.abs(trades)
        return 0

    def _formulate(self) -> tuple[cp.Minimize, list[Any]]:
        spec, w = self.spec, self._weights
        n = spec.n_assets
        risk = self._risk()
        constraints = self._portfolio_constraints()
        costs = self._trading(constraints)
        objective = spec.objective
        if objective == "utility":
            goal = 0.5 * risk - self._parameter("mu", (n,)) @ w + costs
        elif objective == "min_variance":
            goal = 0.5 * risk + costs
        elif objective == "target_return":
            goal = 0.5 * risk + costs
            constraints.append(
                self._parameter("mu", (n,)) @ w >= self._parameter("target")
            )
        elif objective == "target_volatility":
            goal = -self._parameter("mu", (n,)) @ w + costs
            constraints.append(risk <= self._parameter("target", nonneg=True))
        elif objective == "max_sharpe":
            goal = risk
            constraints.append(self._parameter("mu", (n,)) @ w == 1)
        elif objective == "max_return":
            goal = -self._parameter("mu", (n,)) @ w
        else:
            raise ValueError(
                f"unknown objective {objective!r}; use one of {OBJECTIVES}"
            )
        return cp.Minimize(goal), constraints

    # ---------------------------------------------------------------- solving

    def _solve_chain(
        self,
        solvers: Sequence[str],
        solver_options: Mapping[str, Mapping[str, Any]],
        fast_path: bool,
        covariance: np.ndarray | None = None,
    ) -> SolveOutcome:
        attempts: list[str] = []
        inaccurate: SolveOutcome | None = None
        verdict = None
        for solver in solvers:
            if (
                solver in _QP_ONLY_SOLVERS
                and self.spec.objective == "target_volatility"
            ):
                continue  # a volatility limit is a second-order cone, not a QP
            options = {
                **DEFAULT_SOLVER_OPTIONS.get(solver, {}),
                **self._default_options.get(solver, {}),
                **solver_options.get(solver, {}),
            }
            fast = self._solve_fast(solver, options, covariance) if fast_path else None
            if fast is not None:
                attempts.append(f"{solver}: {cp.OPTIMAL}")
                # Report who produced the weights: an OSQP attempt may have been
                # answered by quadprog on the dense form.
                weights, answered, path = fast
                return SolveOutcome(weights, answered, cp.OPTIMAL, attempts, None, path)
            problem = self._problem_for(solver)
            error = _run_solver(problem, solver, options)
            if error is not None:
                attempts.append(f"{solver}: error ({error})")
                continue
            status = problem.status
            attempts.append(f"{solver}: {status}")
            if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
                weights = self._weights_value()
                if weights is None:
                    attempts[-1] += " but the Sharpe scale k collapsed to 0"
                elif status == cp.OPTIMAL and _polished(problem, solver):
                    return SolveOutcome(
                        weights, solver, status, attempts, None, "cvxpy"
                    )
                elif inaccurate is None:
                    if status == cp.OPTIMAL:
                        attempts[-1] += " without polishing (tolerance accuracy)"
                    inaccurate = SolveOutcome(
                        weights, solver, cp.OPTIMAL_INACCURATE, attempts, None, "cvxpy"
                    )
                continue
            for failure, statuses in _FAILURES.items():
                if status in statuses:
                    # Trust a certificate from an interior-point solver, or two
                    # solvers that agree; otherwise let the next solver confirm.
                    if verdict == failure or (
                        solver in _CERTIFYING_SOLVERS and status == statuses[0]
                    ):
                        return SolveOutcome(None, "", "", attempts, failure, "")
                    verdict = failure
        if inaccurate is not None:
            return inaccurate
        return SolveOutcome(None, "", "", attempts, verdict, "")

    def _solve_fast(
        self,
        solver: str,
        options: Mapping[str, Any],
        covariance: np.ndarray | None = None,
    ) -> tuple[np.ndarray, str, str] | None:
        """Weights, who answered and how, or ``None`` to take ``Problem.solve``.

        The dense form first where it applies, then the direct path.
        """
        if solver not in DIRECT_SOLVERS:
            return None
        if self._dense is not None and solver == self._dense.solver:
            answer = self._solve_dense(options, covariance)
            if answer is not None:
                return answer.weights, answer.solver, "dense"
        weights = self._solve_direct(solver, options)
        return None if weights is None else (weights, solver, "direct")

    def _solve_direct(
        self, solver: str, options: Mapping[str, Any]
    ) -> np.ndarray | None:
        """Weights from the direct path, or ``None`` to take ``Problem.solve``."""
        direct = self._direct.get(solver, _NOT_COMPILED)
        if direct is _NOT_COMPILED:
            direct = self._compile_direct(solver)
            self._direct[solver] = direct
        if direct is None or not direct.accepts(options):
            return None
        try:
            values = direct.solve(options)
        except Exception:  # any surprise: cvxpy's path re-solves and reports
            return None
        if values is None:
            return None
        weights, *scale = values
        return self._weights_from(weights, scale[0] if scale else None)

    def _solve_dense(
        self, options: Mapping[str, Any], covariance: np.ndarray | None = None
    ) -> DenseAnswer | None:
        """Weights from quadprog or OSQP on the dense form, or ``None`` to go on."""
        dense = self._dense
        if not dense.accepts(options):
            return None
        values = {name: p.value for name, p in self.parameters.items()}
        if covariance is not None:
            values[COVARIANCE] = covariance
        try:
            return dense.solve(values, options)
        except Exception:  # any surprise: the compiled paths re-solve and report
            return None

    def _compile_direct(self, solver: str) -> DirectSolve | None:
        variables = [self._weights]
        if self._scale is not None:
            variables.append(self._scale)
        try:
            return compile_direct(
                self._problem_for(solver),
                solver,
                list(self.parameters.values()),
                variables,
            )
        except Exception:  # Problem.solve raises it again, in its own words
            return None

    def _problem_for(self, solver: str) -> cp.Problem:
        if not self._per_solver:
            self._per_solver[solver] = self.problem  # the first solver used
        problem = self._per_solver.get(solver)
        if problem is None:
            problem = cp.Problem(self.problem.objective, self.problem.constraints)
            self._per_solver[solver] = problem
        return problem

    def _weights_value(self) -> np.ndarray | None:
        weights = self._weights.value
        if weights is None:
            return None
        scale = None if self._scale is None else self._scale.value
        return self._weights_from(weights, scale)

    def _weights_from(self, weights: Any, scale: Any) -> np.ndarray | None:
        if self._scale is None:
            return np.array(weights, dtype=float)  # a copy: the next solve reuses it
        if scale is None or float(np.squeeze(scale)) <= _MIN_SCALE:
            return None
        return np.asarray(weights, dtype=float) / float(np.squeeze(scale))


def _dense_path(spec: ProblemSpec) -> DenseQpSolve | None:
    """The dense path for ``spec``, or ``None`` where it does not apply.

    quadprog then OSQP on the covariance; with a cost term the exact solve alone,
    in place of CLARABEL's attempt (:class:`.dense.DenseQpSolve`).
    """
    if (
        spec.n_factors is not None
        or spec.objective not in DENSE_OBJECTIVES
        or spec.leverage
        or spec.turnover
    ):
        return None
    try:
        return DenseQpSolve(
            spec.n_assets,
            spec.objective,
            spec.budget,
            spec.lower_bounds,
            spec.upper_bounds,
            spec.n_groups,
            # With a cost term the path answers CLARABEL's attempt, which leads.
            exact_options=DEFAULT_SOLVER_OPTIONS["CLARABEL" if spec.costs else "OSQP"],
            costs=spec.costs,
        )
    except (ValueError, ImportError):
        return None


def _assign(parameter: cp.Parameter, value: np.ndarray | float) -> None:
    """Set a parameter's value without cvxpy's projection checks.

    ``Parameter.value = ...`` projects the value onto the parameter's attributes
    and compares (``allclose``): ~70 us a parameter, four of which take as long as
    the whole solve of a 20-asset problem. The values come from validated inputs,
    so only shape and sign are checked here, as internal errors.
    """
    array = np.array(value, dtype=float)  # a copy, as the setter keeps
    if array.shape != parameter.shape:
        raise RuntimeError(
            f"internal error: parameter {parameter.name()} has shape "
            f"{parameter.shape}, got a value of shape {array.shape}"
        )
    if parameter.attributes["nonneg"] and not (array >= 0).all():
        raise RuntimeError(f"internal error: parameter {parameter.name()} < 0")
    # Scalars are stored as floats, arrays as arrays: what the setter stores.
    parameter.save_value(array if array.ndim else float(array))


def _run_solver(
    problem: cp.Problem, solver: str, options: Mapping[str, Any]
) -> str | None:
    """Solve ``problem`` with one solver; the error text if the solver raised."""
    try:
        with warnings.catch_warnings():
            # cvxpy warns on inaccurate solutions; the chain handles those.
            warnings.filterwarnings("ignore", "Solution may be inaccurate", UserWarning)
            # No warm start: it saves ~1 ms on small problems but makes the weights
            # depend on earlier calls (in the last bits), and a rerun or resumed
            # backtest must reproduce them exactly.
            problem.solve(solver=solver, warm_start=False, **options)
    except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
        return _first_line(exc)
    return None


def _polished(problem: cp.Problem, solver: str) -> bool:
    """False when OSQP stopped at its (loose) tolerance without polishing.

    OSQP's polishing solves the KKT system of the active set it found, which gives
    interior-point accuracy; without it the weights are only good to ``eps``.
    """
    if solver != "OSQP":
        return True
    info = getattr(problem.solver_stats.extra_stats, "info", None)
    return getattr(info, "status_polish", 1) == 1


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------ solver chain


@lru_cache(maxsize=1)
def installed_solvers() -> frozenset[str]:
    """Installed cvxpy solvers (probed once: solvers do not come and go)."""
    return frozenset(cp.installed_solvers())


def default_chain(spec: ProblemSpec) -> tuple[str, ...]:
    """The installed solvers of :data:`DEFAULT_SOLVERS`, ordered for ``spec``."""
    chain = DEFAULT_SOLVERS
    plain_qp = not (
        spec.turnover
        or spec.costs
        or spec.leverage
        or spec.objective == "target_volatility"
    )
    dense = spec.n_factors is None and (
        spec.n_assets >= _DENSE_QP_ASSETS or spec.objective in DENSE_OBJECTIVES
    )
    if plain_qp and dense:  # see DEFAULT_SOLVERS
        chain = ("OSQP", *(s for s in chain if s != "OSQP"))
    installed = installed_solvers()
    return tuple(s for s in chain if s in installed)
