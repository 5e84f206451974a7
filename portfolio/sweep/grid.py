"""Sweep specs: a base config, a grid of values for dotted keys, and its points.

A sweep file (YAML, read with the safe loader) names a base config and the values to
try for some of its keys::

    name: lstm_mvo_sp500_sweep        # default run folder runs/<name>
    base: default.yaml                # config file (relative to the sweep file) or an
                                      # inline config mapping; default: built-in
    set:                              # optional, applied to every point
      backtest.start: '2005-01-01'
    grid:                             # cartesian product, last key varying fastest
      optimizer.risk_aversion: [2, 5, 10]
      forecaster.model.hidden: [16, 32]
    metric: sharpe                    # leaderboard ranking (see METRICS)
    strategy: lstm_mvo                # whose metrics are ranked

``grid`` may instead list the points one by one, each a mapping of dotted keys to
values, when the points are not a product (keys a point leaves out keep the base
value)::

    grid:
      - {forecaster.kind: historical}
      - {forecaster.kind: lstm, forecaster.model.ensemble: 5}

Keys are dotted paths into the run config (``optimizer.constraints.max_weight``).
Every point's config is built and validated when the sweep is loaded, so a typo fails
before anything runs, with a `ConfigError` naming the key.

`load_grid` and `spec_from_dict` validate a sweep into a `SweepSpec`; `grid_points`
lists its points, each a folder-safe name and a validated `RunConfig`. Running them
is `portfolio.sweep`'s job, ranking them `portfolio.leaderboard`'s.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import itertools
import json
import math
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foliocast.portfolio.config import (
    MAX_NAME_LENGTH,
    ConfigError,
    RunConfig,
    check_name,
    config_from_dict,
    config_to_dict,
    load_config,
    read_yaml,
)
from foliocast.portfolio.names import INDEX, LSTM_MVO, main_strategy

__all__ = [
    "METRICS",
    "SPEC_KEYS",
    "SweepSpec",
    "load_grid",
    "spec_from_dict",
    "grid_points",
    "point_values",
    "format_value",
]

# Ranking metrics and whether a higher value is better.
METRICS: dict[str, bool] = {
    "sharpe": True,
    "sortino": True,
    "calmar": True,
    "annual_return": True,
    "psr": True,
    "dsr": True,
    "max_drawdown": True,  # a negative fraction: closer to 0 is better
    "hit_rate": True,
    "annual_volatility": False,
    "turnover": False,
    "cost_drag": False,
}
SPEC_KEYS = ("name", "base", "set", "grid", "metric", "strategy")


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base config, swept keys and values, ranking.

    Attributes
    ----------
    name : str
        Sweep name; the default output folder is ``runs/<name>``.
    base : dict
        The base run config as plain data, fully resolved, with ``set`` applied.
    grid : tuple of (str, tuple)
        Dotted config key and the values tried for it, in file order; empty when
        the points are listed one by one.
    metric : str
        Leaderboard ranking metric, a key of `METRICS`.
    strategy : str
        Strategy whose metrics are ranked.
    source : str
        Where the sweep came from (file path or ``<mapping>``), for messages.
    points : tuple of tuple of (str, value)
        The points listed one by one (``grid`` given as a list), each its dotted
        keys and values in file order; empty for a cartesian grid.
    """

    name: str
    base: dict[str, Any]
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    metric: str = "sharpe"
    strategy: str = LSTM_MVO
    source: str = field(default="<mapping>", compare=False)
    points: tuple[tuple[tuple[str, Any], ...], ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """The swept dotted keys: grid order, or order of first use in the points."""
        if self.points:
            listed = (key for point in self.points for key, _ in point)
            return tuple(dict.fromkeys(listed))
        return tuple(key for key, _ in self.grid)

    @property
    def size(self) -> int:
        """Number of points in the grid."""
        if self.points:
            return len(self.points)
        return math.prod(len(values) for _, values in self.grid)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that `spec_from_dict` turns back into this spec."""
        grid: Any = {key: list(values) for key, values in self.grid}
        if self.points:
            grid = [{key: value for key, value in point} for point in self.points]
        return {
            "name": self.name,
            "base": copy.deepcopy(self.base),
            "grid": copy.deepcopy(grid),
            "metric": self.metric,
            "strategy": self.strategy,
        }


# ----------------------------------------------------------------------- the spec


def load_grid(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file.

    Parameters
    ----------
    path : str or Path
        YAML sweep file; a ``base`` path in it is relative to its folder.

    Returns
    -------
    SweepSpec

    Raises
    ------
    ConfigError
        If the file is missing or invalid, or any point's config is; the message
        names the file and the key.
    """
    path = Path(path)
    values = read_yaml(path, "sweep file")
    if values is None:
        raise ConfigError(
            f"{path}: the sweep file has no settings (it is empty or only comments); "
            "see experiments/sweep.yaml for the format"
        )
    try:
        return spec_from_dict(values, root=path.parent, source=str(path))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def spec_from_dict(
    values: Mapping[str, Any] | None,
    *,
    root: str | Path = ".",
    source: str = "<mapping>",
) -> SweepSpec:
    """Validate a sweep given as plain data (e.g. parsed YAML).

    Parameters
    ----------
    values : mapping
        Keys ``name``, ``base``, ``set``, ``grid``, ``metric``, ``strategy``.
    root : str or Path
        Folder that a ``base`` file path is relative to.
    source : str
        Where the values came from, kept for messages.

    Returns
    -------
    SweepSpec

    Raises
    ------
    ConfigError
        Naming the key of any unknown or bad setting, here or in a point's config.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"sweep: expected a mapping, got {values!r}")
    for key in values:
        if key not in SPEC_KEYS:
            raise ConfigError(
                f"{key}: unknown sweep key; allowed: {', '.join(SPEC_KEYS)}"
            )
    if "grid" not in values:
        raise ConfigError(
            "grid: required, e.g. grid: {optimizer.risk_aversion: [2, 5]}"
        )
    base = _base_config(values.get("base"), Path(root))
    fixed = _dotted_mapping("set", values.get("set") or {})
    for key, value in fixed.items():
        _assign(base, key, value)
    _one_source(base, fixed)
    try:
        base = config_to_dict(config_from_dict(base))
    except ConfigError as err:
        raise ConfigError(f"set: {err}") from None
    grid, listed = _parse_grid(values["grid"], fixed)
    name = _text("name", values.get("name", _fit(f"{base['name']}_sweep")))
    check_name("name", name)
    metric = _text("metric", values.get("metric", "sharpe"))
    if metric not in METRICS:
        raise ConfigError(
            f"metric: {metric!r} is not one of {', '.join(sorted(METRICS))}"
        )
    spec = SweepSpec(
        name=name,
        base=base,
        grid=grid,
        metric=metric,
        strategy=_text("strategy", values.get("strategy", "")),
        source=source,
        points=listed,
    )
    configs = grid_points(spec)  # validates every point's config
    strategy = spec.strategy or _default_strategy(configs)
    for point, config in configs:
        if strategy not in config.strategies or strategy == INDEX:
            raise ConfigError(
                f"strategy: {strategy!r} is not a traded strategy of point {point} "
                f"({', '.join(config.strategies)})"
            )
    return SweepSpec(name, base, grid, metric, strategy, source, listed)


def _base_config(base: Any, root: Path) -> dict[str, Any]:
    """The base config as a resolved plain mapping."""
    if base is None:
        return config_to_dict(load_config(None))
    if isinstance(base, str):
        path = Path(base) if Path(base).is_absolute() else root / base
        try:
            return config_to_dict(load_config(path))
        except ConfigError as err:
            raise ConfigError(f"base: {err}") from None
    if isinstance(base, Mapping):
        try:
            return config_to_dict(config_from_dict(dict(base)))
        except ConfigError as err:
            raise ConfigError(f"base.{err}") from None
    raise ConfigError(f"base: expected a config file path or mapping, got {base!r}")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected text, got {value!r}")
    return value


def _plain(value: Any) -> Any:
    """YAML dates as ISO text and tuples as lists, as the config expects."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _dotted_mapping(where: str, values: Any) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping of dotted keys, got {values!r}")
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or not all(key.split(".")):
            raise ConfigError(f"{where}: {key!r} is not a dotted config key")
        if key == "name":
            raise ConfigError(f"{where}.name: the sweep names each point itself")
        _check_key(f"{where}.{key}", key)
        out[key] = _plain(value)
    return out


