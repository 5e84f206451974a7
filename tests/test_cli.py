"""The command line: one subprocess smoke test per command, the rest in process."""

import json

import pytest

from foliocast.portfolio import cli
from tests.cli_runner import run_cli, run_main

DEFAULT_STRATEGIES = [
    "lstm_mvo",
    "lstm_bl",
    "baseline_mvo",
    "min_variance",
    "risk_parity",
    "hrp",
    "equal_weight",
    "buy_and_hold",
]

# The shortest useful backtest: two monthly rebalances, no LSTM.
CHEAP = """\
name: cheap
backtest: {start: 2016-01-01, end: 2016-03-31}
forecaster: {kind: ledoit_wolf, lookback_days: 252}
strategies: [baseline_mvo, equal_weight]
"""


@pytest.fixture
def cheap_config(tmp_path):
    path = tmp_path / "cheap.yaml"
    path.write_text(CHEAP)
    return path


# ------------------------------------------------ smoke: one process per command


def test_smoke_datasets(tmp_path):
    result = run_cli("datasets", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ["sp500", "factors", "sp500_index", "wti", "multi_asset", "risk_free"]:
        assert name in result.stdout
    assert result.stderr == ""


def test_smoke_backtest_then_report(tmp_path, cheap_config):
    result = run_cli(
        *["backtest", "--config", str(cheap_config), "--out", "run", "--quiet"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "run/report.html"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert list(metrics["strategies"])[:2] == ["baseline_mvo", "equal_weight"]

    # `report` rebuilds the same page from the files of the run folder.
    report = tmp_path / "run" / "report.html"
    original = report.read_bytes()
    report.unlink()
    result = run_cli("report", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "run/report.html"
    assert report.read_bytes() == original


def test_smoke_rebalance(tmp_path, cheap_config):
    (tmp_path / "holdings.csv").write_text("ticker,shares\nAAPL,10\nCASH,10000\n")
    result = run_cli(
        "rebalance",
        *["--config", str(cheap_config), "--holdings", "holdings.csv"],
        *["--as-of", "2016-03-31", "--out", "plan", "--quiet"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "plan"
    assert (tmp_path / "plan").is_dir()


def test_smoke_sweep_then_compare(tmp_path):
    (tmp_path / "grid.yaml").write_text(
        "name: smoke\n"
        "base:\n"
        "  backtest: {start: 2016-01-01, end: 2016-03-31}\n"
        "  forecaster: {lookback_days: 252}\n"
        "  strategies: [lstm_mvo, equal_weight]\n"
        "grid: {forecaster.kind: [historical, ledoit_wolf]}\n"
    )
    sweep = run_cli(
        "sweep",
        "grid.yaml",
        "--out",
        "sweep",
        "--workers",
        "1",
        "--quiet",
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr
    compare = run_cli("compare", "sweep", "--quiet", cwd=tmp_path)
    assert compare.returncode == 0, compare.stderr
    assert compare.stdout.strip() == "sweep/forecasters.md"
    table = (tmp_path / "sweep" / "forecasters.md").read_text()
    assert "historical" in table and "ledoit_wolf" in table


# ------------------------------------------------------------------- in process


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["frobnicate"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_backtest_writes_a_run_folder(lstm_run):
    out, result = lstm_run
    for name in [
        "config.yaml",
        "metrics.json",
        "returns.csv",
        "weights.csv",
        "trades.csv",
    ]:
        assert (out / name).is_file(), name
    returns = (out / "returns.csv").read_text().splitlines()
    assert returns[0] == ",".join(["date", *DEFAULT_STRATEGIES, "index"])
    assert (out / "report.html").stat().st_size > 100_000
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []
    # The summary table names every strategy and the report.
    assert all(name in result.stdout for name in DEFAULT_STRATEGIES)
    assert f"report: {out / 'report.html'}" in result.stdout


def test_an_existing_run_is_kept_without_force_and_replaced_with_it(
    tmp_path, capsys, monkeypatch, cheap_config
):
    # Drawing the report adds seconds and nothing to what is checked here.
    monkeypatch.setattr(cli, "_write_report", lambda folder: folder / "report.html")
    out = tmp_path / "run"
    argv = ["backtest", "--config", str(cheap_config), "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    stamp = (out / "metrics.json").stat().st_mtime_ns

    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and "Traceback" not in err
    assert (out / "metrics.json").stat().st_mtime_ns == stamp

    assert cli.main([*argv, "--force"]) == 0
    assert (out / "metrics.json").stat().st_mtime_ns != stamp
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_config_exits_2_with_one_line_and_no_folder(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("optimizer:\n  risk_aversoin: 3\n")
    out = tmp_path / "run"
    result = run_main("backtest", "--config", str(config), "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "optimizer.risk_aversoin: unknown key" in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == [config]


def test_bad_data_file_exits_2_and_leaves_nothing(tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("date,AAA\n2021-01-04,abc\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{dataset: null, path: {prices}}}\n")
    out = tmp_path / "run"
    result = run_main("backtest", "--config", str(config), "--out", str(out), "--quiet")
    assert result.returncode == 2
    assert "non-numeric value 'abc'" in result.stderr and "line 2" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "prices.csv"]


def test_report_of_what_is_not_a_run_folder_is_one_line(tmp_path):
    missing = run_main("report", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "no such run folder" in missing.stderr and "Traceback" not in missing.stderr
    not_a_run = run_main("report", str(tmp_path))
    assert not_a_run.returncode == 2 and "not a run folder" in not_a_run.stderr


# In-process checks of the config against the data: each ends before any training,
# with exit code 2, one line on stderr and nothing left behind.
SHORT = "backtest: {start: 2016-01-01, end: 2017-12-31}\n"


def _refused(tmp_path, capsys, text: str) -> str:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    out = tmp_path / "run"
    code = cli.main(["backtest", "--config", str(config), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]
    return lines[0]


def test_a_multi_series_benchmark_is_refused(tmp_path, capsys):
    line = _refused(tmp_path, capsys, SHORT + "data: {index: sp500}\n")
    assert "data.index: dataset 'sp500' holds 20 series" in line
    assert "single series" in line


def test_an_end_before_the_data_is_refused(tmp_path, capsys):
    line = _refused(
        tmp_path, capsys, "backtest: {start: 1980-01-01, end: 1985-06-30}\n"
    )
    assert "backtest.end: 1985-06-30 is before the data starts (1990-01-02)" in line


@pytest.mark.parametrize(
    "constraints, conflict",
    [
        (
            "{max_weight: 0.01}",
            "max weight 0.01 x 20 assets = 0.20 is below the budget",
        ),
        ("{max_weight: 0.25, turnover: 0}", "turnover limit 0.0000 (one-way)"),
        (
            "{long_only: false, min_weight: -0.1, max_leverage: 0.5}",
            "gross leverage limit 0.50",
        ),
    ],
)
def test_constraints_no_portfolio_can_meet_are_refused(
    tmp_path, capsys, constraints, conflict
):
    text = SHORT + f"optimizer: {{constraints: {constraints}}}\n"
    line = _refused(tmp_path, capsys, text)
    assert line.startswith("error: optimizer.constraints: cannot be met on 2016-01-29")
    assert conflict in line


def test_the_summary_counts_failed_rebalances(capsys, tmp_path):
    metrics = {
        "run": {
            "name": "r",
            "start": "2016-01-04",
            "end": "2017-12-29",
            "rebalances": 24,
        },
        "strategies": {
            "lstm_mvo": {"sharpe": 0.5, "rebalances_failed": 3},
            "equal_weight": {"sharpe": 0.7, "rebalances_failed": 0},
        },
    }
    cli._print_metrics(metrics, tmp_path / "report.html")
    out = capsys.readouterr().out
    assert "3 of 24 rebalances of lstm_mvo failed" in out
    assert "equal_weight failed" not in out
