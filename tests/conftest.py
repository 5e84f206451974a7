"""Suite-wide set-up that must happen before JAX starts, and shared slow fixtures."""

import os

import pytest

# Two CPU devices whatever the machine, so the data-parallel LSTM path is what the
# suite exercises (an LSTM's first fit would otherwise claim one device per core, and
# only if no JAX computation of the session had run before it).
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")

# The default config, shrunk: half a year, one retrain of a tiny LSTM for two
# epochs, every default strategy. The slowest fixture of the suite: run it once.
SMALL_LSTM = """\
name: small_lstm
backtest: {start: 2016-01-01, end: 2016-06-30}
forecaster:
  lookback_days: 504
  retrain_months: 12
  model: {hidden: 4, seq_len: 10, factors: 1, ensemble: 1}
  train: {max_epochs: 2, batch_size: 128}
"""


@pytest.fixture(scope="session")
def lstm_run(tmp_path_factory):
    """``portfolio backtest`` of `SMALL_LSTM`, in process: (run folder, result).

    Progress lines are on (every update), so the result's stderr shows them.
    """
    from tests.cli_runner import run_main

    folder = tmp_path_factory.mktemp("lstm_run")
    config = folder / "small_lstm.yaml"
    config.write_text(SMALL_LSTM)
    out = folder / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PORTFOLIO_PROGRESS_SECONDS", "0")
        result = run_main("backtest", "--config", str(config), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result
