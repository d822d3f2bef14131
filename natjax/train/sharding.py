"""Devices: one data-parallel code path from one CPU to a TPU pod.

Every step runs under `jax.shard_map` over a one-axis mesh ('data') of all devices: parameters and
optimiser state are replicated, the batch is split along its leading axis, and each device sees
its own slice. What a step means does not depend on the number of devices:

  - the loss is averaged over the mesh (`lax.pmean` of the *loss*; the gradient of a replicated
    parameter is then the gradient of the global mean — taking `pmean` of the gradients as well
    would scale them by the device count);
  - BatchNorm statistics are those of the global batch: a network applied inside the step names
    the axis (`SupernetConfig.axis_name`, `natjax.kernels.norm`), as flax's
    `BatchNorm(axis_name=...)` does; nothing here changes what the step computes, so a plain
    `jax.shard_map` of it gives the same numbers;
  - random draws that touch examples (augmentation) are made for the global batch and sliced, so
    example i gets the same crop whichever device holds it.

Multi-host: call `jax.distributed.initialize()` before anything else (the launch scripts do);
each host then loads its own slice of every global batch (`data.batch_indices(...,
process_index, process_count)`), and `global_batch` assembles the sharded array.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

AXIS = "data"


def data_mesh(devices: Optional[Sequence[Any]] = None) -> Mesh:
  """A one-axis mesh ('data') over `devices` (default: every device of every host).

  The axis type is Auto: with the Explicit default, gradients of convolutions fail to shard.
  """
  devices = np.asarray(jax.devices() if devices is None else devices)
  return Mesh(devices, (AXIS,), axis_types=(AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(AXIS))


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a pytree of host or device arrays on every device of the mesh."""
  return jax.device_put(tree, replicated(mesh))


def global_batch(local: Any, mesh: Mesh) -> Any:
  """Assembles this host's slice of a batch (numpy leaves [B_local, ...]) into global arrays
  sharded over the mesh's 'data' axis ([B_global, ...])."""
  sharding = batch_sharded(mesh)
  return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a)),
                      local)


def local_rows(global_array: jax.Array, num_local: int) -> jax.Array:
  """Inside a sharded step: this device's rows of an array drawn for the whole global batch.

  Args:
    global_array: [B_global, ...], identical on every device.
    num_local: B_local = B_global / number of devices.
  """
  start = jax.lax.axis_index(AXIS) * num_local
  return jax.lax.dynamic_slice_in_dim(global_array, start, num_local, axis=0)


def num_shards() -> int:
  """Inside a sharded step: number of devices on the 'data' axis."""
  return jax.lax.axis_size(AXIS)


def shard_step(fn: Callable, mesh: Mesh, batch_argnums: Sequence[int] = (1,),
               donate_argnums: Sequence[int] = ()) -> Callable:
  """jit(shard_map(fn)): the arguments at `batch_argnums` are split over 'data', every other
  argument and every output is replicated.

  Args:
    fn: the per-device step; collectives over `sharding.AXIS` make it global (pmean of losses and
      metrics, BatchNorm statistics averaged over the axis its network names).
    mesh: from `data_mesh`.
    batch_argnums: positions of the batch arguments (pytrees of [B_global, ...]).
    donate_argnums: positions whose buffers may be reused (the state).
  """
  @functools.wraps(fn)
  def wrapper(*args):
    in_specs = tuple(P(AXIS) if i in batch_argnums else P() for i in range(len(args)))
    mapped = jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=P())
    return mapped(*args)

  return jax.jit(wrapper, donate_argnums=tuple(donate_argnums))
