"""Errors and warnings of the portfolio package (config, optimizer, run folders).

Every message says what went wrong in portfolio terms (budget, bounds, groups,
turnover, ...) and what to change, so a user can act without reading solver logs.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CovarianceRepairWarning",
    "InfeasibleError",
    "OptimizationError",
    "RunFolderError",
]


class ConfigError(ValueError):
    """A configuration value that is missing, unknown or invalid."""


class OptimizationError(RuntimeError):
    """The optimizer could not produce weights.

    Raised when every solver in the fallback chain failed, when the problem is
    unbounded, or when a solution cannot be mapped back to weights. The message lists
    what each solver reported and what to try.
    """


class InfeasibleError(OptimizationError):
    """No portfolio satisfies the constraints together.

    Raised by the cheap pre-checks before solving (with the conflicting numbers, e.g.
    ``min weight 0.10 x 20 assets = 2.00 exceeds the budget 1.00``) and when a solver
    certifies infeasibility (with the list of active constraints to relax).
    """


class CovarianceRepairWarning(UserWarning):
    """A covariance that was not positive semidefinite was repaired.

    The negative eigenvalues were clipped to zero; the message gives the smallest
    eigenvalue so the estimator that produced it can be checked.
    """


class RunFolderError(ValueError):
    """A file of a run folder cannot be read back (the message names it and why).

    Raised by `load_run` for a garbled ``metrics.json``, a ``config.yaml`` that is
    not plain YAML (a ``!!python`` tag is refused, never executed), a CSV file with
    text or empty cells where numbers belong, and the like: the run folder was
    edited or damaged after the backtest wrote it.
    """
