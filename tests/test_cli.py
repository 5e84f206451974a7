"""The command line as a user runs it."""

import subprocess
import sys

import pytest

from tests.cli_runner import run_main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "portfolio", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_datasets_prints_the_table():
    result = run_cli("datasets")
    assert result.returncode == 0, result.stderr
    for name in ["sp500", "factors", "sp500_index", "wti", "multi_asset", "risk_free"]:
        assert name in result.stdout
    assert "Traceback" not in result.stderr


def test_unknown_command_exits_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


# The default config, shortened: one year, a small LSTM trained for few epochs.
QUICK = """\
name: quick
backtest: {start: 2016-01-01, end: 2016-12-31}
forecaster:
  lookback_days: 756
  retrain_months: 12
  model: {hidden: 8, seq_len: 21, factors: 2, ensemble: 2}
  train: {max_epochs: 2, batch_size: 128}
"""
STRATEGIES = [
    "lstm_mvo",
    "lstm_bl",
    "baseline_mvo",
    "min_variance",
    "equal_weight",
    "buy_and_hold",
]


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """The shortened default run twice, as a user runs it (the slow part, shared)."""
    folder = tmp_path_factory.mktemp("quick")
    config = folder / "quick.yaml"
    config.write_text(QUICK)
    runs = []
    for out in ["a", "b"]:
        result = run_cli(
            "backtest", "--config", str(config), "--out", str(folder / out), "--quiet"
        )
        assert result.returncode == 0, result.stderr
        runs.append(folder / out)
    return config, runs


def test_backtest_writes_a_run_folder(quick_runs):
    _, (out, _) = quick_runs
    for name in [
        "config.yaml",
        "metrics.json",
        "returns.csv",
        "weights.csv",
        "trades.csv",
    ]:
        assert (out / name).is_file(), name
    returns = (out / "returns.csv").read_text().splitlines()
    assert returns[0] == ",".join(["date", *STRATEGIES, "index"])
    assert (out / "report.html").stat().st_size > 100_000
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_same_config_gives_same_metrics(quick_runs):
    _, (first, second) = quick_runs
    assert (first / "metrics.json").read_text() == (second / "metrics.json").read_text()


def test_an_existing_run_is_kept_without_force_and_replaced_with_it(tmp_path, capsys):
    from foliocast.portfolio import cli

    config = tmp_path / "quick.yaml"
    config.write_text(QUICK.replace("lookback_days: 756", "kind: ewma"))
    out = tmp_path / "run"
    argv = ["backtest", "--config", str(config), "--out", str(out), "--quiet"]
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


def test_report_rebuilds_from_the_run_folder(quick_runs, tmp_path):
    import shutil

    _, (made, _) = quick_runs
    out = tmp_path / "run"
    shutil.copytree(made, out)
    report = out / "report.html"
    original = report.read_bytes()
    report.unlink()
    result = run_cli("report", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(report)
    assert report.read_bytes() == original

    missing = run_main("report", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "no such run folder" in missing.stderr and "Traceback" not in missing.stderr
    not_a_run = run_main("report", str(tmp_path))
    assert not_a_run.returncode == 2 and "not a run folder" in not_a_run.stderr


# In-process checks of the config against the data: each ends before any training,
# with exit code 2, one line on stderr and nothing left behind.
SHORT = "backtest: {start: 2016-01-01, end: 2017-12-31}\n"


def _refused(tmp_path, capsys, text: str) -> str:
    from foliocast.portfolio import cli

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
    from foliocast.portfolio import cli

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
