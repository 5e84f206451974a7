"""Tests of the shared-weight factor LSTM and its three LSTM implementations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from foliocast.forecasting.devices import batch_mesh
from foliocast.forecasting.model import IDIO_FLOOR, FactorLSTM, LSTMEncoder

N_FEATURES = 6


@nnx.jit
def forward(model: nnx.Module, x: jax.Array):
    # Eager execution of the scans is slow; tests call models through jit.
    return model(x)


@pytest.fixture(scope="module")
def inputs() -> jax.Array:
    rng = np.random.default_rng(42)
    return jnp.asarray(rng.normal(size=(3, 5, 12, N_FEATURES)), jnp.float32)


def _encoders(layers: int) -> dict[str, LSTMEncoder]:
    encoders = {
        impl: LSTMEncoder(N_FEATURES, 8, layers, impl=impl, rngs=nnx.Rngs(i))
        for i, impl in enumerate(("cell", "fused", "hoisted"))
    }
    for impl in ("fused", "hoisted"):
        encoders[impl].copy_weights_from(encoders["cell"])
    for encoder in encoders.values():
        encoder.eval()
    return encoders


@pytest.mark.parametrize("layers", [1, 2])
def test_implementations_agree_given_the_same_weights(
    inputs: jax.Array, layers: int
) -> None:
    sequences = inputs.reshape(-1, *inputs.shape[2:])  # (batch, L, F)
    encoders = _encoders(layers)

    @nnx.jit
    def value_and_grads(encoder: LSTMEncoder, x: jax.Array):
        def loss(encoder: LSTMEncoder) -> tuple[jax.Array, jax.Array]:
            hidden = encoder(x)
            return jnp.sum(jnp.sin(3.0 * hidden)), hidden

        return nnx.value_and_grad(loss, has_aux=True)(encoder)

    results = {impl: value_and_grads(enc, sequences) for impl, enc in encoders.items()}
    (_, ref_hidden), ref_grads = results["cell"]
    # The cell stores its weights one level deeper (rnn.cell); compare by leaf order.
    ref_leaves = jax.tree.leaves(ref_grads)
    for impl in ("fused", "hoisted"):
        (_, hidden), grads = results[impl]
        np.testing.assert_allclose(hidden, ref_hidden, atol=1e-6)
        leaves = jax.tree.leaves(grads)
        assert len(leaves) == len(ref_leaves) == 3 * layers
        for got, expected in zip(leaves, ref_leaves, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_outputs_shapes_and_a_psd_covariance(inputs: jax.Array) -> None:
    model = FactorLSTM(N_FEATURES, hidden=8, factors=3, rngs=nnx.Rngs(0))
    model.eval()
    out = forward(model, inputs)
    assert out.mu.shape == (3, 5)
    assert out.loadings.shape == (3, 5, 3)
    assert out.idio.shape == (3, 5)
    assert (np.asarray(out.idio) >= IDIO_FLOOR).all()
    b = np.asarray(out.loadings[0], dtype=np.float64)
    cov = b @ b.T + np.diag(np.asarray(out.idio[0], dtype=np.float64))
    assert np.linalg.eigvalsh(cov).min() > 0


def test_untrained_model_predicts_monthly_magnitudes(inputs: jax.Array) -> None:
    model = FactorLSTM(N_FEATURES, rngs=nnx.Rngs(3))
    model.eval()
    out = forward(model, inputs)
    assert np.abs(np.asarray(out.mu)).max() < 0.05
    vol = np.sqrt(np.asarray((out.loadings**2).sum(-1) + out.idio))
    assert 0.02 < vol.min() and vol.max() < 0.2
    # Loadings share a common (market) factor, so implied correlations are positive.
    b = np.asarray(out.loadings[0])
    cov = b @ b.T + np.diag(np.asarray(out.idio[0]))
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert corr[np.triu_indices(5, 1)].mean() > 0.1


def test_weights_are_shared_across_assets(inputs: jax.Array) -> None:
    model = FactorLSTM(N_FEATURES, hidden=8, rngs=nnx.Rngs(0))
    model.eval()
    out = forward(model, inputs)
    # The same sequence gives the same forecast whatever its position or universe.
    single = forward(model, inputs[:, 2:3])
    np.testing.assert_allclose(single.mu[:, 0], out.mu[:, 2], rtol=1e-5, atol=1e-8)
    swapped = forward(model, inputs[:, ::-1])
    np.testing.assert_allclose(swapped.idio[:, ::-1], out.idio, rtol=1e-5)


def test_dropout_only_in_training_mode(inputs: jax.Array) -> None:
    model = FactorLSTM(N_FEATURES, hidden=16, dropout=0.5, rngs=nnx.Rngs(0))
    model.eval()
    first, second = forward(model, inputs).mu, forward(model, inputs).mu
    np.testing.assert_array_equal(first, second)
    model.train()
    noisy = forward(model, inputs).mu
    assert not np.allclose(noisy, first)


def test_unknown_implementation_is_rejected() -> None:
    with pytest.raises(ValueError, match="impl"):
        LSTMEncoder(3, 4, impl="cudnn", rngs=nnx.Rngs(0))


@pytest.mark.parametrize("layers", [1, 2])
def test_data_parallel_encoder_matches_one_device(layers: int) -> None:
    rng = np.random.default_rng(7)
    sequences = jnp.asarray(rng.normal(size=(96, 12, N_FEATURES)), jnp.float32)
    assert batch_mesh(len(sequences)) is not None  # the split really happens
    one, split = (
        LSTMEncoder(N_FEATURES, 8, layers, parallel=p, rngs=nnx.Rngs(3))
        for p in (False, True)
    )

    @nnx.jit
    def value_and_grads(encoder: LSTMEncoder, x: jax.Array):
        def loss(encoder: LSTMEncoder) -> tuple[jax.Array, jax.Array]:
            hidden = encoder(x)
            return jnp.sum(jnp.sin(3.0 * hidden)), hidden

        return nnx.value_and_grad(loss, has_aux=True)(encoder)

    (value_one, hidden_one), grads_one = value_and_grads(one, sequences)
    (value_split, hidden_split), grads_split = value_and_grads(split, sequences)
    np.testing.assert_allclose(hidden_split, hidden_one, atol=1e-6)
    np.testing.assert_allclose(value_split, value_one, rtol=1e-5)
    leaves_one, leaves_split = jax.tree.leaves(grads_one), jax.tree.leaves(grads_split)
    assert len(leaves_one) == len(leaves_split) == 3 * layers
    for g_one, g_split in zip(leaves_one, leaves_split, strict=True):
        # Summed over both shards, not taken from one: a missing psum halves them.
        np.testing.assert_allclose(g_split, g_one, rtol=1e-5, atol=1e-6)
