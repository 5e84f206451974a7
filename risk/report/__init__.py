"""The risk-committee report: one self-contained ``report.html`` from a record.

Build a `ReportInput` (plain frames, dicts and numbers; `RunSettings` for the run's
settings) and call `render_report` or `write_report`.
"""

from foliocast.risk.report.record import ReportInput, RunSettings
from foliocast.risk.report.render import render_report, write_report

__all__ = ["ReportInput", "RunSettings", "render_report", "write_report"]
