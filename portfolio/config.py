"""Run configuration: YAML read safely, validated, mapped onto frozen dataclasses.

Unknown keys, wrong types and bad values raise `ConfigError` naming the key path
(e.g. ``optimizer.constraints.max_weight``), so a typo never passes silently. The
YAML reader (`portfolio.yaml_reader`) is bounded: files over `MAX_CONFIG_BYTES`,
alias-heavy documents, recursive anchors and duplicate keys are refused before any
value is used.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from foliocast.data.isodate import parse_iso_day
from foliocast.data.units import TRADING_DAYS_PER_YEAR
from foliocast.forecasting.settings import ModelSettings, SettingsError, TrainSettings
from foliocast.portfolio import names
from foliocast.portfolio.errors import ConfigError
from foliocast.portfolio.names import STRATEGY_NAMES
from foliocast.portfolio.yaml_reader import MAX_CONFIG_BYTES, read_yaml

if TYPE_CHECKING:
    from foliocast.portfolio.optimizer.constraints import Constraints

__all__ = [
    "ConfigError",
    "DataConfig",
    "BacktestConfig",
    "ForecasterConfig",
    "ViewsConfig",
    "BenchmarkFile",
    "OptimizerConfig",
    "RunConfig",
    "STRATEGIES",
    "load_config",
    "read_yaml",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "check_name",
    "MAX_CONFIG_BYTES",
    "MAX_NAME_LENGTH",
]

# Run names become folder names (runs/<name>); well below any file-system limit.
MAX_NAME_LENGTH = 100

STRATEGIES = STRATEGY_NAMES  # the strategies a config may list


@dataclass(frozen=True)
class DataConfig:
    """Where prices come from: a bundled dataset or a user file.

    Giving ``path`` alone clears the default ``dataset`` (``data: {path: x.csv}``).
    """

    dataset: str | None = "sp500"
    path: str | None = None
    risk_free: str | float = "fama_french"
    fill_limit: int = 5
    index: str | None = None  # bundled dataset used as the benchmark index
    # Quality warnings (data.quality): a one-day move beyond a factor of
    # max_daily_move (an unadjusted split?) and dates that are not daily.
    checks: bool = True
    max_daily_move: float = 3.5  # = data.quality.DEFAULT_MAX_DAILY_MOVE

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        if (self.dataset is None) == (self.path is None):
            raise ConfigError("data: give exactly one of 'dataset' or 'path'")
        if isinstance(self.risk_free, str) and self.risk_free != "fama_french":
            raise ConfigError(
                "data.risk_free: use 'fama_french' or an annual rate such as 0.02"
            )
        if not isinstance(self.risk_free, str):
            # A rate above 1 is most likely a percentage (2 meaning 2%).
            _check_range(
                "data.risk_free",
                self.risk_free,
                0,
                1,
                "an annual rate as a fraction, such as 0.02 for 2%",
            )
        _check_range("data.fill_limit", self.fill_limit, 0, 63)
        _check_range("data.max_daily_move", self.max_daily_move, 1.01, 1e9)


@dataclass(frozen=True)
class BacktestConfig:
    """Dates, rebalancing, costs and failure policy of the walk-forward run."""

    start: str | None = "1995-01-01"
    end: str | None = None
    rebalance: Literal["W", "M", "Q"] = "M"
    cost_bps: float = 10.0
    cash: bool = False
    min_history_days: int = TRADING_DAYS_PER_YEAR
    on_failure: Literal["hold", "raise"] = "hold"
    # First day of the held-out part: metrics.json and the report also score the
    # returns and forecasts from this date on alone (no choice was tuned on them).
    held_out_from: str | None = None

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        _check_range("backtest.cost_bps", self.cost_bps, 0, 1000)
        _check_range("backtest.min_history_days", self.min_history_days, 2, 10_000)
        for key in ("start", "end", "held_out_from"):
            value = getattr(self, key)
            if value is not None:
                _check_date(f"backtest.{key}", value)
        if self.start and self.end and _timestamp(self.start) >= _timestamp(self.end):
            raise ConfigError(
                f"backtest.end: {self.end} is not after backtest.start {self.start}"
            )
        self._check_held_out()

    def _check_held_out(self) -> None:
        """The held-out part must leave a development part before it and be run."""
        held = self.held_out_from
        if held is None:
            return
        if self.start and _timestamp(held) <= _timestamp(self.start):
            raise ConfigError(
                f"backtest.held_out_from: {held} is not after backtest.start "
                f"{self.start}; the part before it is the development period"
            )
        if self.end and _timestamp(held) >= _timestamp(self.end):
            raise ConfigError(
                f"backtest.held_out_from: {held} is not before backtest.end "
                f"{self.end}; hold out a part inside the backtest"
            )


@dataclass(frozen=True)
class ViewsConfig:
    """The confidence-weighted step of `lstm_bl` (`forecasting.posterior`).

    The model's mean is blended with a prior mean, the prior uncertain with
    covariance ``tau * cov``: ``historical`` is the Ledoit-Wolf baseline's historical
    mean, ``equilibrium`` the returns that make 1/N optimal for the model's
    covariance at ``optimizer.risk_aversion`` (no market capitalisations here).
    """

    prior: Literal["historical", "equilibrium"] = "historical"
    tau: float = 0.05

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        # tau scales the prior's covariance: zero would make the prior certain.
        if not 0 < self.tau <= 1:
            raise ConfigError(
                f"forecaster.views.tau: {self.tau!r} is outside (0, 1]; give the "
                "scale of the prior's uncertainty, such as 0.05"
            )


@dataclass(frozen=True)
class ForecasterConfig:
    """The forecaster behind `lstm_mvo` (baselines use their own fixed estimators)."""

    kind: Literal["lstm", "historical", "ewma", "ledoit_wolf", "garch"] = "lstm"
    horizon: int = 21
    retrain_months: int = 12
    window: Literal["expanding", "rolling"] = "expanding"
    lookback_days: int = 1260
    # The LSTM's own settings records: defaults and limits live in forecasting.
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    views: ViewsConfig = field(default_factory=ViewsConfig)

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        _check_range("forecaster.horizon", self.horizon, 1, TRADING_DAYS_PER_YEAR)
        _check_range("forecaster.retrain_months", self.retrain_months, 1, 600)
        _check_range("forecaster.lookback_days", self.lookback_days, 21, 100_000)
        self.views.validate()  # model and train checked themselves when built


@dataclass(frozen=True)
class BenchmarkFile:
    """Benchmark weights from a CSV file (format: `portfolio.backtest.benchmark`)."""

    path: str | None = None

    def validate(self) -> None:
        """Raise `ConfigError` unless a path is given (the file is read by the run)."""
        if self.path is None or not self.path.strip():
            raise ConfigError(
                "optimizer.benchmark.path: give the CSV file of benchmark weights "
                "(rows asset,weight), or write benchmark: equal_weight"
            )


@dataclass(frozen=True)
class OptimizerConfig:
    """Markowitz objective, risk aversion, cost penalty and constraints."""

    objective: Literal[
        "utility",
        "min_variance",
        "max_sharpe",
        "target_return",
        "target_volatility",
        "tracking_error",  # to the benchmark below
        "active_utility",  # utility on returns relative to the benchmark
    ] = "utility"
    risk_aversion: float = 5.0
    cost_penalty_bps: float = 10.0
    target: float | None = None  # horizon return or volatility for target_* objectives
    constraints: dict[str, Any] = field(
        default_factory=lambda: {"long_only": True, "max_weight": 0.25}
    )
    # What tracking_error, active_utility and the reported tracking error measure
    # against: 1/N of the investable assets, or weights from a file.
    benchmark: str | BenchmarkFile = "equal_weight"

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        if isinstance(self.benchmark, BenchmarkFile):
            self.benchmark.validate()
        elif self.benchmark != "equal_weight":
            raise ConfigError(
                f"optimizer.benchmark: {self.benchmark!r} is not a benchmark; write "
                "equal_weight (1/N) or {path: weights.csv} (rows asset,weight)"
            )
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
        if self.target is not None:
            _check_range("optimizer.target", self.target, -1, 10)
            if self.objective == "target_volatility" and self.target <= 0:
                raise ConfigError(
                    f"optimizer.target: a volatility target must be > 0, "
                    f"got {self.target!r}"
                )
        self.parsed_constraints()

    def parsed_constraints(self) -> Constraints:
        """The constraints as a `portfolio.constraints.Constraints`.

        Group bounds may leave ``asset_groups`` out: the run fills it from the
        dataset's asset classes, so an empty membership stands in for it here.

        Raises
        ------
        ConfigError
            Naming the key (``optimizer.constraints.max_weight``) of a bad value.
        """
        # Imported here: the constraints module loads numpy, and a config mistake
        # must answer before any numeric library loads.
        from foliocast.portfolio.optimizer.constraints import Constraints

        values = self.constraints
        allowed = [f.name for f in dataclasses.fields(Constraints)]
        for key in values:
            if key not in allowed:
                raise ConfigError(
                    f"optimizer.constraints.{key}: unknown key; allowed here: "
                    f"{', '.join(sorted(allowed))}"
                )
        if values.get("groups") and values.get("asset_groups") is None:
            values = {**values, "asset_groups": {}}
        try:
            return Constraints.from_dict(values)
        except (TypeError, ValueError) as err:
            text = str(err)
            if not text.startswith("Constraints."):
                text = f"Constraints: {text}"
            raise ConfigError(
                text.replace("Constraints.", "optimizer.constraints.").replace(
                    "Constraints", "optimizer.constraints"
                )
            ) from None


@dataclass(frozen=True)
class RunConfig:
    """A whole backtest run."""

    name: str = "lstm_mvo_sp500"
    data: DataConfig = field(default_factory=DataConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    forecaster: ForecasterConfig = field(default_factory=ForecasterConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    strategies: tuple[str, ...] = (
        names.LSTM_MVO,
        names.LSTM_BL,
        names.BASELINE_MVO,
        names.MIN_VARIANCE,
        names.RISK_PARITY,
        names.HRP,
        names.EQUAL_WEIGHT,
        names.BUY_AND_HOLD,
    )

    def validate(self) -> None:
        """Raise `ConfigError` naming the key of any bad value."""
        check_name("name", self.name)
        for part in (self.data, self.backtest, self.forecaster, self.optimizer):
            part.validate()
        groups = self.optimizer.constraints.get("groups")
        if groups and not self.optimizer.constraints.get("asset_groups"):
            if self.data.path is not None:
                raise ConfigError(
                    "optimizer.constraints.groups: a price file has no asset classes; "
                    "map every ticker to its group under "
                    "optimizer.constraints.asset_groups"
                )
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


def check_name(key: str, name: str) -> None:
    """Raise `ConfigError` unless ``name`` is a safe single folder name.

    Run and sweep names become folders (``runs/<name>``), so a name must not
    climb out of its parent, point at it (``.``, ``..``), hide itself (a leading
    dot is also how unfinished runs are marked) or carry characters a file
    system or terminal mangles.

    Parameters
    ----------
    key : str
        Config key the name came from, for the message.
    name : str
        The proposed name.
    """
    problem = _name_problem(name)
    if problem:
        shown = repr(name if len(name) <= 40 else name[:40] + "...")
        raise ConfigError(
            f"{key}: {shown} {problem}; use a short name of letters, digits, "
            "'_', '-' and '.', such as my_run"
        )


def _name_problem(name: str) -> str | None:
    if not name.strip():
        return "is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long, above the limit of {MAX_NAME_LENGTH}"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if any(not char.isprintable() for char in name):
        return "contains a control or invisible character"
    if name in (".", ".."):
        return "is not a folder name"
    if name.startswith("."):
        return "starts with '.' (a hidden folder)"
    if name != name.strip():
        return "starts or ends with a space"
    return None


def _check_range(
    key: str, value: float, low: float, high: float, what: str = "a number"
) -> None:
    # NaN fails every comparison, so it is named rather than shown as out of range.
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError(f"{key}: NaN is not allowed; give {what} in [{low}, {high}]")
    if not low <= value <= high:
        hint = "" if what == "a number" else f"; give {what}"
        raise ConfigError(f"{key}: {value!r} is outside [{low}, {high}]{hint}")


def _timestamp(value: str) -> datetime.date:
    return parse_iso_day(value)


def _check_date(key: str, value: str) -> None:
    # Year first only: 05/06/2021 is a different day in the US and in Europe.
    try:
        parse_iso_day(value)
    except (ValueError, TypeError) as err:
        raise ConfigError(
            f"{key}: {value!r}: {err}; write the date as YYYY-MM-DD"
        ) from None


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Check ``value`` against the annotation ``kind``; return it converted."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        records = [option for option in options if dataclasses.is_dataclass(option)]
        if isinstance(value, dict) and records:
            return _coerce(key, value, records[0])  # its own errors name the key
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(key, value, option)
            except ConfigError as err:
                errors.append(str(err))
                if option is float and _is_number(value):
                    raise  # a number: the float check says what is wrong with it
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
        if not _is_number(value):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: {value!r} is not allowed; give a finite number")
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
    try:
        return cls(**kwargs)
    except SettingsError as err:  # names the field; put the section in front
        raise ConfigError(f"{prefix}.{err}") from None


def config_from_dict(values: dict[str, Any] | None) -> RunConfig:
    """Validate a plain mapping (e.g. parsed YAML) and build a `RunConfig`."""
    # YAML reads 1995-01-01 as a date object; keep dates as ISO strings.
    values = _path_clears_dataset(_dates_to_text(values or {}))
    config = _build(RunConfig, values, "")
    config.validate()
    return config


def _path_clears_dataset(values: Any) -> Any:
    """``data: {path: x.csv}`` means the file, not the file and the default dataset."""
    if not isinstance(values, dict):
        return values
    source = values.get("data")
    if isinstance(source, dict) and source.get("path") is not None:
        if "dataset" not in source:
            return {**values, "data": {**source, "dataset": None}}
    return values


def _dates_to_text(value: Any) -> Any:
    import datetime

    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


BUILTIN_RUN: dict[str, Any] = {"backtest": {"held_out_from": "2010-01-01"}}
"""What the built-in run sets beyond the field defaults: on the bundled S&P 500 data
it scores 2010-2022 apart, the years held out from every design choice (the research
protocol in the README). A config file that leaves the key out holds nothing out."""


def load_config(path: str | Path | None) -> RunConfig:
    """Read a YAML config with the safe loader; None gives the built-in default."""
    if path is None:
        return config_from_dict(BUILTIN_RUN)
    path = Path(path)
    values = read_yaml(path, "config file")
    if values is None:
        raise ConfigError(
            f"{path}: the config file has no settings (it is empty or only "
            "comments); write at least one, such as name: my_run, or leave out "
            "--config to run the built-in default"
        )
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
