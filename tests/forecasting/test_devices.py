"""Tests of the device set-up that lets the LSTM use every core."""

from __future__ import annotations

import subprocess
import sys

import jax
import pytest

from foliocast.forecasting import devices
from foliocast.forecasting.devices import batch_mesh, claim_cpu_cores


def test_the_suite_runs_with_several_devices() -> None:
    # tests/conftest.py asks for two; without them the data-parallel tests below
    # would compare one device with itself.
    assert jax.device_count() >= 2


@pytest.mark.parametrize(
    ("n_sequences", "device_count", "shards"),
    [
        (240, 2, 2),
        (240, 16, 6),  # at least 32 sequences a shard, and an even split
        (256, 16, 8),
        (63, 2, 1),  # too few for two shards of 32
        (97, 2, 1),  # prime: no even split
        (1, 2, 1),
    ],
)
def test_batch_mesh_picks_the_largest_even_split(
    monkeypatch: pytest.MonkeyPatch, n_sequences: int, device_count: int, shards: int
) -> None:
    monkeypatch.setattr(jax, "device_count", lambda: device_count)
    monkeypatch.setattr(devices, "_mesh", lambda k: k)
    assert (batch_mesh(n_sequences) or 1) == shards


def test_on_an_accelerator_the_batch_is_never_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jax, "device_count", lambda: 8)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert batch_mesh(256) is None


def test_a_real_mesh_has_one_named_axis() -> None:
    mesh = batch_mesh(64)
    assert mesh is not None
    assert mesh.axis_names == (devices.BATCH_AXIS,)
    assert mesh.devices.size == 2


def test_a_device_count_chosen_by_the_user_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    monkeypatch.setattr(devices, "_configured_count", lambda: -1)
    monkeypatch.setattr(jax.config, "update", lambda *a: calls.append(a))
    monkeypatch.setenv("JAX_NUM_CPU_DEVICES", "3")
    assert claim_cpu_cores() == 0
    monkeypatch.delenv("JAX_NUM_CPU_DEVICES")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    assert claim_cpu_cores() == 0
    assert calls == []
    monkeypatch.delenv("XLA_FLAGS")
    assert claim_cpu_cores() == devices.usable_cores()
    assert calls == [("jax_num_cpu_devices", devices.usable_cores())]


def test_claiming_after_jax_started_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JAX_NUM_CPU_DEVICES", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(devices, "_configured_count", lambda: -1)
    monkeypatch.setattr(devices, "usable_cores", lambda: jax.device_count() + 3)
    jax.numpy.ones(1).block_until_ready()  # the backend has started
    before = jax.device_count()
    assert claim_cpu_cores() == 0
    assert jax.device_count() == before


def test_before_jax_loads_the_claim_goes_into_the_environment() -> None:
    # Without loading JAX (seconds): JAX reads the count when it loads.
    code = (
        "import os, sys\n"
        "os.environ.pop('JAX_NUM_CPU_DEVICES', None)\n"
        "os.environ.pop('XLA_FLAGS', None)\n"
        "from foliocast.forecasting import devices\n"
        "cores = devices.claim_cpu_cores()\n"
        "assert 'jax' not in sys.modules\n"
        "assert os.environ['JAX_NUM_CPU_DEVICES'] == str(cores) != '0'\n"
        "assert devices.claim_cpu_cores() == 0\n"
        "import jax\n"
        "assert jax.device_count() == cores\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_claim_lets_a_slow_device_finish_its_collective(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # XLA's default aborts the process when a device's thread reaches an all-reduce
    # a minute late (checked by hand: a pmap psum with one device delayed 100 s
    # aborts by default and completes with this flag).
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    claim_cpu_cores()
    flags = devices.os.environ["XLA_FLAGS"].split()
    assert flags[0] == "--xla_force_host_platform_device_count=2"
    assert flags[1] == (
        "--xla_cpu_collective_call_terminate_timeout_seconds="
        f"{devices.COLLECTIVE_TERMINATE_SECONDS}"
    )
    claim_cpu_cores()
    assert devices.os.environ["XLA_FLAGS"].split() == flags


def test_a_termination_timeout_set_by_the_user_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = "--xla_cpu_collective_call_terminate_timeout_seconds=30"
    monkeypatch.setenv("XLA_FLAGS", own)
    claim_cpu_cores()
    assert devices.os.environ["XLA_FLAGS"] == own
