"""Training loop for :class:`~forecasting.model.FactorLSTM`.

AdamW with global-norm gradient clipping, dropout in training mode, a jit-compiled step
(``nnx.value_and_grad`` then ``optimizer.update`` on the merged state of
``nnx.split((model, optimizer))``), early stopping on the validation
block with the best weights restored, and warm start (the caller passes a model that
already holds the previous weights). Everything random (initialisation, shuffling,
dropout) derives from one seed, so the same seed gives the same weights on CPU.

A batch is a set of sample dates with all their assets, because the likelihood couples
the assets of a date through the covariance. ``batch_size`` counts sequences (asset x
date pairs), as for a per-asset model: a batch holds ``max(1, batch_size // n_assets)``
dates. Short batches are padded with fully masked dates so each step has one shape and
compiles once.

An epoch trains on at most ``epoch_sequences`` sequences
(:class:`~forecasting.settings.TrainSettings`): when the training block holds more
(dates x assets), each epoch takes the first dates of its shuffled order that fit, a
fresh random subset every epoch. The cost of an epoch then stops growing with the
number of assets, while a block within the budget trains exactly as before (the same
shuffles, all dates).

An ensemble (:mod:`forecasting.ensemble`: one model whose arrays carry a leading
member axis) trains with ``train_model(..., members=K)``: every step maps the
single-model loss, gradient and AdamW update over the members with ``jax.vmap``, so
the K members see the same batches in one compiled step. Each member early-stops on
its own validation loss and keeps its own best weights; training ends when every
member has run out of patience. With ``bootstrap=True`` each member weights the
training dates by its own Poisson(1) draws (the online bootstrap), so members also
differ in the data they fit.

Progress: ``train_model(..., on_epoch=callback)`` calls ``callback(EpochEnd(...))``
after every epoch with the losses already computed (no extra device sync); the
library itself prints nothing.
"""

from __future__ import annotations

import datetime
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from foliocast.forecasting.dataset import SampleBlock, TrainingData
from foliocast.forecasting.devices import batch_mesh
from foliocast.forecasting.ensemble import member_axes
from foliocast.forecasting.loss import gaussian_nll, split_gaussian_nll
from foliocast.forecasting.model import FactorLSTM, ModelInputs
from foliocast.forecasting.settings import TrainSettings

__all__ = [
    "CLIP_NORM",
    "EpochCallback",
    "EpochEnd",
    "TrainResult",
    "train_model",
    "evaluate_loss",
]

LossKind = Literal["nll", "mse", "nll_vol_scaled", "nll_demeaned"]


CLIP_NORM = 1.0
"""Global gradient-norm clip of every training step."""


@dataclass(frozen=True)
class TrainResult:
    """What happened during training.

    Parameters
    ----------
    epochs_run : int
    best_epoch : int
        Epoch (1-based) whose weights were kept.
    train_loss, val_loss : list of float
        Per-epoch mean loss per observed (sample, asset) pair (for an ensemble, the
        mean over members); ``val_loss`` is empty without a validation block.
    seconds : float
        Wall time of the loop, compilation included.
    member_best_epochs : list of int
        For an ensemble, the epoch whose weights each member kept; empty for a
        single model.
    """

    epochs_run: int
    best_epoch: int
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    member_best_epochs: list[int] = field(default_factory=list)

    @property
    def best_val_loss(self) -> float | None:
        """Validation loss of the kept weights, None without validation."""
        return self.val_loss[self.best_epoch - 1] if self.val_loss else None


@dataclass(frozen=True)
class EpochEnd:
    """What a progress callback learns after each training epoch.

    Parameters
    ----------
    epoch : int
        The epoch just finished (1-based).
    max_epochs : int
        Upper bound on epochs (early stopping may end training sooner).
    train_loss : float
        Mean training loss of the epoch.
    val_loss : float or None
        Validation loss after the epoch; None without a validation block.
    fit_date : datetime.datetime or None
        Last date of the training data, where the caller knows it (a forecaster
        fills it in; `train_model` has no dates).
    """

    epoch: int
    max_epochs: int
    train_loss: float
    val_loss: float | None = None
    fit_date: datetime.datetime | None = None


EpochCallback = Callable[[EpochEnd], None]


@functools.lru_cache(maxsize=16)
def _optimizer_transform(
    lr: float, weight_decay: float, clip_norm: float
) -> optax.GradientTransformation:
    # One transform object per setting: nnx.jit keys its cache on the optimizer's
    # structure, which includes this object, so reusing it avoids a recompile on
    # every retrain.
    return optax.chain(
        optax.clip_by_global_norm(clip_norm),
        optax.adamw(lr, weight_decay=weight_decay),
    )


