"""The ``portfolio`` command line.

Each subcommand parses its arguments and calls a library function; user mistakes
(bad data, bad config, bad arguments) end with exit code 2 and one line on stderr,
never a traceback. Ctrl-C ends with one line and exit code 130 at any point, start-up
included: importing this module loads nothing heavy (the ``portfolio`` package loads
its modules on first use), everything else is imported inside `main`.

Start-up is instant (``benchmarks/bench_startup.py`` measures it): ``--help`` and
``datasets`` load no numerical library, and each command reads its config before it
imports what the work needs (cvxpy, JAX, arch, matplotlib take seconds), so a
mistake in the config answers at once.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foliocast.data.catalogue import catalogue_rows
from foliocast.data.errors import DataError
from foliocast.forecasting.devices import claim_cpu_cores
from foliocast.portfolio.errors import OptimizationError, RunFolderError
from foliocast.portfolio.output_folder import OutputLocationError

__all__ = ["main", "build_parser", "user_errors"]


def user_errors() -> tuple[type[Exception], ...]:
    """Mistakes a user can fix: reported as one line with exit code 2."""
    # The config module loads PyYAML: imported inside main, where Ctrl-C is caught.
    from foliocast.portfolio.config import ConfigError

    return (
        DataError,
        ConfigError,
        FileNotFoundError,
        FileExistsError,
        OptimizationError,
        OutputLocationError,
        RunFolderError,
    )


def _datasets(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    # The static catalogue: listing loads neither a dataset nor skfolio and arch.
    rows = catalogue_rows()
    table = Table(title="Bundled datasets (offline)")
    columns = {
        "name": "name",
        "assets": "assets",
        "asset_classes": "asset classes",
        "first_date": "first",
        "last_date": "last",
        "frequency": "freq",
        "source": "source",
    }
    for title in columns.values():
        table.add_column(title)
    for row in rows:
        table.add_row(*(str(row[key]) for key in columns))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    if args.verbose:
        for row in rows:
            console.print(f"[bold]{row['name']}[/bold]: {row['description']}")
    return 0


def _print_metrics(metrics: dict, report: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    columns = [
        ("annual_return", "CAGR", "{:.2%}"),
        ("annual_volatility", "vol", "{:.2%}"),
        ("sharpe", "Sharpe", "{:.2f}"),
        ("sortino", "Sortino", "{:.2f}"),
        ("max_drawdown", "max DD", "{:.1%}"),
        ("turnover", "turnover/yr", "{:.2f}"),
        ("cost_drag", "cost/yr", "{:.2%}"),
        ("psr", "PSR", "{:.2f}"),
    ]
    table = Table(
        title=f"{metrics['run']['name']}: {metrics['run']['start']} to "
        f"{metrics['run']['end']}"
    )
    table.add_column("strategy")
    for _, title, _ in columns:
        table.add_column(title, justify="right")
    for name, summary in metrics["strategies"].items():
        cells = []
        for key, _, fmt in columns:
            value = summary.get(key)
            cells.append("-" if value is None else fmt.format(value))
        table.add_row(name, *cells)
    console = Console(width=max(Console().width, 120))
    console.print(table)
    # A failed rebalance holds the previous weights: the numbers above are then not
    # those of the strategy as configured, and the reader must know.
    total = metrics["run"].get("rebalances")
    for name, summary in metrics["strategies"].items():
        failed = summary.get("rebalances_failed") or 0
        if failed:
            of = f" of {total}" if total else ""
            console.print(
                f"warning: {failed}{of} rebalances of {name} failed and kept the "
                "previous weights; see the status and reason columns of "
                "rebalances.csv",
                markup=False,
                highlight=False,
            )
    console.print(f"report: {report}")


def _backtest(args: argparse.Namespace) -> int:
    # Configs are read inside main (PyYAML loads here), so Ctrl-C is caught then.
    from foliocast.portfolio.config import load_config

    # Read the config before the backtest's libraries load (seconds): a mistake in
    # it answers at once.
    config = load_config(args.config)
    claim_cpu_cores()  # trains: one JAX CPU device per core, before JAX starts
    # Each command imports its own modules when it runs: they load pandas, JAX or
    # cvxpy (seconds), which --help and a config error must not wait for.
    from foliocast.portfolio.backtest.run import run
    from foliocast.portfolio.backtest.runfolder import save_output, staging
    from foliocast.portfolio.progress import Reporter

    out = Path(args.out) if args.out else Path("runs") / config.name
    with staging(out, force=args.force) as folder:
        checkpoint = folder / "checkpoint"
        if (checkpoint / "current").exists() and not args.quiet:
            print(f"resuming from the checkpoint in {folder}", file=sys.stderr)
        # A bar on a terminal, periodic lines on stderr otherwise, or nothing.
        with Reporter(quiet=args.quiet) as reporter:

            def progress(done: int, total: int, date) -> None:
                reporter.update(f"backtest {date:%Y-%m}", done, total, "rebalances")

            try:
                output = run(
                    config,
                    progress=progress,
                    checkpoint=checkpoint,
                    on_epoch=reporter.epoch,
                )
            except Exception:
                if (checkpoint / "current").is_dir():
                    print(
                        f"progress up to the last retrain is kept in {folder}; run "
                        "the same command again to resume from it",
                        file=sys.stderr,
                    )
                raise
        shutil.rmtree(checkpoint, ignore_errors=True)
        save_output(folder, output)
        _write_report(folder)
    if args.quiet:
        print(out / "report.html")
    else:
        _print_metrics(output.metrics, out / "report.html")
    return 0


def _write_report(folder: Path) -> Path:
    # Loads pandas and matplotlib: only when a report is drawn.
    from foliocast.portfolio.backtest.report_input import write_run_report

    return write_run_report(folder)


def _report(args: argparse.Namespace) -> int:
    # A folder that is not a run, or a damaged file, is a one-line error.
    print(_write_report(Path(args.run_dir)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="portfolio",
        description="Forecast-driven multi-asset allocation: backtests, rebalancing "
        "runs and risk reports.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    datasets = commands.add_parser("datasets", help="list the bundled datasets")
    datasets.add_argument(
        "-v", "--verbose", action="store_true", help="also print each description"
    )
    datasets.set_defaults(handler=_datasets)

    backtest = commands.add_parser(
        "backtest",
        help="walk-forward backtest; with no config, the built-in default on sp500",
    )
    backtest.add_argument("--config", help="YAML config (default: built-in default)")
    backtest.add_argument("--out", help="run folder to create (default: runs/NAME)")
    backtest.add_argument(
        "--force", action="store_true", help="replace an existing run folder"
    )
    backtest.add_argument(
        "--quiet",
        action="store_true",
        help="no progress output; print only the report path. Progress goes to "
        "stderr: a bar on a terminal, otherwise a line every "
        "PORTFOLIO_PROGRESS_SECONDS (default 15)",
    )
    backtest.set_defaults(handler=_backtest)

    report = commands.add_parser(
        "report", help="rebuild report.html of a run folder from its files"
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="a folder made by backtest")
    report.set_defaults(handler=_report)

    _add_rebalance_parser(commands)
    _add_fit_parser(commands)
    _add_sweep_parser(commands)
    _add_compare_parser(commands)
    return parser


def _rebalance(args: argparse.Namespace) -> int:
    # Configs are read inside main (PyYAML loads here), so Ctrl-C is caught then.
    from foliocast.portfolio.config import load_config

    # A config mistake answers before the rebalance's libraries load (seconds);
    # reading the small file again in the command costs nothing.
    load_config(args.config)
    claim_cpu_cores()  # trains: one JAX CPU device per core, before JAX starts
    # Loads pandas, cvxpy and the forecasters: only when the command runs.
    from foliocast.portfolio.rebalance.plan import rebalance_command

    return rebalance_command(args)


def _sweep(args: argparse.Namespace) -> int:
    # Configs are read inside main (PyYAML loads here), so Ctrl-C is caught then.
    from foliocast.portfolio.sweep.grid import load_grid

    load_grid(args.grid)  # a mistake in the sweep file answers at once
    # The runner loads pandas (and Ray when asked for): only when the sweep runs.
    from foliocast.portfolio.sweep.runner import sweep_command

    return sweep_command(args)


def _compare(args: argparse.Namespace) -> int:
    # Loads pandas and the forecast evaluation: only when the command runs.
    from foliocast.portfolio.sweep.compare import compare_command

    return compare_command(args)


def _add_rebalance_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "rebalance",
        help="target weights, whole-share trade list and pre-trade risk for holdings",
        description="Plan a rebalance: forecast with the configured model on prices "
        "up to --as-of, optimise, round to whole shares within the cash, check "
        "the constraints. Holdings CSV: columns ticker,shares with an optional "
        "row CASH,<amount>.",
    )
    parser.add_argument("--config", required=True, help="YAML run config")
    parser.add_argument(
        "--holdings", required=True, help="CSV with columns ticker,shares (+ CASH row)"
    )
    parser.add_argument(
        "--as-of",
        required=True,
        help="rebalance date YYYY-MM-DD (a non-trading day, or a day a few weekdays "
        "after the data ends, uses the previous trading day; the plan says which)",
    )
    parser.add_argument(
        "--value",
        type=float,
        help="account value (default: holdings at market plus the CASH row)",
    )
    parser.add_argument("--out", required=True, help="folder to create for the plan")
    parser.add_argument(
        "--model",
        "--checkpoint",  # the earlier name
        dest="model",
        help="the LSTM to predict with instead of training: a run folder of "
        "`portfolio backtest` (its last fitted model) or a saved model folder",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing plan folder"
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress output; print only the folder. Progress goes to stderr: "
        "a bar on a terminal, otherwise a line every PORTFOLIO_PROGRESS_SECONDS "
        "(default 15)",
    )
    parser.set_defaults(handler=_rebalance)


def _fit(args: argparse.Namespace) -> int:
    # Configs are read inside main (PyYAML loads here), so Ctrl-C is caught then.
    from foliocast.portfolio.config import load_config

    load_config(args.config)  # a config mistake answers before JAX loads
    claim_cpu_cores()  # trains: one JAX CPU device per core, before JAX starts
    # Loads pandas and JAX: only when the command runs.
    from foliocast.portfolio.rebalance.fit import fit_command

    return fit_command(args)


def _add_fit_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "fit",
        help="fit the configured LSTM on data up to a date and save it",
        description="Fit the config's LSTM as the backtest fits it at a rebalance "
        "date (the investable assets, the configured window) on prices up to "
        "--as-of, and save it into OUT/model for `portfolio rebalance --model OUT`.",
    )
    parser.add_argument("--config", required=True, help="YAML run config")
    parser.add_argument("--as-of", required=True, help="last date of the training data")
    parser.add_argument("--out", required=True, help="folder to create for the model")
    parser.add_argument(
        "--force", action="store_true", help="replace an existing model folder"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress output on stderr"
    )
    parser.set_defaults(handler=_fit)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _add_sweep_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "sweep",
        help="run a grid of configs in parallel and rank them on a leaderboard",
        description="Run every point of a sweep file (base config + grid of dotted "
        "keys) and write a leaderboard with deflated Sharpe ratios.",
    )
    parser.add_argument("grid", metavar="GRID", help="sweep YAML file")
    parser.add_argument("--out", help="sweep folder to create (default: runs/NAME)")
    parser.add_argument(
        "--ray",
        dest="ray_address",
        metavar="ADDRESS",
        help="run on an existing Ray cluster: HOST:PORT, or 'auto' for the one in "
        "RAY_ADDRESS or else the one started on this machine (default: local "
        "processes)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        help="points run at once (default: CPU count locally, cluster size on Ray)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing sweep folder"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(handler=_sweep)


def _add_compare_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "compare",
        help="score every forecaster of a sweep on the same dates in one table",
        description="Score the model forecasts of every finished point of a sweep "
        "folder on the forecast dates they share: Gaussian NLL, QLIKE and realised "
        "vol of the min-variance portfolio, IC, R2, net MVO Sharpe and turnover, and "
        "Diebold-Mariano p-values against the best classical forecaster. Writes "
        "forecasters.csv and forecasters.md into the sweep folder.",
    )
    parser.add_argument(
        "sweep_dir", metavar="SWEEP_DIR", help="a folder made by portfolio sweep"
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help="first forecast date scored, YYYY-MM-DD (default: the points' "
        "backtest.held_out_from, else the whole run)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only the path of forecasters.md"
    )
    parser.set_defaults(handler=_compare)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code.

    Start-up (imports, the parser) happens in here too, so that Ctrl-C while the
    heavy libraries load ends like Ctrl-C later: one line and exit code 130.
    """
    # Warnings (bad data, a checkpoint not used) read as one line, like errors.
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _main(argv: Sequence[str] | None) -> int:
    started = False
    try:
        args = build_parser().parse_args(argv)
        started = True
        try:
            return args.handler(args)
        except Exception as err:
            # The error classes load only now: --help and start-up stay instant.
            if not isinstance(err, user_errors()):
                raise
            print(f"error: {err}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        print(
            "interrupted; run the same command again to resume"
            if started
            else "interrupted while starting; nothing was done",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
