"""Run the command line in this process, or once per command as a user does."""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path


def run_main(*args: str) -> subprocess.CompletedProcess:
    """`cli.main` in this process: the same exit code and output, without start-up."""
    from foliocast.portfolio.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def run_cli(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m foliocast ARGS`` in a new process started in ``cwd``.

    For the one smoke test per command: the installed namespace, start-up and exit
    code as a user meets them, from a folder outside the repository.
    """
    env = {**os.environ, "PORTFOLIO_PROGRESS_SECONDS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "foliocast", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )
