"""The LSTM's settings, defined once: architecture (`ModelSettings`) and training.

`forecasting.lstm.LSTMForecaster` and `forecasting.train.train_model` take them, and
the run config (`portfolio.config`) embeds them as its ``forecaster.model`` and
``forecaster.train`` sections, so a default or a limit is stated here and nowhere
else. Both records check their values when built: a bad value raises
`SettingsError`, whose message starts with the field's name (the run config puts the
section in front: ``forecaster.model.hidden: 0 is outside [1, 4096]``).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ModelSettings", "SettingsError", "TrainSettings", "split_settings"]


class SettingsError(ValueError):
    """An LSTM setting out of its range; the message starts with the field name."""


@dataclass(frozen=True)
class ModelSettings:
    """LSTM architecture (of each ensemble member).

    Parameters
    ----------
    hidden : int, default 16
        LSTM units of each member: 5 x 16 costs 2.6x one 32-unit LSTM.
    layers : int, default 1
    factors : int, default 5
        Number of factors k of ``cov = B B^T + diag(d)``.
    dropout : float, default 0.1
    seq_len : int, default 21
        Days of features the LSTM reads per asset: one horizon was as good as 63 on
        the development period, at a third of the cost.
    ensemble : int, default 5
        Members trained together (1: a single model, no ``mu_std``).
    covariance : {"learned", "anchored"}, default "learned"
        Learn the covariance, or a correction to a Ledoit-Wolf factor prior of the
        lookback (see :mod:`forecasting.model`).
    mu_smoothing : int, default 4
        Average ``mu`` over this many weekly forecasts up to the decision date
        (1: no smoothing); 4 traded less on the development period, at no loss of
        skill.
    """

    hidden: int = 16
    layers: int = 1
    factors: int = 5
    dropout: float = 0.1
    seq_len: int = 21
    ensemble: int = 5
    covariance: Literal["learned", "anchored"] = "learned"
    mu_smoothing: int = 4

    def __post_init__(self) -> None:
        _check_choices(self)
        _check_range("hidden", self.hidden, 1, 4096)
        _check_range("ensemble", self.ensemble, 1, 64)
        _check_range("mu_smoothing", self.mu_smoothing, 1, 52)
        _check_range("layers", self.layers, 1, 8)
        _check_range("factors", self.factors, 1, 64)
        _check_range("dropout", self.dropout, 0, 0.9)
        _check_range("seq_len", self.seq_len, 2, 1000)


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of the LSTM.

    Parameters
    ----------
    max_epochs : int, default 30
        Upper bound on passes over the training block.
    batch_size : int, default 256
        Sequences (asset x date pairs) per step (see :mod:`forecasting.train`).
    lr, weight_decay : float, default 1e-3, 1e-4
        AdamW learning rate and decoupled weight decay.
    patience : int, default 5
        Epochs without validation improvement before stopping.
    seed : int, default 0
        Seed of initialisation, shuffling and dropout.
    loss : {"nll", "mse"}, default "nll"
        Factor-Gaussian NLL (mean and covariance), or MSE of ``mu`` only.
    bootstrap : bool, default False
        Ensembles only: each member weights the training dates by its own
        Poisson(1) draws.
    mean_target : {"nll", "vol_scaled", "demeaned"}, default "nll"
        With the NLL: how ``mu`` is trained. ``"nll"`` through the likelihood;
        ``"vol_scaled"`` by its own volatility-scaled squared error, and
        ``"demeaned"`` the same on cross-sectionally demeaned returns (see
        :func:`forecasting.loss.split_gaussian_nll`).
    epoch_sequences : int, default 65536
        Most sequences (asset x date pairs) one epoch trains on. A training block
        with more (training dates x assets) trains each epoch on a fresh random
        subset of its dates that fits, so an epoch costs the same for 500 assets as
        for 100 and large universes train in bounded time. The bundled runs stay
        under it (the default 20-asset run has about 26,000 per epoch).
    """

    max_epochs: int = 30
    batch_size: int = 256
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    patience: int = 5
    seed: int = 0
    loss: Literal["nll", "mse"] = "nll"
    bootstrap: bool = False
    mean_target: Literal["nll", "vol_scaled", "demeaned"] = "nll"
    epoch_sequences: int = 65_536

    def __post_init__(self) -> None:
        _check_choices(self)
        _check_range("max_epochs", self.max_epochs, 1, 10_000)
        _check_range("batch_size", self.batch_size, 1, 1_000_000)
        _check_range("lr", self.lr, 1e-8, 1.0)
        _check_range("weight_decay", self.weight_decay, 0, 1.0)
        _check_range("patience", self.patience, 1, 10_000)
        _check_range("epoch_sequences", self.epoch_sequences, 1, 10**9)

    @property
    def loss_kind(self) -> Literal["nll", "mse", "nll_vol_scaled", "nll_demeaned"]:
        """The loss the training steps compute: the loss with its mean target."""
        if self.loss == "mse" or self.mean_target == "nll":
            return self.loss
        return f"nll_{self.mean_target}"  # type: ignore[return-value]


def split_settings(
    values: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split flat keyword settings into model fields, train fields and the rest."""
    model_names = {f.name for f in dataclasses.fields(ModelSettings)}
    train_names = {f.name for f in dataclasses.fields(TrainSettings)}
    model = {k: v for k, v in values.items() if k in model_names}
    train = {k: v for k, v in values.items() if k in train_names}
    rest = {k: v for k, v in values.items() if k not in model_names | train_names}
    return model, train, rest


def _check_choices(settings: Any) -> None:
    """Literal-typed fields hold one of their choices."""
    hints = typing.get_type_hints(type(settings))
    for name, kind in hints.items():
        if typing.get_origin(kind) is not Literal:
            continue
        allowed = typing.get_args(kind)
        value = getattr(settings, name)
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise SettingsError(f"{name}: {value!r} is not one of {choices}")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    # NaN fails every comparison, so it is named rather than shown as out of range.
    if isinstance(value, float) and math.isnan(value):
        raise SettingsError(
            f"{name}: NaN is not allowed; give a number in [{low}, {high}]"
        )
    if not low <= value <= high:
        raise SettingsError(f"{name}: {value!r} is outside [{low}, {high}]")
