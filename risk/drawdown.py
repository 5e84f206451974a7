"""Drawdowns: how far below its running peak wealth has been, and for how long.

Wealth starts at 1 before the first return and compounds,
``W_t = prod_{s<=t}(1 + r_s)``. The running peak ``P_t = max(1, max_{s<=t} W_s)``
includes the initial capital, so a loss on the first day is already a drawdown (as in
empyrical). The underwater series is ``W_t / P_t - 1``: zero at a new high, negative
below it.

A drawdown episode is a maximal run of dates spent under water. Its dates:

- ``start``: the peak, i.e. the last date at a high before the run. When the run begins
  with the first return, the date of the initial capital is unknown and the first date
  of the series is used instead.
- ``trough``: the date of the deepest point of the run (the first one, if tied).
- ``recovery``: the first date wealth is back at or above the peak; ``NaT`` if it never
  got back before the series ended.

Durations are calendar days: ``duration_days`` runs from ``start`` to ``recovery`` (or
to the last date of the series when unrecovered, so an open drawdown counts as long as
it is known to have lasted), ``recovery_days`` from ``trough`` to ``recovery`` (NaN when
unrecovered). ``depth`` is the trough's drawdown, a negative fraction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from foliocast.risk._validation import as_return_frame, as_return_series

__all__ = [
    "EPISODE_COLUMNS",
    "underwater",
    "max_drawdown",
    "drawdown_episodes",
    "worst_drawdowns",
    "max_drawdown_duration_days",
]

EPISODE_COLUMNS = (
    "start",
    "trough",
    "recovery",
    "depth",
    "duration_days",
    "recovery_days",
)


def _underwater_observed(returns: pd.Series) -> pd.Series:
    wealth = (1.0 + returns).cumprod()
    # The initial capital of 1 is a peak too; without it a first-day loss would
    # set the peak below 1 and the loss would never show as a drawdown.
    peak = np.maximum(wealth.cummax(), 1.0)
    return wealth / peak - 1.0


def underwater(returns: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Return the drawdown from the running peak of cumulative wealth.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,) or pd.DataFrame of shape \
(n_periods, n_strategies)
        Simple per-period returns with a ``DatetimeIndex``. In a frame, each column
        compounds over its own observed dates.

    Returns
    -------
    pd.Series or pd.DataFrame, same shape as ``returns``
        Drawdown as a fraction, ``<= 0``; NaN where the return was missing.
    """
    if isinstance(returns, pd.DataFrame):
        frame = as_return_frame(returns)
        return frame.apply(
            lambda column: _underwater_observed(column.dropna()).reindex(column.index)
        )
    observed = as_return_series(returns)
    return _underwater_observed(observed).reindex(returns.index)


def max_drawdown(returns: pd.Series) -> float:
    """Return the maximum drawdown, a negative fraction (0.0 if never under water).

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns with a ``DatetimeIndex``.

    Returns
    -------
    float
        ``min_t (W_t / P_t - 1)``, e.g. -0.25 for a 25% peak-to-trough loss.
    """
    return float(_underwater_observed(as_return_series(returns)).min())


def _episodes_of_observed(returns: pd.Series) -> pd.DataFrame:
    drawdown = _underwater_observed(returns)
    values = drawdown.to_numpy()
    dates = drawdown.index
    below = values < 0.0
    if not below.any():
        return _empty_episodes()

    # Label each maximal run of consecutive under-water dates; 0 marks dates at a high.
    run_starts = below & ~np.concatenate(([False], below[:-1]))
    run_id = np.where(below, np.cumsum(run_starts), 0)
    first = np.flatnonzero(run_starts)
    last = np.flatnonzero(below & ~np.concatenate((below[1:], [False])))

    troughs = (
        pd.Series(values[below], index=np.flatnonzero(below))
        .groupby(run_id[below])
        .idxmin()
        .to_numpy()
    )
    peak_pos = np.maximum(first - 1, 0)
    recovered = last + 1 < len(values)
    recovery_pos = np.where(recovered, last + 1, len(values) - 1)

    start = dates[peak_pos]
    trough = dates[troughs]
    recovery = dates[recovery_pos].where(recovered)
    end = dates[recovery_pos]
    return pd.DataFrame(
        {
            "start": start,
            "trough": trough,
            "recovery": recovery,
            "depth": values[troughs],
            "duration_days": (end - start).days.astype(float),
            "recovery_days": np.where(
                recovered, (end - trough).days.astype(float), np.nan
            ),
        }
    )


def _empty_episodes() -> pd.DataFrame:
    empty_dates = pd.DatetimeIndex([])
    return pd.DataFrame(
        {
            "start": empty_dates,
            "trough": empty_dates,
            "recovery": empty_dates,
            "depth": pd.Series(dtype=float),
            "duration_days": pd.Series(dtype=float),
            "recovery_days": pd.Series(dtype=float),
        }
    )


def drawdown_episodes(returns: pd.Series) -> pd.DataFrame:
    """Return every drawdown episode in chronological order.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns with a ``DatetimeIndex``.

    Returns
    -------
    pd.DataFrame of shape (n_episodes, 6)
        Columns ``start, trough, recovery, depth, duration_days, recovery_days`` as
        defined in the module docstring; no rows if wealth never fell below a peak.
    """
    return _episodes_of_observed(as_return_series(returns))


def worst_drawdowns(returns: pd.Series, top: int = 5) -> pd.DataFrame:
    """Return the ``top`` deepest drawdown episodes, deepest first.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns with a ``DatetimeIndex``.
    top : int
        How many episodes to keep (fewer if there are fewer).

    Returns
    -------
    pd.DataFrame of shape (min(top, n_episodes), 6)
        Columns ``start, trough, recovery, depth, duration_days, recovery_days``,
        indexed 1..k by rank.
    """
    if top < 1:
        raise ValueError(f"top must be a positive number of episodes, got {top}")
    episodes = drawdown_episodes(returns)
    # A stable sort keeps the earlier episode first among equal depths.
    ranked = episodes.sort_values("depth", kind="stable").head(top)
    ranked.index = pd.RangeIndex(1, len(ranked) + 1, name="rank")
    return ranked


def max_drawdown_duration_days(returns: pd.Series) -> float:
    """Return the longest peak-to-recovery time under water, in calendar days.

    An episode still open at the end counts up to the last date. This is the longest
    episode, which need not be the deepest one.

    Parameters
    ----------
    returns : pd.Series of shape (n_periods,)
        Simple per-period returns with a ``DatetimeIndex``.

    Returns
    -------
    float
        Calendar days; 0.0 if wealth never fell below a peak.
    """
    episodes = drawdown_episodes(returns)
    return float(episodes["duration_days"].max()) if len(episodes) else 0.0
