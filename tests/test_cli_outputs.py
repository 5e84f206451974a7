"""The command line never deletes what it did not write (in-process, fast)."""

import pytest

from foliocast.portfolio.cli import main

QUICK = """\
name: quick
backtest: {start: 2016-01-01, end: 2016-12-31, rebalance: Q}
forecaster: {kind: historical, lookback_days: 252}
strategies: [lstm_mvo, equal_weight]
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "quick.yaml"
    path.write_text(QUICK)
    return str(path)


def _snapshot(folder):
    return sorted(
        (p.relative_to(folder).as_posix(), p.read_bytes() if p.is_file() else b"")
        for p in folder.rglob("*")
    )


@pytest.mark.parametrize("command", ["backtest", "rebalance"])
@pytest.mark.parametrize("target", [".", "documents", "notes.txt"])
def test_force_on_what_the_user_owns_is_refused_with_one_line(
    tmp_path, monkeypatch, capsys, config, command, target
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "thesis.docx").write_text("years of work")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "holdings.csv").write_text("ticker,shares\nCASH,1000\n")
    before = _snapshot(tmp_path)
    argv = [command, "--config", config, "--out", target, "--force", "--quiet"]
    if command == "rebalance":
        argv += ["--holdings", "holdings.csv", "--as-of", "2016-12-30"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err, err
    assert _snapshot(tmp_path) == before


def test_an_output_under_a_file_is_one_line(tmp_path, capsys, config):
    (tmp_path / "blocker").write_text("x")
    out = str(tmp_path / "blocker" / "run")
    assert main(["backtest", "--config", config, "--out", out, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write the output") and "\n" not in err


def test_warnings_read_as_one_line(monkeypatch, capsys):
    import warnings

    import foliocast.portfolio.cli as cli
    from foliocast.data import DataQualityWarning

    def warns(args):
        warnings.warn(
            "AAA on 2021-02-15 x996.7 from 2021-02-12", DataQualityWarning, stacklevel=2
        )
        return 0

    monkeypatch.setattr(cli, "_datasets", warns)
    assert cli.main(["datasets"]) == 0
    assert capsys.readouterr().err == (
        "warning: AAA on 2021-02-15 x996.7 from 2021-02-12\n"
    )
