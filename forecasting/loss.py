"""Training losses: factor-Gaussian negative log-likelihood and masked MSE.

The model forecasts, for each sample date, horizon returns ``y ~ N(mu, Sigma)``
with ``Sigma = B B^T + diag(d)`` (``B`` of shape (n_assets, k), ``d > 0``). The dense
NLL costs O(n^3); with the Woodbury identity

    Sigma^-1 = D^-1 - D^-1 B C^-1 B^T D^-1,   C = I_k + B^T D^-1 B,

and the matrix determinant lemma ``log|Sigma| = log|C| + sum(log d)`` it costs
O(n k^2) and only needs a k x k Cholesky factor.

Missing assets (late starters, no target) are handled exactly: a masked asset gets a
zero residual, a zero loadings row and ``d = 1``, which makes ``Sigma`` block-diagonal
with an identity block that adds nothing to the quadratic form or the log-determinant.
The result equals the marginal likelihood of the observed assets.

All functions are pure and jit-compatible; leading dimensions are batch dimensions.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["gaussian_nll", "mean_gaussian_nll", "masked_mse", "split_gaussian_nll"]

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_nll(
    returns: jax.Array,
    mu: jax.Array,
    loadings: jax.Array,
    idio: jax.Array,
    mask: jax.Array | None = None,
) -> jax.Array:
    """Negative log-likelihood of realised returns under ``N(mu, B B^T + diag(d))``.

    Parameters
    ----------
    returns : Array of shape (..., n_assets)
        Realised horizon returns; values at masked positions are ignored (may be NaN).
    mu : Array of shape (..., n_assets)
        Forecast expected returns.
    loadings : Array of shape (..., n_assets, k)
        Factor loadings B.
    idio : Array of shape (..., n_assets)
        Idiosyncratic variances d, positive.
    mask : Array of bool of shape (..., n_assets), optional
        True where the asset is observed. Default: all observed.

    Returns
    -------
    Array of shape (...)
        NLL of each sample over its observed assets, including the
        ``0.5 * n_observed * log(2 pi)`` constant.
    """
    if mask is None:
        mask = jnp.ones(returns.shape, dtype=bool)
    residual = jnp.where(mask, returns - mu, 0.0)
    loadings = jnp.where(mask[..., None], loadings, 0.0)
    idio = jnp.where(mask, idio, 1.0)

    inv_idio = 1.0 / idio
    scaled = loadings * inv_idio[..., None]  # D^-1 B, (..., n, k)
    k = loadings.shape[-1]
    capacitance = jnp.eye(k, dtype=loadings.dtype) + jnp.einsum(
        "...nk,...nj->...kj", scaled, loadings
    )
    chol = jnp.linalg.cholesky(capacitance)
    projected = jnp.einsum("...nk,...n->...k", scaled, residual)  # B^T D^-1 r
    whitened = jax.scipy.linalg.solve_triangular(
        chol, projected[..., None], lower=True
    )[..., 0]

    quad = jnp.sum(residual**2 * inv_idio, axis=-1) - jnp.sum(whitened**2, axis=-1)
    log_det = jnp.sum(jnp.log(idio), axis=-1) + 2.0 * jnp.sum(
        jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1
    )
    n_observed = jnp.sum(mask, axis=-1)
    return 0.5 * (quad + log_det + n_observed * _LOG_2PI)


def mean_gaussian_nll(
    returns: jax.Array,
    mu: jax.Array,
    loadings: jax.Array,
    idio: jax.Array,
    mask: jax.Array | None = None,
) -> jax.Array:
    """NLL per observed asset, averaged over a batch of samples.

    Dividing by the number of observed (sample, asset) pairs rather than samples keeps
    the loss scale independent of the universe size and of how many assets are masked.

    Parameters
    ----------
    returns, mu, loadings, idio, mask
        As in :func:`gaussian_nll`, with a leading batch dimension.

    Returns
    -------
    Array, scalar
    """
    if mask is None:
        mask = jnp.ones(returns.shape, dtype=bool)
    total = jnp.sum(gaussian_nll(returns, mu, loadings, idio, mask))
    return total / jnp.maximum(jnp.sum(mask), 1)


def masked_mse(
    returns: jax.Array, mu: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """Mean squared error of ``mu`` over the observed (sample, asset) pairs.

    Parameters
    ----------
    returns, mu : Array of shape (..., n_assets)
    mask : Array of bool of shape (..., n_assets), optional

    Returns
    -------
    Array, scalar
    """
    if mask is None:
        mask = jnp.ones(returns.shape, dtype=bool)
    # Zero the residual before squaring so NaN targets at masked positions cannot leak
    # NaN into the gradient.
    residual = jnp.where(mask, returns - mu, 0.0)
    return jnp.sum(residual**2) / jnp.maximum(jnp.sum(mask), 1)


def split_gaussian_nll(
    returns: jax.Array,
    mu: jax.Array,
    loadings: jax.Array,
    idio: jax.Array,
    mask: jax.Array | None = None,
    *,
    demeaned: bool = False,
) -> jax.Array:
    """NLL with the mean trained by its own, volatility-scaled target.

    The covariance part is the factor-Gaussian NLL with ``mu`` held fixed (no
    gradient reaches ``mu`` through it), so the covariance is still fitted by the
    likelihood. The mean part is ``0.5 * sum_i ((r_i - mu_i) / sigma_i)^2`` with
    ``sigma_i = sqrt(Sigma_ii)`` also held fixed: each asset's error counts in units
    of its own volatility, so the mean is not fitted mostly to the most volatile
    assets, and the residual correlations no longer steer it. With
    ``demeaned=True`` both ``r`` and ``mu`` are first demeaned across the observed
    assets of each date: only relative returns are learnt (the level, which a fully
    invested portfolio cannot use, carries most of the noise).

    Parameters
    ----------
    returns, mu, loadings, idio, mask
        As in :func:`gaussian_nll`.
    demeaned : bool, default False
        Cross-sectionally demeaned targets.

    Returns
    -------
    Array of shape (...)
        Loss of each sample.
    """
    if mask is None:
        mask = jnp.ones(returns.shape, dtype=bool)
    fixed_mu = jax.lax.stop_gradient(mu)
    covariance_part = gaussian_nll(returns, fixed_mu, loadings, idio, mask)
    variance = jnp.sum(loadings**2, axis=-1) + idio
    sigma = jax.lax.stop_gradient(jnp.sqrt(jnp.where(mask, variance, 1.0)))
    observed = jnp.where(mask, returns, 0.0)
    if demeaned:
        count = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True), 1)
        observed = observed - jnp.sum(observed, axis=-1, keepdims=True) / count
        mu = mu - jnp.sum(jnp.where(mask, mu, 0.0), axis=-1, keepdims=True) / count
    error = jnp.where(mask, (observed - mu) / sigma, 0.0)
    # The value is the NLL plus the mean part; only the mean part moves mu.
    return covariance_part + 0.5 * jnp.sum(error**2, axis=-1)
