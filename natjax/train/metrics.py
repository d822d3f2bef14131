"""Metric writing shared by the search and retraining: TensorBoard scalars in WORKDIR/tensorboard,
each the mean over its logging interval (tensorboardX: no TensorFlow needed).

Tags are namespaced by what they measure:

  search      w/loss, w/accuracy (w-steps); theta/loss, theta/reward, theta/baseline,
              theta/entropy, theta/acc_alpha, theta/acc_beta (theta-steps)
  retraining  train/loss, train/accuracy, train/grad_norm, train/learning_rate,
              train/drop_path_prob (training steps); test/accuracy, test/loss (after each epoch)

A logged value at step s is the mean over the steps since the tag's previous value that carried
the tag (w-steps and theta-steps of one interval are averaged separately); after a resume the
first interval holds only the steps run since.
"""

from __future__ import annotations

import os
from typing import Dict

import jax
import tensorboardX

LOG_DIR = "tensorboard"


def log_dir(workdir: str) -> str:
  """Where a run's event files go: WORKDIR/tensorboard."""
  return os.path.join(workdir, LOG_DIR)


class MetricWriter:
  """Interval means of scalars, written by the first host to WORKDIR/tensorboard.

  `add` records one step's values; `flush(step)` writes each tag's mean over the values added
  since its previous flush and returns those means; `write_scalars` writes values as they are
  (one-off figures such as a test accuracy). Other hosts keep the means but write nothing.
  """

  def __init__(self, workdir: str):
    self._writer = (tensorboardX.SummaryWriter(log_dir(workdir)) if jax.process_index() == 0
                    else None)
    self._sums: Dict[str, float] = {}
    self._counts: Dict[str, int] = {}

  def add(self, values: Dict[str, float]) -> None:
    """Adds one step's scalars ({tag: value}) to the current interval."""
    for tag, value in values.items():
      self._sums[tag] = self._sums.get(tag, 0.0) + float(value)
      self._counts[tag] = self._counts.get(tag, 0) + 1

  def flush(self, step: int) -> Dict[str, float]:
    """Writes the interval's mean of every tag added since the last flush at `step`, starts a
    new interval, and returns the means written ({} if nothing was added)."""
    means = {tag: total / self._counts[tag] for tag, total in self._sums.items()}
    self._sums, self._counts = {}, {}
    self.write_scalars(step, means)
    return means

  def write_scalars(self, step: int, values: Dict[str, float]) -> None:
    """One scalar per tag at `step`, as given (other hosts write nothing)."""
    if self._writer is not None:
      for tag, value in values.items():
        self._writer.add_scalar(tag, value, step)
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
