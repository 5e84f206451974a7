"""The command line as a user runs it."""

import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "portfolio", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_datasets_prints_the_table():
    result = run_cli("datasets")
    assert result.returncode == 0, result.stderr
    for name in ["sp500", "factors", "sp500_index", "wti", "multi_asset", "risk_free"]:
        assert name in result.stdout
    assert "Traceback" not in result.stderr


def test_unknown_command_exits_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
