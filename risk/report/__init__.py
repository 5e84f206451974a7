"""The risk-committee report: one self-contained ``report.html`` from a run."""

from foliocast.risk.report.render import write_report

__all__ = ["write_report"]