def _date_losses(
    model: FactorLSTM,
    inputs: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    loss_kind: LossKind,
) -> jax.Array:
    """Loss summed over the observed assets of each date, shape (n_dates,)."""
    out = model(inputs)
    if loss_kind == "nll":
        return gaussian_nll(targets, out.mu, out.loadings, out.idio, mask)
    if loss_kind in ("nll_vol_scaled", "nll_demeaned"):
        return split_gaussian_nll(
            targets,
            out.mu,
            out.loadings,
            out.idio,
            mask,
            demeaned=loss_kind == "nll_demeaned",
        )
    residual = jnp.where(mask, targets - out.mu, 0.0)
    return jnp.sum(residual**2, axis=-1)


def _update(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    inputs: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    date_weights: jax.Array,
    loss_kind: LossKind,
) -> tuple[nnx.State, jax.Array]:
    """One AdamW step of one model on the state of ``nnx.split((model, optimizer))``.

    ``date_weights`` (n_dates,) weight the batch's dates (ones, or bootstrap draws);
    the loss is the weighted mean per observed (date, asset) pair.
    """
    model, optimizer = nnx.merge(graphdef, state)
    total = jnp.maximum(jnp.sum(date_weights * jnp.sum(mask, axis=-1)), 1)

    def loss_fn(model: FactorLSTM) -> jax.Array:
        losses = _date_losses(model, inputs, targets, mask, loss_kind)
        return jnp.sum(date_weights * losses) / total

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return nnx.state((model, optimizer)), loss


# Pure functions under ``jax.jit`` rather than ``nnx.jit`` over the objects:
# ``nnx.jit`` walks the model and optimizer graph in Python on every call (about
# 1.5 ms), which on a machine whose cores all run the data-parallel encoder costs a
# fifth of the step time.
_train_step = jax.jit(_update, static_argnames=("graphdef", "loss_kind"))


@functools.partial(jax.jit, static_argnames=("graphdef", "loss_kind"))
def _ensemble_train_step(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    inputs: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    date_weights: jax.Array,
    loss_kind: LossKind,
) -> tuple[nnx.State, jax.Array]:
    """`_update` for every member of a stacked ensemble at once.

    ``date_weights`` has shape (K, n_dates); the losses returned, shape (K,).
    """
    axes = member_axes(state)

    def member_step(
        state: nnx.State, weights: jax.Array
    ) -> tuple[nnx.State, jax.Array]:
        return _update(graphdef, state, inputs, targets, mask, weights, loss_kind)

    return jax.vmap(member_step, in_axes=(axes, 0), out_axes=(axes, 0))(
        state, date_weights
    )


def _loss_sum(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    inputs: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    loss_kind: LossKind,
) -> jax.Array:
    """Summed loss over the observed (date, asset) pairs of a batch."""
    model = nnx.merge(graphdef, state)
    return jnp.sum(_date_losses(model, inputs, targets, mask, loss_kind))


_eval_step = jax.jit(_loss_sum, static_argnames=("graphdef", "loss_kind"))


@functools.partial(jax.jit, static_argnames=("graphdef", "loss_kind"))
def _ensemble_eval_step(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    inputs: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    loss_kind: LossKind,
) -> jax.Array:
    """Summed loss of every member of a stacked ensemble, shape (K,)."""

    def member_sum(state: nnx.State) -> jax.Array:
        return _loss_sum(graphdef, state, inputs, targets, mask, loss_kind)

    return jax.vmap(member_sum)(state)


def block_inputs(block: SampleBlock, index: np.ndarray) -> np.ndarray | ModelInputs:
    """The model inputs of the selected samples: sequences, with the prior if any."""
    sequences = block.inputs(index)
    if block.prior_loadings is None:
        return sequences
    return ModelInputs(sequences, block.prior_loadings[index], block.prior_idio[index])


def _batches(
    block: SampleBlock, order: np.ndarray, dates_per_batch: int
) -> Iterator[tuple[np.ndarray | ModelInputs, np.ndarray, np.ndarray]]:
    """Yield (inputs, targets, mask) padded to ``dates_per_batch`` dates."""
    for start in range(0, len(order), dates_per_batch):
        index = order[start : start + dates_per_batch]
        inputs = block_inputs(block, index)
        targets = block.targets[index]
        mask = block.mask[index]
        missing = dates_per_batch - len(index)
        if missing:
            # Padding dates are fully masked: they add nothing to loss or gradient.
            inputs = jax.tree.map(lambda a: _pad(a, dates_per_batch), inputs)
            targets = _pad(targets, dates_per_batch)
            mask = _pad(mask, dates_per_batch)
        yield inputs, targets, mask


