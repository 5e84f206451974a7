"""The ``portfolio`` command line.

Each subcommand parses its arguments and calls a library function; user mistakes
(bad data, bad config, bad arguments) end with exit code 2 and one line on stderr,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from data.errors import DataError

__all__ = ["main", "build_parser"]

USER_ERRORS: tuple[type[Exception], ...] = (DataError, FileNotFoundError)


def _datasets(args: argparse.Namespace) -> int:
    import warnings

    from rich.console import Console
    from rich.table import Table

    from data import list_datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table_data = list_datasets()
    table = Table(title="Bundled datasets (offline)")
    for column in [
        "name",
        "assets",
        "asset classes",
        "first",
        "last",
        "freq",
        "source",
    ]:
        table.add_column(column)
    for name, row in table_data.iterrows():
        table.add_row(
            str(name),
            str(row["assets"]),
            row["asset_classes"],
            row["first_date"],
            row["last_date"],
            row["frequency"],
            row["source"],
        )
    console = Console(width=max(Console().width, 120))
    console.print(table)
    if args.verbose:
        for name, row in table_data.iterrows():
            console.print(f"[bold]{name}[/bold]: {row['description']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="portfolio",
        description="Forecast-driven multi-asset allocation: backtests, rebalancing "
        "runs and risk reports.",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    datasets = commands.add_parser("datasets", help="list the bundled datasets")
    datasets.add_argument(
        "-v", "--verbose", action="store_true", help="also print each description"
    )
    datasets.set_defaults(handler=_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
