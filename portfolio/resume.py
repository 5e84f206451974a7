"""Backtest checkpoints, so a long run that is killed resumes where it left off.

The engine saves its state just before each retrain (after the first): everything
simulated so far, the forecasts made, the strategies' own state and each forecaster's
fitted state. Started again with the same checkpoint folder, the run reloads that
state and continues from the retrain, ending with the same results as an
uninterrupted run. Nothing is pickled: arrays go to ``.npz``, the rest to JSON.

Forecasters that carry state from one fit to the next (the LSTM warm-starts from its
previous weights) implement ``save_state(folder)`` and ``load_state(folder)``;
stateless ones need nothing. Strategies with state implement ``get_state() -> dict``
and ``set_state(dict)``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.forecast import Forecast

__all__ = ["EngineState", "save_state", "load_state", "STATE_FILE"]

STATE_FILE = "state.json"


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
        forecast = Forecast(
            pd.Timestamp(entry["as_of"]), entry["horizon"], mu, cov, factors, idio
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
    # The JSON is written last: a checkpoint without it is incomplete and ignored.
    (staging / STATE_FILE).write_text(json.dumps(document))
    current = folder / "current"
    previous = folder / f".previous-{os.getpid()}"
    if current.exists():
        current.rename(previous)
    staging.rename(current)
    shutil.rmtree(previous, ignore_errors=True)


def load_state(
    folder: Path, forecasters: dict[str, Any], fingerprint: str
) -> EngineState | None:
    """Read the checkpoint in ``folder``; None if there is none for these inputs."""
    current = Path(folder) / "current"
    if not (current / STATE_FILE).is_file():
        return None
    document = json.loads((current / STATE_FILE).read_text())
    if document["fingerprint"] != fingerprint:
        return None
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
