"""The bounded YAML reader of config and sweep files.

`read_yaml` parses with PyYAML's safe loader and refuses, before any value is used:
files over `MAX_CONFIG_BYTES`, alias-heavy documents (an "alias bomb" expands a few
lines into billions of values), recursive anchors, deep nesting and duplicate keys.
Every refusal is a `ConfigError` naming the file and, where it can, the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from foliocast.portfolio.errors import ConfigError

__all__ = ["MAX_CONFIG_BYTES", "read_yaml"]

# A config or sweep file is a few hundred bytes; anything near this is not one.
MAX_CONFIG_BYTES = 1_000_000
# Anchors and aliases (&a / *a) are allowed for sharing a few values, not more.
MAX_ALIASES = 100
# Values in the document with every alias expanded: bounds what later code walks.
MAX_EXPANDED_NODES = 100_000
# Nesting of lists and mappings; a config needs four levels.
MAX_DEPTH = 50


class _Refused(Exception):
    """A YAML document the config reader will not use (message says why)."""


class _ConfigLoader(yaml.SafeLoader):
    """The safe loader, counting aliases and refusing duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose as usual; refuse deep nesting and more than `MAX_ALIASES` aliases."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise _Refused(
                    f"nested more than {MAX_DEPTH} levels deep at line {line}"
                )
            return self._compose_counted(parent, index)
        finally:
            self.depth -= 1

    def _compose_counted(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                line = self.peek_event().start_mark.line + 1
                raise _Refused(
                    f"more than {MAX_ALIASES} aliases (*name), the last at line "
                    f"{line}; write the values out instead"
                )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """Construct as usual; refuse a key given twice in one mapping."""
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                # Merge keys (<<) may be overridden on purpose; only plain keys count.
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(
                    ":merge"
                ):
                    continue
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in first_line:
                    raise _Refused(
                        f"duplicate key {key!r} at line {line} (first at line "
                        f"{first_line[key]}); keep one"
                    )
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expanded_size(root: Any) -> None:
    """Refuse recursive anchors and documents that expand past the node limit.

    Shared nodes (aliases) count once per use, as code that walks the parsed value
    sees them; sizes are memoised per node, so this takes time linear in the
    number of distinct nodes however large the expansion.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            if size[key] > MAX_EXPANDED_NODES:
                raise _Refused(
                    f"more than {MAX_EXPANDED_NODES} values once its aliases (*name) "
                    "are expanded, where a config needs a few dozen; write the values "
                    "out instead"
                )
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                line = child.start_mark.line + 1
                raise _Refused(f"an anchor (&name) at line {line} contains itself")
            if id(child) not in size:
                stack.append((child, False))


def _parse_yaml(text: str) -> Any:
    loader = _ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file with the safe loader; `ConfigError` names the file and line.

    At most `MAX_CONFIG_BYTES` are read; alias-heavy or recursive documents and
    duplicate keys are refused (see the module docstring). An empty document
    gives None.
    """
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the {what} ({err.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_CONFIG_BYTES // 1_000_000} MB, too large for a "
            f"{what}; is it the right file?"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {err.start}); save the {what} as UTF-8"
        ) from None
    try:
        return _parse_yaml(text)
    except _Refused as err:
        raise ConfigError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
