"""The command line as a user runs it."""

import subprocess
import sys


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


QUICK = """\
name: quick
backtest: {start: 2016-01-01, end: 2017-12-31}
forecaster: {kind: historical, lookback_days: 252}
strategies: [equal_weight, buy_and_hold]
"""


def test_backtest_writes_a_run_folder_and_refuses_to_overwrite(tmp_path):
    config = tmp_path / "quick.yaml"
    config.write_text(QUICK)
    out = tmp_path / "run"
    result = run_cli("backtest", "--config", str(config), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    for name in [
        "config.yaml",
        "metrics.json",
        "returns.csv",
        "weights.csv",
        "trades.csv",
    ]:
        assert (out / name).is_file(), name
    returns = (out / "returns.csv").read_text().splitlines()
    assert returns[0] == "date,equal_weight,buy_and_hold,index"
    stamp = (out / "metrics.json").stat().st_mtime_ns

    again = run_cli("backtest", "--config", str(config), "--out", str(out), "--quiet")
    assert again.returncode == 2
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert (out / "metrics.json").stat().st_mtime_ns == stamp

    forced = run_cli(
        "backtest", "--config", str(config), "--out", str(out), "--quiet", "--force"
    )
    assert forced.returncode == 0, forced.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_same_config_gives_same_metrics(tmp_path):
    config = tmp_path / "quick.yaml"
    config.write_text(QUICK)
    for out in ["a", "b"]:
        result = run_cli(
            "backtest", "--config", str(config), "--out", str(tmp_path / out), "--quiet"
        )
        assert result.returncode == 0, result.stderr
    first = (tmp_path / "a" / "metrics.json").read_text()
    assert first == (tmp_path / "b" / "metrics.json").read_text()


def test_bad_config_exits_2_with_one_line_and_no_folder(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("optimizer:\n  risk_aversoin: 3\n")
    out = tmp_path / "run"
    result = run_cli("backtest", "--config", str(config), "--out", str(out))
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
    result = run_cli("backtest", "--config", str(config), "--out", str(out), "--quiet")
    assert result.returncode == 2
    assert "non-numeric value 'abc'" in result.stderr and "line 2" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "prices.csv"]