def _free_sections() -> dict[str, type]:
    """Config mappings typed ``dict`` whose keys a dataclass still defines."""
    # Imported here: constraints loads numpy, and checking a grid file must stay
    # instant for the command line.
    from foliocast.portfolio.optimizer.constraints import Constraints

    return {"optimizer.constraints": Constraints}


def _check_key(where: str, key: str) -> None:
    """Raise if a dotted key leaves the config schema, naming the key.

    Values are checked later, when each point's config is built; this catches a
    misspelt key even where the config holds a free mapping (constraints).
    """
    kind: Any = RunConfig
    walked: list[str] = []
    free = _free_sections()
    for part in key.split("."):
        section = ".".join(walked)
        kind = free.get(section, kind)
        if not dataclasses.is_dataclass(kind):
            return  # a value (refused when assigned) or an open mapping (groups)
        names = [f.name for f in dataclasses.fields(kind) if f.init]
        if part not in names:
            place = f"in {section}" if section else "at the top level"
            raise ConfigError(
                f"{where}: unknown key {part!r} {place}; allowed: {', '.join(names)}"
            )
        kind = typing.get_type_hints(kind).get(part)
        walked.append(part)


def _check_overlap(where: str, keys: Sequence[str], fixed: Mapping[str, Any]) -> None:
    """Refuse a key given twice, or inside another, among ``keys`` and ``set``."""
    for key, other in itertools.permutations([*keys, *fixed], 2):
        if key == other or other.startswith(key + "."):
            place = "grid and set" if key in fixed or other in fixed else "grid"
            raise ConfigError(f"{where}.{other}: overlaps {key!r} in {place}")


