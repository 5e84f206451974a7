"""The LSTM settings: defined once, checked when built, embedded by the run config."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from foliocast.forecasting.lstm import LSTMForecaster
from foliocast.forecasting.settings import ModelSettings, SettingsError, TrainSettings
from foliocast.portfolio.config import ConfigError, config_from_dict


def test_defaults_are_those_of_the_default_run() -> None:
    assert dataclasses.asdict(ModelSettings()) == {
        "hidden": 16,
        "layers": 1,
        "factors": 5,
        "dropout": 0.1,
        "seq_len": 21,
        "ensemble": 5,
        "covariance": "learned",
        "mu_smoothing": 4,
    }
    assert dataclasses.asdict(TrainSettings()) == {
        "max_epochs": 30,
        "batch_size": 256,
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "patience": 5,
        "seed": 0,
        "loss": "nll",
        "bootstrap": False,
        "mean_target": "nll",
        "epoch_sequences": 65_536,
    }


def test_the_forecaster_and_the_run_config_share_the_records() -> None:
    config = config_from_dict({"forecaster": {"model": {"hidden": 32}}})
    assert isinstance(config.forecaster.model, ModelSettings)
    forecaster = LSTMForecaster(model=config.forecaster.model, seed=3)
    assert forecaster.model_settings.hidden == 32
    assert forecaster.train_settings == TrainSettings(seed=3)
    assert LSTMForecaster().model_settings == ModelSettings()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ModelSettings(hidden=0), "hidden: 0 is outside"),
        (lambda: ModelSettings(dropout=float("nan")), "dropout: NaN"),
        (lambda: ModelSettings(covariance="free"), "covariance: 'free' is not one"),
        (lambda: TrainSettings(lr=2.0), "lr: 2.0 is outside"),
        (lambda: TrainSettings(loss="mae"), "loss: 'mae' is not one"),
    ],
)
def test_a_bad_setting_names_its_field(build, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        build()


def test_the_run_config_puts_the_section_before_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^forecaster\.train\.patience: 0 is"):
        config_from_dict({"forecaster": {"train": {"patience": 0}}})
    with pytest.raises(ConfigError, match=r"forecaster\.model\.width: unknown key"):
        config_from_dict({"forecaster": {"model": {"width": 3}}})


def test_an_unknown_forecaster_parameter_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['width'\]"):
        LSTMForecaster(width=3)


def test_importing_forecasting_does_no_work() -> None:
    # Light modules stay light, and no module claims the CPU devices on import.
    code = (
        "import os, sys\n"
        "os.environ.pop('JAX_NUM_CPU_DEVICES', None)\n"
        "import foliocast.forecasting.forecast, foliocast.forecasting.settings\n"
        "heavy = {'jax', 'arch', 'pypfopt', 'cvxpy'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "import foliocast.forecasting.model\n"
        "import jax\n"
        "assert jax.config.jax_num_cpu_devices == -1\n"
        "assert 'JAX_NUM_CPU_DEVICES' not in os.environ\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
