"""A factor-form covariance prior: Ledoit-Wolf shrinkage, then its top components.

The LSTM learns a correction to this prior rather than a covariance from scratch. For a
window of daily simple returns the prior is

1. the Ledoit-Wolf (2004) shrunk covariance ``S = (1 - s) C + s m I``, where ``C`` is
   the sample covariance (divided by the number of days, as in the paper), ``m`` the
   mean of its diagonal and ``s`` the estimated optimal intensity: the scaled-identity
   target of ``LedoitWolfForecaster`` (PyPortfolioOpt's ``"constant_variance"``,
   which is scikit-learn's ``ledoit_wolf``), written out here in numpy so that many
   windows are estimated in one batched computation;
2. scaled to the horizon as ``horizon * S`` (the first-order term of
   `forecasting.baselines.horizon_moments`, which keeps the factor form exact);
3. written as ``B B^T + diag(d)``: ``B = V_k sqrt(lambda_k)`` from the top-k
   eigenpairs and ``d = diag(S) - rowsum(B^2)`` clipped below at a floor, so the
   diagonal is exact unless clipped and ``B B^T`` is the best rank-k approximation of
   the rest.

Simple returns, as the baselines use: with the correction switched off the LSTM then
forecasts what the Ledoit-Wolf baseline estimates, up to the missing-data handling below
and the first-order horizon scaling.

Missing data. A window is ``window`` rows of daily returns ending at the sample date
(nothing later); a missing price loses the returns on both sides of it. Each asset is
demeaned over its own days, its missing days are filled with that mean (a zero after
demeaning) and its column is scaled by ``sqrt(T / T_i)`` (``T`` days in the window,
``T_i`` of them with a return for asset i). So an asset's variance is the sample
variance over its own days, a covariance is the sum over the two assets' common days
divided by ``sqrt(T_i T_j)`` (less than the pairwise estimate when the overlap is short,
which shrinks the correlation of a late starter towards zero), and the matrix is a Gram
matrix, positive semi-definite without repair. On a complete window this is the plain
Ledoit-Wolf estimate. Days on which no asset has a return (before the data starts) are
not counted in ``T``.

An asset with fewer than ``min_obs`` returns in the window (default
``max(2 k + 2, MIN_OBSERVATIONS)``) takes no part in the estimate; it gets zero loadings
and the cross-sectional median variance of the others as its ``d``, so it is never NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg

from foliocast._blas import ONE_BLAS_THREAD
from foliocast.forecasting.model import IDIO_FLOOR, IDIO_SCALE

__all__ = [
    "MIN_OBSERVATIONS",
    "factor_prior",
    "factor_priors",
    "ledoit_wolf",
    "prior_at",
]

MIN_OBSERVATIONS = 20
"""Fewest daily returns an asset needs in the window to enter the estimate."""

_CHUNK_ELEMENTS = 4_000_000
"""Moment-matrix entries (float64) held per batch: about 32 MB."""


def ledoit_wolf(
    daily_returns: np.ndarray, min_obs: int = MIN_OBSERVATIONS
) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf covariance of one window of daily returns, towards a scaled identity.

    Parameters
    ----------
    daily_returns : ndarray of shape (n_days, n_assets)
        NaN where an asset has no return (see the module docstring).
    min_obs : int
        Assets with fewer returns get zero rows and columns.

    Returns
    -------
    cov : ndarray of shape (n_assets, n_assets)
        Daily shrunk covariance.
    shrinkage : float
        The intensity ``s`` in ``[0, 1]``.
    """
    with ONE_BLAS_THREAD:
        moments, days = _window_moments(_as_returns(daily_returns))
        cov, shrinkage, _ = _shrunk_covariances(moments[None], days[None], min_obs)
    return cov[0], float(shrinkage[0])


