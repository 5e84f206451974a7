"""Backtest checkpoints, so a long run that is killed resumes where it left off.

The engine saves its state just before each retrain (after the first): everything
simulated so far, the forecasts made, the strategies' own state and each forecaster's
fitted state. Started again with the same checkpoint folder, the run reloads that
state and continues from the retrain, ending with the same results as an
uninterrupted run. Nothing is pickled: arrays go to ``.npz``, the rest to JSON.

Every checkpoint ends with a manifest of the sha256 of each of its files, and the one
before it is kept as ``previous``. A checkpoint whose files are missing, truncated,
corrupted or edited by hand fails the manifest: it is named in a warning and never
used; the run falls back to the previous checkpoint, or starts over, and never
deletes the progress it could not read (the next checkpoint replaces it).

Forecasters that carry state from one fit to the next (the LSTM warm-starts from its
previous weights) implement ``save_state(folder)`` and ``load_state(folder)``;
stateless ones need nothing. Strategies with state implement ``get_state() -> dict``
and ``set_state(dict)``.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foliocast.forecasting.checkpoint import file_sha256
from foliocast.forecasting.forecast import Forecast

__all__ = [
    "EngineState",
    "CheckpointWarning",
    "save_state",
    "load_state",
    "STATE_FILE",
]

STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"
# Newest first: the checkpoint a resume tries, then the one it falls back to.
GENERATIONS = ("current", "previous")


class CheckpointWarning(UserWarning):
    """A resume checkpoint could not be trusted and was not used."""


@dataclass
class EngineState:
    """Where the walk-forward loop stands before rebalance number ``next_rebalance``.

    Attributes
    ----------
    next_rebalance : int
        Index into the schedule of the next rebalance to process.
    held : ndarray of shape (n_strategies, n_assets)
        Drifted weights of each strategy going into that rebalance.
    gross, costs : ndarray of shape (n_days, n_strategies)
        Daily gross returns and rebalance costs simulated so far.
    weight_rows, trade_rows, rebalance_rows : list of tuple
        Result rows recorded so far.
    fit_dates : list of Timestamp
        Dates the forecasters were fitted.
    history : list of (str, Forecast)
        Forecasts made so far, by forecaster name.
    strategy_states : dict
        ``get_state()`` of each strategy that has one, by name.
    fingerprint : str
        Identifies the inputs; a checkpoint from other inputs is ignored.
    """

    next_rebalance: int
    held: np.ndarray
    gross: np.ndarray
    costs: np.ndarray
    weight_rows: list[tuple]
    trade_rows: list[tuple]
    rebalance_rows: list[tuple]
    fit_dates: list[pd.Timestamp]
    history: list[tuple[str, Forecast]]
    strategy_states: dict[str, Any]
    fingerprint: str


def _encode_rows(rows: list[tuple]) -> list[list]:
    return [
        [v.isoformat() if isinstance(v, pd.Timestamp) else _plain(v) for v in row]
        for row in rows
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode_rows(rows: list[list]) -> list[tuple]:
    # The first field of every row is its date.
    return [(pd.Timestamp(row[0]), *row[1:]) for row in rows]


def _forecast_arrays(history: list[tuple[str, Forecast]]) -> tuple[dict, list[dict]]:
    arrays, meta = {}, []
    for i, (name, forecast) in enumerate(history):
        arrays[f"{i}_mu"] = forecast.mu.to_numpy()
        arrays[f"{i}_cov"] = forecast.cov.to_numpy()
        entry = {
            "name": name,
            "as_of": forecast.as_of.isoformat(),
            "horizon": forecast.horizon,
            "tickers": forecast.tickers,
            "factors": None,
        }
        if forecast.factors is not None:
            arrays[f"{i}_factors"] = forecast.factors.to_numpy()
            arrays[f"{i}_idio"] = forecast.idio.to_numpy()
            entry["factors"] = [str(c) for c in forecast.factors.columns]
        if forecast.mu_std is not None:
            arrays[f"{i}_mu_std"] = forecast.mu_std.to_numpy()
            entry["mu_std"] = True
        meta.append(entry)
    return arrays, meta


def _forecasts_from(arrays: Any, meta: list[dict]) -> list[tuple[str, Forecast]]:
    history = []
    for i, entry in enumerate(meta):
        tickers = pd.Index(entry["tickers"])
        mu = pd.Series(arrays[f"{i}_mu"], index=tickers, name="mu")
        cov = pd.DataFrame(arrays[f"{i}_cov"], index=tickers, columns=tickers)
        factors = idio = None
        if entry["factors"] is not None:
            factors = pd.DataFrame(
                arrays[f"{i}_factors"], index=tickers, columns=entry["factors"]
            )
            idio = pd.Series(arrays[f"{i}_idio"], index=tickers)
        # Checkpoints written before forecasts had a standard error lack the key.
        mu_std = None
        if entry.get("mu_std"):
            mu_std = pd.Series(arrays[f"{i}_mu_std"], index=tickers)
        forecast = Forecast(
            pd.Timestamp(entry["as_of"]),
            entry["horizon"],
            mu,
            cov,
            factors,
            idio,
            mu_std,
        )
        history.append((entry["name"], forecast))
    return history


def save_state(folder: Path, state: EngineState, forecasters: dict[str, Any]) -> None:
    """Write a checkpoint into ``folder``, replacing the previous one atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".writing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    forecast_arrays, forecast_meta = _forecast_arrays(state.history)
    np.savez(
        staging / "arrays.npz", held=state.held, gross=state.gross, costs=state.costs
    )
    np.savez(staging / "forecasts.npz", **forecast_arrays)
    for name, forecaster in forecasters.items():
        if hasattr(forecaster, "save_state"):
            forecaster.save_state(staging / f"forecaster-{name}")
    document = {
        "next_rebalance": state.next_rebalance,
        "weight_rows": _encode_rows(state.weight_rows),
        "trade_rows": _encode_rows(state.trade_rows),
        "rebalance_rows": _encode_rows(state.rebalance_rows),
        "fit_dates": [d.isoformat() for d in state.fit_dates],
        "forecasts": forecast_meta,
        "strategy_states": state.strategy_states,
        "fingerprint": state.fingerprint,
    }
    (staging / STATE_FILE).write_text(json.dumps(document))
    # The manifest is written last: a checkpoint without it is incomplete.
    _write_manifest(staging)
    current, previous = folder / "current", folder / "previous"
    retired = folder / f".retired-{os.getpid()}"
    # Each rename leaves a usable checkpoint behind should the process die here.
    if previous.exists() and current.exists():
        previous.rename(retired)
    if current.exists():
        current.rename(previous)
    staging.rename(current)
    shutil.rmtree(retired, ignore_errors=True)


