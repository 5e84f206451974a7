"""Tests of the seed-paper replication on a tiny configuration."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from arch.data import sp500

REPO = Path(__file__).resolve().parents[2]


def _load_script(path: Path):
    """The experiment is a script in experiments/, not a module of the library."""
    spec = importlib.util.spec_from_file_location("seed_paper", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


seed_paper = _load_script(REPO / "experiments" / "seed_paper.py")
SeedPaperConfig = seed_paper.SeedPaperConfig
_windows = seed_paper._windows
config_from_dict = seed_paper.config_from_dict
load_config = seed_paper.load_config
load_frame = seed_paper.load_frame
main = seed_paper.main
price_metrics = seed_paper.price_metrics
run_on_frame = seed_paper.run_on_frame
run_seed_paper = seed_paper.run_seed_paper
TINY = {
    "window": 10,
    "data": {"start": "2017-01-01", "end": "2018-12-31"},
    "model": {"hidden": 8},
    "train": {"epochs": 2, "batch_size": 64},
}
METRIC_KEYS = {"rmse", "mae", "mape", "r2", "r2_vs_naive", "directional_accuracy"}


@pytest.fixture(scope="module")
def result() -> dict:
    return run_seed_paper(TINY)


@pytest.fixture(scope="module")
def frame():
    data = sp500.load().loc["2017-01-01":"2018-12-31", ["Open", "Close"]]
    return data.astype(float)


def test_result_has_metrics_for_lstm_and_naive(result: dict) -> None:
    assert set(result["metrics"]) == {"lstm", "naive"}
    for metrics in result["metrics"].values():
        assert set(metrics) == METRIC_KEYS
    lstm = result["metrics"]["lstm"]
    assert all(np.isfinite(v) for v in lstm.values())
    assert len(result["train_loss"]) == 2
    json.dumps(result, allow_nan=False)


def test_naive_metrics_match_direct_computation(result: dict, frame) -> None:
    close = frame["Close"].to_numpy()
    n_train_rows = result["split"]["n_train_rows"]
    actual, previous = close[n_train_rows:], close[n_train_rows - 1 : -1]
    naive = result["metrics"]["naive"]
    assert naive["rmse"] == pytest.approx(np.sqrt(np.mean((actual - previous) ** 2)))
    assert naive["mae"] == pytest.approx(np.mean(np.abs(actual - previous)))
    assert naive["r2_vs_naive"] == 0.0
    assert naive["directional_accuracy"] is None  # it never calls a direction


def test_split_is_chronological_80_20(result: dict, frame) -> None:
    split = result["split"]
    n = len(frame)
    assert result["data"]["n_rows"] == n
    assert split["n_train_rows"] == int(0.8 * n)
    assert split["train_end"] < split["test_start"]
    assert split["test_start"] == f"{frame.index[int(0.8 * n)]:%Y-%m-%d}"
    assert split["n_train_samples"] == split["n_train_rows"] - TINY["window"]
    assert split["n_test_samples"] == n - split["n_train_rows"]


def test_scaler_is_fitted_on_training_rows_only(result: dict, frame) -> None:
    train = frame.iloc[: result["split"]["n_train_rows"]]
    np.testing.assert_allclose(result["scaler"]["data_min"], train.min().to_numpy())
    np.testing.assert_allclose(result["scaler"]["data_max"], train.max().to_numpy())
    assert result["scaler"]["target_max"] == pytest.approx(train["Close"].max())
    assert result["scaler"]["target_max"] < frame["Close"].max()


def test_test_prices_cannot_change_training(result: dict) -> None:
    config = config_from_dict(TINY)
    frame = load_frame(config.data)
    shocked = frame.copy()
    shocked.iloc[result["split"]["n_train_rows"] :] *= 3.0
    other = run_on_frame(shocked, config)
    assert other["scaler"] == result["scaler"]
    assert other["train_loss"] == result["train_loss"]


def test_windows_pair_past_rows_with_the_next_target() -> None:
    values = np.arange(12.0).reshape(6, 2)  # row r holds (2r, 2r + 1)
    x, y = _windows(values, np.arange(6.0), 3)
    assert x.shape == (3, 3, 2) and y.tolist() == [3.0, 4.0, 5.0]
    np.testing.assert_array_equal(x[0], values[0:3])
    np.testing.assert_array_equal(x[-1], values[2:5])  # ends the day before row 5


def test_price_metrics_by_hand() -> None:
    actual = np.array([101.0, 99.0, 102.0])
    previous = np.array([100.0, 101.0, 99.0])
    predicted = np.array([102.0, 101.0, 98.0])  # up (right), flat (skip), down (wrong)
    m = price_metrics(actual, predicted, previous)
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 4 + 16) / 3))
    assert m["mae"] == pytest.approx(7 / 3)
    assert m["mape"] == pytest.approx(100 * np.mean([1 / 101, 2 / 99, 4 / 102]))
    assert m["r2_vs_naive"] == pytest.approx(1 - 21 / (1 + 4 + 9))
    assert m["directional_accuracy"] == 0.5


def test_yaml_config_is_the_default() -> None:
    assert load_config(REPO / "experiments" / "seed_paper.yaml") == SeedPaperConfig()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"modle": {}}, "'modle'"),
        ({"model": {"hiden": 50}}, "'model.hiden'"),
        ({"train": {"epochs": 2.5}}, "'train.epochs'"),
        ({"train_fraction": 1.2}, "'train_fraction'"),
        ({"data": {"dataset": "ftse"}}, "'data.dataset'"),
    ],
)
def test_bad_config_names_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_from_dict(raw)


def test_cli_writes_json_and_rejects_bad_config(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {hiden: 50}\n")
    assert main(["--config", str(bad)]) == 2
    assert "model.hiden" in capsys.readouterr().err

    good = tmp_path / "tiny.yaml"
    good.write_text(yaml.safe_dump({**TINY, "train": {"epochs": 1, "batch_size": 64}}))
    out = tmp_path / "out" / "seed.json"
    assert main(["--config", str(good), "--out", str(out)]) == 0
    assert "naive" in capsys.readouterr().out
    assert set(json.loads(out.read_text())["metrics"]["lstm"]) == METRIC_KEYS


def test_cli_shows_each_epoch_on_stderr_unless_quiet(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("PORTFOLIO_PROGRESS_SECONDS", "0")  # a line per epoch
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "seed.json"
    assert main(["--config", str(config), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    lines = capsys.readouterr().err.splitlines()
    train_end = result["split"]["train_end"]
    assert len(lines) == TINY["train"]["epochs"]
    for epoch, (line, loss) in enumerate(
        zip(lines, result["train_loss"], strict=True), start=1
    ):
        assert f"training lstm on data to {train_end}: {epoch}/2 epochs" in line
        assert line.endswith(f"train loss {loss:.4g}")

    assert main(["--config", str(config), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
