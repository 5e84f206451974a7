"""Replication of the seed paper: a stacked LSTM forecasting tomorrow's close.

The setup the project started from: two LSTM layers of 50 units with dropout 0.1, a
dense output, MSE loss and Adam, reading a window of past daily open and close
prices (MinMax-scaled) and predicting the next day's close of one series; 80/20
chronological split; errors reported in price units on the test part. The honest
comparison is the naive forecast "tomorrow's close equals today's close", which any
price-level model has to beat before its R^2 of 0.99 means anything.

Leakage rules: the scalers are fitted on the training rows only; sample i predicts
row i from rows ``i - window .. i - 1``; a sample belongs to the test part when its
target row does, so test inputs may reach back into training rows (the past) but
never forward.

Run ``python experiments/seed_paper.py [--config experiments/seed_paper.yaml]
[--out FILE.json] [--quiet]``; entry point `run_seed_paper`. It is an experiment, not
part of the library: it uses the library's training callbacks and progress display.
The command shows the training epochs on stderr (a bar on a terminal, periodic lines
otherwise, see `foliocast.portfolio.progress`); `run_seed_paper` takes an
``on_epoch`` callback and prints nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import yaml
from flax import nnx
from sklearn.preprocessing import MinMaxScaler

from foliocast.forecasting.devices import claim_cpu_cores
from foliocast.forecasting.train import EpochCallback, EpochEnd

__all__ = [
    "DataConfig",
    "ModelConfig",
    "SeedPaperConfig",
    "SeedPaperLSTM",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "load_frame",
    "main",
    "price_metrics",
    "run_on_frame",
    "run_seed_paper",
]

# Bundled arch datasets with daily Open/High/Low/Close/Adj Close/Volume.
_DATASETS = ("sp500", "nasdaq")


@dataclass(frozen=True)
class DataConfig:
    """Which series to forecast.

    Parameters
    ----------
    dataset : str
        ``"sp500"`` or ``"nasdaq"`` (``arch.data``; daily, 1999-2018).
    target : str
        Column whose next-day value is forecast.
    features : tuple of str
        Columns fed to the model (their past values only).
    start, end : str or None
        Optional date bounds (inclusive) on the rows used.
    """

    dataset: str = "sp500"
    target: str = "Close"
    features: tuple[str, ...] = ("Open", "Close")
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """Stacked LSTM: ``layers`` LSTMs of ``hidden`` units, dropout after each."""

    hidden: int = 50
    layers: int = 2
    dropout: float = 0.1


@dataclass(frozen=True)
class TrainConfig:
    """Adam on the MSE of scaled prices for a fixed number of epochs."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1.0e-3
    seed: int = 0


@dataclass(frozen=True)
class SeedPaperConfig:
    """Full configuration of the replication (mirrors experiments/seed_paper.yaml).

    Parameters
    ----------
    name : str
        Label of the run.
    window : int
        Days of history in each input sequence.
    train_fraction : float
        Leading share of rows used for training (the rest is the test part).
    data, model, train
        Nested sections.
    """

    name: str = "seed_paper_lstm"
    window: int = 60
    train_fraction: float = 0.8
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
}


def _coerce(value: Any, annotation: str, key: str) -> Any:
    """Check ``value`` against a field annotation, converting where harmless.

    YAML gives dates as ``datetime.date`` and may give ``1e-3`` as a string; both
    are accepted. Anything else of the wrong type is an error naming ``key``.
    """
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"config key '{key}' must be an integer, got {value!r}")
        return value
    if annotation == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"config key '{key}' must be a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ValueError(
                f"config key '{key}' must be a number, got {value!r}"
            ) from None
    if annotation == "str | None":
        if value is None:
            return None
        if isinstance(value, datetime.date):
            return value.isoformat()
        try:
            pd.Timestamp(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"config key '{key}' must be a date like 2005-01-31, got {value!r}"
            ) from None
        return str(value)
    if annotation == "tuple[str, ...]":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(
            isinstance(i, str) for i in items
        ):
            raise ValueError(f"config key '{key}' must be a list of column names")
        return tuple(items)
    if not isinstance(value, str):
        raise ValueError(f"config key '{key}' must be a string, got {value!r}")
    return value


