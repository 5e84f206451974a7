"""Run the command line in this process, as tests that only check exit codes do."""

import contextlib
import io
import subprocess


def run_main(*args: str) -> subprocess.CompletedProcess:
    """`cli.main` in this process: the same exit code and output, without start-up."""
    from foliocast.portfolio.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
