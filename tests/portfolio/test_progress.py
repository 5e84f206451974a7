"""Progress on stderr: throttled lines without a terminal, a bar on one, none quiet."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from foliocast.forecasting.train import EpochEnd
from foliocast.portfolio import cli
from foliocast.portfolio.config import ConfigError
from foliocast.portfolio.progress import (
    DEFAULT_INTERVAL,
    INTERVAL_VARIABLE,
    Reporter,
    progress_interval,
)

LINE = re.compile(r"^\d\d:\d\d:\d\d (.+): (\d+)/(\d+) (\w+), \d+ s elapsed(, .+)?$")


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def parsed(text: str) -> list[tuple[str, int, int, str]]:
    """(description, done, total, unit) of each progress line; others fail."""
    rows = []
    for line in text.splitlines():
        match = LINE.match(line)
        assert match, f"not a progress line: {line!r}"
        rows.append((match[1], int(match[2]), int(match[3]), match[4]))
    return rows


def test_lines_are_throttled_but_a_phase_start_and_end_are_kept():
    stream = io.StringIO()
    with Reporter(interval=3600, stream=stream) as reporter:
        for done in range(1, 11):
            reporter.update(f"backtest 2003-{done:02d}", done, 10, "rebalances")
        reporter.update("training lstm", 1, 30, "epochs")
        reporter.update("training lstm", 2, 30, "epochs")
    assert parsed(stream.getvalue()) == [
        ("backtest 2003-01", 1, 10, "rebalances"),
        ("backtest 2003-10", 10, 10, "rebalances"),
        ("training lstm", 1, 30, "epochs"),
    ]


def test_each_unit_keeps_its_own_clock(monkeypatch):
    # Epochs come often; they must not use up the rebalances' turn to be shown.
    clock = iter(range(0, 10_000, 4))
    monkeypatch.setattr(
        "foliocast.portfolio.progress.time.monotonic", lambda: next(clock)
    )
    stream = io.StringIO()
    with Reporter(interval=10, stream=stream) as reporter:
        for done in range(1, 7):
            reporter.update(f"backtest 2003-{done:02d}", done, 100, "rebalances")
            for epoch in range(1, 4):
                reporter.update("training lstm", epoch, 30, "epochs")
    shown = [(text, unit) for text, _, _, unit in parsed(stream.getvalue())]
    assert shown.count(("training lstm", "epochs")) >= 2
    # Rebalances come 16 s apart, beyond the 10 s interval: every one is shown (one
    # clock shared with the epochs showed only half of them).
    assert [text for text, unit in shown if unit == "rebalances"] == [
        f"backtest 2003-{done:02d}" for done in range(1, 7)
    ]


def test_interval_zero_writes_every_update_and_quiet_nothing():
    stream = io.StringIO()
    with Reporter(interval=0, stream=stream) as reporter:
        for done in range(1, 4):
            reporter.update("backtest", done, 3, "rebalances", "3 held")
    assert [row[1] for row in parsed(stream.getvalue())] == [1, 2, 3]
    assert all(line.endswith(", 3 held") for line in stream.getvalue().splitlines())

    quiet = Terminal()
    with Reporter(quiet=True, interval=0, stream=quiet) as reporter:
        reporter.update("backtest", 1, 3, "rebalances")
        reporter.epoch(EpochEnd(1, 30, 1.0, 2.0))
    assert quiet.getvalue() == ""


def test_epoch_line_names_the_data_and_the_losses():
    stream = io.StringIO()
    with Reporter(interval=0, stream=stream) as reporter:
        reporter.epoch(EpochEnd(5, 30, 1.23456, 1.5, pd.Timestamp("2003-01-31")))
        reporter.epoch(EpochEnd(6, 30, 1.2, None, None))
    first, second = stream.getvalue().splitlines()
    assert "training lstm on data to 2003-01-31: 5/30 epochs" in first
    assert first.endswith("train loss 1.235, val loss 1.5")
    assert "training lstm: 6/30 epochs" in second
    assert second.endswith("train loss 1.2")


def test_a_terminal_gets_a_bar_not_log_lines():
    stream = Terminal()
    with Reporter(interval=0, stream=stream) as reporter:
        reporter.update("backtest 2003-05", 100, 336, "rebalances")
    shown = stream.getvalue()
    assert "backtest 2003-05" in shown and "100/336 rebalances" in shown
    assert "elapsed" not in shown  # the log-line form is for non-terminals


def test_interval_from_the_environment():
    assert progress_interval({}) == DEFAULT_INTERVAL
    assert progress_interval({INTERVAL_VARIABLE: " "}) == DEFAULT_INTERVAL
    assert progress_interval({INTERVAL_VARIABLE: "2.5"}) == 2.5
    for bad in ["abc", "-1", "nan", "inf"]:
        with pytest.raises(ConfigError, match=INTERVAL_VARIABLE):
            progress_interval({INTERVAL_VARIABLE: bad})


# The shortest useful backtest: two monthly rebalances, no LSTM.
SHORT = """\
name: short
backtest: {start: 2016-01-01, end: 2016-03-31}
forecaster: {kind: ledoit_wolf, lookback_days: 252}
strategies: [baseline_mvo, equal_weight]
"""


def test_backtest_without_a_terminal_logs_progress_and_nothing_when_quiet(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv(INTERVAL_VARIABLE, "0")
    config = tmp_path / "short.yaml"
    config.write_text(SHORT)
    args = ["backtest", "--config", str(config)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main([*args, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert parsed(err) == [
        ("backtest 2016-01", 1, 2, "rebalances"),
        ("backtest 2016-02", 2, 2, "rebalances"),
    ]
    # The report of a two-month run draws without matplotlib's warnings.
    assert not [w for w in caught if "matplotlib" in w.filename], caught

    # Drawing the report again would add seconds and nothing on stderr.
    monkeypatch.setattr(cli, "_write_report", lambda folder: folder / "report.html")
    assert cli.main([*args, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.strip() == str(tmp_path / "quiet" / "report.html")


def test_bad_interval_setting_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_VARIABLE, "soon")
    config = tmp_path / "short.yaml"
    config.write_text(SHORT)
    out = tmp_path / "run"
    assert cli.main(["backtest", "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and INTERVAL_VARIABLE in err
    assert len(err.splitlines()) == 1


# A tiny LSTM: rebalance shows its training epochs.
LSTM_SETTINGS = """\
name: rebalance_progress
data: {dataset: sp500}
forecaster:
  kind: lstm
  lookback_days: 504
  model: {hidden: 4, seq_len: 10, factors: 1, ensemble: 1}
  train: {max_epochs: 2, batch_size: 64, patience: 5}
optimizer: {objective: utility, risk_aversion: 5}
strategies: [lstm_mvo]
"""


def test_rebalance_shows_training_epochs_unless_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_VARIABLE, "0")
    config = tmp_path / "lstm.yaml"
    config.write_text(LSTM_SETTINGS)
    holdings = Path(__file__).resolve().parents[2] / "experiments"
    args = [
        "rebalance",
        "--config",
        str(config),
        "--holdings",
        str(holdings / "holdings_example.csv"),
        "--as-of",
        "2022-06-30",
    ]
    assert cli.main([*args, "--out", str(tmp_path / "plan")]) == 0
    rows = parsed(capsys.readouterr().err)
    assert rows[0] == ("training lstm on data to 2022-06-30", 1, 2, "epochs")
    assert {row[3] for row in rows} == {"epochs"}
    # --quiet is Reporter(quiet=True), which writes nothing (tested above): a second
    # training to show it again would double the time of this test.
