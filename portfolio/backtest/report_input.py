"""A run folder as the report's record: what `foliocast.risk.report` renders.

The report knows nothing of run folders, configs or strategy names: `report_input`
hands it the run's frames and metrics, the settings it states (typed, from the
validated config, so the report keeps no defaults of its own), what each strategy
is (`describe_strategy`), the main strategy (`main_strategy`), and which columns are
1/N and the benchmark index. `write_run_report` is the run folder -> ``report.html``
step of ``portfolio backtest`` and ``portfolio report``.
"""

from __future__ import annotations

from pathlib import Path

from foliocast.portfolio.backtest.runfolder import RunFolder, load_run
from foliocast.portfolio.backtest.strategies import describe_strategy
from foliocast.portfolio.config import (
    ConfigError,
    RunConfig,
    config_from_dict,
    config_to_dict,
)
from foliocast.portfolio.errors import RunFolderError
from foliocast.portfolio.names import EQUAL_WEIGHT, INDEX, main_strategy
from foliocast.risk.report.record import ReportInput, RunSettings
from foliocast.risk.report.render import write_report

__all__ = ["report_input", "write_run_report"]

_DAMAGED = "rerun the backtest to write the run folder again"


def _run_config(run: RunFolder) -> RunConfig:
    """The run's ``config.yaml`` validated, as the backtest read it."""
    try:
        return config_from_dict(run.config)
    except ConfigError as err:
        raise RunFolderError(
            f"{run.path / 'config.yaml'}: not a valid run config ({err}); {_DAMAGED}"
        ) from None


def _settings(config: RunConfig, name: str) -> RunSettings:
    plain = config_to_dict(config)
    forecaster, backtest, data = config.forecaster, config.backtest, config.data
    return RunSettings(
        name=name,
        forecaster=forecaster.kind,
        horizon=forecaster.horizon,
        cost_bps=backtest.cost_bps,
        rebalance=backtest.rebalance,
        start=backtest.start,
        end=backtest.end,
        min_history_days=backtest.min_history_days,
        on_failure=backtest.on_failure,
        cash=backtest.cash,
        dataset=data.dataset,
        risk_free=data.risk_free,
        retrain_months=forecaster.retrain_months,
        window=forecaster.window,
        lookback_days=forecaster.lookback_days,
        model=plain["forecaster"].get("model"),
        train=plain["forecaster"].get("train"),
        optimizer=plain["optimizer"],
    )


def report_input(run: RunFolder, config: RunConfig | None = None) -> ReportInput:
    """Return the report's record of a run read back from its folder.

    Parameters
    ----------
    run : RunFolder
        A run read back by `load_run`.
    config : RunConfig, optional
        The run's config; by default its ``config.yaml``, validated.

    Returns
    -------
    ReportInput
        The record `foliocast.risk.report.render_report` draws.

    Raises
    ------
    RunFolderError
        If the run has no returns or its ``config.yaml`` is not a valid config
        (a `ValueError`; the message names the file).
    """
    returns = run.result.returns
    if returns.empty or returns.shape[1] == 0:
        raise RunFolderError(
            f"{run.path / 'returns.csv'}: no returns to report; {_DAMAGED}"
        )
    config = _run_config(run) if config is None else config
    plain = config_to_dict(config)
    names = [str(name) for name in returns.columns]
    info = run.metrics.get("run") or {}
    return ReportInput(
        returns=returns,
        metrics=run.metrics,
        settings=_settings(config, str(info.get("name") or config.name)),
        main=main_strategy(names, config.forecaster.kind),
        # Shown verbatim: exactly the config.yaml of the folder.
        config=run.config,
        descriptions={name: describe_strategy(name, plain) for name in names},
        weights=run.result.weights,
        rebalances=run.result.rebalances,
        forecasts=run.result.forecasts,
        forecast_skill=run.forecast_skill,
        risk_free=run.risk_free,
        assets=run.assets,
        benchmark=INDEX,
        one_over_n=EQUAL_WEIGHT,
    )


def write_run_report(run_dir: str | Path, config: RunConfig | None = None) -> Path:
    """Write ``report.html`` of a run folder into it and return its path.

    Parameters
    ----------
    run_dir : str or Path
        A run folder written by `foliocast.portfolio.backtest.runfolder.save_run`.
    config : RunConfig, optional
        The run's config; by default its ``config.yaml``, validated.

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
    run = load_run(run_dir, factors=False)  # the report has no use for them
    return write_report(report_input(run, config), run_dir)
