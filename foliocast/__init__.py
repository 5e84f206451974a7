"""foliocast: forecast-driven multi-asset allocation.

The repository's top-level folders are installed under this one name, so that a
user's own ``data/`` folder, ``data.py`` or ``risk.py`` can never shadow them::

    from foliocast.data import load_dataset
    from foliocast.forecasting import make_forecaster
    from foliocast.portfolio import optimize
    from foliocast.risk import performance_summary

``pyproject.toml`` maps ``foliocast.data`` to ``data/``, ``foliocast.forecasting`` to
``forecasting/``, ``foliocast.portfolio`` to ``portfolio/`` and ``foliocast.risk`` to
``risk/``. Importing this package imports none of them.
"""

__version__ = "0.1.0"
