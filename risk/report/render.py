"""The risk-committee report: one self-contained ``report.html`` from a record.

`render_report` turns a `ReportInput` (`risk.report.record`: plain frames, dicts and
numbers) into one HTML page and `write_report` writes it into a folder. The page
stands alone: plots are PNG data URIs drawn on matplotlib's Agg canvas, the CSS is
inline, there is no script, and a Content-Security-Policy forbids loading anything
else, so it opens offline and can be mailed as one file. Every string of the record
(tickers, strategy names, config values, failure reasons) goes through jinja2 with
autoescaping; the template is ``risk/report/templates/report.html``.

The record names the main strategy, the 1/N strategy and the untraded benchmark;
this package knows no strategy names of its own and imports nothing of
`foliocast.portfolio` (the backtest fills the record from a run folder,
`foliocast.portfolio.backtest.report_input`).

The output is a deterministic function of the record (no timestamps, PNGs without
software metadata, strategies in the order of the returns' columns, assets sorted),
so two reports of the same record are byte-identical.

This module orders the sections and renders and writes the page;
`risk.report.sections` holds the page model, the run facts and the performance
sections, `risk.report.diagnostics` the risk, forecast, significance, rebalance and
limitation sections, `risk.report.plots` draws the figures and `risk.report.tables`
formats the cells and builds the frame-only tables.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from foliocast.data.csv_safety import safe_frame
from foliocast.risk.report.active import tracking_section
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
from foliocast.risk.report.record import ReportInput, RunSettings
from foliocast.risk.report.sections import (
    _calendar_section,
    _drawdown_section,
    _equity_section,
    _metrics_section,
    _rolling_section,
    _summary_section,
    _turnover_section,
    _weights_section,
    metrics_frame,
)
from foliocast.risk.report.tables import format_date

__all__ = [
    "REPORT_NAME",
    "METRICS_CSV_NAME",
    "ReportInput",
    "RunSettings",
    "write_report",
    "render_report",
    "write_metrics_csv",
    "metrics_frame",
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


def render_report(record: ReportInput) -> str:
    """Return the report of a run as one HTML document.

    Parameters
    ----------
    record : ReportInput
        Everything the report shows (`risk.report.record`).

    Returns
    -------
    str
        A self-contained HTML page: plots as ``data:`` URIs, no script, no URL.
    """
    returns, settings = record.returns, record.settings
    sections = [
        _summary_section(record),
        _metrics_section(record),
        _equity_section(record),
        _drawdown_section(record),
        _rolling_section(record),
        _calendar_section(record),
        _weights_section(record),
        _turnover_section(record),
        _risk_section(record),
        tracking_section(record),
        _forecast_section(record),
        _significance_section(record),
        _rebalance_section(record),
        _limitations_section(record),
    ]
    subtitle = " \u00b7 ".join(
        [
            f"{format_date(returns.index[0])} to {format_date(returns.index[-1])}",
            f"{len(returns):,} trading days",
            f"{settings.forecaster} forecaster",
            f"main strategy {record.main}",
        ]
    )
    return (
        _environment()
        .get_template("report.html")
        .render(
            title=settings.name,
            subtitle=subtitle,
            sections=sections,
            footer="Written by foliocast.risk.report; self-contained: it opens "
            "without a network.",
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


def _folder(out_dir: str | Path) -> Path:
    folder = Path(out_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder to write the report into")
    return folder


def write_report(record: ReportInput, out_dir: str | Path) -> Path:
    """Write ``report.html`` of ``record`` into a folder and return its path.

    Parameters
    ----------
    record : ReportInput
        Everything the report shows.
    out_dir : str or Path
        An existing folder (normally the run folder).

    Returns
    -------
    Path
        ``out_dir / "report.html"``, replaced atomically if it existed.

    Raises
    ------
    FileNotFoundError
        If ``out_dir`` is not a folder.
    """
    path = _folder(out_dir) / REPORT_NAME
    _write_atomic(path, render_report(record))
    return path


def write_metrics_csv(metrics: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write the per-strategy summaries of a run's metrics as ``metrics.csv``.

    Parameters
    ----------
    metrics : mapping
        ``{"strategies": {name: summary}, ...}`` (`ReportInput.metrics`).
    out_dir : str or Path
        An existing folder (normally the run folder).

    Returns
    -------
    Path
        ``out_dir / "metrics.csv"``: one row per strategy, one column per key.

    Raises
    ------
    FileNotFoundError
        If ``out_dir`` is not a folder.
    """
    frame = metrics_frame(metrics)
    path = _folder(out_dir) / METRICS_CSV_NAME
    _write_atomic(path, safe_frame(frame).to_csv(float_format="%.12g"))
    return path
