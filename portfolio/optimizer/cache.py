"""The cache of compiled Markowitz problems, an object callers hold or share.

Compiling a problem (building the cvxpy problem, its canonicalisation and the
direct paths) takes far longer than re-solving it, so compiled problems are kept
by structure (:class:`~foliocast.portfolio.optimizer.problem.ProblemSpec`) and
re-solved with new numbers. :data:`DEFAULT_CACHE` is the one ``optimize()`` uses
unless given another, so a plain loop of ``optimize()`` calls reuses its compiled
problems; a caller that wants its own (a backtest, a test that counts hits) makes a
:class:`ProblemCache` and passes it as the ``cache`` option.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

from foliocast.portfolio.optimizer.problem import MarkowitzProblem, ProblemSpec

__all__ = ["CACHE_SIZE", "DEFAULT_CACHE", "CacheInfo", "ProblemCache"]

CACHE_SIZE = 32
"""Compiled problems a cache keeps by default (least recently used dropped)."""


class CacheInfo(NamedTuple):
    """Statistics of a compiled-problem cache (as ``functools.lru_cache``)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class ProblemCache:
    """LRU cache of compiled problems keyed by their :class:`ProblemSpec`.

    Thread-safe; a problem is built outside the lock, and each
    :class:`MarkowitzProblem` serialises its own solves.

    Parameters
    ----------
    maxsize : int, default CACHE_SIZE
        Compiled problems kept; the least recently used is dropped beyond it.
    """

    def __init__(self, maxsize: int = CACHE_SIZE) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an integer >= 1, got {maxsize!r}")
        self.maxsize = maxsize
        self._problems: OrderedDict[ProblemSpec, MarkowitzProblem] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, spec: ProblemSpec) -> MarkowitzProblem:
        """The compiled problem for ``spec``, built on a miss."""
        with self._lock:
            problem = self._problems.get(spec)
            if problem is not None:
                self._problems.move_to_end(spec)
                self._hits += 1
                return problem
            self._misses += 1
        built = MarkowitzProblem(spec)  # outside the lock: building takes a while
        with self._lock:
            problem = self._problems.setdefault(spec, built)
            self._problems.move_to_end(spec)
            while len(self._problems) > self.maxsize:
                self._problems.popitem(last=False)
        return problem

    def peek(self, spec: ProblemSpec) -> MarkowitzProblem | None:
        """The compiled problem for ``spec`` if held (statistics unchanged).

        Parameters
        ----------
        spec : ProblemSpec
            E.g. ``OptimizationResult.spec``.

        Returns
        -------
        MarkowitzProblem or None
        """
        with self._lock:
            return self._problems.get(spec)

    def info(self) -> CacheInfo:
        """Hits, misses, the size limit and the number of problems held."""
        with self._lock:
            return CacheInfo(
                self._hits, self._misses, self.maxsize, len(self._problems)
            )

    def clear(self) -> None:
        """Drop every compiled problem and reset the statistics."""
        with self._lock:
            self._problems.clear()
            self._hits = self._misses = 0


DEFAULT_CACHE = ProblemCache()
"""The cache ``optimize()`` and its siblings use when no ``cache`` is given.

Shared by every such call in the process, so a plain loop of ``optimize()`` calls
re-solves the problems it compiled; creating it does no work.
"""