def _pad(array: np.ndarray, length: int) -> np.ndarray:
    if len(array) >= length:
        return array[:length]
    pad = np.zeros((length - len(array),) + array.shape[1:], dtype=array.dtype)
    return np.concatenate([array, pad])


def evaluate_loss(
    model: FactorLSTM,
    block: SampleBlock,
    *,
    loss: LossKind = "nll",
    dates_per_batch: int = 12,
    members: int = 1,
) -> float | np.ndarray:
    """Mean loss per observed (sample, asset) pair over a block, in eval mode.

    Parameters
    ----------
    model : FactorLSTM
        A single model, or a stacked ensemble of ``members``.
    block : SampleBlock
    loss : {"nll", "mse"}
    dates_per_batch : int
        Dates evaluated per call (the padding makes every call the same shape).
    members : int, default 1
        Ensemble size (1: a single model).

    Returns
    -------
    float, or ndarray of shape (members,) for an ensemble
        NaN when the block has no observed pair.
    """
    model.eval()
    graphdef, state = nnx.split(model)
    total: Any = 0.0
    for inputs, targets, mask in _batches(
        block, np.arange(len(block)), dates_per_batch
    ):
        step = _eval_step if members == 1 else _ensemble_eval_step
        sums = step(graphdef, state, inputs, targets, mask, loss)
        total = total + np.asarray(sums, dtype=float)
    count = int(block.mask.sum())
    if not count:
        return float("nan") if members == 1 else np.full(members, np.nan)
    return float(total / count) if members == 1 else total / count


