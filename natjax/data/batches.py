"""The batch order: a pure function of (seed, epoch, step), so a run resumed at any step reads the
same batches it would have read without the interruption."""

from __future__ import annotations

import functools

import numpy as np

from natjax.errors import InputError


def steps_per_epoch(num_examples: int, global_batch: int) -> int:
  """Full batches per epoch, `num_examples // global_batch`.

  The last partial batch is dropped so every step has the same shapes under jit (the released
  PyTorch code keeps it: 313 w-steps per CIFAR-10 epoch there, 312 here).
  """
  if global_batch <= 0:
    raise InputError(f"global batch must be positive, got {global_batch}")
  return num_examples // global_batch


@functools.lru_cache(maxsize=4)
def _epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  perm = np.random.default_rng([seed, epoch]).permutation(num_examples)
  perm.flags.writeable = False
  return perm


def batch_indices(num_examples: int, global_batch: int, seed: int, epoch: int, step: int,
                  process_index: int = 0, process_count: int = 1) -> np.ndarray:
  """Example indices of this process's share of batch `step` of epoch `epoch`.

  The epoch's order is a permutation drawn from `np.random.default_rng([seed, epoch])` alone, so a
  run resumed at any (epoch, step) reads exactly the batches of an uninterrupted run. Batch `step`
  is positions [step * global_batch, (step + 1) * global_batch) of that permutation; process p of
  P takes the p-th contiguous slice of global_batch // P of them.

  Returns:
    int64[global_batch // process_count].
  """
  if process_count <= 0 or not 0 <= process_index < process_count:
    raise InputError(f"process_index {process_index} not in [0, process_count={process_count})")
  if global_batch % process_count:
    raise InputError(f"global batch {global_batch} is not divisible by the"
                     f" {process_count} processes")
  steps = steps_per_epoch(num_examples, global_batch)
  if not 0 <= step < steps:
    raise InputError(f"step {step} not in [0, {steps}) for {num_examples} examples in batches"
                     f" of {global_batch}")
  per_process = global_batch // process_count
  start = step * global_batch + process_index * per_process
  return np.array(_epoch_permutation(num_examples, seed, epoch)[start:start + per_process],
                  np.int64)
