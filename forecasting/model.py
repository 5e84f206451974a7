"""The factor LSTM: one recurrent encoder shared by all assets, three small heads.

Each asset's feature sequence is encoded by the same LSTM (assets are batch elements,
so any universe size works and a new asset needs no new weights). From the last hidden
state ``h_i`` three heads give

- ``mu_i``: expected simple return over the horizon,
- ``b_i``: k factor loadings,
- ``d_i > 0``: idiosyncratic variance (softplus plus a floor),

so that ``Sigma = B B^T + diag(d)`` is PSD by construction: a nonlinear, recurrent
version of a characteristics-based factor model. Head outputs are multiplied by fixed
scales of the size of monthly returns (mu ~ 1e-2, volatility ~ 5e-2), so an untrained
model already predicts plausible magnitudes and the first gradient steps are stable.

With ``covariance="anchored"`` the covariance heads learn a correction to a classical
prior ``B0 B0^T + diag(d0)`` (a Ledoit-Wolf factor model of the trailing window, from
:mod:`forecasting.prior`) instead of the covariance itself: ``B_ij = B0_ij exp(a_ij)``
and ``d_i = d0_i exp(c_i)``, with bounded log-scales ``a``, ``c`` from the heads. The
heads start at zero, so an untrained model forecasts the prior exactly, and training
only moves away from it where the likelihood says so.

Three LSTM implementations share one parameter layout (that of
``nnx.OptimizedLSTMCell``: ``dense_i`` without bias, ``dense_h`` with bias, gates in
the order i, f, g, o), so weights can be copied between them and tests check that they
agree:

- ``"fused"`` (default, fastest on CPU): a hand-written ``jax.lax.scan`` with a
  hand-written backward pass (``jax.custom_vjp``): the forward scan stores each step's
  gate activations, the reverse scan turns them into gradients and accumulates the
  weight gradients in its carry;
- ``"hoisted"``: a ``jax.lax.scan`` with the input projection of all time steps hoisted
  out of the loop into one matrix product, differentiated by autodiff;
- ``"cell"``: ``nnx.RNN(nnx.OptimizedLSTMCell(...))``, the Flax baseline.

Measured on 2 CPU cores (``benchmarks/bench_lstm.py``), hoisting the input projection
does not pay here: with few input features the per-step input product is cheap, while
XLA's CPU code for loop bodies that read slices of a large scanned array, and for the
autodiff backward loop that stacks per-step cotangents, is slow. The fused variant
avoids both.

On a multi-core CPU the fused layer also runs data parallel: JAX gets one device per
core (:mod:`forecasting.devices`), each device runs the recurrence over its share of
the batch, and the shares' weight gradients are summed. XLA runs these small products
on one thread per device, so this is how the encoder uses more than one core.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from foliocast.forecasting.devices import BATCH_AXIS, batch_mesh

__all__ = [
    "FactorLSTM",
    "FactorOutput",
    "ModelInputs",
    "LSTMEncoder",
    "ScanLSTMLayer",
    "CellLSTMLayer",
    "fused_lstm",
    "data_parallel_lstm",
    "hoisted_lstm",
    "MU_SCALE",
    "LOADING_SCALE",
    "IDIO_SCALE",
    "IDIO_FLOOR",
]

LSTMImpl = Literal["fused", "hoisted", "cell"]
Covariance = Literal["learned", "anchored"]

# Head scales for a 21-day horizon; FactorLSTM rescales them to its own horizon.
MU_SCALE = 1e-2
"""Scale of the mu head: monthly expected returns are of order 1%."""
LOADING_SCALE = 4e-2
"""Scale of the loadings head (monthly systematic volatility of order 4%)."""
IDIO_SCALE = 7e-2
"""Scale of idiosyncratic volatility: softplus(0) * 0.07^2 ~ (6% monthly)^2."""
IDIO_FLOOR = 1e-5
"""Floor of d_i (0.3% monthly volatility) so Sigma stays well conditioned."""
MAX_LOG_CORRECTION = 2.0
"""Bound on an anchored model's log-scales: loadings move by at most a factor e^2."""


class FactorOutput(NamedTuple):
    """Forecast distribution for a batch of sample dates.

    Attributes
    ----------
    mu : Array of shape (n_dates, n_assets)
    loadings : Array of shape (n_dates, n_assets, k)
    idio : Array of shape (n_dates, n_assets), positive
    """

    mu: jax.Array
    loadings: jax.Array
    idio: jax.Array


class ModelInputs(NamedTuple):
    """Inputs of an anchored model: sequences plus the covariance prior per date.

    Attributes
    ----------
    sequences : Array of shape (n_dates, n_assets, seq_len, n_features)
    prior_loadings : Array of shape (n_dates, n_assets, k)
    prior_idio : Array of shape (n_dates, n_assets), positive
    """

    sequences: jax.Array
    prior_loadings: jax.Array
    prior_idio: jax.Array


def _sigmoid(x: jax.Array) -> jax.Array:
    # Exact identity; XLA's CPU tanh is cheaper than its logistic (exp + divide).
    return 0.5 * jnp.tanh(0.5 * x) + 0.5


def _fused_forward(
    kernel_i: jax.Array, kernel_h: jax.Array, bias: jax.Array, inputs: jax.Array
) -> tuple[jax.Array, ...]:
    """Forward scan; returns per-step (i, f, g, o, tanh(c), c, h), each (L, B, H)."""
    size = kernel_h.shape[0]
    zeros = jnp.zeros((inputs.shape[1], size), inputs.dtype)

    def step(
        carry: tuple[jax.Array, jax.Array], x_t: jax.Array
    ) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, ...]]:
        cell, hidden = carry
        pre = x_t @ kernel_i + hidden @ kernel_h + bias
        i = _sigmoid(pre[:, :size])
        f = _sigmoid(pre[:, size : 2 * size])
        g = jnp.tanh(pre[:, 2 * size : 3 * size])
        o = _sigmoid(pre[:, 3 * size :])
        cell = f * cell + i * g
        tanh_cell = jnp.tanh(cell)
        hidden = o * tanh_cell
        # Each activation is its own stacked output: the backward loop then reads
        # whole (batch, hidden) slices, which XLA's CPU code handles far better than
        # column slices of one stacked (batch, 4 * hidden) array.
        return (cell, hidden), (i, f, g, o, tanh_cell, cell, hidden)

    _, per_step = jax.lax.scan(step, (zeros, zeros), inputs)
    return per_step


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def fused_lstm(
    kernel_i: jax.Array,
    kernel_h: jax.Array,
    bias: jax.Array,
    inputs: jax.Array,
    input_grad: bool = True,
) -> jax.Array:
    """LSTM over time-major sequences with a hand-written backward pass.

    The forward scan keeps each step's gate activations; the backward pass is one
    reverse ``lax.scan`` that needs no recomputation and accumulates the weight
    gradients in its carry. On CPU this is faster than reverse-mode autodiff of the
    forward scan.

    Parameters
    ----------
    kernel_i : Array of shape (in_features, 4 * hidden)
    kernel_h : Array of shape (hidden, 4 * hidden)
    bias : Array of shape (4 * hidden,)
        Gates in the order i, f, g, o, as in ``nnx.OptimizedLSTMCell``.
    inputs : Array of shape (seq_len, batch, in_features)
    input_grad : bool, default True
        Whether the gradient with respect to ``inputs`` is needed (False for the
        first layer, whose inputs are data; it then comes back as zeros).

    Returns
    -------
    Array of shape (seq_len, batch, hidden)
    """
    return _fused_forward(kernel_i, kernel_h, bias, inputs)[-1]


def _fused_lstm_fwd(
    kernel_i: jax.Array,
    kernel_h: jax.Array,
    bias: jax.Array,
    inputs: jax.Array,
    input_grad: bool,
) -> tuple[jax.Array, tuple[Any, ...]]:
    per_step = _fused_forward(kernel_i, kernel_h, bias, inputs)
    return per_step[-1], (kernel_i, kernel_h, bias, inputs, per_step)


