"""Batch normalisation over (N, H, W), and the normalisers that op families apply through.

A normaliser is a small object with `init(channels) -> (params, stats)` (descriptions, see
`natjax.kernels.initializers`) and `__call__(params, stats, x) -> (y, stats)`: op families and conv
units (`natjax.kernels.units`) are written once against it, and a network picks the one it needs:

  BatchStats    the supernet's (spec section 6): non-affine, on batch statistics, no state.
  RunningStats  the retraining networks' (spec section 9): affine, PyTorch running statistics
                threaded in and out (updated in training, used in evaluation).

Batch statistics are those of the batch the function sees, or, with `axis_name` (as flax's
`BatchNorm(axis_name=...)`), averaged over that named mesh axis: inside a `jax.shard_map` over a
data axis with equal per-device batches, that is the global batch's mean and biased variance,
exactly as one device computes them. The axis is an argument, never ambient state, so a function
means the same under natjax's `shard_step` and under a plain `jax.shard_map`.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
from jax import lax

from natjax.kernels.initializers import const

Params = Dict[str, Any]


def _batch_mean(x: jax.Array, axis_name: Optional[str]) -> jax.Array:
  """f32[C]: mean over (N, H, W), and over the mesh axis `axis_name` when given."""
  mean = jnp.mean(x, axis=(0, 1, 2))
  return mean if axis_name is None else lax.pmean(mean, axis_name)


def batch_norm(x: jax.Array, eps: float = 1e-5, scale: Optional[jax.Array] = None,
               bias: Optional[jax.Array] = None, axis_name: Optional[str] = None) -> jax.Array:
  """Batch norm on batch statistics over (N, H, W), biased variance (PyTorch training mode).

  Args:
    x: f32[N, H, W, C], NHWC.
    eps: added to the variance.
    scale: optional f32[C] affine scale.
    bias: optional f32[C] affine bias.
    axis_name: a mesh axis to average the statistics over (inside `shard_map`), or None.

  Returns:
    x.dtype[N, H, W, C], per channel mean 0 and variance var/(var+eps) before the affine; a
    bfloat16 x is normalised in float32 (statistics included) and the result cast back.
  """
  dtype = x.dtype
  x = x.astype(jnp.promote_types(dtype, jnp.float32))
  mean = _batch_mean(x, axis_name)
  var = _batch_mean(jnp.square(x - mean), axis_name)
  y = (x - mean) * lax.rsqrt(var + eps)
  if scale is not None:
    y = y * scale
  if bias is not None:
    y = y + bias
  return y.astype(dtype)


def running_batch_norm(params: Params, stats: Params, x: jax.Array, train: bool,
                       momentum: float = 0.1, eps: float = 1e-5,
                       axis_name: Optional[str] = None) -> Tuple[jax.Array, Params]:
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
    axis_name: a mesh axis to average the batch statistics over (inside `shard_map`; n is then
      the global count), or None.

  Returns:
    (f32[N, H, W, C], new stats).
  """
  if train:
    mean = _batch_mean(x, axis_name)
    var = _batch_mean(jnp.square(x - mean), axis_name)
    n = x.shape[0] * x.shape[1] * x.shape[2]
    if axis_name is not None:
      n *= lax.axis_size(axis_name)
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
    axis_name: the mesh axis the statistics are averaged over (inside `shard_map`), or None.
    eps: added to the variance.
  """
  axis_name: Optional[str] = None
  eps: float = 1e-5

  def init(self, channels: int) -> Tuple[Params, Params]:
    """No weights and no statistics: ({}, {})."""
    del channels
    return {}, {}

  def __call__(self, params: Params, stats: Params, x: jax.Array) -> Tuple[jax.Array, Params]:
    """(batch_norm(x), stats unchanged); `params` (a unit's weights) is not read."""
    del params
    return batch_norm(x, self.eps, axis_name=self.axis_name), stats


class RunningStats(NamedTuple):
  """The retraining networks' normaliser: affine, with PyTorch running statistics.

  Attributes:
    train: normalise with batch statistics and update the running ones (else use them).
    momentum: running = (1 - momentum) * running + momentum * batch.
    eps: added to the variance.
    axis_name: the mesh axis batch statistics are averaged over (inside `shard_map`), or None.
  """
  train: bool
  momentum: float = 0.1
  eps: float = 1e-5
  axis_name: Optional[str] = None

  def init(self, channels: int) -> Tuple[Params, Params]:
    """({'scale': 1, 'bias': 0}, {'mean': 0, 'var': 1}), each f32[channels], as descriptions."""
    c = (channels,)
    return ({"scale": const(c, 1.0), "bias": const(c, 0.0)},
            {"mean": const(c, 0.0), "var": const(c, 1.0)})

  def __call__(self, params: Params, stats: Params, x: jax.Array) -> Tuple[jax.Array, Params]:
    """`running_batch_norm` with this normaliser's settings."""
    return running_batch_norm(params, stats, x, self.train, self.momentum, self.eps,
                              self.axis_name)


Normalizer = Any  # BatchStats, RunningStats, or any object with the same init and __call__.