def _parse_points(values: list, fixed: Mapping[str, Any]) -> tuple:
    """Points listed one by one: each a non-empty mapping of dotted keys."""
    points, seen = [], set()
    for index, item in enumerate(values):
        where = f"grid[{index}]"
        point = _dotted_mapping(where, item)
        if not point:
            raise ConfigError(f"{where}: give at least one dotted key and its value")
        _check_overlap(where, list(point), fixed)
        text = json.dumps(point, sort_keys=True)
        if text in seen:
            # A repeated point is a repeated trial: it would inflate the DSR's N.
            raise ConfigError(f"{where}: the same point is listed twice")
        seen.add(text)
        points.append(tuple(point.items()))
    return tuple(points)


def _parse_grid(values: Any, fixed: Mapping[str, Any]) -> tuple[tuple, tuple]:
    """The cartesian grid and the listed points; one of them is empty."""
    if isinstance(values, list):
        if not values:
            raise ConfigError("grid: give at least one point")
        return (), _parse_points(values, fixed)
    grid = _dotted_mapping("grid", values)
    if not grid:
        raise ConfigError("grid: give at least one key with a list of values")
    _check_overlap("grid", list(grid), fixed)
    parsed = []
    for key, options in grid.items():
        if not isinstance(options, list) or not options:
            raise ConfigError(f"grid.{key}: expected a non-empty list of values")
        seen = [json.dumps(option, sort_keys=True) for option in options]
        if len(set(seen)) != len(seen):
            # A repeated value is a repeated trial: it would inflate the DSR's N.
            raise ConfigError(f"grid.{key}: a value is listed twice")
        parsed.append((key, tuple(options)))
    return tuple(parsed), ()


def _assign(config: dict[str, Any], key: str, value: Any) -> None:
    """Set ``config[a][b][c] = value`` for ``key = "a.b.c"``, in place."""
    *sections, leaf = key.split(".")
    node = config
    walked = []
    for section in sections:
        walked.append(section)
        child = node.get(section)
        if child is None:  # an unknown section or an unset mapping such as groups
            child = node[section] = {}
        if not isinstance(child, dict):
            raise ConfigError(
                f"{key}: {'.'.join(walked)} is a value ({child!r}), not a section"
            )
        node = child
    node[leaf] = copy.deepcopy(value)