def _build(cls: type, raw: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from ``raw``, rejecting keys it does not have."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"config section '{where or 'root'}' must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        names = ", ".join(f"'{where}{k}'" for k in unknown)
        raise ValueError(
            f"unknown key {names} in seed-paper config; valid keys here: "
            f"{', '.join(sorted(fields))}"
        )
    values = {}
    for name, value in raw.items():
        if cls is SeedPaperConfig and name in _SECTIONS:
            values[name] = _build(_SECTIONS[name], value or {}, f"{name}.")
        else:
            values[name] = _coerce(value, str(fields[name].type), where + name)
    return cls(**values)


def _check(config: SeedPaperConfig) -> None:
    """Validate value ranges, naming the offending key."""
    positive_ints = {
        "window": config.window,
        "model.hidden": config.model.hidden,
        "model.layers": config.model.layers,
        "train.epochs": config.train.epochs,
        "train.batch_size": config.train.batch_size,
    }
    for key, value in positive_ints.items():
        if value < 1:
            raise ValueError(f"config key '{key}' must be a positive integer: {value}")
    if not 0.0 < config.train_fraction < 1.0:
        raise ValueError("config key 'train_fraction' must lie in (0, 1)")
    if not 0.0 <= config.model.dropout < 1.0:
        raise ValueError("config key 'model.dropout' must lie in [0, 1)")
    if not config.train.lr > 0.0:
        raise ValueError("config key 'train.lr' must be positive")
    if config.data.dataset not in _DATASETS:
        raise ValueError(
            f"config key 'data.dataset' must be one of {_DATASETS}, "
            f"got {config.data.dataset!r}"
        )


def config_from_dict(raw: Mapping[str, Any] | None) -> SeedPaperConfig:
    """Validate a config mapping (e.g. parsed YAML) and fill in defaults.

    Parameters
    ----------
    raw : mapping or None
        Keys as in experiments/seed_paper.yaml; missing keys take defaults.

    Returns
    -------
    SeedPaperConfig

    Raises
    ------
    ValueError
        On an unknown key or a bad value; the message names the key.
    """
    config = _build(SeedPaperConfig, raw or {}, "")
    _check(config)
    return config


def load_config(path: str | Path) -> SeedPaperConfig:
    """Read and validate a YAML config with a safe loader."""
    with open(path, encoding="utf-8") as handle:
        return config_from_dict(yaml.safe_load(handle))


def load_frame(data: DataConfig) -> pd.DataFrame:
    """Load the bundled daily OHLC frame with the configured columns and dates.

    Returns
    -------
    DataFrame of shape (n_days, n_columns)
        The feature and target columns (float), rows with a missing value dropped.
    """
    if data.dataset == "sp500":
        from arch.data import sp500 as source
    else:
        from arch.data import nasdaq as source
    frame = source.load()
    frame.index = pd.DatetimeIndex(frame.index).as_unit("ns")
    columns = list(dict.fromkeys([*data.features, data.target]))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"config key 'data.features'/'data.target': columns {missing} are not in "
            f"dataset {data.dataset!r}; available: {list(frame.columns)}"
        )
    frame = frame.loc[data.start : data.end, columns].dropna()
    return frame.astype(float)


