"""Pools (NHWC, float32), in the two implementations of `natjax.kernels.windows.IMPLS`:
'lax' (`lax.reduce_window`) and 'shift' (a reduction over k*k shifted slices). The 'shift' max pool
carries a hand-written backward pass: a mask on the first max of each window, kept as an int8 tap
index (no select-and-scatter, which is slow on XLA:CPU).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from natjax.kernels.varying import vary_like
from natjax.kernels.windows import check_impl, out_size, pad_hw, same_padding, taps


def _pool_lax(x, k, stride, init, op):
  p = same_padding(k)
  return lax.reduce_window(x, init, op, (1, k, k, 1), (1, stride, stride, 1),
                           ((0, 0), (p, p), (p, p), (0, 0)))


def _pool_shift(x, k, stride, pad_value, op):
  ho, wo = out_size(x.shape[1], k, stride), out_size(x.shape[2], k, stride)
  y = None
  for _, tap in taps(pad_hw(x, same_padding(k), pad_value), k, stride, 1, ho, wo):
    y = tap if y is None else op(y, tap)
  return y


def _max_pool_shift_fwd_impl(x, k, stride):
  return _pool_shift(x, k, stride, -jnp.inf, jnp.maximum)


def _max_and_first(x, k, stride):
  """Max pool y and the row-major index of the first tap reaching it, int8[N, Ho, Wo, C].

  A running max updated only on a strictly greater tap keeps the first maximum on ties.
  """
  ho, wo = out_size(x.shape[1], k, stride), out_size(x.shape[2], k, stride)
  y, first = None, None
  for t, (_, tap) in enumerate(taps(pad_hw(x, same_padding(k), -jnp.inf), k, stride, 1, ho, wo)):
    if y is None:
      y, first = tap, jnp.zeros(tap.shape, jnp.int8)
    else:
      greater = tap > y
      y = jnp.where(greater, tap, y)
      first = jnp.where(greater, jnp.int8(t), first)
  return y, first


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _max_pool_shift(x, k, stride):
  return _max_pool_shift_fwd_impl(x, k, stride)


def _max_pool_shift_fwd(x, k, stride):
  y, first = _max_and_first(x, k, stride)
  return y, (first, x.shape)


def _scatter_to_first(first, g, k, stride, h, wd):
  """dx f32[N, h, wd, C]: g[o] added at the input position of tap first[o] of window o."""
  n, ho, wo, c = g.shape
  p = same_padding(k)
  hp, wp = h + 2 * p, wd + 2 * p
  zero = jnp.zeros((), g.dtype)
  dxp = None
  for t in range(k * k):
    i, j = divmod(t, k)
    placed = lax.pad(jnp.where(first == t, g, zero), zero,
                     ((0, 0, 0), (i, hp - i - (ho - 1) * stride - 1, stride - 1),
                      (j, wp - j - (wo - 1) * stride - 1, stride - 1), (0, 0, 0)))
    dxp = placed if dxp is None else dxp + placed
  return lax.slice(dxp, (0, p, p, 0), (n, p + h, p + wd, c))


def _max_pool_shift_bwd(k, stride, res, g):
  """Mask backward: each window's cotangent goes to the first position holding its max.

  Taps are visited in row-major window order and a window's gradient goes to the first tap equal
  to its max, the choice of XLA's select-and-scatter with `ge` (JAX's max-pool gradient) and of
  PyTorch's max_pool2d; ties never split the gradient. The forward pass keeps only that tap index
  (int8 per output, a quarter of x's bytes); each tap's masked cotangent is put back at its input
  positions by one `lax.pad` (offset (i, j), s-1 zeros between entries).

  The scatter runs inside a `lax.cond` whose predicate always holds (indices are >= 0): XLA does
  not fuse across a conditional, so the index is read from memory. Without it, when forward and
  backward are compiled together, XLA fuses the k*k compares that make the index into each of
  the k*k pads (k^4 work per pixel, 6x slower at k=3).
  """
  first, (_, h, wd, _) = res
  scatter = functools.partial(_scatter_to_first, k=k, stride=stride, h=h, wd=wd)
  unreachable = lambda first, g: vary_like(jnp.zeros((g.shape[0], h, wd, g.shape[-1]), g.dtype), g)
  return (lax.cond(first[0, 0, 0, 0] >= 0, scatter, unreachable, first, g),)


_max_pool_shift.defvjp(_max_pool_shift_fwd, _max_pool_shift_bwd)


def max_pool(x: jax.Array, k: int, stride: int = 1, impl: str = "shift") -> jax.Array:
  """kxk max pool, padding k//2 with -inf (PyTorch semantics).

  The gradient goes to the first maximum of each window in row-major order (as XLA and PyTorch
  choose); 'shift' computes it with a mask instead of select-and-scatter.

  Args:
    x: f32[N, H, W, C], NHWC.
    k: odd window size.
    stride: 1 or 2.
    impl: 'lax' (reduce_window) or 'shift' (maximum over k*k slices, mask backward).

  Returns:
    f32[N, Ho, Wo, C] with Ho = out_size(H, k, stride).
  """
  check_impl(impl)
  if impl == "lax":
    return _pool_lax(x, k, stride, -jnp.inf, lax.max)
  return _max_pool_shift(x, k, stride)


def _sum_pool(x, k, stride, impl):
  if impl == "lax":
    return _pool_lax(x, k, stride, 0.0, lax.add)
  return _pool_shift(x, k, stride, 0.0, jnp.add)


def avg_pool(x: jax.Array, k: int, stride: int = 1, impl: str = "shift") -> jax.Array:
  """kxk average pool, padding k//2, padding excluded from the average (count_include_pad=False).

  The divisor, the number of valid cells under each window, is the same sum-pool of a ones image.

  Args:
    x: f32[N, H, W, C], NHWC.
    k: odd window size.
    stride: 1 or 2.
    impl: 'lax' or 'shift'.

  Returns:
    f32[N, Ho, Wo, C] with Ho = out_size(H, k, stride).
  """
  check_impl(impl)
  ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
  return _sum_pool(x, k, stride, impl) / _sum_pool(ones, k, stride, impl)