def _fused_lstm_bwd(
    input_grad: bool,
    residuals: tuple[Any, ...],
    d_hiddens: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    kernel_i, kernel_h, bias, inputs, per_step = residuals
    gates, cells, hiddens = per_step[:5], per_step[5], per_step[6]
    zeros = jnp.zeros_like(hiddens[0])
    prev_hiddens = jnp.concatenate([zeros[None], hiddens[:-1]])
    prev_cells = jnp.concatenate([zeros[None], cells[:-1]])

    def step(
        carry: tuple[jax.Array, ...], scanned: tuple[Any, ...]
    ) -> tuple[tuple[jax.Array, ...], jax.Array | None]:
        d_hidden_next, d_cell_next, d_kernel_i, d_kernel_h, d_bias = carry
        d_hidden_t, x_t, hidden_prev, cell_prev, (i, f, g, o, tanh_cell) = scanned
        d_hidden = d_hidden_t + d_hidden_next
        d_cell = d_cell_next + d_hidden * o * (1.0 - tanh_cell**2)
        d_pre = jnp.concatenate(
            [
                d_cell * g * i * (1.0 - i),
                d_cell * cell_prev * f * (1.0 - f),
                d_cell * i * (1.0 - g**2),
                d_hidden * tanh_cell * o * (1.0 - o),
            ],
            axis=-1,
        )
        carry = (
            d_pre @ kernel_h.T,
            d_cell * f,
            d_kernel_i + x_t.T @ d_pre,
            d_kernel_h + hidden_prev.T @ d_pre,
            d_bias + d_pre.sum(axis=0),
        )
        return carry, (d_pre @ kernel_i.T if input_grad else None)

    init = (
        zeros,
        zeros,
        jnp.zeros_like(kernel_i),
        jnp.zeros_like(kernel_h),
        jnp.zeros_like(bias),
    )
    scanned = (d_hiddens, inputs, prev_hiddens, prev_cells, gates)
    (_, _, d_kernel_i, d_kernel_h, d_bias), d_inputs = jax.lax.scan(
        step, init, scanned, reverse=True
    )
    if d_inputs is None:
        d_inputs = jnp.zeros_like(inputs)
    return d_kernel_i, d_kernel_h, d_bias, d_inputs


fused_lstm.defvjp(_fused_lstm_fwd, _fused_lstm_bwd)


def data_parallel_lstm(
    kernel_i: jax.Array,
    kernel_h: jax.Array,
    bias: jax.Array,
    inputs: jax.Array,
    input_grad: bool,
    mesh: Mesh,
) -> jax.Array:
    """:func:`fused_lstm` with the batch split over the devices of ``mesh``.

    Every device runs the forward and backward scans over its share of the sequences
    with the same weights; reverse-mode differentiation through ``shard_map`` sums the
    shares' weight gradients over the devices.

    Parameters
    ----------
    kernel_i, kernel_h, bias, inputs, input_grad
        As in :func:`fused_lstm`; the batch (axis 1 of ``inputs``) must divide
        evenly over the mesh.
    mesh : Mesh
        One axis named :data:`forecasting.devices.BATCH_AXIS`.

    Returns
    -------
    Array of shape (seq_len, batch, hidden)
    """
    by_sequence = P(None, BATCH_AXIS)

    def shard(kernel_i, kernel_h, bias, inputs):
        return fused_lstm(kernel_i, kernel_h, bias, inputs, input_grad)

    # check_vma=False: the scans start from replicated zeros and carry per-shard
    # state, which the varying-axes check rejects; the gradients are unaffected
    # (tests compare them with one device).
    return jax.shard_map(
        shard,
        mesh=mesh,
        in_specs=(P(), P(), P(), by_sequence),
        out_specs=by_sequence,
        check_vma=False,
    )(kernel_i, kernel_h, bias, inputs)


def hoisted_lstm(
    kernel_i: jax.Array, kernel_h: jax.Array, bias: jax.Array, inputs: jax.Array
) -> jax.Array:
    """LSTM as one ``lax.scan`` with the input projection hoisted out of the loop.

    All time steps' input projections are one (seq_len * batch, F) x (F, 4H) product
    before the loop, split per gate so the loop body reads whole arrays rather than
    slices of a scanned one; gradients come from autodiff.

    Parameters
    ----------
    kernel_i, kernel_h, bias, inputs
        As in :func:`fused_lstm`.

    Returns
    -------
    Array of shape (seq_len, batch, hidden)
    """
    size = kernel_h.shape[0]
    projected = inputs @ kernel_i + bias
    per_gate = tuple(projected[..., k * size : (k + 1) * size] for k in range(4))
    zeros = jnp.zeros((inputs.shape[1], size), projected.dtype)

    def step(
        carry: tuple[jax.Array, jax.Array], gates_x: tuple[jax.Array, ...]
    ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        cell, hidden = carry
        recurrent = hidden @ kernel_h
        x_i, x_f, x_g, x_o = gates_x
        i = jax.nn.sigmoid(x_i + recurrent[:, :size])
        f = jax.nn.sigmoid(x_f + recurrent[:, size : 2 * size])
        g = jnp.tanh(x_g + recurrent[:, 2 * size : 3 * size])
        o = jax.nn.sigmoid(x_o + recurrent[:, 3 * size :])
        cell = f * cell + i * g
        hidden = o * jnp.tanh(cell)
        return (cell, hidden), hidden

    _, hiddens = jax.lax.scan(step, (zeros, zeros), per_gate)
    return hiddens


class ScanLSTMLayer(nnx.Module):
    """Hand-written ``lax.scan`` LSTM layer, "fused" or "hoisted" (see module doc).

    Parameters
    ----------
    in_features, hidden : int
    variant : {"fused", "hoisted"}, default "fused"
    input_grad : bool, default True
        For "fused": whether gradients flow to the inputs (False for a first layer).
    parallel : bool, default True
        For "fused": split the batch over the devices when there are several (see
        :func:`forecasting.devices.batch_mesh`).
    rngs : nnx.Rngs
    """

    def __init__(
        self,
        in_features: int,
        hidden: int,
        *,
        variant: Literal["fused", "hoisted"] = "fused",
        input_grad: bool = True,
        parallel: bool = True,
        rngs: nnx.Rngs,
    ) -> None:
        self.in_features = in_features
        self.hidden = hidden
        self.variant = variant
        self.input_grad = input_grad
        self.parallel = parallel
        self.dense_i = nnx.Linear(in_features, 4 * hidden, use_bias=False, rngs=rngs)
        self.dense_h = nnx.Linear(
            hidden,
            4 * hidden,
            kernel_init=nnx.initializers.orthogonal(),
            rngs=rngs,
        )

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Run the layer over time-major sequences.

        Parameters
        ----------
        inputs : Array of shape (seq_len, batch, in_features)

        Returns
        -------
        Array of shape (seq_len, batch, hidden)
            Hidden state after each step.
        """
        weights = (self.dense_i.kernel[...], self.dense_h.kernel[...])
        bias = self.dense_h.bias[...]
        if self.variant == "hoisted":
            return hoisted_lstm(*weights, bias, inputs)
        mesh = batch_mesh(inputs.shape[1]) if self.parallel else None
        if mesh is None:
            return fused_lstm(*weights, bias, inputs, self.input_grad)
        return data_parallel_lstm(*weights, bias, inputs, self.input_grad, mesh)


class CellLSTMLayer(nnx.Module):
    """LSTM layer built from ``nnx.RNN(nnx.OptimizedLSTMCell)``, the Flax baseline.

    Parameters
    ----------
    in_features, hidden : int
    rngs : nnx.Rngs
    """

    def __init__(self, in_features: int, hidden: int, *, rngs: nnx.Rngs) -> None:
        self.in_features = in_features
        self.hidden = hidden
        self.rnn = nnx.RNN(
            nnx.OptimizedLSTMCell(in_features, hidden, rngs=rngs), time_major=True
        )

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Run the layer over time-major sequences.

        Parameters
        ----------
        inputs : Array of shape (seq_len, batch, in_features)

        Returns
        -------
        Array of shape (seq_len, batch, hidden)
        """
        return self.rnn(inputs)


def _make_layer(
    impl: LSTMImpl,
    in_features: int,
    hidden: int,
    *,
    first: bool,
    parallel: bool,
    rngs: nnx.Rngs,
) -> ScanLSTMLayer | CellLSTMLayer:
    if impl == "cell":
        return CellLSTMLayer(in_features, hidden, rngs=rngs)
    # The first layer's inputs are data: no gradient needed, which saves a product
    # per step in the fused backward pass.
    return ScanLSTMLayer(
        in_features,
        hidden,
        variant=impl,
        input_grad=not first,
        parallel=parallel,
        rngs=rngs,
    )


def _layer_weights(layer: ScanLSTMLayer | CellLSTMLayer) -> tuple[nnx.Linear, ...]:
    owner = layer.rnn.cell if isinstance(layer, CellLSTMLayer) else layer
    return owner.dense_i, owner.dense_h


class LSTMEncoder(nnx.Module):
    """Stack of LSTM layers returning the last hidden state of each sequence.

    Parameters
    ----------
    in_features : int
        Number of features F per time step.
    hidden : int
        Hidden size H of every layer.
    layers : int, default 1
    dropout : float, default 0.0
        Dropout between stacked layers (training mode only).
    impl : {"fused", "hoisted", "cell"}, default "fused"
    parallel : bool, default True
        For "fused": split each batch over the devices (one per CPU core).
    rngs : nnx.Rngs
    """

    def __init__(
        self,
        in_features: int,
        hidden: int,
        layers: int = 1,
        *,
        dropout: float = 0.0,
        impl: LSTMImpl = "fused",
        parallel: bool = True,
        rngs: nnx.Rngs,
    ) -> None:
        if impl not in ("fused", "hoisted", "cell"):
            raise ValueError(f"impl must be 'fused', 'hoisted' or 'cell', got {impl!r}")
        sizes = [in_features] + [hidden] * (layers - 1)
        self.impl = impl
        self.layers = nnx.List(
            [
                _make_layer(
                    impl,
                    n,
                    hidden,
                    first=index == 0,
                    parallel=parallel,
                    rngs=rngs,
                )
                for index, n in enumerate(sizes)
            ]
        )
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Encode batch-major sequences.

        Parameters
        ----------
        inputs : Array of shape (batch, seq_len, in_features)

        Returns
        -------
        Array of shape (batch, hidden)
            Hidden state of the top layer after the last step.
        """
        # Time-major inside: the scan walks the leading axis without transposes.
        hiddens = jnp.swapaxes(inputs, 0, 1)
        for index, layer in enumerate(self.layers):
            if index > 0:
                hiddens = self.dropout(hiddens)
            hiddens = layer(hiddens)
        return hiddens[-1]

    def copy_weights_from(self, other: LSTMEncoder) -> None:
        """Copy the LSTM weights of ``other`` (either impl) into this encoder.

        Parameters
        ----------
        other : LSTMEncoder
            Same sizes; its implementation may differ.
        """
        for target, source in zip(self.layers, other.layers, strict=True):
            for dense_t, dense_s in zip(
                _layer_weights(target), _layer_weights(source), strict=True
            ):
                dense_t.kernel[...] = dense_s.kernel[...]
                if dense_s.bias is not None:
                    dense_t.bias[...] = dense_s.bias[...]


class FactorLSTM(nnx.Module):
    """Shared-weight LSTM with heads for mu, factor loadings and idiosyncratic variance.

    Parameters
    ----------
    n_features : int
        Features per asset and time step.
    hidden : int, default 32
    layers : int, default 1
    factors : int, default 5
        Number of factors k.
    dropout : float, default 0.1
        Dropout on the encoder output (and between layers), training mode only.
    impl : {"fused", "hoisted", "cell"}, default "fused"
    horizon : int, default 21
        Forecast horizon in trading days; the head scales (set for 21 days) grow
        like ``horizon`` for mu and variances and like its square root for loadings.
    covariance : {"learned", "anchored"}, default "learned"
        Heads give the covariance itself, or a correction to a prior passed with
        the inputs (`ModelInputs`; see the module docstring).
    rngs : nnx.Rngs
    """

    def __init__(
        self,
        n_features: int,
        *,
        hidden: int = 32,
        layers: int = 1,
        factors: int = 5,
        dropout: float = 0.1,
        impl: LSTMImpl = "fused",
        horizon: int = 21,
        covariance: Covariance = "learned",
        rngs: nnx.Rngs,
    ) -> None:
        if covariance not in ("learned", "anchored"):
            raise ValueError(
                f"covariance must be 'learned' or 'anchored', got {covariance!r}"
            )
        self.horizon_ratio = horizon / 21.0
        self.covariance = covariance
        self.encoder = LSTMEncoder(
            n_features, hidden, layers, dropout=dropout, impl=impl, rngs=rngs
        )
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.mu_head = nnx.Linear(hidden, 1, rngs=rngs)
        self.loadings_head = nnx.Linear(hidden, factors, rngs=rngs)
        # Start with a common (market) factor: equity returns co-move, and a model
        # that starts with all correlations near zero spends its first epochs
        # learning only that.
        self.loadings_head.bias[...] = jnp.zeros(factors).at[0].set(1.0)
        self.idio_head = nnx.Linear(hidden, 1, rngs=rngs)
        if covariance == "anchored":
            # Zero corrections: an untrained model forecasts the prior exactly.
            for head in (self.loadings_head, self.idio_head):
                head.kernel[...] = jnp.zeros_like(head.kernel[...])
                head.bias[...] = jnp.zeros_like(head.bias[...])

    def __call__(self, inputs: jax.Array | ModelInputs) -> FactorOutput:
        """Forecast the horizon-return distribution of every asset on every date.

        Parameters
        ----------
        inputs : Array of shape (n_dates, n_assets, seq_len, n_features)
            Or, for an anchored model, `ModelInputs` holding these sequences and
            the prior of each date.

        Returns
        -------
        FactorOutput
            ``mu`` (n_dates, n_assets), ``loadings`` (n_dates, n_assets, k),
            ``idio`` (n_dates, n_assets).
        """
        anchored = self.covariance == "anchored"
        if anchored != isinstance(inputs, ModelInputs):
            raise ValueError(
                "an anchored model takes ModelInputs (sequences and prior), a learned "
                "one plain sequences"
            )
        sequences = inputs.sequences if anchored else inputs
        n_dates, n_assets, seq_len, n_features = sequences.shape
        # Assets become batch elements of one shared encoder.
        flat = sequences.reshape(n_dates * n_assets, seq_len, n_features)
        state = self.dropout(self.encoder(flat))
        # Means and variances of horizon returns grow about linearly with the horizon.
        ratio = self.horizon_ratio
        mu = (ratio * MU_SCALE * self.mu_head(state)[:, 0]).reshape(n_dates, n_assets)
        loadings_out = self.loadings_head(state).reshape(n_dates, n_assets, -1)
        idio_out = self.idio_head(state)[:, 0].reshape(n_dates, n_assets)
        if anchored:
            return FactorOutput(
                mu=mu,
                loadings=inputs.prior_loadings * jnp.exp(_bounded(loadings_out)),
                idio=inputs.prior_idio * jnp.exp(_bounded(idio_out)),
            )
        raw_idio = jax.nn.softplus(idio_out)
        return FactorOutput(
            mu=mu,
            loadings=ratio**0.5 * LOADING_SCALE * loadings_out,
            idio=ratio * (IDIO_SCALE**2 * raw_idio + IDIO_FLOOR),
        )


def _bounded(log_scale: jax.Array) -> jax.Array:
    """Soft bound to +-MAX_LOG_CORRECTION; the identity near zero."""
    return MAX_LOG_CORRECTION * jnp.tanh(log_scale / MAX_LOG_CORRECTION)
