"""One JAX CPU device per core, and the mesh that splits an LSTM batch over them.

XLA runs the small matrix products of an LSTM step (a few hundred sequences, 32 hidden
units) on a single thread, so on a multi-core CPU one JAX device leaves the other cores
idle while PyTorch spreads the same products over its thread pool. Exposing each core
as its own JAX device lets the encoder run data parallel: every device runs the
recurrence over its share of the sequences, and the weight gradients of the shares are
summed (see :func:`forecasting.model.ScanLSTMLayer`).

JAX fixes its CPU device count when its backend starts, so :func:`claim_cpu_cores`
must run before the first JAX computation. The entry points call it: the command
line before a command that trains, and `forecasting.lstm.LSTMForecaster.fit`;
importing a module changes nothing. A count chosen by the user
(``JAX_NUM_CPU_DEVICES``, or ``XLA_FLAGS`` with
``--xla_force_host_platform_device_count``) always wins, which is also how processes
that share a machine (sweep workers) are told to take fewer cores.

With several CPU devices every training step ends in an all-reduce of the gradients,
where each device's thread waits for the others. XLA aborts the whole process when one
thread arrives about a minute after the first (a "termination timeout"), which happens
on a loaded 2-core machine; :func:`claim_cpu_cores` therefore also raises that limit
(:data:`COLLECTIVE_TERMINATE_SECONDS`) unless the user's ``XLA_FLAGS`` set it.

JAX takes seconds to import, so this module imports it only inside its functions:
the command line can claim the cores before it reads the config, and a config error
still ends at once.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jax.sharding import Mesh

__all__ = [
    "BATCH_AXIS",
    "COLLECTIVE_TERMINATE_SECONDS",
    "MIN_SEQUENCES_PER_SHARD",
    "batch_mesh",
    "claim_cpu_cores",
    "usable_cores",
]

BATCH_AXIS = "sequences"
"""Name of the mesh axis over which a batch of sequences is split."""

MIN_SEQUENCES_PER_SHARD = 32
"""Smallest share worth a device: below it, per-step overhead outweighs the split."""


COLLECTIVE_TERMINATE_SECONDS = 600
"""How long a CPU device may wait for the others in a collective before XLA aborts.

XLA's default (40 s after a 20 s warning) killed 500-asset trainings on a 2-core
machine shared with other work; a real deadlock still ends the process, later.
"""

_TERMINATE_FLAG = "--xla_cpu_collective_call_terminate_timeout_seconds"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def claim_cpu_cores() -> int:
    """Ask JAX for one CPU device per usable core, unless told otherwise or too late.

    Before JAX is loaded the count goes into ``JAX_NUM_CPU_DEVICES``, which JAX
    reads when it loads (without loading JAX here: that takes seconds); child
    processes inherit it. Once JAX is loaded it goes into JAX's config, for this
    process only. Calling it again changes nothing. Either way the collectives'
    termination timeout is raised first (`COLLECTIVE_TERMINATE_SECONDS`): XLA reads
    ``XLA_FLAGS`` when its backend starts, so that works until the first computation.

    Returns
    -------
    int
        The CPU device count that was set, or 0 when nothing was changed (the user
        chose a count, it was claimed before, or JAX's backend had already started).
    """
    _patient_collectives()
    if os.environ.get("JAX_NUM_CPU_DEVICES") or (
        "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
    ):
        return 0
    cores = usable_cores()
    if "jax" not in sys.modules:
        os.environ["JAX_NUM_CPU_DEVICES"] = str(cores)
        return cores
    if _configured_count() != -1:  # set in code before us
        return 0
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", cores)
    except RuntimeError:  # the backend already started: keep the devices it has
        return 0
    return cores


def _patient_collectives() -> None:
    """Add the collectives' termination timeout to ``XLA_FLAGS``, unless already set."""
    flags = os.environ.get("XLA_FLAGS", "")
    if _TERMINATE_FLAG not in flags:
        setting = f"{_TERMINATE_FLAG}={COLLECTIVE_TERMINATE_SECONDS}"
        os.environ["XLA_FLAGS"] = f"{flags} {setting}".strip()


def _configured_count() -> int:
    import jax

    return jax.config.jax_num_cpu_devices


def batch_mesh(n_sequences: int) -> Mesh | None:
    """Mesh of devices to split ``n_sequences`` over, or None to stay on one device.

    The shard count is the largest divisor of ``n_sequences`` that is at most the
    number of devices and leaves every shard :data:`MIN_SEQUENCES_PER_SHARD`
    sequences, so shards are equal and no padding is needed.

    Parameters
    ----------
    n_sequences : int
        Size of the batch axis.

    Returns
    -------
    Mesh or None
        A one-axis mesh named :data:`BATCH_AXIS`, None when one shard is best or
        JAX computes on an accelerator (the training path then runs unchanged on
        its one device).
    """
    import jax

    if jax.default_backend() != "cpu":
        # A GPU runs a whole batch in parallel already; the split is a CPU remedy.
        return None
    most = min(jax.device_count(), n_sequences // MIN_SEQUENCES_PER_SHARD)
    shards = max((d for d in range(1, most + 1) if n_sequences % d == 0), default=1)
    return _mesh(shards) if shards > 1 else None


@functools.cache
def _mesh(shards: int) -> Mesh:
    import jax
    import numpy as np
    from jax.sharding import Mesh

    return Mesh(np.array(jax.devices()[:shards]), (BATCH_AXIS,))