def _one_source(config: dict[str, Any], assigned: Sequence[str]) -> None:
    """Setting one price source replaces the other, as ``data: {path: x}`` does."""
    source = config.get("data")
    if not isinstance(source, dict):
        return
    for given, other in (("data.path", "dataset"), ("data.dataset", "path")):
        leaf = given.split(".")[1]
        if given in assigned and f"data.{other}" not in assigned:
            if source.get(leaf) is not None:
                source[other] = None


def _default_strategy(configs: Sequence[tuple[str, RunConfig]]) -> str:
    """The main strategy among those every point runs (`names.main_strategy`)."""
    first = configs[0][1].strategies
    common = [s for s in first if all(s in c.strategies for _, c in configs)]
    return main_strategy(common or first)


# ---------------------------------------------------------------------- the points


def format_value(value: Any) -> str:
    """A swept value as short text for point names (``2``, ``0.5``, ``a+b``)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "+".join(format_value(item) for item in value)
    if isinstance(value, dict):
        return "+".join(f"{k}-{format_value(v)}" for k, v in value.items())
    return str(value)


def _labels(keys: Sequence[str]) -> list[str]:
    """Short label per key: its last part, or the whole key where that is ambiguous."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return [
        short if last.count(short) == 1 else key
        for key, short in zip(keys, last, strict=True)
    ]


def _point_name(index: int, size: int, labels: Sequence[str], values: Sequence) -> str:
    """Folder-safe name such as ``p000_risk_aversion=2_hidden=16``."""
    width = max(3, len(str(size - 1)))
    parts = [
        f"{label}={format_value(v)}" for label, v in zip(labels, values, strict=True)
    ]
    name = "_".join([f"p{index:0{width}d}", *parts])
    return _fit(re.sub(r"[^A-Za-z0-9._+=-]", "-", name))


def _fit(name: str, limit: int = MAX_NAME_LENGTH) -> str:
    """``name``, or its start and a hash of the whole when longer than ``limit``.

    Names become folders and run names (at most `MAX_NAME_LENGTH` characters);
    the hash keeps shortened names distinct.
    """
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1]}-{digest}"


def grid_points(spec: SweepSpec) -> list[tuple[str, RunConfig]]:
    """Every point of the grid with its validated config, in a fixed order.

    The order is the cartesian product of the grid values in file order, the last
    key varying fastest, or the listed points in file order; point ``i`` is named
    ``p{i:03d}_<label>=<value>_...`` after the keys it sets.

    Raises
    ------
    ConfigError
        If a point's config is invalid; names the point and the key.
    """
    label = dict(zip(spec.keys, _labels(spec.keys), strict=True))
    if spec.points:
        settings = [tuple(point) for point in spec.points]
    else:
        combos = itertools.product(*(values for _, values in spec.grid))
        settings = [tuple(zip(spec.keys, values, strict=True)) for values in combos]
    points = []
    for index, setting in enumerate(settings):
        keys = [key for key, _ in setting]
        values = [value for _, value in setting]
        name = _point_name(index, spec.size, [label[key] for key in keys], values)
        config = copy.deepcopy(spec.base)
        config["name"] = _fit(f"{spec.base['name']}_{name}")
        try:
            for key, value in zip(keys, values, strict=True):
                _assign(config, key, value)
            _one_source(config, keys)
            built = config_from_dict(config)
        except ConfigError as err:
            raise ConfigError(f"grid point {name}: {err}") from None
        points.append((name, built))
    return points


def point_values(spec: SweepSpec, config: RunConfig) -> dict[str, Any]:
    """The values a point's config holds at the swept keys, in grid order."""
    values = config_to_dict(config)
    out = {}
    for key in spec.keys:
        node: Any = values
        for part in key.split("."):
            node = node[part]
        out[key] = node
    return out
