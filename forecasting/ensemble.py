"""Ensembles of factor LSTMs: members stacked on a leading axis, and their mixture.

An ensemble of K members is one :class:`~forecasting.model.FactorLSTM` whose every
array (weights, dropout keys) carries a leading member axis of length K. Training and
prediction map the single-model functions over that axis with ``jax.vmap``, so the K
members train in one compiled step per batch instead of a Python loop over models.
Member ``m`` starts from its own seed (:func:`member_seed`), so the members differ in
initialisation and dropout draws (and, optionally, in a bootstrap of sample dates).

The ensemble's forecast is the equal-weight mixture of the members' Gaussians. By the
law of total variance its covariance is the mean of the members' covariances plus the
covariance of their means,

    Sigma = (1/K) sum_m (B_m B_m^T + diag(d_m)) + (1/K) sum_m (mu_m - mu)(mu_m - mu)^T,

which is again a factor model: the loadings are the members' loadings side by side,
each scaled by 1/sqrt(K), plus one column per member for the deviation of its mean,
and the idiosyncratic variances are the mean of the members'. The spread of the
members' means (standard deviation over members) is the forecast's model uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = [
    "Mixture",
    "member_axes",
    "member_seed",
    "mixture",
    "stack_members",
    "unstack_member",
]


def member_seed(seed: int, member: int, members: int) -> int:
    """Seed of member ``member`` of a ``members``-strong ensemble seeded ``seed``.

    A single model keeps ``seed`` itself. Ensemble members draw from
    ``SeedSequence([seed, member])``, so ensembles with different seeds share no
    member (ensemble seeds 0 and 1 would otherwise overlap in K - 1 members, and a
    seed study would understate the spread).
    """
    if members == 1:
        return int(seed)
    state = np.random.SeedSequence([int(seed), int(member)]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def stack_members(models: Sequence[nnx.Module]) -> nnx.Module:
    """One module whose arrays hold the members' arrays on a new leading axis.

    Parameters
    ----------
    models : sequence of nnx.Module
        Members of identical structure and shapes.

    Returns
    -------
    nnx.Module
        Same class as the members; every array has shape (K, ...).
    """
    graphdef, first = nnx.split(models[0])
    states = [first] + [nnx.split(model)[1] for model in models[1:]]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    return nnx.merge(graphdef, stacked)


def unstack_member(stacked: nnx.Module, member: int) -> nnx.Module:
    """Member ``member`` of a stacked ensemble as a model of its own (a copy)."""
    graphdef, state = nnx.split(stacked)
    return nnx.merge(graphdef, jax.tree.map(lambda leaf: leaf[member], state))


def member_axes(state: Any) -> Any:
    """``vmap`` axes of a stacked (model, optimizer) state: 0, or None for scalars.

    Every model array is stacked; of the optimizer's, the moments have the shapes of
    the stacked weights while step counters stay shared scalars.
    """
    return jax.tree.map(lambda leaf: None if jnp.ndim(leaf) == 0 else 0, state)


class Mixture(NamedTuple):
    """The equal-weight mixture of K members' factor Gaussians for one date.

    Attributes
    ----------
    mu : ndarray of shape (n_assets,)
        Mean of the members' means.
    spread : ndarray of shape (n_assets,)
        Standard deviation of the members' means (ddof=1; zeros for K = 1).
    loadings : ndarray of shape (n_assets, K * k + K) (k for K = 1)
        Mixture loadings: members' loadings / sqrt(K), then mean deviations / sqrt(K).
    idio : ndarray of shape (n_assets,)
        Mean of the members' idiosyncratic variances.
    """

    mu: np.ndarray
    spread: np.ndarray
    loadings: np.ndarray
    idio: np.ndarray


def mixture(mu: np.ndarray, loadings: np.ndarray, idio: np.ndarray) -> Mixture:
    """Mix K members' forecasts for one date (law of total variance, factor form).

    Parameters
    ----------
    mu : ndarray of shape (K, n_assets)
    loadings : ndarray of shape (K, n_assets, k)
    idio : ndarray of shape (K, n_assets)

    Returns
    -------
    Mixture
    """
    members = mu.shape[0]
    if members == 1:
        return Mixture(mu[0], np.zeros_like(mu[0]), loadings[0], idio[0])
    mean = mu.mean(axis=0)
    scale = 1.0 / np.sqrt(members)
    # (K, n, k) -> (n, K * k): member m's factors are columns m*k .. m*k + k - 1.
    within = np.concatenate(list(loadings), axis=1) * scale
    between = (mu - mean).T * scale  # (n, K): covariance of the means, population
    return Mixture(
        mu=mean,
        spread=mu.std(axis=0, ddof=1),
        loadings=np.concatenate([within, between], axis=1),
        idio=idio.mean(axis=0),
    )
