"""Reading a run folder back: every damaged or missing file is one clear line."""

import json
from pathlib import Path

import pandas as pd
import pytest

from foliocast.portfolio import cli
from foliocast.portfolio.backtest.report_input import report_input
from foliocast.portfolio.backtest.runfolder import RunFolderError, load_run

# A tiny run folder as save_run writes it (two days, one strategy, one asset).
FILES = {
    "config.yaml": "name: tiny\nstrategies: [equal_weight]\n",
    "metrics.json": json.dumps(
        {"strategies": {"equal_weight": {"sharpe": 1.0}}, "run": {"name": "tiny"}}
    ),
    "returns.csv": "date,equal_weight\n2020-01-02,0.01\n2020-01-03,-0.005\n",
    "gross_returns.csv": "date,equal_weight\n2020-01-02,0.011\n2020-01-03,-0.004\n",
    "weights.csv": "date,strategy,asset,weight,drifted\n"
    "2020-01-02,equal_weight,AAA,1.0,0\n",
    "trades.csv": "date,strategy,asset,trade\n2020-01-02,equal_weight,AAA,1.0\n",
    "rebalances.csv": "date,strategy,turnover,cost,status,reason,predicted_vol,"
    "retrained\n2020-01-02,equal_weight,0.5,0.001,traded,,0.05,True\n",
    "forecasts.csv": "date,forecaster,asset,mu,vol,idio\n"
    "2020-01-02,model,AAA,0.01,0.1,0\n",
    "forecast_skill.csv": "as_of,horizon,ic\n2020-01-02,21,0.1\n",
    "risk_free.csv": "date,rf\n2020-01-02,0.0001\n2020-01-03,0.0001\n",
    "assets.csv": "asset,asset_class,sector\nAAA,equity,Tech\n",
    "timings.json": json.dumps({"fit": 1.5}),
}


@pytest.fixture
def run_dir(tmp_path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text)
    return folder


def test_a_whole_run_folder_reads_back(run_dir):
    run = load_run(run_dir)
    assert run.result.returns.loc["2020-01-03", "equal_weight"] == -0.005
    assert isinstance(run.result.returns.index, pd.DatetimeIndex)
    assert run.risk_free.iloc[0] == 0.0001
    assert run.result.weights["weight"].tolist() == [1.0]
    assert run.forecast_skill["ic"].iloc[0] == 0.1
    assert run.metrics["run"]["name"] == "tiny" and run.config["name"] == "tiny"


DAMAGE = [
    ("metrics.json", '{"strategies": {', ["metrics.json", "not valid JSON", "line 1"]),
    ("metrics.json", "[1, 2]", ["metrics.json", "not the metrics of a run"]),
    ("metrics.json", b"\xff\xfe\xfa", ["metrics.json", "not valid JSON"]),
    (
        "returns.csv",
        "date,equal_weight\n2020-01-02,0.01\n2020-01-03,\n",
        ["returns.csv", "an empty cell", "'equal_weight'", "line 3"],
    ),
    (
        "returns.csv",
        "date,equal_weight\n2020-01-02,abc\n",
        ["returns.csv", "'abc'", "line 2", "not a finite number"],
    ),
    (
        "returns.csv",
        "date,equal_weight\nyesterday,0.01\n",
        ["returns.csv", "'yesterday'", "not a date"],
    ),
    ("returns.csv", "", ["returns.csv", "empty"]),
    ("returns.csv", "equal_weight\n0.01\n", ["returns.csv", "date column"]),
    (
        "gross_returns.csv",
        "date,equal_weight\n2020-01-02,inf\n",
        ["gross_returns.csv", "'inf'", "not a finite number"],
    ),
    ("risk_free.csv", "date,rate\n2020-01-02,0.0\n", ["risk_free.csv", "'rf'"]),
    (
        "weights.csv",
        "date,strategy,asset\n2020-01-02,equal_weight,AAA\n",
        ["weights.csv", "no column 'weight'"],
    ),
    (
        "weights.csv",
        "date,strategy,asset,weight\n2020-01-02,equal_weight,AAA,lots\n",
        ["weights.csv", "'lots'", "'weight'", "line 2"],
    ),
    (
        "forecast_skill.csv",
        "as_of,horizon,ic\n2020-01-02,21,high\n",
        ["forecast_skill.csv", "'high'", "'ic'"],
    ),
    ("config.yaml", "name: [unclosed\n", ["config.yaml", "not valid YAML"]),
    ("config.yaml", "- just\n- a list\n", ["config.yaml", "not a run config"]),
    ("timings.json", "[1]", ["timings.json", "not an object"]),
]


@pytest.mark.parametrize(("name", "content", "words"), DAMAGE)
def test_a_damaged_file_is_one_line_naming_it(run_dir, name, content, words, capsys):
    path = run_dir / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(RunFolderError) as caught:
        load_run(run_dir)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    # The report command says the same in one line, exit code 2.
    assert cli.main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and name in err, err
    assert not (run_dir / "report.html").exists()


def test_a_python_tag_in_the_config_is_refused_not_run(run_dir, tmp_path, capsys):
    marker = tmp_path / "executed"
    (run_dir / "config.yaml").write_text(
        f"!!python/object/apply:pathlib.Path.touch [{json.dumps(str(marker))}]\n"
    )
    with pytest.raises(RunFolderError, match=r"config\.yaml.*not valid YAML"):
        load_run(run_dir)
    assert cli.main(["report", str(run_dir)]) == 2
    assert "config.yaml" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize("name", ["gross_returns.csv", "risk_free.csv", "trades.csv"])
def test_a_missing_file_is_named(run_dir, name, capsys):
    (run_dir / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"{name} is missing"):
        load_run(run_dir)
    assert cli.main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and name in err


def test_the_report_of_a_tiny_run_folder_is_written(run_dir, capsys):
    record = report_input(load_run(run_dir))
    assert record.main == "equal_weight" and record.settings.horizon == 21
    assert cli.main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "report.html")
    assert "<html" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_a_config_that_is_not_a_run_config_is_one_line(run_dir, capsys):
    (run_dir / "config.yaml").write_text("name: tiny\nforecaster: {depth: 3}\n")
    with pytest.raises(RunFolderError, match=r"config\.yaml: not a valid run config"):
        report_input(load_run(run_dir))
    assert cli.main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "forecaster.depth: unknown key" in err, err
    assert not (run_dir / "report.html").exists()


def test_the_report_does_not_read_the_factor_table(run_dir, capsys):
    # A damaged factor table would stop any reader of it: the report never is one
    # (at 500 assets the table is gigabytes).
    (run_dir / "forecast_factors.csv").write_text(
        "date,forecaster,asset,factor,loading\n2020-01-02,model,AAA,f1,oops\n"
    )
    with pytest.raises(RunFolderError, match="forecast_factors.csv"):
        load_run(run_dir)
    assert load_run(run_dir, factors=False).result.forecast_factors.empty
    assert cli.main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "report.html")
