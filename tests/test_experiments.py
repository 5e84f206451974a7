"""The shipped experiment files load and stay in step with the code."""

from pathlib import Path

import pytest
import yaml

from foliocast.data import asset_classes
from foliocast.portfolio.config import config_to_dict, load_config
from foliocast.portfolio.sweep.runner import load_grid

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
# Read by experiments/seed_paper.py in its own format, not a run config.
OWN_FORMAT = {"seed_paper.yaml"}


def _is_sweep(path: Path) -> bool:
    values = yaml.safe_load(path.read_text())
    return isinstance(values, dict) and "grid" in values


FILES = sorted(p for p in EXPERIMENTS.glob("*.yaml") if p.name not in OWN_FORMAT)
CONFIGS = [p for p in FILES if not _is_sweep(p)]
SWEEPS = [p for p in FILES if _is_sweep(p)]


def test_the_expected_files_are_there():
    names = {p.name for p in FILES}
    assert {"default.yaml", "multi_asset.yaml"} <= {p.name for p in CONFIGS}
    assert {"sweep.yaml", "sweep_quick.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_loads(path):
    config = load_config(path)
    assert config.name


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_every_sweep_loads(path):
    spec = load_grid(path)
    assert spec.size >= 2


def test_default_yaml_is_the_builtin_default():
    written = config_to_dict(load_config(EXPERIMENTS / "default.yaml"))
    assert written == config_to_dict(load_config(None))


def test_multi_asset_groups_cover_every_asset_class():
    from foliocast.portfolio.backtest.run import build_strategies
    from foliocast.portfolio.optimizer.constraints import Constraints

    config = load_config(EXPERIMENTS / "multi_asset.yaml")
    classes = asset_classes("multi_asset")
    # Group membership is filled from the dataset's asset classes.
    mvo = build_strategies(config)[0]
    assert mvo.constraints["asset_groups"] == dict(classes)
    assert set(mvo.constraints["groups"]) == set(classes)
    Constraints.from_dict(mvo.constraints)
