"""The settings of a Markowitz solve, as one record: :class:`MarkowitzOptions`.

``markowitz``, ``optimize``, ``optimize_forecast`` and ``efficient_frontier`` take
the same settings; they are declared once, here. A caller passes a record, or the
settings as keywords (``optimize(mu, cov, objective="min_variance")``), or both
(the keywords then replace the record's fields); :func:`resolve_options` turns
either into one validated record that the solve passes around.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

import pandas as pd

from foliocast.portfolio.optimizer.active import ACTIVE_OBJECTIVES
from foliocast.portfolio.optimizer.cache import DEFAULT_CACHE, ProblemCache
from foliocast.portfolio.optimizer.constraints import Constraints
from foliocast.portfolio.optimizer.inputs import finite_float
from foliocast.portfolio.optimizer.problem import (
    OBJECTIVES,
    Objective,
    installed_solvers,
)

__all__ = ["MarkowitzOptions", "resolve_options"]


@dataclass(frozen=True, eq=False)
class MarkowitzOptions:
    """What to optimise and how: every setting of a Markowitz solve.

    Parameters
    ----------
    objective : {"utility", "min_variance", "max_sharpe", "target_return", \
"target_volatility", "tracking_error", "active_utility"}, default "utility"
        What to optimise (see :mod:`~foliocast.portfolio.optimizer.markowitz`).
    risk_aversion : float, default 1.0
        gamma > 0 of the utility (and of the cost trade-off for ``min_variance``
        and ``target_return``).
    constraints : Constraints or mapping, optional
        Defaults to long-only and fully invested.
    prev_weights : pandas.Series, optional
        Current weights by ticker, for the turnover limit and the cost term. Missing
        assets count as 0; held assets not in ``mu`` are sold. ``None`` = cash.
    cost_penalty : float or pandas.Series, optional
        kappa: cost per unit of traded weight, one number or one per asset, in the
        units of ``mu`` (e.g. 10 bps = 0.001).
    risk_free_rate : float, default 0.0
        Return of cash over the horizon, for ``max_sharpe``.
    target : float, optional
        Horizon return (``target_return``) or volatility (``target_volatility``)
        to reach; required by, and only used with, those objectives.
    solvers : sequence of str, optional
        cvxpy solvers tried in order; default
        :data:`~foliocast.portfolio.optimizer.problem.DEFAULT_SOLVERS` (reordered by
        problem structure).
    solver_options : mapping of solver name -> options, optional
        Extra options per solver, over
        :data:`~foliocast.portfolio.optimizer.problem.DEFAULT_SOLVER_OPTIONS`.
    fast_path : bool, default True
        Whether CLARABEL and OSQP first try the dense and direct solver paths;
        ``False`` sends every solve through cvxpy's ``Problem.solve`` (for
        debugging, and to compare the paths). The weights agree to 1e-7.
    cache : ProblemCache, default DEFAULT_CACHE
        Where compiled problems are kept and looked up; the process-wide default
        unless a caller brings its own.
    benchmark : pandas.Series, optional
        Benchmark weights by ticker for ``objective="tracking_error"`` (minimise the
        ex-ante tracking error) or ``"active_utility"`` (``mu^T (w - b) - (gamma /
        2) (w - b)^T cov (w - b)``); 1/N of the universe when not given. See
        :mod:`~foliocast.portfolio.optimizer.active`.
    """

    objective: Objective = "utility"
    risk_aversion: float = 1.0
    constraints: Constraints | Mapping[str, Any] | None = None
    prev_weights: pd.Series | None = None
    cost_penalty: float | pd.Series | None = None
    risk_free_rate: float = 0.0
    target: float | None = None
    solvers: Sequence[str] | None = None
    solver_options: Mapping[str, Mapping[str, Any]] | None = None
    fast_path: bool = True
    cache: ProblemCache = DEFAULT_CACHE
    benchmark: pd.Series | None = None

    def checked(self) -> MarkowitzOptions:
        """A copy with every setting that needs no universe checked.

        ``solvers`` become a tuple of upper-case names and ``solver_options`` a
        read-only mapping; ``constraints``, ``prev_weights`` and ``cost_penalty``
        are checked against the assets when a solve prepares its inputs.

        Raises
        ------
        ValueError, TypeError
            Naming the setting and what to do.
        """
        objective, target = self.objective, self.target
        if objective not in OBJECTIVES + ACTIVE_OBJECTIVES:
            raise ValueError(
                f"unknown objective {objective!r}; use one of "
                f"{OBJECTIVES + ACTIVE_OBJECTIVES}"
            )
        if self.benchmark is not None and objective not in ACTIVE_OBJECTIVES:
            raise ValueError(
                f"benchmark is only used with objective='tracking_error' or "
                f"'active_utility', not {objective!r}; drop it"
            )
        gamma = finite_float("risk_aversion", self.risk_aversion)
        if gamma <= 0:
            raise ValueError(f"risk_aversion must be > 0, got {gamma:g}")
        if objective in ("target_return", "target_volatility"):
            if target is None:
                raise ValueError(
                    f"objective={objective!r} needs target (the horizon "
                    f"{objective.removeprefix('target_')} to reach)"
                )
            target = finite_float("target", target)
            if objective == "target_volatility" and target <= 0:
                raise ValueError(f"target volatility must be > 0, got {target:g}")
        elif target is not None:
            raise ValueError(
                f"target is only used with objective='target_return' or "
                f"'target_volatility', not {objective!r}; drop it"
            )
        if not isinstance(self.fast_path, bool):
            raise TypeError(f"fast_path must be True or False, got {self.fast_path!r}")
        if not isinstance(self.cache, ProblemCache):
            raise TypeError(
                f"cache must be a ProblemCache, got {type(self.cache).__name__}"
            )
        return replace(
            self,
            risk_aversion=gamma,
            risk_free_rate=finite_float("risk_free_rate", self.risk_free_rate),
            target=target,
            solvers=_solver_chain(self.solvers),
            solver_options=MappingProxyType(dict(self.solver_options or {})),
        )


_FIELDS = frozenset(f.name for f in fields(MarkowitzOptions))


def resolve_options(
    options: MarkowitzOptions | None, changes: Mapping[str, Any]
) -> MarkowitzOptions:
    """``options`` (default: all defaults) with ``changes`` applied, checked.

    Parameters
    ----------
    options : MarkowitzOptions, optional
        The record a caller passed.
    changes : mapping of str -> value
        Settings passed as keywords; each must name a field of
        :class:`MarkowitzOptions`.

    Returns
    -------
    MarkowitzOptions
        See :meth:`MarkowitzOptions.checked`.

    Raises
    ------
    TypeError
        For a keyword that is no setting, or ``options`` of another type.
    """
    if options is not None and not isinstance(options, MarkowitzOptions):
        raise TypeError(
            f"options must be a MarkowitzOptions, got {type(options).__name__}; "
            "or pass the settings as keywords (objective=..., risk_aversion=...)"
        )
    if changes:
        unknown = sorted(changes.keys() - _FIELDS)
        if unknown:
            raise TypeError(
                f"unexpected keyword argument(s) {unknown}; the settings are "
                f"{sorted(_FIELDS)}"
            )
        if options is None:  # one record built, not a default one and a copy
            options = MarkowitzOptions(**changes)
        else:
            options = replace(options, **changes)
    elif options is None:
        options = MarkowitzOptions()
    return options.checked()


def _solver_chain(solvers: Sequence[str] | None) -> tuple[str, ...] | None:
    installed = installed_solvers()
    if solvers is None:
        return None
    if isinstance(solvers, str):
        solvers = (solvers,)
    chain = tuple(s.upper() for s in solvers)
    unknown = [s for s in chain if s not in installed]
    if unknown or not chain:
        raise ValueError(
            f"solver(s) {unknown} not installed; choose from {sorted(installed)}"
        )
    return chain
