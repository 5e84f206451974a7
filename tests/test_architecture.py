"""The package's shape: import directions, no circles, no module over 700 lines.

Read from the source with `ast`, so a violation names the file and the import. The
rules are the README's "Layout": data <- forecasting <- portfolio, risk imports only
data, and inside portfolio optimizer <- backtest <- rebalance, sweep <- cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("data", "forecasting", "portfolio", "risk")
MAX_LINES = 700

# Layer of a module (by its path under foliocast) -> layers it may import (a layer
# may always import itself). The backtest's imports are what rebalance, sweep and
# cli build on.
_BACKTEST = {"data", "forecasting", "risk", "portfolio.base", "portfolio.optimizer"}
ALLOWED = {
    "data": set(),
    "forecasting": {"data"},
    "risk": {"data"},
    # The run config embeds the optimizer's constraints record.
    "portfolio.base": {"data", "forecasting", "portfolio.optimizer.constraints"},
    "portfolio.optimizer": {"forecasting.forecast", "portfolio.errors"},
    "portfolio.backtest": _BACKTEST,
    "portfolio.rebalance": _BACKTEST | {"portfolio.backtest"},
    "portfolio.sweep": _BACKTEST | {"portfolio.backtest"},
    "portfolio.cli": _BACKTEST
    | {"portfolio.backtest", "portfolio.rebalance", "portfolio.sweep"},
}
SUBPACKAGES = ("optimizer", "backtest", "rebalance", "sweep")


def _modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found["foliocast." + ".".join(parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> str:
    parts = module.split(".")[1:]
    if parts[0] != "portfolio":
        return parts[0]
    if len(parts) > 1 and parts[1] in SUBPACKAGES:
        return f"portfolio.{parts[1]}"
    if len(parts) > 1 and parts[1] in ("cli", "__main__"):
        return "portfolio.cli"
    return "portfolio.base"


def _allows(layer: str, target: str) -> bool:
    if not target.startswith(tuple(f"foliocast.{folder}" for folder in FOLDERS)):
        return True  # the root package's own helpers (foliocast._exports)
    target_layer = _layer(target)
    for allowed in ALLOWED[layer] | {layer}:
        if target_layer == allowed or target.startswith(f"foliocast.{allowed}"):
            return True
    return False


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported foliocast module, line, at module level) for every import."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in _top_level_nodes(tree)}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.append(full if full in MODULES else base)
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name.startswith("foliocast."):
                found.append((name, node.lineno, id(node) in top))
    return found


def _top_level_nodes(tree: ast.Module):
    """Module-level statements, including those under `if TYPE_CHECKING:` and try."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.If, ast.Try)):
            stack.extend(node.body + node.orelse)
            stack.extend(getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                stack.extend(handler.body)


def _resolve(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def test_modules_are_found():
    assert "foliocast.portfolio.optimizer.markowitz" in MODULES
    assert "foliocast.risk.report.render" in MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_one_way(module):
    layer = _layer(module)
    wrong = [
        f"line {line}: {target}"
        for target, line, _ in _imports(MODULES[module])
        if not _allows(layer, _resolve(target))
    ]
    assert not wrong, f"{MODULES[module].relative_to(ROOT)} ({layer}) imports {wrong}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_project_imports_inside_functions_say_why(module):
    # A function-level import hides a dependency; it is allowed only where a comment
    # right above or on the line gives the reason (a slow optional dependency).
    path = MODULES[module]
    lines = path.read_text().splitlines()
    hidden = [
        f"line {line}: {target}"
        for target, line, at_top in _imports(path)
        if not at_top and not _explained(lines, line)
    ]
    assert not hidden, f"{path.relative_to(ROOT)} imports inside functions: {hidden}"


def _explained(lines: list[str], line: int) -> bool:
    """A comment on the import, or above the block of imports it belongs to."""
    index = line - 1
    if "#" in lines[index]:
        return True
    while index > 0:
        index -= 1
        text = lines[index].strip()
        if text.startswith("#"):
            return True
        if not (text.startswith(("from ", "import ", ")")) or text.endswith(",")):
            return False
    return False


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_700_lines(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)}: {lines} lines"


def test_there_are_no_import_circles():
    graph = {
        module: {_resolve(t) for t, _, top in _imports(path) if top} - {module}
        for module, path in MODULES.items()
    }
    # A package's __init__ importing its own submodules is not a circle of concepts.
    for module in graph:
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                circles.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, circles
