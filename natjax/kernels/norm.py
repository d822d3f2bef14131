"""Batch normalisation over (N, H, W), and the normalisers that op families apply through.

A normaliser is a small object with `init(channels) -> (params, stats)` (descriptions, see
`natjax.kernels.initializers`) and `__call__(params, stats, x) -> (y, stats)`: op families and conv
units (`natjax.kernels.units`) are written once against it, and a network picks the one it needs:

  BatchStats    the supernet's (spec section 6): non-affine, on batch statistics, no state.
  RunningStats  the retraining networks' (spec section 9): affine, PyTorch running statistics
                threaded in and out (updated in training, used in evaluation).
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
from jax import lax

from natjax.kernels.initializers import const

Params = Dict[str, Any]


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


def running_batch_norm(params: Params, stats: Params, x: jax.Array, train: bool,
                       momentum: float = 0.1, eps: float = 1e-5) -> Tuple[jax.Array, Params]:
  """Affine batch norm over (N, H, W) with PyTorch running statistics.

  Args:
    params: {'scale': f32[C], 'bias': f32[C]} (other keys, a unit's weights, are not read).
    stats: {'mean': f32[C], 'var': f32[C]} running statistics.
    x: f32[N, H, W, C].
    train: normalise with the batch mean and biased variance and update the running statistics
      (the variance with the unbiased estimate, n / (n - 1), n = N*H*W); else normalise with the
      running statistics and return them unchanged.
    momentum: running = (1 - momentum) * running + momentum * batch.
    eps: added to the variance.

  Returns:
    (f32[N, H, W, C], new stats).
  """
  if train:
    mean = jnp.mean(x, axis=(0, 1, 2))
    var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
    n = x.shape[0] * x.shape[1] * x.shape[2]
    unbiased = var * (n / max(n - 1, 1))
    stats = {"mean": (1.0 - momentum) * stats["mean"] + momentum * lax.stop_gradient(mean),
             "var": (1.0 - momentum) * stats["var"] + momentum * lax.stop_gradient(unbiased)}
  else:
    mean, var = stats["mean"], stats["var"]
  y = (x - mean) * lax.rsqrt(var + eps) * params["scale"] + params["bias"]
  return y, stats


class BatchStats(NamedTuple):
  """The supernet's normaliser: non-affine batch norm on batch statistics; no params, no stats.

  Attributes:
    eps: added to the variance.
  """
  eps: float = 1e-5

  def init(self, channels: int) -> Tuple[Params, Params]:
    """No weights and no statistics: ({}, {})."""
    del channels
    return {}, {}

  def __call__(self, params: Params, stats: Params, x: jax.Array) -> Tuple[jax.Array, Params]:
    """(batch_norm(x), stats unchanged); `params` (a unit's weights) is not read."""
    del params
    return batch_norm(x, self.eps), stats


class RunningStats(NamedTuple):
  """The retraining networks' normaliser: affine, with PyTorch running statistics.

  Attributes:
    train: normalise with batch statistics and update the running ones (else use them).
    momentum: running = (1 - momentum) * running + momentum * batch.
    eps: added to the variance.
  """
  train: bool
  momentum: float = 0.1
  eps: float = 1e-5

  def init(self, channels: int) -> Tuple[Params, Params]:
    """({'scale': 1, 'bias': 0}, {'mean': 0, 'var': 1}), each f32[channels], as descriptions."""
    c = (channels,)
    return ({"scale": const(c, 1.0), "bias": const(c, 0.0)},
            {"mean": const(c, 0.0), "var": const(c, 1.0)})

  def __call__(self, params: Params, stats: Params, x: jax.Array) -> Tuple[jax.Array, Params]:
    """`running_batch_norm` with this normaliser's settings."""
    return running_batch_norm(params, stats, x, self.train, self.momentum, self.eps)


Normalizer = Any  # BatchStats, RunningStats, or any object with the same init and __call__.