def _files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_FILE
    )


def _write_manifest(folder: Path) -> None:
    digests = {p.relative_to(folder).as_posix(): file_sha256(p) for p in _files(folder)}
    (folder / MANIFEST_FILE).write_text(json.dumps({"sha256": digests}, indent=1))


def _manifest_problem(folder: Path) -> str | None:
    """What is wrong with the checkpoint in ``folder`` (None when it is intact)."""
    try:
        document = json.loads((folder / MANIFEST_FILE).read_text())
        expected = document["sha256"]
        if not isinstance(expected, dict):
            raise TypeError
    except FileNotFoundError:
        return f"{MANIFEST_FILE} is missing (the checkpoint is incomplete)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{MANIFEST_FILE} is unreadable"
    found = {p.relative_to(folder).as_posix(): p for p in _files(folder)}
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            return f"{name} is missing"
        if name not in expected:
            return f"{name} was added after the checkpoint was written"
        if file_sha256(found[name]) != expected[name]:
            return f"{name} is truncated, corrupted or was edited"
    return None


def load_state(
    folder: Path, forecasters: dict[str, Any], fingerprint: str
) -> EngineState | None:
    """Read the newest intact checkpoint in ``folder`` made from these inputs.

    A checkpoint that fails its manifest is skipped with a `CheckpointWarning`
    naming the file; the previous one is tried next.

    Returns
    -------
    EngineState or None
        None when no intact checkpoint for these inputs exists: start over.
    """
    for generation in GENERATIONS:
        path = Path(folder) / generation
        if not path.is_dir():
            continue
        problem = _manifest_problem(path)
        if problem is None:
            document = json.loads((path / STATE_FILE).read_text())
            if document.get("fingerprint") != fingerprint:
                return None  # made from other inputs: nothing here applies
            try:
                return _state_from(path, document, forecasters, fingerprint)
            except Exception as err:  # noqa: BLE001 - intact files, unexpected content
                problem = f"it could not be read ({type(err).__name__}: {err})"
        warnings.warn(
            f"resume checkpoint {path} is not used: {problem}",
            CheckpointWarning,
            stacklevel=2,
        )
    return None


def _state_from(
    current: Path, document: dict, forecasters: dict[str, Any], fingerprint: str
) -> EngineState:
    with np.load(current / "arrays.npz") as arrays:
        held, gross, costs = arrays["held"], arrays["gross"], arrays["costs"]
    with np.load(current / "forecasts.npz") as arrays:
        history = _forecasts_from(arrays, document["forecasts"])
    for name, forecaster in forecasters.items():
        if hasattr(forecaster, "load_state"):
            forecaster.load_state(current / f"forecaster-{name}")
    return EngineState(
        next_rebalance=document["next_rebalance"],
        held=held,
        gross=gross,
        costs=costs,
        weight_rows=_decode_rows(document["weight_rows"]),
        trade_rows=_decode_rows(document["trade_rows"]),
        rebalance_rows=_decode_rows(document["rebalance_rows"]),
        fit_dates=[pd.Timestamp(d) for d in document["fit_dates"]],
        history=history,
        strategy_states=document["strategy_states"],
        fingerprint=fingerprint,
    )