def factor_prior(
    daily_returns: np.ndarray,
    k: int,
    horizon: int,
    *,
    min_obs: int | None = None,
    floor: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Factor form of the horizon Ledoit-Wolf covariance of one window of returns.

    Parameters
    ----------
    daily_returns : ndarray of shape (n_days, n_assets)
        Daily simple returns of the window, NaN where missing.
    k : int
        Number of factors. With ``k > n_assets`` the columns past ``n_assets`` are
        zero.
    horizon : int
        Trading days the covariance covers.
    min_obs : int, optional
        Fewest returns an asset needs; default ``max(2 k + 2, MIN_OBSERVATIONS)``.
    floor : float, optional
        Lower bound of ``d``; default ``IDIO_FLOOR * horizon / 21``, the model's floor.

    Returns
    -------
    loadings : ndarray of shape (n_assets, k)
        ``B``; each column's sign makes its sum non-negative.
    idio : ndarray of shape (n_assets,)
        ``d``, at least ``floor``.
    """
    with ONE_BLAS_THREAD:
        moments, days = _window_moments(_as_returns(daily_returns))
        loadings, idio = _priors(moments[None], days[None], k, horizon, min_obs, floor)
    return loadings[0], idio[0]


def factor_priors(
    prices: np.ndarray | pd.DataFrame,
    rows: np.ndarray,
    window: int,
    k: int,
    horizon: int,
    *,
    min_obs: int | None = None,
    floor: float | None = None,
    refresh: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The prior at each sample row, from the daily returns up to that row only.

    Row ``t``'s prior is `factor_prior` of the ``window`` daily returns ending at
    ``t`` (``prices[t] / prices[t - 1] - 1`` and earlier; fewer near the start of the
    data). The window moments are updated from one row to the next (days in, days
    out), so a row costs ``O(step n^2)`` plus an ``n x n`` eigendecomposition.

    Parameters
    ----------
    prices : ndarray or DataFrame of shape (n_days, n_assets)
        Daily prices, NaN where missing.
    rows : ndarray of int of shape (n_rows,)
        Sample rows, sorted ascending.
    window : int
        Daily returns per window, at least 2.
    k, horizon, min_obs, floor
        See `factor_prior`.
    refresh : int, default 1
        Estimate at every ``refresh``-th row only (counting back from the last, which
        is always estimated, and always the first) and reuse the latest earlier
        estimate in between: still causal, and about ``refresh`` times cheaper for
        large universes, where the eigendecompositions dominate.

    Returns
    -------
    loadings : ndarray of shape (n_rows, n_assets, k)
    idio : ndarray of shape (n_rows, n_assets)
    """
    values = _as_returns(prices)
    rows = np.asarray(rows, dtype=np.int64)
    if window < 2:
        raise ValueError(f"window must be at least 2 daily returns, got {window}")
    if refresh < 1:
        raise ValueError(f"refresh must be >= 1, got {refresh}")
    if len(rows) and (rows.min() < 0 or rows.max() >= len(values)):
        raise ValueError(
            f"sample rows must lie in [0, {len(values) - 1}], the rows of prices; got "
            f"{rows.min()}..{rows.max()}"
        )
    if np.any(np.diff(rows) < 0):
        raise ValueError("sample rows must be sorted ascending")
    n_assets = values.shape[1]
    loadings = np.zeros((len(rows), n_assets, k))
    idio = np.zeros((len(rows), n_assets))
    if len(rows) == 0:
        return loadings, idio

    with np.errstate(divide="ignore", invalid="ignore"):
        returns = values[1:] / values[:-1] - 1.0
    # Day t's return (t >= 1) is row t - 1 + window of the padded array, so the window
    # ending at t is rows [t, t + window): every window has full length, and the
    # leading NaN days are not counted (see `_window_moments`).
    padded = np.concatenate([np.full((window, n_assets), np.nan), returns])
    # Only the days some window covers: the first window starts at rows[0].
    span = padded[rows[0] : rows[-1] + window]
    terms = _day_terms(span)
    active = np.concatenate([[0], np.cumsum(np.isfinite(span).any(axis=1))])
    starts = rows - rows[0]

    positions = np.arange(len(rows))
    fresh = (len(rows) - 1 - positions) % refresh == 0
    fresh[0] = True
    estimated = positions[fresh]
    chunk = max(1, _CHUNK_ELEMENTS // (3 * n_assets) ** 2)
    rolling = _RollingMoments(terms, window)
    with ONE_BLAS_THREAD:
        for first in range(0, len(estimated), chunk):
            batch = estimated[first : first + chunk]
            moments = np.empty((len(batch),) + rolling.moments.shape)
            for i, p in enumerate(batch):
                moments[i] = rolling.at(starts[p])
            days = active[starts[batch] + window] - active[starts[batch]]
            b, d = _priors(moments, days, k, horizon, min_obs, floor)
            loadings[batch], idio[batch] = b, d
    # Each row takes the latest estimate at or before it.
    source = estimated[np.searchsorted(estimated, positions, side="right") - 1]
    return loadings[source], idio[source]


def prior_at(
    prices: np.ndarray | pd.DataFrame,
    window: int,
    k: int,
    horizon: int,
    *,
    min_obs: int | None = None,
    floor: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The prior at the decision date, the last row of ``prices``.

    Parameters
    ----------
    prices : ndarray or DataFrame of shape (n_days, n_assets)
        Daily prices up to the decision date.
    window, k, horizon, min_obs, floor
        As given to `factor_priors` for training.

    Returns
    -------
    loadings : ndarray of shape (n_assets, k)
    idio : ndarray of shape (n_assets,)
    """
    # The window's returns need its last window + 1 prices only.
    values = _as_returns(prices)[-(window + 1) :]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = values[1:] / values[:-1] - 1.0
    return factor_prior(returns, k, horizon, min_obs=min_obs, floor=floor)


def _as_returns(values: np.ndarray | pd.DataFrame) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"expected a 2-d array of shape (n_days, n_assets), got shape {array.shape}"
        )
    return array


def _day_terms(returns: np.ndarray) -> np.ndarray:
    """Per-day vectors ``f_t = [o x^2, o x, o]`` whose outer products the moments sum.

    ``o`` is 1 where the return ``x`` is finite, else 0 (and ``x`` counts as 0).

    Parameters
    ----------
    returns : ndarray of shape (n_days, n_assets)

    Returns
    -------
    ndarray of shape (n_days, 3 n_assets)
    """
    observed = np.isfinite(returns)
    values = np.where(observed, returns, 0.0)
    return np.concatenate([values**2, values, observed.astype(np.float64)], axis=1)


def _window_moments(returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moment matrix ``F = sum_t f_t f_t^T`` of one window and its day count.

    Returns
    -------
    moments : ndarray of shape (3 n_assets, 3 n_assets)
    days : ndarray of int, 0-d
        Days on which some asset has a return.
    """
    terms = _day_terms(returns)
    return terms.T @ terms, np.asarray(np.isfinite(returns).any(axis=1).sum())


class _RollingMoments:
    """``F`` of the window ``[t, t + window)`` of day terms, for increasing ``t``.

    Moving the window adds the days that enter and subtracts those that leave; it is
    rebuilt from scratch once ``window`` days have been updated, which bounds the
    rounding drift of the running sums.
    """

    def __init__(self, terms: np.ndarray, window: int) -> None:
        self.terms = terms
        self.window = window
        self.start: int | None = None
        self.moments = np.zeros((terms.shape[1], terms.shape[1]))
        self.updated = 0

    def at(self, start: int) -> np.ndarray:
        """Moments of the window beginning at ``start`` (a view: copy to keep it)."""
        step = None if self.start is None else start - self.start
        if step is None or step < 0 or self.updated + step >= self.window:
            block = self.terms[start : start + self.window]
            self.moments = block.T @ block
            self.updated = 0
        elif step > 0:
            entering = self.terms[self.start + self.window : start + self.window]
            leaving = self.terms[self.start : start]
            self.moments += entering.T @ entering - leaving.T @ leaving
            self.updated += step
        self.start = start
        return self.moments


def _priors(
    moments: np.ndarray,
    days: np.ndarray,
    k: int,
    horizon: int,
    min_obs: int | None,
    floor: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loadings and residual variances of a batch of windows.

    Parameters
    ----------
    moments : ndarray of shape (batch, 3 n_assets, 3 n_assets)
        See `_window_moments`.
    days : ndarray of int of shape (batch,)

    Returns
    -------
    loadings : ndarray of shape (batch, n_assets, k)
    idio : ndarray of shape (batch, n_assets)
    """
    if k < 1:
        raise ValueError(f"the prior needs k >= 1 factors, got {k}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if min_obs is None:
        min_obs = max(2 * k + 2, MIN_OBSERVATIONS)
    if floor is None:
        floor = IDIO_FLOOR * horizon / 21
    cov, _, included = _shrunk_covariances(moments, days, min_obs)
    cov *= horizon
    batch, n_assets, _ = cov.shape

    top = min(k, n_assets)
    values = np.empty((batch, top))
    vectors = np.empty((batch, n_assets, top))
    for i in range(batch):
        # Only the top eigenpairs: LAPACK's MRRR driver is ~3x faster than a full
        # decomposition at n = 500. They come in ascending order.
        found, basis = scipy.linalg.eigh(
            cov[i],
            subset_by_index=[n_assets - top, n_assets - 1],
            driver="evr",
            check_finite=False,
        )
        values[i], vectors[i] = found[::-1], basis[:, ::-1]
    values = np.clip(values, 0.0, None)
    # Eigenvectors have arbitrary signs; a fixed convention keeps B reproducible.
    signs = np.where(vectors.sum(axis=1, keepdims=True) < 0, -1.0, 1.0)
    loadings = np.zeros((batch, n_assets, k))
    loadings[:, :, :top] = vectors * signs * np.sqrt(values)[:, None, :]
    loadings[~included] = 0.0

    variance = np.diagonal(cov, axis1=1, axis2=2)
    idio = variance - (loadings**2).sum(axis=2)
    # Assets without enough data: the typical variance of the others, or, when no
    # asset has enough, a plausible single-stock variance (the model's idio scale).
    has_any = included.any(axis=1)
    typical = np.full(batch, IDIO_SCALE**2 * horizon / 21)
    if has_any.any():
        masked = np.where(included, variance, np.nan)
        typical[has_any] = np.nanmedian(masked[has_any], axis=1)
    idio = np.where(included, idio, typical[:, None])
    return loadings, np.maximum(idio, floor)


def _shrunk_covariances(
    moments: np.ndarray, days: np.ndarray, min_obs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ledoit-Wolf covariances of a batch of windows, with the missing-data rule.

    With ``o``, ``x`` as in `_day_terms`, asset i's count ``T_i = sum_t o_ti``, mean
    ``m_i`` over its own days and weight ``w_i = sqrt(T / T_i)``, the centred returns
    are ``c_ti = w_i o_ti (x_ti - m_i)``; every sum over days below is a block of the
    moment matrix ``F``. The formulas are those of Ledoit and Wolf (2004), restricted
    to the included assets (``n`` is their count):

    - ``C = sum_t c_t c_t^T / T``, so ``C_ij = sum_t o_ti o_tj (x_ti - m_i)
      (x_tj - m_j) / sqrt(T_i T_j)``, and ``m = tr(C) / n``;
    - ``delta = ||C - m I||_F^2 / n`` (distance of ``C`` to the target);
    - ``beta = (sum_t ||c_t||^4 / T - ||C||_F^2) / (n T)`` (estimation noise of
      ``C``), capped at ``delta``, where ``||c_t||^2 = u . f_t`` with
      ``u = [a, -2 a m, a m^2]`` and ``a = w^2``, so ``sum_t ||c_t||^4 = u^T F u``;
    - ``s = beta / delta`` (zero when ``beta`` is zero).

    Parameters
    ----------
    moments : ndarray of shape (batch, 3 n_assets, 3 n_assets)
    days : ndarray of int of shape (batch,)
    min_obs : int

    Returns
    -------
    cov : ndarray of shape (batch, n_assets, n_assets)
    shrinkage : ndarray of shape (batch,)
    included : ndarray of bool of shape (batch, n_assets)
    """
    n_assets = moments.shape[1] // 3
    value, count = slice(n_assets, 2 * n_assets), slice(2 * n_assets, None)
    cross = moments[:, value, value]  # sum o_i o_j x_i x_j
    partial = moments[:, value, count]  # sum o_i o_j x_i
    overlap = moments[:, count, count]  # sum o_i o_j
    counts = np.diagonal(overlap, axis1=1, axis2=2)
    included = counts >= max(min_obs, 2)
    counts = np.where(included, counts, 1.0)
    means = np.where(included, np.diagonal(partial, axis1=1, axis2=2) / counts, 0.0)

    centred = (
        cross
        - means[:, None, :] * partial
        - means[:, :, None] * partial.transpose(0, 2, 1)
        + means[:, :, None] * means[:, None, :] * overlap
    )
    scale = np.where(included, 1.0 / np.sqrt(counts), 0.0)
    sample = centred * scale[:, :, None] * scale[:, None, :]

    n_days = np.maximum(days, 1).astype(np.float64)
    weight = np.where(included, n_days[:, None] / counts, 0.0)
    u = np.concatenate([weight, -2.0 * weight * means, weight * means**2], axis=1)
    fourth = np.einsum("bi,bij,bj->b", u, moments, u)

    n_included = included.sum(axis=1)
    n_safe = np.maximum(n_included, 1)
    target = np.trace(sample, axis1=1, axis2=2) / n_safe
    frobenius = (sample**2).sum(axis=(1, 2))
    delta = (frobenius - n_included * target**2) / n_safe
    beta = (fourth / n_days - frobenius) / (n_safe * n_days)
    beta = np.clip(np.minimum(beta, delta), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrinkage = np.where((beta > 0) & (delta > 0), beta / delta, 0.0)

    cov = (1.0 - shrinkage)[:, None, None] * sample
    # The identity target covers the included assets only.
    diagonal = np.arange(n_assets)
    cov[:, diagonal, diagonal] += (shrinkage * target)[:, None] * included
    return cov, shrinkage, included
