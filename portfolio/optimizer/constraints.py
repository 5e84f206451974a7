"""Portfolio constraints and the cheap checks that catch conflicts before solving.

Terms used here and in :mod:`portfolio.optimizer`:

- ``weights`` w: fraction of capital per asset (negative = short).
- ``budget``: target for ``sum(w)``; with ``allow_cash`` the sum may fall short of
  it and the rest is held in cash.
- ``bounds``: lower/upper limit per asset; ``groups``: limits on the summed weight
  of an asset class (``asset_groups`` maps asset -> class; classes are disjoint).
- ``gross leverage``: ``sum(|w|)``.
- ``turnover``: one-way turnover ``0.5 * sum(|w - w_prev|)``, the convention of the
  backtest; a sale of an asset that left the universe counts too.

A :class:`Constraints` is universe-free (it names tickers but holds no array);
:meth:`Constraints.resolve` turns it into arrays for one ordered universe, and
:func:`check_feasibility` finds the obvious conflicts in user terms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np

from foliocast.portfolio.errors import InfeasibleError

__all__ = ["Bound", "Constraints", "ResolvedConstraints", "check_feasibility"]

Bound = tuple[float | None, float | None]
"""A ``(lower, upper)`` limit; ``None`` leaves that side open."""

# Slack for comparing sums of bounds: below solver tolerances, above rounding.
_TOL = 1e-9


@dataclass(frozen=True)
class Constraints:
    """The rules a portfolio must obey, independent of the universe.

    Parameters
    ----------
    budget : float or None, default 1.0
        Target for the sum of weights (1.0 = fully invested, 0.0 = market neutral).
        ``None`` drops the budget constraint altogether.
    allow_cash : bool, default False
        If True the weights may sum to less than ``budget``; the rest is cash.
    long_only : bool, default True
        Forbid short positions (every weight >= 0).
    min_weight, max_weight : float, optional
        Lower and upper limit on every weight. With ``long_only`` the lower limit
        is at least 0.
    bounds : mapping of ticker -> (lower, upper), optional
        Per-asset limits. A side given here replaces ``min_weight``/``max_weight``
        for that asset; ``None`` keeps the uniform limit.
    groups : mapping of group -> (lower, upper), optional
        Limits on the total weight of each group (asset class).
    asset_groups : mapping of ticker -> group, optional
        Group of each asset; required with ``groups``. Assets without a group
        are not limited by group bounds.
    max_leverage : float, optional
        Upper limit on gross leverage ``sum(|w|)``.
    turnover : float, optional
        Upper limit on one-way turnover ``0.5 * sum(|w - w_prev|)`` against the
        previous weights.

    Notes
    -----
    Entries of ``bounds`` and ``asset_groups`` for tickers outside the universe
    being optimised are ignored, so one constraint set serves a universe that
    changes over time.
    """

    budget: float | None = 1.0
    allow_cash: bool = False
    long_only: bool = True
    min_weight: float | None = None
    max_weight: float | None = None
    bounds: Mapping[str, Bound] | None = None
    groups: Mapping[str, Bound] | None = None
    asset_groups: Mapping[str, str] | None = None
    max_leverage: float | None = None
    turnover: float | None = None

    def __post_init__(self) -> None:
        for name in ("allow_cash", "long_only"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"Constraints.{name} must be true or false, "
                    f"got {getattr(self, name)!r}"
                )
        set_ = object.__setattr__  # the dataclass is frozen; normalise once here
        set_(self, "budget", _number("budget", self.budget))
        set_(self, "min_weight", _number("min_weight", self.min_weight))
        set_(self, "max_weight", _number("max_weight", self.max_weight))
        set_(self, "max_leverage", _number("max_leverage", self.max_leverage, 0.0))
        set_(self, "turnover", _number("turnover", self.turnover, 0.0))
        set_(self, "bounds", _bound_map("bounds", self.bounds))
        set_(self, "groups", _bound_map("groups", self.groups))
        set_(self, "asset_groups", _group_map(self.asset_groups))
        self._check_consistency()

    def _check_consistency(self) -> None:
        """Reject settings that contradict each other whatever the universe."""
        if self.allow_cash and self.budget is None:
            raise ValueError(
                "Constraints.allow_cash needs a budget to hold cash against; "
                "set budget (e.g. 1.0) or allow_cash=False"
            )
        if self.max_leverage is not None and self.max_leverage == 0.0:
            raise ValueError("Constraints.max_leverage must be > 0 (or None)")
        lo, hi = self.min_weight, self.max_weight
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(
                f"Constraints.min_weight {lo:g} exceeds max_weight {hi:g}; swap them"
            )
        if self.long_only and lo is not None and lo < 0:
            raise ValueError(
                f"Constraints.min_weight {lo:g} allows shorts but long_only=True; "
                "set long_only=False or min_weight >= 0"
            )
        if self.long_only and hi is not None and hi < 0:
            raise ValueError(
                f"Constraints.max_weight {hi:g} < 0 forces shorts but long_only=True"
            )
        for ticker, (b_lo, _) in (self.bounds or {}).items():
            if self.long_only and b_lo is not None and b_lo < 0:
                raise ValueError(
                    f"Constraints.bounds[{ticker!r}] allows a short position "
                    f"({b_lo:g}) but long_only=True; set long_only=False or raise "
                    "the bound to >= 0"
                )
        if (self.groups is None) != (self.asset_groups is None):
            raise ValueError(
                "Constraints.groups (group -> (lower, upper)) and asset_groups "
                "(asset -> group) go together; give both or neither"
            )

    def __hash__(self) -> int:
        return hash(
            tuple(
                frozenset(value.items()) if isinstance(value, Mapping) else value
                for value in (getattr(self, f.name) for f in fields(self))
            )
        )

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | None) -> Constraints:
        """Build constraints from a config mapping (e.g. the YAML ``constraints``).

        Parameters
        ----------
        config : mapping or None
            Keys are the field names of :class:`Constraints`; ``None`` values keep
            a limit off. ``None`` or ``{}`` gives the defaults (long-only, fully
            invested).

        Returns
        -------
        Constraints

        Raises
        ------
        ValueError
            On an unknown key (the message lists the valid ones) or a bad value.
        """
        if config is None:
            return cls()
        if not isinstance(config, Mapping):
            raise ValueError(
                "constraints must be a mapping of settings, "
                f"got {type(config).__name__}"
            )
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(config) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown constraint setting(s) {unknown}; valid keys: {valid}"
            )
        return cls(**dict(config))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (lists and dicts) for configs; inverse of `from_dict`."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = {
                    key: list(item) if isinstance(item, tuple) else item
                    for key, item in value.items()
                }
            out[f.name] = value
        return out

    def resolve(self, tickers: Sequence[str]) -> ResolvedConstraints:
        """Arrays of this constraint set for one ordered universe (memoised).

        Parameters
        ----------
        tickers : sequence of str
            The assets being optimised, in order.

        Returns
        -------
        ResolvedConstraints
        """
        return _resolve(self, tuple(tickers))


@dataclass(frozen=True, eq=False)
class ResolvedConstraints:
    """A :class:`Constraints` laid out on one ordered universe.

    Attributes
    ----------
    constraints : Constraints
        The constraint set this was built from.
    tickers : tuple of str
        The universe, in order (length n_assets).
    lower, upper : ndarray of shape (n_assets,)
        Weight limits per asset; ``-inf``/``inf`` where open.
    group_names : tuple of str
        Groups with bounds (length n_groups), in the order of ``groups``.
    group_matrix : ndarray of shape (n_groups, n_assets)
        1 where an asset belongs to a group, else 0.
    group_lower, group_upper : ndarray of shape (n_groups,)
        Group limits; ``-inf``/``inf`` where open.
    """

    constraints: Constraints
    tickers: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    group_names: tuple[str, ...]
    group_matrix: np.ndarray
    group_lower: np.ndarray
    group_upper: np.ndarray

    @cached_property
    def fixed_conflicts(self) -> tuple[str, ...]:
        """The conflicts that need no previous weights (computed once: memoised).

        Bounds, budget, leverage and groups; see :func:`check_feasibility`.
        """
        return (
            *_asset_bound_conflicts(self),
            *_budget_conflicts(self),
            *_leverage_conflicts(self),
            *_group_conflicts(self),
        )

    def describe(self) -> list[str]:
        """The active constraints in words, one per item, for error messages."""
        c = self.constraints
        lines = []
        if c.budget is not None:
            rest = " (rest in cash)" if c.allow_cash else ""
            relation = "at most" if c.allow_cash else "exactly"
            lines.append(f"budget: weights sum to {relation} {c.budget:g}{rest}")
        if c.long_only:
            lines.append("long-only")
        if c.min_weight is not None:
            lines.append(f"min weight {c.min_weight:g}")
        if c.max_weight is not None:
            lines.append(f"max weight {c.max_weight:g}")
        n_bounded = sum(t in self.tickers for t in (c.bounds or {}))
        if n_bounded:
            lines.append(f"per-asset bounds on {n_bounded} asset(s)")
        for name, lo, hi in zip(
            self.group_names, self.group_lower, self.group_upper, strict=True
        ):
            lines.append(f"group {name!r} in [{lo:g}, {hi:g}]")
        if c.max_leverage is not None:
            lines.append(f"gross leverage <= {c.max_leverage:g}")
        if c.turnover is not None:
            lines.append(f"one-way turnover <= {c.turnover:g} from prev_weights")
        return lines


def check_feasibility(
    resolved: ResolvedConstraints,
    prev_weights: np.ndarray | None = None,
    sold: float = 0.0,
) -> None:
    """Raise if the constraints obviously conflict, before any solver runs.

    The checks are necessary conditions (cheap sums of bounds), so passing them does
    not prove feasibility; the solver has the last word.

    Parameters
    ----------
    resolved : ResolvedConstraints
        Constraints laid out on the universe.
    prev_weights : ndarray of shape (n_assets,), optional
        Current weights in universe order; ``None`` means starting from cash.
    sold : float, default 0.0
        Total absolute weight of held assets that left the universe (must be sold).

    Raises
    ------
    InfeasibleError
        Listing every conflict found, with the numbers and what to relax.
    """
    conflicts = [
        *resolved.fixed_conflicts,
        *_turnover_conflicts(resolved, prev_weights, sold),
    ]
    if conflicts:
        raise InfeasibleError(
            "The constraints cannot all hold: " + "; ".join(conflicts) + "."
        )


# --------------------------------------------------------------------------- checks


def _asset_bound_conflicts(rc: ResolvedConstraints) -> list[str]:
    bad = np.flatnonzero(rc.lower > rc.upper + _TOL)
    return [
        f"asset {rc.tickers[i]!r} has lower bound {rc.lower[i]:g} above its upper "
        f"bound {rc.upper[i]:g}; fix bounds/min_weight/max_weight for it"
        for i in bad
    ]


def _budget_conflicts(rc: ResolvedConstraints) -> list[str]:
    c = rc.constraints
    if c.budget is None:
        return []
    n = len(rc.tickers)
    conflicts = []
    lower_sum = float(rc.lower.sum())
    if lower_sum > c.budget + _TOL:
        if _uniform(rc.lower):
            what = f"min weight {rc.lower[0]:.2f} x {n} assets = {lower_sum:.2f}"
        else:
            what = f"the per-asset lower bounds add up to {lower_sum:.2f}"
        conflicts.append(
            f"{what} exceeds the budget {c.budget:.2f}; lower min_weight/bounds "
            "or raise the budget"
        )
    upper_sum = float(rc.upper.sum())
    if not c.allow_cash and upper_sum < c.budget - _TOL:
        if _uniform(rc.upper):
            what = f"max weight {rc.upper[0]:.2f} x {n} assets = {upper_sum:.2f}"
        else:
            what = f"the per-asset upper bounds add up to {upper_sum:.2f}"
        conflicts.append(
            f"{what} is below the budget {c.budget:.2f}; raise max_weight/bounds, "
            "add assets or set allow_cash=True"
        )
    return conflicts


def _leverage_conflicts(rc: ResolvedConstraints) -> list[str]:
    c = rc.constraints
    if c.max_leverage is None:
        return []
    # sum|w| >= positive lower bounds + negative upper bounds, and >= |sum w|.
    least = float(np.clip(rc.lower, 0, None).sum() + np.clip(-rc.upper, 0, None).sum())
    reason = "the weight bounds"
    if c.budget is not None and (not c.allow_cash or c.budget < 0):
        if abs(c.budget) > least:
            least, reason = abs(c.budget), f"the budget {c.budget:g}"
    if least > c.max_leverage + _TOL:
        return [
            f"gross leverage limit {c.max_leverage:.2f} is below the {least:.2f} "
            f"that {reason} require(s); raise max_leverage"
        ]
    return []


def _group_conflicts(rc: ResolvedConstraints) -> list[str]:
    conflicts = []
    members = rc.group_matrix.astype(bool)
    for j, name in enumerate(rc.group_names):
        lo, hi = rc.group_lower[j], rc.group_upper[j]
        tickers = [t for t, m in zip(rc.tickers, members[j], strict=True) if m]
        most = float(rc.upper[members[j]].sum())
        least = float(rc.lower[members[j]].sum())
        if not tickers and (lo > _TOL or hi < -_TOL):
            conflicts.append(
                f"group {name!r} must hold between {lo:g} and {hi:g} but none of its "
                "assets is in the universe; widen its bounds to include 0"
            )
        elif lo > most + _TOL:
            conflicts.append(
                f"group {name!r} needs at least {lo:.2f} but its assets {tickers} can "
                f"hold at most {most:.2f} together; lower the group minimum or raise "
                "their upper bounds"
            )
        elif hi < least - _TOL:
            conflicts.append(
                f"group {name!r} allows at most {hi:.2f} but its assets {tickers} must "
                f"hold at least {least:.2f} (lower bounds); raise the group maximum "
                "or lower their bounds"
            )
    return conflicts + _group_budget_conflicts(rc, members)


def _group_budget_conflicts(rc: ResolvedConstraints, members: np.ndarray) -> list[str]:
    """Groups are disjoint, so their limits add up against the budget."""
    c = rc.constraints
    if c.budget is None or not rc.group_names:
        return []
    grouped = members.any(axis=0)
    least = (
        sum(
            max(rc.group_lower[j], rc.lower[members[j]].sum())
            for j in range(len(rc.group_names))
        )
        + rc.lower[~grouped].sum()
    )
    if least > c.budget + _TOL:
        return [
            f"group minimums and lower bounds add up to {least:.2f}, above the "
            f"budget {c.budget:.2f}; lower the group minimums"
        ]
    most = (
        sum(
            min(rc.group_upper[j], rc.upper[members[j]].sum())
            for j in range(len(rc.group_names))
        )
        + rc.upper[~grouped].sum()
    )
    if not c.allow_cash and most < c.budget - _TOL:
        return [
            f"group maximums and upper bounds add up to {most:.2f}, below the "
            f"budget {c.budget:.2f}; raise the group maximums or set allow_cash=True"
        ]
    return []


def _turnover_conflicts(
    rc: ResolvedConstraints, prev_weights: np.ndarray | None, sold: float
) -> list[str]:
    c = rc.constraints
    if c.turnover is None:
        return []
    prev = np.zeros(len(rc.tickers)) if prev_weights is None else prev_weights
    # Least trading (sum |w - w_prev|) to move inside the bounds, or to the budget.
    into_bounds = float(
        np.clip(rc.lower - prev, 0, None).sum()
        + np.clip(prev - rc.upper, 0, None).sum()
    )
    to_budget = 0.0
    if c.budget is not None:
        gap = c.budget - float(prev.sum())
        to_budget = abs(gap) if not c.allow_cash else max(-gap, 0.0)
    needed = 0.5 * (max(into_bounds, to_budget) + sold)
    if needed > c.turnover + _TOL:
        if prev_weights is None:
            start = "the portfolio starts from cash"
            fix = "raise turnover, or start from the current holdings (prev_weights)"
        else:
            start, fix = "from prev_weights", "raise turnover"
        return [
            f"turnover limit {c.turnover:.4f} (one-way) is below the {needed:.4f} "
            f"needed just to meet the bounds and budget ({start}); {fix}"
        ]
    return []


# ------------------------------------------------------------------------- building


@lru_cache(maxsize=64)  # a backtest resolves the same set on the same universe
def _resolve(c: Constraints, tickers: tuple[str, ...]) -> ResolvedConstraints:
    n = len(tickers)
    default_lo = c.min_weight if c.min_weight is not None else -math.inf
    if c.long_only:
        default_lo = max(default_lo, 0.0)
    default_hi = c.max_weight if c.max_weight is not None else math.inf
    lower = np.full(n, default_lo)
    upper = np.full(n, default_hi)
    position = {t: i for i, t in enumerate(tickers)}
    for ticker, (lo, hi) in (c.bounds or {}).items():
        i = position.get(ticker)
        if i is None:
            continue
        if lo is not None:
            lower[i] = lo
        if hi is not None:
            upper[i] = hi
    names = tuple(c.groups or ())
    matrix = np.zeros((len(names), n))
    row = {name: j for j, name in enumerate(names)}
    for ticker, group in (c.asset_groups or {}).items():
        if ticker in position and group in row:
            matrix[row[group], position[ticker]] = 1.0
    group_bounds = [(c.groups or {})[name] for name in names]
    group_lower = np.array([-math.inf if lo is None else lo for lo, _ in group_bounds])
    group_upper = np.array([math.inf if hi is None else hi for _, hi in group_bounds])
    for array in (lower, upper, matrix, group_lower, group_upper):
        array.flags.writeable = False  # shared through the memo
    return ResolvedConstraints(
        c, tickers, lower, upper, names, matrix, group_lower, group_upper
    )


def _uniform(values: np.ndarray) -> bool:
    return bool(values.size) and bool(np.all(values == values[0]))


def _number(name: str, value: Any, minimum: float | None = None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"Constraints.{name} must be a number or None, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"Constraints.{name} must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"Constraints.{name} must be >= {minimum:g}, got {value:g}")
    return value


def _bound_map(name: str, mapping: Any) -> Mapping[str, Bound] | None:
    if mapping is None:
        return None
    if not isinstance(mapping, Mapping):
        raise ValueError(
            f"Constraints.{name} must map names to (lower, upper), got {mapping!r}"
        )
    out = {}
    for key, pair in mapping.items():
        label = f"{name}[{key!r}]"
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence):
            raise ValueError(
                f"Constraints.{label} must be (lower, upper), got {pair!r}"
            )
        if len(pair) != 2:
            raise ValueError(
                f"Constraints.{label} must be (lower, upper), got {pair!r}"
            )
        lo, hi = (_number(label, v) for v in pair)
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"Constraints.{label}: lower {lo:g} exceeds upper {hi:g}")
        out[str(key)] = (lo, hi)
    return MappingProxyType(out)


def _group_map(mapping: Any) -> Mapping[str, str] | None:
    if mapping is None:
        return None
    if not isinstance(mapping, Mapping):
        raise ValueError(
            f"Constraints.asset_groups must map asset -> group, got {mapping!r}"
        )
    return MappingProxyType({str(k): str(v) for k, v in mapping.items()})
