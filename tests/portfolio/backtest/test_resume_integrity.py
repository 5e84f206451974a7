"""Resume checkpoints that are truncated, garbage or edited are never trusted."""

import json

import pandas as pd
import pytest

from foliocast.data import load_dataset, rebalance_schedule
from foliocast.portfolio.backtest.resume import CheckpointWarning
from tests.portfolio.backtest.test_backtest import _resumable_run


@pytest.fixture(scope="module")
def inputs():
    prices = load_dataset("sp500").loc["2012":"2016"]
    return prices, rebalance_schedule(prices.index, "M", min_history=252)


@pytest.fixture(scope="module")
def uninterrupted(inputs):
    result, toy = _resumable_run(*inputs, None)
    return result, toy


def _interrupt(inputs, folder, stop_after):
    with pytest.raises(KeyboardInterrupt):
        _resumable_run(*inputs, folder, stop_after=stop_after)


def _assert_same(result, reference):
    pd.testing.assert_frame_equal(result.returns, reference.returns)
    pd.testing.assert_frame_equal(result.weights, reference.weights)
    pd.testing.assert_frame_equal(result.forecasts, reference.forecasts)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _garbage(path):
    path.write_bytes(b"\x00garbage\xff" * 10)


def _edit_by_hand(path):
    document = json.loads(path.read_text())
    document["next_rebalance"] = 3
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("arrays.npz", _truncate),
        ("forecasts.npz", _garbage),
        ("state.json", _edit_by_hand),
        ("forecaster-toy/fits.txt", _garbage),
        ("manifest.json", _garbage),
    ],
)
def test_a_damaged_checkpoint_is_named_and_the_previous_one_is_used(
    inputs, uninterrupted, tmp_path, name, damage
):
    reference, full = uninterrupted
    _interrupt(inputs, tmp_path, stop_after=40)  # two checkpoints: current, previous
    assert (tmp_path / "previous" / "manifest.json").is_file()
    damage(tmp_path / "current" / name)
    with pytest.warns(CheckpointWarning, match=f"current is not used: {name}"):
        resumed, rest = _resumable_run(*inputs, tmp_path)
    _assert_same(resumed, reference)
    # Fell back to the previous checkpoint, not to the start.
    assert 0 < rest.fit_calls < full.fit_calls
    assert rest.fits == full.fits


def test_when_every_checkpoint_is_damaged_the_run_starts_over(
    inputs, uninterrupted, tmp_path
):
    reference, full = uninterrupted
    _interrupt(inputs, tmp_path, stop_after=40)
    for generation in ("current", "previous"):
        _truncate(tmp_path / generation / "arrays.npz")
    with pytest.warns(CheckpointWarning) as caught:
        resumed, rest = _resumable_run(*inputs, tmp_path)
    assert len(caught) == 2
    assert rest.fit_calls == full.fit_calls  # started over
    _assert_same(resumed, reference)


def test_a_checkpoint_without_its_manifest_is_incomplete(inputs, tmp_path):
    _interrupt(inputs, tmp_path, stop_after=20)
    for generation in ("current", "previous"):
        (tmp_path / generation / "manifest.json").unlink()
    with pytest.warns(CheckpointWarning, match="missing"):
        _, toy = _resumable_run(*inputs, tmp_path)
    assert toy.fit_calls == toy.fits


def test_an_intact_checkpoint_resumes_without_warning(inputs, uninterrupted, tmp_path):
    import warnings

    reference, full = uninterrupted
    _interrupt(inputs, tmp_path, stop_after=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)
        resumed, rest = _resumable_run(*inputs, tmp_path)
    assert rest.fit_calls < full.fit_calls
    _assert_same(resumed, reference)
