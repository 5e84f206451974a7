"""Ctrl-C while the command line starts: one line and exit code 130, no traceback."""

import subprocess
import sys
import textwrap

import pytest

from foliocast.portfolio import cli

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
        ("pandas", ["datasets"]),  # the data package, loaded first
        ("yaml", ["report", "nowhere"]),  # the config reader
        ("rich", ["datasets"]),  # after the parser, inside the handler
    ],
)
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(module, command):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, module, *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 130, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted"), result.stderr
    assert "Traceback" not in result.stderr


def test_importing_the_command_line_loads_nothing_heavy():
    # What the script imports before main() runs must not be worth interrupting.
    probe = (
        "import sys; import portfolio.cli; "
        "print(sorted(m for m in ('pandas', 'numpy', 'cvxpy', 'yaml') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_ctrl_c_in_the_parser_is_caught_in_process(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["datasets"]) == 130
    assert capsys.readouterr().err == "interrupted while starting; nothing was done\n"
