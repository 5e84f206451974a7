"""The held-out part of a run: its config key, its metrics and its place in the report.

One short run (EWMA forecaster, 2016-2017, the second year held out) serves every
test here; the held-out numbers are recomputed from the saved returns and forecast
table with the formulas written out. Its report is the one drawn from a run folder
(run folder -> record -> report); `tests/risk/report` draws reports from records
built by hand.
"""

import datetime
import math

import numpy as np
import pytest

from foliocast.portfolio.backtest.report_input import report_input
from foliocast.portfolio.backtest.run import run
from foliocast.portfolio.backtest.runfolder import load_run, save_output, staging
from foliocast.portfolio.config import ConfigError, config_from_dict
from foliocast.portfolio.names import (
    EQUAL_WEIGHT,
    INDEX,
    model_strategy_name,
)
from foliocast.risk.report.render import render_report

HELD_OUT = "2017-01-01"
CONFIG = config_from_dict(
    {
        "name": "held_out_test",
        "data": {"risk_free": 0.02},
        "backtest": {
            "start": "2016-01-01",
            "end": "2017-12-31",
            "held_out_from": HELD_OUT,
        },
        "forecaster": {"kind": "ewma"},
        "strategies": ["lstm_mvo", EQUAL_WEIGHT],
    }
)
MODEL = model_strategy_name(CONFIG)


@pytest.mark.parametrize(
    ("backtest", "message"),
    [
        ({"held_out_from": "2017-13-01"}, "backtest.held_out_from: '2017-13-01'"),
        ({"held_out_from": "01/06/2017"}, "YYYY-MM-DD"),
        (
            {"start": "2010-01-01", "held_out_from": "2009-06-30"},
            "is not after backtest.start",
        ),
        (
            {"start": "2010-01-01", "held_out_from": "2010-01-01"},
            "is not after backtest.start",
        ),
        (
            {"end": "2012-12-31", "held_out_from": "2013-01-01"},
            "is not before backtest.end",
        ),
    ],
)
def test_bad_held_out_dates_are_refused_with_the_key(backtest, message):
    with pytest.raises(ConfigError, match="backtest.held_out_from") as err:
        config_from_dict({"backtest": backtest})
    assert message in str(err.value)


def test_held_out_is_off_by_default_and_accepts_a_yaml_date():
    assert config_from_dict({}).backtest.held_out_from is None
    config = config_from_dict(
        {"backtest": {"held_out_from": datetime.date(2010, 1, 4)}}
    )
    assert config.backtest.held_out_from == "2010-01-04"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    output = run(CONFIG)
    folder = tmp_path_factory.mktemp("held_out") / "run"
    with staging(folder) as stage:
        save_output(stage, output)
    return folder


def test_held_out_summary_is_that_of_the_sliced_returns(run_dir):
    saved = load_run(run_dir)
    part = saved.metrics["held_out"]
    returns = saved.result.returns.loc[HELD_OUT:]
    assert part["from"] == HELD_OUT
    assert part["start"] == returns.index[0].date().isoformat() >= HELD_OUT
    assert part["days"] == len(returns) < len(saved.result.returns)
    daily_rf = saved.risk_free.reindex(returns.index)
    for name in (MODEL, EQUAL_WEIGHT):
        r = returns[name]
        excess = r - daily_rf
        sharpe = excess.mean() / excess.std(ddof=1) * math.sqrt(252)
        cagr = np.prod(1.0 + r.to_numpy()) ** (252 / len(r)) - 1.0
        rebalances = saved.result.rebalances
        own = rebalances[(rebalances.strategy == name) & (rebalances.date >= HELD_OUT)]
        turnover = own.turnover.sum() / (len(r) / 252)
        summary = part["strategies"][name]
        assert summary["sharpe"] == pytest.approx(sharpe, rel=1e-9)
        assert summary["annual_return"] == pytest.approx(cagr, rel=1e-9)
        assert summary["turnover"] == pytest.approx(turnover, rel=1e-9)
    # The full-period numbers are a different period's.
    full = saved.metrics["strategies"][MODEL]["sharpe"]
    assert part["strategies"][MODEL]["sharpe"] != pytest.approx(full)


def test_held_out_forecast_skill_scores_only_the_later_forecasts(run_dir):
    saved = load_run(run_dir)
    per_date = saved.forecast_skill  # the whole run's forecasts, one row each
    later = per_date.loc[per_date.index >= HELD_OUT]
    skill = saved.metrics["held_out"]["forecast"]["model"]
    assert 0 < skill["n_forecasts"] == len(later) < len(per_date)
    assert skill["ic_mean"] == pytest.approx(later["ic"].mean(), rel=1e-12)
    assert skill["gaussian_nll_mean"] == pytest.approx(
        later["gaussian_nll"].mean(), rel=1e-12
    )


def test_the_record_of_a_run_folder_states_its_config(run_dir):
    record = report_input(load_run(run_dir))
    assert record.main == MODEL == "ewma_mvo"
    assert (record.one_over_n, record.benchmark) == (EQUAL_WEIGHT, INDEX)
    # The bundled data's index comes as a benchmark column.
    assert list(record.returns.columns) == [MODEL, EQUAL_WEIGHT, INDEX]
    assert record.descriptions[INDEX].startswith("the benchmark index")
    assert record.descriptions[MODEL].startswith("the ewma forecaster's mean")
    assert record.descriptions[EQUAL_WEIGHT].startswith("1/N")
    settings = record.settings
    assert settings.name == "held_out_test" and settings.forecaster == "ewma"
    assert settings.horizon == CONFIG.forecaster.horizon
    assert settings.risk_free == 0.02 and settings.cost_bps == 10.0
    assert record.config["backtest"]["held_out_from"] == HELD_OUT


def test_report_marks_the_held_out_part(run_dir):
    page = render_report(report_input(load_run(run_dir)))
    assert page.count(f"Held out from {HELD_OUT}") >= 2  # summary and equity
    assert "no design or setting was tuned on it" in page
    assert f"Shaded: the held-out part, from {HELD_OUT} on." in page
    # Forecast skill and significance shown again for the held-out part.
    assert page.count(f"Held-out part, from {HELD_OUT}") == 2


def test_held_out_past_the_end_of_the_data_is_a_config_error():
    config = config_from_dict(
        {
            "data": {"risk_free": 0.02},
            "backtest": {"start": "2022-06-01", "held_out_from": "2030-01-01"},
            "forecaster": {"kind": "historical"},
            "strategies": ["equal_weight"],
        }
    )
    with pytest.raises(ConfigError, match="fewer than two days of returns"):
        run(config)
