"""Strategy names: what a config lists, what results are called, which one is main.

Each name is defined here once; the config's list of allowed strategies, the strategy
builders, scoring, sweeps and the report's record use these constants. The module
imports nothing, so the config can check names without loading pandas.

The model strategies (`LSTM_MVO`, `LSTM_BL`) run the configured forecaster; their
result names say which one ran (`model_strategy_name`: ``ewma_mvo`` with the EWMA
forecaster). `INDEX` is the benchmark column of the returns, never traded;
`EQUAL_WEIGHT` is 1/N, the reference every significance test compares with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class _Configured(Protocol):
    """A run config (`portfolio.config.RunConfig`): here only its forecaster."""

    forecaster: Any


__all__ = [
    "LSTM_MVO",
    "LSTM_BL",
    "BASELINE_MVO",
    "MIN_VARIANCE",
    "RISK_PARITY",
    "HRP",
    "EQUAL_WEIGHT",
    "BUY_AND_HOLD",
    "INDEX",
    "STRATEGY_NAMES",
    "MODEL_STRATEGIES",
    "model_strategy_name",
    "main_strategy",
]

LSTM_MVO = "lstm_mvo"
LSTM_BL = "lstm_bl"
BASELINE_MVO = "baseline_mvo"
MIN_VARIANCE = "min_variance"
RISK_PARITY = "risk_parity"
HRP = "hrp"
EQUAL_WEIGHT = "equal_weight"
BUY_AND_HOLD = "buy_and_hold"
INDEX = "index"

STRATEGY_NAMES = (
    LSTM_MVO,
    LSTM_BL,
    BASELINE_MVO,
    MIN_VARIANCE,
    RISK_PARITY,
    HRP,
    EQUAL_WEIGHT,
    BUY_AND_HOLD,
    INDEX,
)
"""Every strategy a config may list, in the order the documentation gives them."""

MODEL_STRATEGIES = (LSTM_MVO, LSTM_BL)
"""The strategies that need the configured forecaster."""


def model_strategy_name(config: _Configured, strategy: str = LSTM_MVO) -> str:
    """Result name of a model strategy: honest about the forecaster it used.

    Parameters
    ----------
    config : RunConfig
        The run's config; its ``forecaster.kind`` names the forecaster.
    strategy : str, default "lstm_mvo"
        A configured strategy name.

    Returns
    -------
    str
        ``lstm_mvo`` and ``lstm_bl`` keep their names with the LSTM and become
        ``{kind}_mvo`` and ``{kind}_bl`` with another ``forecaster.kind``; other
        names are returned unchanged.
    """
    kind = config.forecaster.kind
    return strategy.replace("lstm", kind, 1)


def main_strategy(strategies: Sequence[str], forecaster: str | None = None) -> str:
    """Return the strategy a run is judged by: the model's, if it ran.

    Parameters
    ----------
    strategies : sequence of str
        Strategy names in run order (configured names, or result names).
    forecaster : str, optional
        ``forecaster.kind`` of the run, to recognise the model strategy under its
        result name (``{kind}_mvo``, `model_strategy_name`).

    Returns
    -------
    str
        The model strategy if present, else the first strategy that is not the
        benchmark `INDEX` (the index only when it is all there is).

    Raises
    ------
    ValueError
        If ``strategies`` is empty.
    """
    traded = [name for name in strategies if name != INDEX]
    for model in (LSTM_MVO, f"{forecaster}_mvo" if forecaster else None):
        if model in traded:
            return model
    if traded or strategies:
        return (traded or list(strategies))[0]
    raise ValueError("the run has no strategy returns; is returns.csv empty?")
