"""Prices in: bundled real datasets, user files, validation, calendars and returns.

The names below load their module on first use (PEP 562): ``foliocast.data.errors``
and ``foliocast.data.catalogue`` are imported by the command line before it knows
whether pandas is needed, and importing them must not load it.
"""

from __future__ import annotations

from foliocast._exports import lazy_exports

# Public name -> the module that defines it.
_EXPORTS = {
    "align_prices": "foliocast.data.calendar",
    "availability_mask": "foliocast.data.calendar",
    "log_returns": "foliocast.data.calendar",
    "period_ends": "foliocast.data.calendar",
    "rebalance_schedule": "foliocast.data.calendar",
    "simple_returns": "foliocast.data.calendar",
    "asset_classes": "foliocast.data.datasets",
    "list_datasets": "foliocast.data.datasets",
    "load_dataset": "foliocast.data.datasets",
    "risk_free_info": "foliocast.data.datasets",
    "risk_free_rate": "foliocast.data.datasets",
    "sectors": "foliocast.data.datasets",
    "DataError": "foliocast.data.errors",
    "prices_fingerprint": "foliocast.data.fingerprint",
    "load_prices": "foliocast.data.loaders",
    "DataQualityWarning": "foliocast.data.quality",
    "check_prices": "foliocast.data.quality",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
