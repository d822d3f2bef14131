"""The host input pipeline: batches decoded in parallel and read ahead, on `grain`.

A tfds source (CIFAR-10, ImageNet) decodes every image on the host (PIL), and ImageNet also
resizes and crops it there. `HostBatches` runs that work off the step loop: grain computes the
coming batches of an epoch in `PipelineOptions.threads` threads (PIL and array_record release the
GIL while they decode and read) of each of `PipelineOptions.workers` worker processes (none by
default) and keeps up to `PipelineOptions.prefetch` of them ready.

Nothing about the batches changes: batch `step` of `epoch` is, by construction, exactly

    data.batch(source, data.batch_indices(len(source), global_batch, seed, epoch, step,
                                          process_index, process_count), epoch)

(the same examples in the same order, the same host-side crops), whatever the thread and worker
counts, so a run resumed at any (epoch, step) reads what an uninterrupted one reads. Each
process reads its own share of the global batch (`jax.process_index()` of `jax.process_count()`
by default). One grain element is one whole batch, so worker processes each make whole batches
and grain hands them back in order.

In-memory sources (digits; `Source.in_memory`) are not decoded: they keep the direct, synchronous
path and never import grain. grain comes with natjax's `tfds` extra; without it, a tfds source
stops with one line naming the extra.

    batches = data.HostBatches(dataset.train, global_batch=256, seed=0)
    for step in range(steps):
      batch = batches(epoch, step)  # {'image': uint8[256 / P, H, W, C], 'label': int32[...]}
    batches.close()  # ends the worker processes, if any (also on `with` exit)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, Generator, Optional, Sequence

import jax
import numpy as np

from natjax.data.batches import batch_indices, steps_per_epoch
from natjax.data.sources import Source, batch
from natjax.errors import InputError

# Batches as a generator: `close()` ends grain's threads and worker processes.
BatchStream = Generator[Dict[str, np.ndarray], None, None]


def _default_threads() -> int:
  return max(1, min(16, os.cpu_count() or 1))


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
  """How the host pipeline computes batches; none of it changes what the batches hold.

  Attributes:
    threads: threads computing batches in each process (default: the CPU count, at most 16).
    workers: worker processes, each with `threads` threads (0: all in the calling process).
      Workers start when an iterator starts (seconds each) and end with `close`.
    prefetch: batches computed ahead of the one asked for, per process (at least `threads`, so
      that every thread has a batch to work on).
  """
  threads: int = dataclasses.field(default_factory=_default_threads)
  workers: int = 0
  prefetch: int = 16

  def __post_init__(self):
    for name in ("threads", "workers", "prefetch"):
      if getattr(self, name) < 0:
        raise InputError(f"host pipeline {name} must be >= 0, got {getattr(self, name)}")


def _import_grain():
  """grain, imported only here: in-memory datasets (digits) and the base install do without it."""
  try:
    import grain  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise InputError(f"the host pipeline of tfds datasets needs natjax's tfds extra (grain): {e};"
                     " install it with: pip install 'natjax[tfds]'") from None
  return grain


def _grain_iterator(num: int, element: Callable[[int], Dict[str, np.ndarray]],
                    options: PipelineOptions) -> BatchStream:
  """`element(0), ..., element(num - 1)` in order, computed ahead by grain's threads/workers;
  grain's threads and workers start on the first `next` and end with `close()`."""
  grain = _import_grain()
  dataset = grain.MapDataset.range(num).map(element)
  # prefetch_buffer_size 0 would turn the threads off; it must be at least the thread count.
  read_options = grain.ReadOptions(
      num_threads=options.threads, prefetch_buffer_size=max(options.prefetch, options.threads, 1))
  iterable = dataset.to_iter_dataset(read_options)
  if options.workers > 0:
    # grain <= 0.2.18 reads an absl flag when it starts workers, which fails in a program that
    # never parsed absl's flags (google/grain#1355): take the defaults, as grain's own fix does.
    from absl import flags  # pylint: disable=g-import-not-at-top
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    iterable = iterable.mp_prefetch(grain.multiprocessing.MultiprocessingOptions(
        num_workers=options.workers,
        per_worker_buffer_size=max(1, options.prefetch // options.workers)))
  iterator = iter(iterable)
  try:
    for out in iterator:
      # Plain arrays: from worker processes, grain hands over its shared-memory array type.
      yield {key: np.asarray(value) for key, value in out.items()}
  finally:
    close = getattr(iterator, "close", None)  # older grain ends them when the iterator goes
    if close is not None:
      close()


class _Read:
  """`batch(source, index_batches[k], epoch)`, a picklable function of k for grain's workers."""

  def __init__(self, source: Source, index_batches: Sequence[np.ndarray], epoch: int):
    self.source, self.index_batches, self.epoch = source, index_batches, epoch

  def __call__(self, k: int) -> Dict[str, np.ndarray]:
    return batch(self.source, np.asarray(self.index_batches[k]), self.epoch)


def prefetch(source: Source, index_batches: Sequence[np.ndarray], epoch: int = 0,
             options: Optional[PipelineOptions] = None) -> BatchStream:
  """`batch(source, indices, epoch)` for each `indices` of `index_batches`, in order, computed
  ahead in parallel (an in-memory source: one at a time, when asked for).

  For sets read in a known order, such as the evaluation batches. Close the iterator (`close()`)
  when leaving it early with worker processes.

  Args:
    source: the examples.
    index_batches: a sequence of int[B_k] arrays of example indices.
    epoch: passed to `source.get` (the seed of host-side random crops).
    options: threads, workers, read-ahead; default `PipelineOptions()`.

  Yields:
    {'image': uint8[B_k, H, W, C], 'label': int32[B_k]}.
  """
  options = options or PipelineOptions()
  element = _Read(source, index_batches, epoch)
  if source.in_memory or options.threads + options.workers == 0:
    return (element(k) for k in range(len(index_batches)))
  return _grain_iterator(len(index_batches), element, options)


def read(source: Source, indices: np.ndarray, epoch: int = 0, chunk: int = 256,
         options: Optional[PipelineOptions] = None) -> Dict[str, np.ndarray]:
  """`batch(source, indices, epoch)`, read in chunks of `chunk` examples in parallel.

  Returns:
    {'image': uint8[N, H, W, C], 'label': int32[N]} for `indices: int[N]`.
  """
  indices = source._check(indices)  # pylint: disable=protected-access
  if chunk < 1:
    raise InputError(f"chunk must be >= 1, got {chunk}")
  if source.in_memory or indices.size <= chunk:
    return batch(source, indices, epoch)
  parts = list(prefetch(source, np.array_split(indices, -(-indices.size // chunk)), epoch,
                        options))
  return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


class _StepIndices:
  """The sequence `batch_indices(..., epoch, step, ...)` for step in [start, stop)."""

  def __init__(self, num_examples: int, global_batch: int, seed: int, epoch: int, start: int,
               stop: int, process_index: int, process_count: int):
    self.args = (num_examples, global_batch, seed, epoch)
    self.start, self.stop = start, stop
    self.process = (process_index, process_count)

  def __len__(self) -> int:
    return self.stop - self.start

  def __getitem__(self, k: int) -> np.ndarray:
    return batch_indices(*self.args, self.start + k, *self.process)


class HostBatches:
  """The training batches of one source, `batches(epoch, step)`, read ahead while steps run.

  `batches(epoch, step)` returns exactly `batch(source, batch_indices(len(source), global_batch,
  seed, epoch, step, process_index, process_count), epoch)`. Asked for the step after the last
  one (the loop's usual order), it hands over a batch that grain has been computing meanwhile;
  asked for any other (epoch, step) (the first call, a resumed run, a new epoch), it starts
  reading ahead from there to the end of that epoch (or to `steps`).

  Args:
    source: the examples (a split: `Dataset.train`, `.w`, `.theta`).
    global_batch: examples per step over all processes; divisible by `process_count`.
    seed: the batch order's seed (`batch_indices`).
    steps: steps per epoch actually taken (fewer than `steps_per_epoch` under a step cap), so
      nothing beyond is read; default `steps_per_epoch(len(source), global_batch)`.
    process_index, process_count: this process's share; default `jax.process_index()` and
      `jax.process_count()`.
    options: threads, workers, read-ahead; default `PipelineOptions()`.

  Raises:
    InputError: a global batch not divisible by the processes, or larger than the source; a step
      outside the epoch; grain missing for a tfds source (naming the `tfds` extra).
  """

  def __init__(self, source: Source, global_batch: int, seed: int, steps: Optional[int] = None,
               process_index: Optional[int] = None, process_count: Optional[int] = None,
               options: Optional[PipelineOptions] = None):
    self.source = source
    self.global_batch = global_batch
    self.seed = seed
    self.process_index = jax.process_index() if process_index is None else process_index
    self.process_count = jax.process_count() if process_count is None else process_count
    epoch_steps = steps_per_epoch(len(source), global_batch)
    self.steps = epoch_steps if steps is None else min(steps, epoch_steps)
    if self.steps < 1:
      raise InputError(f"{len(source)} examples make no batch of {global_batch}")
    batch_indices(len(source), global_batch, seed, 0, 0, self.process_index, self.process_count)
    self.options = options or PipelineOptions()
    self._iterator: Optional[BatchStream] = None
    self._next: Optional[tuple] = None  # the (epoch, step) the iterator yields next

  def __call__(self, epoch: int, step: int) -> Dict[str, np.ndarray]:
    """Batch `step` of `epoch`: {'image': uint8[global_batch / P, H, W, C], 'label': int32[...]}."""
    if not 0 <= step < self.steps:
      raise InputError(f"step {step} not in [0, {self.steps}) of an epoch")
    if self._next != (epoch, step):
      self.close()
      indices = _StepIndices(len(self.source), self.global_batch, self.seed, epoch, step,
                             self.steps, self.process_index, self.process_count)
      self._iterator = prefetch(self.source, indices, epoch, self.options)
    out = next(self._iterator)
    self._next = (epoch, step + 1) if step + 1 < self.steps else None
    if self._next is None:
      self.close()
    return out

  def close(self) -> None:
    """Stops reading ahead; ends the worker processes, if any. The object stays usable."""
    if self._iterator is not None:
      self._iterator.close()
    self._iterator, self._next = None, None

  def __enter__(self) -> "HostBatches":
    return self

  def __exit__(self, *exc) -> None:
    self.close()
