"""The risk-committee report of a run folder: one self-contained ``report.html``.

`write_report` reads a run folder (`portfolio.runfolder.load_run`) and writes
``report.html`` into it. The page stands alone: plots are PNG data URIs drawn on
matplotlib's Agg canvas, the CSS is inline, there is no script, and a
Content-Security-Policy forbids loading anything else, so it opens offline and can be
mailed as one file. Every string from the run (tickers, strategy names, config
values, failure reasons) goes through jinja2 with autoescaping; the template is
``risk/templates/report.html``.

Units: returns are daily simple returns. ``predicted_vol`` (rebalances.csv) and
``risk_contribution`` (weights.csv) are volatilities over the forecast horizon of
``forecaster.horizon`` trading days; the report annualises them by
``sqrt(252 / horizon)``. The main strategy is the model's (``lstm_mvo``, or
``{kind}_mvo`` with another forecaster) when the run has it, else the first strategy;
1/N is ``equal_weight``; ``index`` is the untraded benchmark.

The output is a deterministic function of the run folder (no timestamps, PNGs without
software metadata, strategies in the run's order, assets sorted), so two reports of
the same run are byte-identical.

This module checks the run, orders the sections and renders and writes the page;
`risk.report_sections` holds the page model, the run facts and the performance
sections, `risk.report_diagnostics` the risk, forecast, significance, rebalance and
limitation sections, `risk.report_plots` draws the figures and `risk.report_tables`
formats the cells and builds the frame-only tables.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foliocast.data.csv_safety import safe_frame
from foliocast.risk.report.diagnostics import (
    _forecast_section,
    _limitations_section,
    _rebalance_section,
    _risk_section,
    _significance_section,
    limitations,
)
from foliocast.risk.report.plots import _embed as _embed  # re-export
from foliocast.risk.report.plots import _figure as _figure  # re-export
from foliocast.risk.report.plots import _label as _label  # re-export
from foliocast.risk.report.sections import (
    _calendar_section,
    _cfg,
    _drawdown_section,
    _equity_section,
    _metrics_section,
    _rolling_section,
    _summary_section,
    _turnover_section,
    _weights_section,
    main_strategy,
    metrics_frame,
)
from foliocast.risk.report.tables import format_date

if TYPE_CHECKING:
    from foliocast.portfolio.backtest.runfolder import RunFolder

__all__ = [
    "REPORT_NAME",
    "METRICS_CSV_NAME",
    "write_report",
    "render_report",
    "write_metrics_csv",
    "metrics_frame",
    "main_strategy",
    "limitations",
]

REPORT_NAME = "report.html"
METRICS_CSV_NAME = "metrics.csv"


# ---------------------------------------------------------------------- render


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("foliocast.risk.report", "templates"),
        autoescape=True,  # every string of the run is data, never markup
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_report(run: RunFolder) -> str:
    """Return the report of a loaded run as one HTML document.

    Parameters
    ----------
    run : RunFolder
        A run read back by `portfolio.runfolder.load_run`.

    Returns
    -------
    str
        A self-contained HTML page: plots as ``data:`` URIs, no script, no URL.

    Raises
    ------
    RunFolderError
        If the run has no returns (a `ValueError`).
    """
    from foliocast.portfolio.backtest.runfolder import RunFolderError

    returns = run.result.returns
    if returns.empty or returns.shape[1] == 0:
        raise RunFolderError(
            f"{run.path / 'returns.csv'}: no returns to report; rerun the backtest"
        )
    kind = _cfg(run.config, "forecaster", "kind")
    main = main_strategy(list(returns.columns), kind)
    sections = [
        _summary_section(run, main),
        _metrics_section(run, main),
        _equity_section(run, main),
        _drawdown_section(run, main),
        _rolling_section(run, main),
        _calendar_section(run, main),
        _weights_section(run, main),
        _turnover_section(run, main),
        _risk_section(run, main),
        _forecast_section(run, main),
        _significance_section(run, main),
        _rebalance_section(run),
        _limitations_section(run),
    ]
    name = (run.metrics.get("run") or {}).get("name") or _cfg(run.config, "name")
    subtitle = " \u00b7 ".join(
        [
            f"{format_date(returns.index[0])} to {format_date(returns.index[-1])}",
            f"{len(returns):,} trading days",
            f"{kind} forecaster",
            f"main strategy {main}",
        ]
    )
    return (
        _environment()
        .get_template("report.html")
        .render(
            title=str(name or run.path.name),
            subtitle=subtitle,
            sections=sections,
            footer="Written by risk.report from the run folder; self-contained: it "
            "opens without a network.",
        )
    )


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary sibling and rename, so no reader sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into a run folder and return its path.

    Parameters
    ----------
    run_dir : str or Path
        A run folder written by `portfolio.runfolder.save_run`.

    Returns
    -------
    Path
        ``run_dir / "report.html"``, replaced atomically if it existed.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` is not a run folder (the message names what is missing).
    RunFolderError
        If a file of the run folder cannot be read back (the message names it).
    """
    from foliocast.portfolio.backtest.runfolder import load_run

    run = load_run(run_dir)
    path = Path(run_dir) / REPORT_NAME
    _write_atomic(path, render_report(run))
    return path


def write_metrics_csv(run_dir: str | Path) -> Path:
    """Write the per-strategy summaries of ``metrics.json`` as ``metrics.csv``.

    Parameters
    ----------
    run_dir : str or Path
        A run folder with a ``metrics.json``.

    Returns
    -------
    Path
        ``run_dir / "metrics.csv"``: one row per strategy, one column per key.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` has no ``metrics.json``.
    RunFolderError
        If ``metrics.json`` is not the metrics of a run (garbled, edited).
    """
    from foliocast.portfolio.backtest.runfolder import read_metrics

    folder = Path(run_dir)
    source = folder / "metrics.json"
    if not source.is_file():
        raise FileNotFoundError(f"{folder}: not a run folder (metrics.json is missing)")
    frame = metrics_frame(read_metrics(source))
    path = folder / METRICS_CSV_NAME
    _write_atomic(path, safe_frame(frame).to_csv(float_format="%.12g"))
    return path
