"""Device placement: the meta-batch's task axis split over a mesh, meta-parameters replicated.

Meta-batches are embarrassingly parallel over tasks, so the only sharded axis is the task axis
of the episodes ("tasks"); everything else (meta-parameters, optimizer state, the task pool) is
replicated. The outer step is unchanged: `jax.jit` with sharded inputs and a sharding constraint
on the sampled episodes lets XLA partition it (GSPMD), exactly, including the terms that couple
tasks. The same experiment runs on 1 or many devices; only `config.mesh.task_devices` differs.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from metareg.config import ConfigError

TASK_AXIS = "tasks"


def task_mesh(num_devices: int = 0) -> Mesh:
    """A 1-D mesh over the first `num_devices` devices (0 = all), axis "tasks"."""
    devices = jax.devices()
    n = len(devices) if num_devices == 0 else num_devices
    if n > len(devices):
        raise ConfigError(
            f"mesh.task_devices = {n} but only {len(devices)} {jax.default_backend()} device(s) "
            "are visible; lower mesh.task_devices (0 = all devices)"
        )
    return Mesh(np.asarray(devices[:n]), (TASK_AXIS,))


def task_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (task) axis split over the mesh."""
    return NamedSharding(mesh, P(TASK_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def replicate(tree, mesh: Mesh):
    """Place every leaf of a pytree on all devices of the mesh (across processes: every process
    passes the same host values, so they go through numpy)."""
    sharding = replicated(mesh)
    return jax.tree_util.tree_map(lambda leaf: jax.device_put(np.asarray(leaf), sharding), tree)


def initialize_distributed(config) -> None:
    """jax.distributed.initialize, once per process, from config.distributed (or the cluster's
    environment).

    On CPU the cross-process collectives use gloo, so a multi-host run can be rehearsed on one
    machine with several processes.
    """
    d = config.distributed
    if not d.enabled:
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {
        k: v
        for k, v in dict(
            coordinator_address=d.coordinator_address,
            num_processes=d.num_processes,
            process_id=d.process_id,
        ).items()
        if v is not None
    }
    jax.distributed.initialize(**kwargs)


def is_primary() -> bool:
    """True on the process that writes metrics, results and logs (process 0)."""
    return jax.process_index() == 0
