"""The library and the CLI work from a folder whose own files shadow common names.

A notebook folder often holds ``data/``, ``risk.py`` or ``portfolio.py``; the project
is imported as ``foliocast`` so none of them can be picked up instead of ours.
"""

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
