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

__all__ = ["gaussian_nll", "mean_gaussian_nll", "masked_mse"]

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
