"""Tests of the factor-Gaussian NLL (Woodbury) against a dense numpy reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from foliocast.forecasting.loss import (
    gaussian_nll,
    masked_mse,
    mean_gaussian_nll,
    split_gaussian_nll,
)

# Eager dispatch op by op is slow; every call goes through jit.
jit_nll = jax.jit(gaussian_nll)
jit_mean_nll = jax.jit(mean_gaussian_nll)
jit_mse = jax.jit(masked_mse)


def _random_problem(seed: int, n_samples: int, n_assets: int, k: int, p_mask: float):
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.01, 0.07, size=(n_samples, n_assets))
    mu = rng.normal(0.0, 0.01, size=(n_samples, n_assets))
    loadings = rng.normal(0.0, 0.04, size=(n_samples, n_assets, k))
    idio = rng.uniform(5e-4, 5e-3, size=(n_samples, n_assets))
    mask = rng.random((n_samples, n_assets)) > p_mask
    mask[:, 0] = True  # at least one observed asset per sample
    returns[~mask] = np.nan  # masked targets may be missing altogether
    return returns, mu, loadings, idio, mask


def _dense_nll(returns, mu, loadings, idio, mask) -> np.ndarray:
    """Marginal Gaussian NLL over the observed sub-vector, by brute force."""
    out = []
    for y, m, b, d, obs in zip(returns, mu, loadings, idio, mask, strict=True):
        resid = (y - m)[obs]
        cov = b[obs] @ b[obs].T + np.diag(d[obs])
        _, logdet = np.linalg.slogdet(cov)
        quad = resid @ np.linalg.solve(cov, resid)
        out.append(0.5 * (quad + logdet + obs.sum() * np.log(2 * np.pi)))
    return np.array(out)


@pytest.mark.parametrize(
    ("seed", "n_assets", "k", "p_mask"),
    [(0, 20, 5, 0.0), (1, 20, 5, 0.3), (2, 7, 1, 0.5), (3, 50, 8, 0.2)],
)
def test_nll_matches_dense_numpy_under_jit(
    seed: int, n_assets: int, k: int, p_mask: float
) -> None:
    returns, mu, loadings, idio, mask = _random_problem(seed, 16, n_assets, k, p_mask)
    as32 = [jnp.asarray(a, jnp.float32) for a in (returns, mu, loadings, idio)]
    got = np.asarray(jax.jit(gaussian_nll)(*as32, jnp.asarray(mask)))
    expected = _dense_nll(returns, mu, loadings, idio, mask)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_masked_assets_drop_out_exactly() -> None:
    returns, mu, loadings, idio, mask = _random_problem(4, 1, 12, 3, 0.4)
    obs = mask[0]
    full = jit_nll(returns, mu, loadings, idio, mask)
    subset = jit_nll(returns[:, obs], mu[:, obs], loadings[:, obs], idio[:, obs])
    np.testing.assert_allclose(np.asarray(full), np.asarray(subset), rtol=1e-6)
    # Garbage in masked positions changes nothing.
    noisy = [a.copy() for a in (mu, loadings, idio)]
    for a in noisy:
        a[:, ~obs] = 1e3
    again = jit_nll(returns, *noisy, mask)
    np.testing.assert_allclose(np.asarray(again), np.asarray(full), rtol=1e-6)


def test_gradients_are_finite_with_missing_targets() -> None:
    returns, mu, loadings, idio, mask = _random_problem(5, 8, 10, 4, 0.3)
    args = [jnp.asarray(a, jnp.float32) for a in (returns, mu, loadings, idio)]

    def nll(mu, loadings, idio):
        return mean_gaussian_nll(args[0], mu, loadings, idio, jnp.asarray(mask))

    def mse(mu):
        return masked_mse(args[0], mu, jnp.asarray(mask))

    grads = jax.jit(jax.grad(nll, argnums=(0, 1, 2)))(*args[1:])
    for grad in [*grads, jax.jit(jax.grad(mse))(args[1])]:
        assert np.isfinite(np.asarray(grad)).all()
    # Masked assets get exactly zero gradient.
    assert np.all(np.asarray(grads[0])[~mask] == 0)


def test_reductions() -> None:
    returns, mu, loadings, idio, mask = _random_problem(6, 5, 9, 2, 0.3)
    per_sample = _dense_nll(returns, mu, loadings, idio, mask)
    mean = jit_mean_nll(returns, mu, loadings, idio, mask)
    np.testing.assert_allclose(float(mean), per_sample.sum() / mask.sum(), rtol=1e-5)
    resid = np.where(mask, returns - mu, 0.0)
    mse = jit_mse(returns, mu, mask)
    np.testing.assert_allclose(float(mse), (resid**2).sum() / mask.sum(), rtol=1e-5)


def test_nll_prefers_the_true_distribution() -> None:
    rng = np.random.default_rng(7)
    n, k, draws = 10, 2, 4000
    loadings = rng.normal(0, 0.04, size=(n, k))
    idio = np.full(n, 2e-3)
    cov = loadings @ loadings.T + np.diag(idio)
    samples = rng.multivariate_normal(np.zeros(n), cov, size=draws)

    def total(scale: float) -> float:
        return float(
            jit_mean_nll(
                samples,
                np.zeros((draws, n)),
                np.broadcast_to(loadings * scale, (draws, n, k)),
                np.broadcast_to(idio * scale**2, (draws, n)),
            )
        )

    assert total(1.0) < total(0.7) and total(1.0) < total(1.4)


@pytest.mark.parametrize("demeaned", [False, True])
def test_split_nll_value_and_mean_gradient_match_numpy(demeaned: bool) -> None:
    returns, mu, loadings, idio, mask = _random_problem(5, 4, 9, 3, 0.3)
    loss = jax.jit(
        lambda m, b: jnp.sum(
            split_gaussian_nll(returns, m, b, idio, mask, demeaned=demeaned)
        )
    )
    value, (grad_mu, grad_b) = jax.value_and_grad(loss, argnums=(0, 1))(
        jnp.asarray(mu), jnp.asarray(loadings)
    )
    sigma = np.sqrt((loadings**2).sum(-1) + idio)
    r, m = np.where(mask, returns, 0.0), np.where(mask, mu, 0.0)
    if demeaned:
        count = mask.sum(-1, keepdims=True)
        r = np.where(mask, r - r.sum(-1, keepdims=True) / count, 0.0)
        m = np.where(mask, m - m.sum(-1, keepdims=True) / count, 0.0)
    error = np.where(mask, (r - m) / sigma, 0.0)
    expected = _dense_nll(returns, mu, loadings, idio, mask).sum() + 0.5 * np.sum(
        error**2
    )
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)
    # Only the mean part moves mu: d/dmu of 0.5 * sum(error^2), error demeaned.
    direct = np.where(mask, -error / sigma, 0.0)
    if demeaned:  # the demeaning's own gradient: subtract the cross-section mean
        direct = np.where(
            mask,
            direct - direct.sum(-1, keepdims=True) / mask.sum(-1, keepdims=True),
            0,
        )
    np.testing.assert_allclose(np.asarray(grad_mu), direct, rtol=1e-4, atol=1e-6)
    # The loadings still get the likelihood's gradient (sigma is held fixed).
    nll_grad = jax.grad(lambda b: jnp.sum(gaussian_nll(returns, mu, b, idio, mask)))
    np.testing.assert_allclose(
        np.asarray(grad_b),
        np.asarray(nll_grad(jnp.asarray(loadings))),
        rtol=1e-4,
        atol=1e-4,
    )
