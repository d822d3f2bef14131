"""Batch normalisation over (N, H, W) on batch statistics (PyTorch training mode)."""

from __future__ import annotations

import contextlib
from typing import Optional

import jax
import jax.numpy as jnp
from jax import lax


# Mesh axes over which batch statistics are averaged, set while a sharded step is traced (the
# statistics of a data-parallel step are those of the global batch, as on one device).
_BATCH_STAT_AXES: list = []


@contextlib.contextmanager
def batch_stats_over(axis_name: Optional[str]):
  """While tracing inside `shard_map`, makes `batch_norm` average its statistics over the mesh
  axis `axis_name` (None: local statistics). Equal per-device batches give the global mean and
  biased variance exactly as one device would compute them."""
  _BATCH_STAT_AXES.append(axis_name)
  try:
    yield
  finally:
    _BATCH_STAT_AXES.pop()


def _batch_mean(x: jax.Array) -> jax.Array:
  """f32[C]: mean over (N, H, W), over the whole data-parallel batch inside `batch_stats_over`."""
  mean = jnp.mean(x, axis=(0, 1, 2))
  axis = _BATCH_STAT_AXES[-1] if _BATCH_STAT_AXES else None
  return mean if axis is None else lax.pmean(mean, axis)


def batch_norm(x: jax.Array, eps: float = 1e-5, scale: Optional[jax.Array] = None,
               bias: Optional[jax.Array] = None) -> jax.Array:
  """Batch norm on batch statistics over (N, H, W), biased variance (PyTorch training mode).

  Args:
    x: f32[N, H, W, C], NHWC.
    eps: added to the variance.
    scale: optional f32[C] affine scale.
    bias: optional f32[C] affine bias.

  Returns:
    f32[N, H, W, C], per channel mean 0 and variance var/(var+eps) before the affine.
  """
  mean = _batch_mean(x)
  var = _batch_mean(jnp.square(x - mean))
  y = (x - mean) * lax.rsqrt(var + eps)
  if scale is not None:
    y = y * scale
  if bias is not None:
    y = y + bias
  return y