class SeedPaperLSTM(nnx.Module):
    """Stacked LSTM with dropout and a linear head on the last hidden state.

    Parameters
    ----------
    n_features : int
        Inputs per time step.
    hidden : int
        Units per LSTM layer.
    layers : int
        Number of stacked LSTM layers.
    dropout : float
        Dropout rate after each LSTM layer (training mode only).
    rngs : nnx.Rngs
        Initialisation and dropout randomness.
    """

    def __init__(
        self,
        n_features: int,
        hidden: int,
        layers: int,
        dropout: float,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        sizes = [n_features] + [hidden] * (layers - 1)
        self.lstms = nnx.List(
            [nnx.RNN(nnx.OptimizedLSTMCell(n, hidden, rngs=rngs)) for n in sizes]
        )
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.head = nnx.Linear(hidden, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Map sequences of shape (batch, window, n_features) to (batch,) outputs."""
        for lstm in self.lstms:
            x = self.dropout(lstm(x))
        return self.head(x[:, -1, :])[:, 0]


@nnx.jit
def _train_step(
    model: SeedPaperLSTM, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array
) -> jax.Array:
    def loss_fn(m: SeedPaperLSTM) -> jax.Array:
        return jnp.mean((m(x) - y) ** 2)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def _predict(model: SeedPaperLSTM, x: jax.Array) -> jax.Array:
    return model(x)


def _windows(
    values: np.ndarray, targets: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stack sample i = (values[i - window : i], targets[i]) for i >= window.

    Returns
    -------
    x : ndarray of shape (n_rows - window, window, n_features)
    y : ndarray of shape (n_rows - window,)
    """
    x = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)[:-1]
    return np.ascontiguousarray(x.transpose(0, 2, 1)), targets[window:]


def price_metrics(
    actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray
) -> dict[str, float | None]:
    """Score next-day price forecasts in price units.

    Parameters
    ----------
    actual, predicted, previous : ndarray of shape (n,)
        Realised next-day price, its forecast, and today's price.

    Returns
    -------
    dict
        ``rmse``, ``mae``, ``mape`` (percent), ``r2`` (of price levels),
        ``r2_vs_naive`` (``1 - SSE / SSE_naive``: skill over "tomorrow equals
        today"), ``directional_accuracy`` (share of days where the forecast change
        has the sign of the realised change, over days with a nonzero forecast
        change; None when there are none, as for the naive forecast).
    """
    error = actual - predicted
    sse = float(error @ error)
    naive_sse = float((actual - previous) @ (actual - previous))
    moves = predicted - previous
    called = moves != 0.0
    direction = np.sign(moves[called]) == np.sign(actual[called] - previous[called])
    return {
        "rmse": math.sqrt(sse / len(actual)),
        "mae": float(np.mean(np.abs(error))),
        "mape": float(100.0 * np.mean(np.abs(error / actual))),
        "r2": 1.0 - sse / float(((actual - actual.mean()) ** 2).sum()),
        "r2_vs_naive": 1.0 - sse / naive_sse if naive_sse > 0 else None,
        "directional_accuracy": float(direction.mean()) if called.any() else None,
    }


@functools.cache
def _adam(lr: float) -> optax.GradientTransformation:
    """Adam, one instance per learning rate.

    The transformation is a static part of the jitted train step, so reusing the
    instance lets later runs hit the compilation cache instead of recompiling.
    """
    return optax.adam(lr)


def _train(
    model: SeedPaperLSTM,
    x: np.ndarray,
    y: np.ndarray,
    train: TrainConfig,
    on_epoch: EpochCallback | None = None,
    fit_date: pd.Timestamp | None = None,
) -> list[float]:
    """Fit ``model`` in place with Adam; return the mean loss of each epoch.

    Each epoch shuffles the samples and runs ``len(x) // batch_size`` full batches;
    the few samples left over differ from epoch to epoch. One batch shape means one
    compilation of the train step. ``on_epoch`` gets an `EpochEnd` (no validation
    loss; ``fit_date`` the last training date) after each epoch.
    """
    optimizer = nnx.Optimizer(model, _adam(train.lr), wrt=nnx.Param)
    rng = np.random.default_rng(train.seed)
    batch_size = min(train.batch_size, len(x))
    n_batches = len(x) // batch_size
    model.train()
    history = []
    for epoch in range(1, train.epochs + 1):
        order = rng.permutation(len(x))[: n_batches * batch_size]
        losses = [
            _train_step(model, optimizer, jnp.asarray(x[batch]), jnp.asarray(y[batch]))
            for batch in order.reshape(n_batches, batch_size)
        ]
        history.append(float(np.mean(jax.device_get(losses))))
        if on_epoch is not None:
            on_epoch(EpochEnd(epoch, train.epochs, history[-1], fit_date=fit_date))
    model.eval()
    return history


def run_on_frame(
    frame: pd.DataFrame,
    config: SeedPaperConfig,
    *,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Run the replication on a price frame (computation only, no I/O).

    Parameters
    ----------
    frame : DataFrame of shape (n_days, n_columns)
        Daily prices with the configured feature and target columns, oldest first.
    config : SeedPaperConfig
    on_epoch : callable, optional
        Called with a `forecasting.train.EpochEnd` after each training epoch.

    Returns
    -------
    dict
        See `run_seed_paper`.
    """
    started = time.perf_counter()
    features, target = list(config.data.features), config.data.target
    n_rows = len(frame)
    n_train_rows = int(n_rows * config.train_fraction)
    if n_train_rows <= config.window or n_rows - n_train_rows < 2:
        raise ValueError(
            f"{n_rows} rows are too few for window={config.window} and "
            f"train_fraction={config.train_fraction}; widen data.start/data.end"
        )
    train_rows = frame.iloc[:n_train_rows]
    # Fitted on training rows only: test prices must not shape the scaling.
    x_scaler = MinMaxScaler().fit(train_rows[features].to_numpy())
    y_scaler = MinMaxScaler().fit(train_rows[[target]].to_numpy())
    scaled = x_scaler.transform(frame[features].to_numpy())
    prices = frame[target].to_numpy()
    scaled_target = y_scaler.transform(prices[:, None])[:, 0]
    x, y = _windows(scaled, scaled_target, config.window)
    x, y = x.astype(np.float32), y.astype(np.float32)  # JAX computes in float32
    target_rows = np.arange(config.window, n_rows)
    is_train = target_rows < n_train_rows

    jax_seed = config.train.seed
    model = SeedPaperLSTM(
        len(features),
        config.model.hidden,
        config.model.layers,
        config.model.dropout,
        rngs=nnx.Rngs(params=jax_seed, dropout=jax_seed + 1),
    )
    history = _train(
        model,
        x[is_train],
        y[is_train],
        config.train,
        on_epoch,
        fit_date=frame.index[n_train_rows - 1],
    )
    fit_seconds = time.perf_counter() - started

    scaled_pred = np.asarray(_predict(model, jnp.asarray(x)), dtype=float)
    predicted = y_scaler.inverse_transform(scaled_pred[:, None])[:, 0]
    actual, previous = prices[target_rows], prices[target_rows - 1]

    def scores(part: np.ndarray) -> dict[str, dict[str, float | None]]:
        return {
            "lstm": price_metrics(actual[part], predicted[part], previous[part]),
            "naive": price_metrics(actual[part], previous[part], previous[part]),
        }

    dates = frame.index
    return {
        "name": config.name,
        "config": dataclasses.asdict(config),
        "data": {
            "dataset": config.data.dataset,
            "start": f"{dates[0]:%Y-%m-%d}",
            "end": f"{dates[-1]:%Y-%m-%d}",
            "n_rows": n_rows,
        },
        "split": {
            "train_start": f"{dates[0]:%Y-%m-%d}",
            "train_end": f"{dates[n_train_rows - 1]:%Y-%m-%d}",
            "test_start": f"{dates[n_train_rows]:%Y-%m-%d}",
            "test_end": f"{dates[-1]:%Y-%m-%d}",
            "n_train_rows": n_train_rows,
            "n_train_samples": int(is_train.sum()),
            "n_test_samples": int((~is_train).sum()),
        },
        "scaler": {
            "features": features,
            "data_min": x_scaler.data_min_.tolist(),
            "data_max": x_scaler.data_max_.tolist(),
            "target_min": float(y_scaler.data_min_[0]),
            "target_max": float(y_scaler.data_max_[0]),
        },
        "metrics": scores(~is_train),
        # In-sample scores tell under-fitting apart from failure to extrapolate.
        "metrics_train": scores(is_train),
        "test_up_fraction": float(np.mean(actual[~is_train] > previous[~is_train])),
        "test_share_above_train_max": float(
            np.mean(actual[~is_train] > y_scaler.data_max_[0])
        ),
        "train_loss": history,
        "timing": {
            "fit_s": fit_seconds,
            "total_s": time.perf_counter() - started,
            "backend": jax.default_backend(),
        },
    }


def run_seed_paper(
    config: Mapping[str, Any] | SeedPaperConfig | None,
    *,
    on_epoch: EpochCallback | None = None,
) -> dict:
    """Run the seed-paper replication end to end.

    Parameters
    ----------
    config : mapping, SeedPaperConfig or None
        Raw config (validated here) or a built one; None uses the defaults, which
        equal experiments/seed_paper.yaml.
    on_epoch : callable, optional
        Called with a `forecasting.train.EpochEnd` after each training epoch, to
        show progress.

    Returns
    -------
    dict
        JSON-serialisable: ``name``, ``config``, ``data``, ``split`` (train/test
        dates and sizes), ``scaler`` (fitted minima and maxima, training rows
        only), ``metrics`` (``lstm`` and ``naive``, each with ``rmse, mae, mape,
        r2, r2_vs_naive, directional_accuracy`` on the test part in price units),
        ``metrics_train`` (the same on the training part, in-sample),
        ``test_up_fraction``, ``test_share_above_train_max``, ``train_loss``
        (per epoch) and ``timing``.
    """
    if not isinstance(config, SeedPaperConfig):
        config = config_from_dict(config)
    return run_on_frame(load_frame(config.data), config, on_epoch=on_epoch)


def _write_json(result: dict, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    os.replace(tmp, path)


def _format(result: dict) -> str:
    """Render the metrics table printed by the CLI."""
    split = result["split"]
    lines = [
        f"{result['name']}: train {split['train_start']}..{split['train_end']} "
        f"({split['n_train_samples']} samples), test {split['test_start']}.."
        f"{split['test_end']} ({split['n_test_samples']} samples)",
        f"{'':8}{'RMSE':>10}{'MAE':>10}{'MAPE%':>8}{'R2':>8}{'R2/naive':>10}{'DA':>7}",
    ]
    for model, m in result["metrics"].items():
        da = (
            "-"
            if m["directional_accuracy"] is None
            else f"{m['directional_accuracy']:.3f}"
        )
        r2n = "-" if m["r2_vs_naive"] is None else f"{m['r2_vs_naive']:.4f}"
        lines.append(
            f"{model:8}{m['rmse']:10.3f}{m['mae']:10.3f}{m['mape']:8.3f}"
            f"{m['r2']:8.4f}{r2n:>10}{da:>7}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the replication, print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(
        prog="python experiments/seed_paper.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", type=Path, help="YAML config (default: built-in)")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    parser.add_argument(
        "--quiet", action="store_true", help="no progress output on stderr"
    )
    args = parser.parse_args(argv)
    claim_cpu_cores()  # trains: one JAX CPU device per core, before JAX starts
    # The progress display of the portfolio commands, imported only here: the
    # library itself reports through on_epoch and prints nothing.
    from foliocast.portfolio.progress import Reporter

    try:
        config = load_config(args.config) if args.config else config_from_dict(None)
        with Reporter(quiet=args.quiet) as reporter:
            result = run_seed_paper(config, on_epoch=reporter.epoch)
    except (ValueError, OSError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(_format(result))
    if args.out:
        _write_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
