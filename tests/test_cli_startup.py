"""Start-up: instant answers for help and config mistakes, Ctrl-C caught throughout.

How long start-up takes is measured by ``benchmarks/bench_startup.py``; these tests
check what makes it fast (which libraries a command loads) and a generous bound.
"""

import subprocess
import sys
import textwrap
import time

import pytest

from foliocast.portfolio import cli
from tests.cli_runner import run_cli

# Libraries that take seconds to import; none is needed to answer these commands.
HEAVY = (
    "arch",
    "cvxpy",
    "jax",
    "matplotlib",
    "numpy",
    "pandas",
    "pypfopt",
    "scipy",
    "skfolio",
    "sklearn",
)

# Runs the command line in a fresh process, then prints the heavy modules it loaded.
PROBE = textwrap.dedent(
    """
    import sys
    from foliocast.portfolio.cli import main

    code = main(sys.argv[1:]) if sys.argv[1:] else 0
    heavy = sorted(set(sys.argv[0].split(",")) & set(sys.modules))
    print("HEAVY", heavy, "EXIT", code)
    """
)


@pytest.mark.parametrize(
    "command",
    [
        [],  # importing the command line, as the installed script does
        ["datasets"],
        ["backtest", "--config", "bad.yaml"],
        ["backtest", "--config", "dates.yaml"],  # end before start
        ["rebalance", *["--config", "bad.yaml", "--holdings", "h.csv"]]
        + ["--as-of", "2020-01-31", "--out", "plan"],
        ["sweep", "grid.yaml"],  # a mistake in the sweep file
    ],
    ids=[
        "import",
        "datasets",
        "backtest-bad-config",
        "backtest-bad-dates",
        "rebalance-bad-config",
        "sweep-bad-grid",
    ],
)
def test_light_commands_load_no_heavy_library(tmp_path, command):
    (tmp_path / "bad.yaml").write_text("optimizer:\n  risk_aversoin: 3\n")
    (tmp_path / "dates.yaml").write_text(
        "backtest:\n  start: 2020-01-01\n  end: 2019-12-31\n"
    )
    (tmp_path / "grid.yaml").write_text("base: {optimizer: {risk_aversoin: 3}}\n")
    script = PROBE.replace("sys.argv[0].split", repr(",".join(HEAVY)) + ".split")
    result = subprocess.run(
        [sys.executable, "-c", script, *command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    heavy, code = result.stdout.split("HEAVY ")[-1].split(" EXIT ")
    assert heavy == "[]"
    assert int(code) == (2 if command[1:] else 0), result.stderr


def test_smoke_help_answers_at_once(tmp_path):
    started = time.perf_counter()
    result = run_cli("--help", cwd=tmp_path)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: portfolio")
    # Generous for a loaded machine: the heavy stack alone takes over 5 s.
    assert seconds < 5, f"portfolio --help took {seconds:.1f} s"


# Runs the command line as the installed ``portfolio`` script does, with Ctrl-C
# (KeyboardInterrupt) arriving while MODULE is being imported.
SCRIPT = textwrap.dedent(
    """
    import sys

    MODULE = sys.argv[1]

    class CtrlC:
        def find_spec(self, name, path=None, target=None):
            if name == MODULE:
                raise KeyboardInterrupt
            return None

    sys.meta_path.insert(0, CtrlC())
    sys.argv = ["portfolio", *sys.argv[2:]]
    from foliocast.portfolio.cli import main
    sys.exit(main())
    """
)


@pytest.mark.parametrize(
    ("module", "command"),
    [
        ("yaml", ["backtest", "--config", "c.yaml"]),  # the config reader
        ("rich", ["datasets"]),  # after the parser, inside the handler
        ("pandas", ["backtest", "--config", "c.yaml"]),  # the backtest's libraries
    ],
)
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(tmp_path, module, command):
    (tmp_path / "c.yaml").write_text("name: c\n")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, module, *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 130, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted"), result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]


def test_ctrl_c_in_the_parser_is_caught_in_process(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["datasets"]) == 130
    assert capsys.readouterr().err == "interrupted while starting; nothing was done\n"
