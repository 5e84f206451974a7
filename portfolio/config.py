"""Run configuration: YAML read safely, validated, mapped onto frozen dataclasses.

Unknown keys, wrong types and bad values raise `ConfigError` naming the key path
(e.g. ``optimizer.constraints.max_weight``), so a typo never passes silently.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "ConfigError",
    "DataConfig",
    "BacktestConfig",
    "ModelConfig",
    "TrainConfig",
    "ForecasterConfig",
    "OptimizerConfig",
    "RunConfig",
    "STRATEGIES",
    "load_config",
    "read_yaml",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
]

STRATEGIES = (
    "lstm_mvo",
    "baseline_mvo",
    "min_variance",
    "equal_weight",
    "buy_and_hold",
    "index",
)


class ConfigError(ValueError):
    """A configuration value that is missing, unknown or invalid."""


@dataclass(frozen=True)
class DataConfig:
    """Where prices come from: a bundled dataset or a user file."""

    dataset: str | None = "sp500"
    path: str | None = None
    risk_free: str | float = "fama_french"
    fill_limit: int = 5
    index: str | None = None  # bundled dataset used as the benchmark index

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        if (self.dataset is None) == (self.path is None):
            raise ConfigError("data: give exactly one of 'dataset' or 'path'")
        if isinstance(self.risk_free, str) and self.risk_free != "fama_french":
            raise ConfigError(
                "data.risk_free: use 'fama_french' or an annual rate such as 0.02"
            )
        _check_range("data.fill_limit", self.fill_limit, 0, 63)


@dataclass(frozen=True)
class BacktestConfig:
    """Dates, rebalancing, costs and failure policy of the walk-forward run."""

    start: str | None = "1995-01-01"
    end: str | None = None
    rebalance: Literal["W", "M", "Q"] = "M"
    cost_bps: float = 10.0
    cash: bool = False
    min_history_days: int = 252
    on_failure: Literal["hold", "raise"] = "hold"

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        _check_range("backtest.cost_bps", self.cost_bps, 0, 1000)
        _check_range("backtest.min_history_days", self.min_history_days, 2, 10_000)
        for key in ("start", "end"):
            value = getattr(self, key)
            if value is not None:
                _check_date(f"backtest.{key}", value)
        if self.start and self.end and _timestamp(self.start) >= _timestamp(self.end):
            raise ConfigError(
                f"backtest.end: {self.end} is not after backtest.start {self.start}"
            )


@dataclass(frozen=True)
class ModelConfig:
    """LSTM architecture."""

    hidden: int = 32
    layers: int = 1
    factors: int = 5
    dropout: float = 0.1
    seq_len: int = 63

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        _check_range("forecaster.model.hidden", self.hidden, 1, 4096)
        _check_range("forecaster.model.layers", self.layers, 1, 8)
        _check_range("forecaster.model.factors", self.factors, 1, 64)
        _check_range("forecaster.model.dropout", self.dropout, 0, 0.9)
        _check_range("forecaster.model.seq_len", self.seq_len, 2, 1000)


@dataclass(frozen=True)
class TrainConfig:
    """LSTM training."""

    max_epochs: int = 30
    batch_size: int = 256
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    patience: int = 5
    seed: int = 0
    loss: Literal["nll", "mse"] = "nll"

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        _check_range("forecaster.train.max_epochs", self.max_epochs, 1, 10_000)
        _check_range("forecaster.train.batch_size", self.batch_size, 1, 1_000_000)
        _check_range("forecaster.train.lr", self.lr, 1e-8, 1.0)
        _check_range("forecaster.train.weight_decay", self.weight_decay, 0, 1.0)
        _check_range("forecaster.train.patience", self.patience, 1, 10_000)


@dataclass(frozen=True)
class ForecasterConfig:
    """The forecaster behind `lstm_mvo` (baselines use their own fixed estimators)."""

    kind: Literal["lstm", "historical", "ewma", "ledoit_wolf", "garch"] = "lstm"
    horizon: int = 21
    retrain_months: int = 12
    window: Literal["expanding", "rolling"] = "expanding"
    lookback_days: int = 1260
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        _check_range("forecaster.horizon", self.horizon, 1, 252)
        _check_range("forecaster.retrain_months", self.retrain_months, 1, 600)
        _check_range("forecaster.lookback_days", self.lookback_days, 21, 100_000)
        self.model.validate()
        self.train.validate()


@dataclass(frozen=True)
class OptimizerConfig:
    """Markowitz objective, risk aversion, cost penalty and constraints."""

    objective: Literal[
        "utility", "min_variance", "max_sharpe", "target_return", "target_volatility"
    ] = "utility"
    risk_aversion: float = 5.0
    cost_penalty_bps: float = 10.0
    target: float | None = None  # horizon return or volatility for target_* objectives
    constraints: dict[str, Any] = field(
        default_factory=lambda: {"long_only": True, "max_weight": 0.25}
    )

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        _check_range("optimizer.risk_aversion", self.risk_aversion, 1e-6, 1e6)
        _check_range("optimizer.cost_penalty_bps", self.cost_penalty_bps, 0, 10_000)
        if self.objective == "max_sharpe" and self.cost_penalty_bps > 0:
            # The Sharpe ratio is scale-free; a cost term cannot join its transform.
            raise ConfigError(
                "optimizer.cost_penalty_bps: must be 0 with objective 'max_sharpe' "
                "(use a turnover limit in constraints instead)"
            )
        if self.objective.startswith("target_") and self.target is None:
            raise ConfigError(f"optimizer.target: required by {self.objective!r}")


@dataclass(frozen=True)
class RunConfig:
    """A whole backtest run."""

    name: str = "lstm_mvo_sp500"
    data: DataConfig = field(default_factory=DataConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    forecaster: ForecasterConfig = field(default_factory=ForecasterConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    strategies: tuple[str, ...] = (
        "lstm_mvo",
        "baseline_mvo",
        "min_variance",
        "equal_weight",
        "buy_and_hold",
    )

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        if not self.name or "/" in self.name:
            raise ConfigError("name: must be a non-empty name without '/'")
        for part in (self.data, self.backtest, self.forecaster, self.optimizer):
            part.validate()
        if not self.strategies:
            raise ConfigError("strategies: list at least one strategy")
        for position, strategy in enumerate(self.strategies):
            if strategy not in STRATEGIES:
                raise ConfigError(
                    f"strategies[{position}]: unknown strategy {strategy!r}; choose "
                    f"from {', '.join(STRATEGIES)}"
                )
        if len(set(self.strategies)) != len(self.strategies):
            raise ConfigError("strategies: a strategy is listed twice")


def _check_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{key}: {value!r} is outside [{low}, {high}]")


def _timestamp(value: str):
    import pandas as pd

    return pd.Timestamp(value)


def _check_date(key: str, value: str) -> None:
    import pandas as pd

    try:
        pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{key}: {value!r} is not a date (use YYYY-MM-DD)") from None


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Check ``value`` against the annotation ``kind``; return it converted."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(key, value, option)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(
            errors[0] if len(errors) == 1 else f"{key}: {value!r} is invalid"
        )
    if origin is Literal:
        allowed = typing.get_args(kind)
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise ConfigError(f"{key}: {value!r} is not one of {choices}")
        return value
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(kind)[:1]
        return tuple(_coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if kind is Any:
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        if not isinstance(value, str) and key.endswith(("start", "end")):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {kind!r} at {key}")


def _build(cls: type, values: Any, prefix: str) -> Any:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        where = prefix or "config"
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            path = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(
                f"{path}: unknown key; allowed here: {', '.join(sorted(names))}"
            )
    kwargs = {
        key: _coerce(f"{prefix}.{key}" if prefix else key, value, hints[key])
        for key, value in values.items()
    }
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any] | None) -> RunConfig:
    """Validate a plain mapping (e.g. parsed YAML) and build a `RunConfig`."""
    # YAML reads 1995-01-01 as a date object; keep dates as ISO strings.
    config = _build(RunConfig, _dates_to_text(values or {}), "")
    config.validate()
    return config


def _dates_to_text(value: Any) -> Any:
    import datetime

    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file with the safe loader; `ConfigError` names the file and line."""
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None


def load_config(path: str | Path | None) -> RunConfig:
    """Read a YAML config with the safe loader; None gives the built-in default."""
    if path is None:
        return config_from_dict({})
    path = Path(path)
    values = read_yaml(path, "config file")
    try:
        return config_from_dict(values)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Return the resolved config as plain data (lists, dicts, numbers, text)."""
    values = dataclasses.asdict(config)
    values["strategies"] = list(config.strategies)
    return values


def dump_config(config: RunConfig) -> str:
    """Return the resolved config as YAML text."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
