"""The library and the CLI work from a folder whose own files shadow common names.

A notebook folder often holds ``data/``, ``risk.py`` or ``portfolio.py``; the project
is imported as ``foliocast`` so none of them can be picked up instead of ours.
"""

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.M | re.S)
PORTFOLIO = Path(sys.executable).with_name("portfolio")


@pytest.fixture
def notebook_folder(tmp_path: Path) -> Path:
    """A folder with a user's own ``data/`` package and clashing module names."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "__init__.py").write_text("raise ImportError('users data')\n")
    for name in ("risk", "portfolio", "forecasting"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('users {name}')\n")
    return tmp_path


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_readme_has_python_examples():
    assert len(PYTHON_BLOCKS) >= 2


def test_readme_python_examples_run_from_a_shadowing_folder(notebook_folder):
    script = "\n".join(PYTHON_BLOCKS) + "\nassert abs(weights.sum() - 1) < 1e-6\n"
    done = _run([sys.executable, "-c", script], notebook_folder)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        [str(PORTFOLIO), "datasets"],
        [sys.executable, "-m", "foliocast", "datasets"],
    ],
    ids=["portfolio", "python -m foliocast"],
)
def test_the_cli_runs_from_a_shadowing_folder(notebook_folder, args):
    done = _run(args, notebook_folder)
    assert done.returncode == 0, done.stderr
    assert "sp500" in done.stdout


@pytest.mark.parametrize(
    "package",
    [
        "foliocast.data",
        "foliocast.forecasting",
        "foliocast.portfolio",
        "foliocast.portfolio.backtest",
        "foliocast.portfolio.optimizer",
        "foliocast.portfolio.rebalance",
        "foliocast.portfolio.sweep",
        "foliocast.risk",
        "foliocast.risk.report",
    ],
)
def test_no_public_name_is_also_a_submodule(package):
    # Importing a submodule sets it as an attribute of its package, which then
    # hides a lazily exported name of the same spelling: once anything had loaded
    # the optimizer's subpackage, `from foliocast.portfolio import optimize` gave
    # the subpackage, not the function.
    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert not submodules & set(getattr(module, "__all__", ()))


def test_optimize_is_the_function_after_the_backtest_loaded():
    code = (
        "from foliocast.portfolio import run_backtest\n"
        "from foliocast.portfolio import optimize\n"
        "assert callable(optimize), optimize\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
