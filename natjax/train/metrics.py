"""Metric writing: TensorBoard scalars from the first host (tensorboardX: no TensorFlow needed)."""

from __future__ import annotations

from typing import Dict

import jax
import tensorboardX


class MetricWriter:
  """TensorBoard scalars from the first host (tensorboardX: no TensorFlow needed)."""

  def __init__(self, logdir: str):
    self._writer = tensorboardX.SummaryWriter(logdir) if jax.process_index() == 0 else None

  def write_scalars(self, step: int, values: Dict[str, float]) -> None:
    """One scalar per name at `step` (other hosts write nothing)."""
    if self._writer is not None:
      for name, value in values.items():
        self._writer.add_scalar(name, value, step)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