def train_model(
    model: FactorLSTM,
    data: TrainingData,
    config: TrainSettings,
    *,
    on_epoch: EpochCallback | None = None,
    members: int = 1,
) -> TrainResult:
    """Fit ``model`` in place on ``data.train``, early-stopping on ``data.validation``.

    Parameters
    ----------
    model : FactorLSTM
        Freshly initialised, or holding previous weights for a warm start; a stacked
        ensemble (:func:`forecasting.ensemble.stack_members`) when ``members > 1``.
    data : TrainingData
    config : TrainSettings
    on_epoch : callable, optional
        Called with an `EpochEnd` after each epoch, e.g. to show progress; it does
        not change the training.
    members : int, default 1
        Ensemble size: the length of the model's leading member axis.

    Returns
    -------
    TrainResult
        The model ends in eval mode with the weights of the best validation epoch
        (per member for an ensemble; the last epoch when there is no validation
        block).

    Raises
    ------
    FloatingPointError
        If the training loss stops being finite.
    """
    started = time.perf_counter()
    n_assets = data.train.mask.shape[1]
    dates_per_batch = max(1, config.batch_size // max(n_assets, 1))
    tx = _optimizer_transform(config.lr, config.weight_decay, CLIP_NORM)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    shuffle = np.random.default_rng(config.seed)
    date_weights = _date_weights(config, members, len(data.train))
    epoch_dates = _epoch_dates(
        len(data.train), n_assets, dates_per_batch, config.epoch_sequences
    )
    has_validation = len(data.validation) > 0 and data.validation.mask.any()

    train_losses: list[float] = []
    val_losses: list[float] = []
    best = _BestWeights(members)
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        graphdef, state = nnx.split((model, optimizer))
        state = _replicated(state, dates_per_batch * n_assets)
        # The whole permutation is drawn either way: the shuffles of a block within
        # the budget do not depend on it.
        order = shuffle.permutation(len(data.train))[:epoch_dates]
        step_losses, counts = [], []
        for start, (inputs, targets, mask) in zip(
            range(0, len(order), dates_per_batch),
            _batches(data.train, order, dates_per_batch),
            strict=True,
        ):
            weights = _pad(
                date_weights[order[start : start + dates_per_batch]], dates_per_batch
            ).T
            step = _train_step if members == 1 else _ensemble_train_step
            state, step_loss = step(
                graphdef,
                state,
                inputs,
                targets,
                mask,
                weights[0] if members == 1 else weights,
                config.loss_kind,
            )
            # Kept as arrays: reading them here would wait for each step to finish
            # before the next is dispatched.
            step_losses.append(step_loss)
            counts.append(int(mask.sum()))
        nnx.update((model, optimizer), state)
        epoch_loss = np.dot(counts, np.asarray(jnp.stack(step_losses))) / max(
            sum(counts), 1
        )
        train_losses.append(float(np.mean(epoch_loss)))
        if not np.all(np.isfinite(epoch_loss)):
            raise FloatingPointError(
                f"training loss became {train_losses[-1]} in epoch {epoch}; "
                "lower lr or check the prices for bad ticks"
            )
        val_loss = None
        if has_validation:
            val_loss = evaluate_loss(
                model,
                data.validation,
                loss=config.loss_kind,
                dates_per_batch=dates_per_batch,
                members=members,
            )
            val_losses.append(float(np.mean(val_loss)))
        if on_epoch is not None:
            reported = None if val_loss is None else val_losses[-1]
            on_epoch(EpochEnd(epoch, config.max_epochs, train_losses[-1], reported))
        if val_loss is None:
            continue
        best.update(model, epoch, np.asarray(val_loss, dtype=float))
        if best.exhausted(epoch, config.patience):
            break
    best_epochs = best.restore(model, len(train_losses))
    model.eval()
    return TrainResult(
        epochs_run=len(train_losses),
        best_epoch=int(best_epochs.max()),
        train_loss=train_losses,
        val_loss=val_losses,
        seconds=time.perf_counter() - started,
        member_best_epochs=[] if members == 1 else best_epochs.tolist(),
    )


def _epoch_dates(n_dates: int, n_assets: int, dates_per_batch: int, budget: int) -> int:
    """Training dates an epoch uses: all, or as many whole batches as ``budget`` allows.

    Whole batches, because a padded batch costs a full step; at least one batch.
    """
    if n_dates * n_assets <= budget:
        return n_dates
    batches = budget // max(n_assets, 1) // dates_per_batch
    return max(1, batches) * dates_per_batch


def _replicated(state: nnx.State, n_sequences: int) -> nnx.State:
    """The state copied to every device the step splits its batch over.

    A data-parallel step returns the weights replicated over the devices; starting
    from arrays on one device, the first step would compile for that layout and the
    second compile again for its own output.
    """
    mesh = batch_mesh(n_sequences)
    if mesh is None:
        return state
    return jax.device_put(state, NamedSharding(mesh, P()))


def _date_weights(config: TrainSettings, members: int, n_dates: int) -> np.ndarray:
    """Each member's weight on each training date, shape (n_dates, members)."""
    if not config.bootstrap or members == 1:
        return np.ones((n_dates, members), np.float32)
    # Its own stream: the shuffling order stays that of the unweighted run.
    draws = np.random.default_rng([config.seed, 1]).poisson(1.0, (n_dates, members))
    return draws.astype(np.float32)


class _BestWeights:
    """Each member's best validation loss so far, its epoch and its weights."""

    def __init__(self, members: int) -> None:
        self.loss = np.full(members, np.inf)
        self.epoch = np.zeros(members, dtype=int)
        self.params: nnx.State | None = None

    def update(self, model: FactorLSTM, epoch: int, val_loss: np.ndarray) -> None:
        """Keep the weights of the members whose validation loss improved."""
        improved = np.atleast_1d(val_loss) < self.loss
        if not improved.any():
            return
        self.loss = np.where(improved, val_loss, self.loss)
        self.epoch = np.where(improved, epoch, self.epoch)
        current = nnx.state(model, nnx.Param)
        kept = current if self.params is None else self.params
        self.params = _select(improved, current, kept)

    def exhausted(self, epoch: int, patience: int) -> bool:
        """Whether every member has gone ``patience`` epochs without improving."""
        return bool(np.all(epoch - self.epoch >= patience))

    def restore(self, model: FactorLSTM, epochs_run: int) -> np.ndarray:
        """Load the kept weights; members that never improved keep their last ones.

        Returns the epoch each member's weights come from.
        """
        if self.params is not None:
            improved = self.epoch > 0
            nnx.update(
                model, _select(improved, self.params, nnx.state(model, nnx.Param))
            )
        return np.where(self.epoch > 0, self.epoch, epochs_run)


def _select(take: np.ndarray, first: nnx.State, second: nnx.State) -> nnx.State:
    """Per member, ``first``'s arrays where ``take`` else ``second``'s (copies)."""
    if take.size == 1:  # a single model: no member axis
        chosen = first if bool(take.reshape(())) else second
        return jax.tree.map(jnp.copy, chosen)

    def pick(a: jax.Array, b: jax.Array) -> jax.Array:
        return jnp.where(take.reshape(take.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, first, second)
