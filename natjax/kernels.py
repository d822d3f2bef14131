"""Op kernels: pure functions over explicit parameter pytrees, NHWC, float32.

Every kernel has two interchangeable implementations, chosen by the string `impl`:
  'lax'    library primitives (`lax.conv_general_dilated`, `lax.reduce_window`); the right choice
           on GPU/TPU.
  'shift'  shifted slices of a padded input: a depthwise conv is a sum of k*k strided slices times
           per-channel weights, a dense conv a sum of per-tap 2-D matmuls of the same slices,
           pools reduce over them. On XLA:CPU the gradient of a library conv inside `lax.switch`
           is 25-70x slower (design.md, "The one hard problem"); these are not. The depthwise
           conv, the dense conv (1x1 included) and the max pool carry hand-written backward
           passes (`jax.custom_vjp`, proven equal to autodiff of the 'lax' forms in tests): convs
           as shift-form correlations of the cotangent with the flipped kernel plus per-tap
           weight reductions, max pool as a mask on the first max of each window (no
           select-and-scatter). Each keeps only its input (max pool: an int8 tap index) for the
           backward pass, which matters inside `lax.switch`: every branch must fill the union of
           all branches' residual slots.

Padding follows PyTorch: a kxk window with dilation d is padded by d*(k-1)//2 on every side, and a
stride-s output has floor((H + 2p - d(k-1) - 1) / s) + 1 rows, i.e. ceil(H/2) for every op here at
s = 2. Op semantics are those of spec section 3.4 (see `natjax.ops`). Batch norm uses batch
statistics and no affine parameters; the supernet adds whatever normalisation follows pools.

Parameter pytrees (`init_op_params`), for C channels in and out:
  conv      {'w': f32[k, k, C, C]}
  sep_conv  {'dw1': f32[k, k, C], 'pw1': f32[C, C], 'dw2': f32[k, k, C], 'pw2': f32[C, C]}
  dil_conv  {'dw': f32[k, k, C], 'pw': f32[C, C]}
  skip      {} at stride 1; {'w1': f32[C, C//2], 'w2': f32[C, C//2]} at stride 2
  pools     {}
  null      {}
Pointwise weights are [Cin, Cout]; depthwise weights are [kh, kw, C].
"""

from __future__ import annotations

import contextlib
import functools
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from natjax import initializers
from natjax.errors import InputError, closest
from natjax.ops import OpSpec

IMPLS = ("lax", "shift")
Params = Dict[str, jax.Array]

_DIMS = ("NHWC", "HWIO", "NHWC")


def _varying_axes(x: jax.Array) -> frozenset:
  """The `shard_map` axes over which the traced value `x` varies (empty outside shard_map)."""
  manual = getattr(jax.typeof(x), "manual_axis_type", None)
  return frozenset(manual.varying) if manual is not None else frozenset()


def vary_like(y: jax.Array, x: jax.Array) -> jax.Array:
  """`y` marked as varying over the same `shard_map` axes as `x` (a no-op outside shard_map).

  Inside a data-parallel step activations vary over the 'data' axis; a value built from
  constants (zeros) does not, and the branches of `lax.cond` / `lax.switch` must agree.
  """
  missing = tuple(sorted(_varying_axes(x) - _varying_axes(y)))
  return lax.pcast(y, missing, to="varying") if missing else y


def sum_like(ct: jax.Array, primal: jax.Array) -> jax.Array:
  """A hand-written cotangent summed over the `shard_map` axes where it varies but its primal does
  not (a replicated weight used on every device's slice): what autodiff does for such weights.
  A no-op outside shard_map."""
  extra = tuple(sorted(_varying_axes(ct) - _varying_axes(primal)))
  return lax.psum(ct, extra) if extra else ct


def _check_impl(impl: str) -> None:
  if impl not in IMPLS:
    raise InputError(f"unknown kernel impl '{impl}'{closest(impl, IMPLS)}; choose one of {', '.join(IMPLS)}")


def same_padding(k: int, dilation: int = 1) -> int:
  """PyTorch-style symmetric padding d*(k-1)//2 of a kxk window with dilation d."""
  return dilation * (k - 1) // 2


def out_size(size: int, k: int, stride: int, dilation: int = 1) -> int:
  """Output length floor((size + 2p - d(k-1) - 1) / s) + 1 with p = same_padding(k, d)."""
  return (size + 2 * same_padding(k, dilation) - dilation * (k - 1) - 1) // stride + 1


def _pad_hw(x: jax.Array, p: int, value: float = 0.0) -> jax.Array:
  """Pads the H and W axes of NHWC x by p on every side with a constant."""
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=value)


def _taps(xp: jax.Array, k: int, stride: int, dilation: int, ho: int, wo: int):
  """Yields ((i, j), tap) for the k*k window offsets of padded NHWC xp.

  tap[n, a, b, c] = xp[n, a*stride + i*dilation, b*stride + j*dilation, c]; f32[N, ho, wo, C].
  """
  n, _, _, c = xp.shape
  for i in range(k):
    for j in range(k):
      start = (0, i * dilation, j * dilation, 0)
      limit = (n, i * dilation + (ho - 1) * stride + 1, j * dilation + (wo - 1) * stride + 1, c)
      yield (i, j), lax.slice(xp, start, limit, (1, stride, stride, 1))


# ----------------------------------------------------------------------------------------------
# Depthwise conv.


def _depthwise_lax(x: jax.Array, w: jax.Array, stride: int, dilation: int) -> jax.Array:
  k, c = w.shape[0], w.shape[-1]
  p = same_padding(k, dilation)
  return lax.conv_general_dilated(
      x, w.reshape(k, k, 1, c), window_strides=(stride, stride), padding=((p, p), (p, p)),
      rhs_dilation=(dilation, dilation), dimension_numbers=_DIMS, feature_group_count=c)


def _depthwise_shift_fwd_impl(x, w, stride, dilation):
  k = w.shape[0]
  ho = out_size(x.shape[1], k, stride, dilation)
  wo = out_size(x.shape[2], k, stride, dilation)
  xp = _pad_hw(x, same_padding(k, dilation))
  y = None
  for (i, j), tap in _taps(xp, k, stride, dilation, ho, wo):
    term = tap * w[i, j]
    y = term if y is None else y + term
  return y


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _depthwise_shift(x, w, stride, dilation):
  return _depthwise_shift_fwd_impl(x, w, stride, dilation)


def _depthwise_shift_fwd(x, w, stride, dilation):
  return _depthwise_shift_fwd_impl(x, w, stride, dilation), (x, w)


def _depthwise_shift_bwd(stride, dilation, res, g):
  """Hand-written backward: dx is taps of the cotangent, dw per-tap reductions.

  With y[a] = sum_i xp[a*s + i*d] w[i], the input gradient is a stride-1 depthwise correlation of
  the cotangent, dilated by s (zeros between rows) and padded by (k-1)d - p on the low side, with
  the flipped kernel: dx[r] = sum_i G[r + i*d] w[k-1-i]. One `lax.pad` builds G, then the same k*k
  slices as the forward pass.
  """
  x, w = res
  k = w.shape[0]
  _, h, wd, _ = x.shape
  _, ho, wo, _ = g.shape
  p = same_padding(k, dilation)
  dw = jnp.stack([jnp.sum(tap * g, axis=(0, 1, 2))
                  for _, tap in _taps(_pad_hw(x, p), k, stride, dilation, ho, wo)])
  low = (k - 1) * dilation - p
  high_h = h + p - 1 - (ho - 1) * stride
  high_w = wd + p - 1 - (wo - 1) * stride
  gp = lax.pad(g, jnp.zeros((), g.dtype),
               ((0, 0, 0), (low, high_h, stride - 1), (low, high_w, stride - 1), (0, 0, 0)))
  dx = None
  for (i, j), tap in _taps(gp, k, 1, dilation, h, wd):
    term = tap * w[k - 1 - i, k - 1 - j]
    dx = term if dx is None else dx + term
  return dx, sum_like(dw.reshape(w.shape), w)


_depthwise_shift.defvjp(_depthwise_shift_fwd, _depthwise_shift_bwd)


def depthwise_conv(x: jax.Array, w: jax.Array, stride: int = 1, dilation: int = 1,
                   impl: str = "shift") -> jax.Array:
  """Depthwise kxk conv, no bias, PyTorch padding dilation*(k-1)//2.

  Args:
    x: f32[N, H, W, C], NHWC.
    w: f32[k, k, C], one kxk filter per channel (k odd).
    stride: 1 or 2.
    dilation: spacing of the kernel taps.
    impl: 'lax' or 'shift' (the latter with a hand-written VJP).

  Returns:
    f32[N, Ho, Wo, C] with Ho = out_size(H, k, stride, dilation).
  """
  _check_impl(impl)
  if impl == "lax":
    return _depthwise_lax(x, w, stride, dilation)
  return _depthwise_shift(x, w, stride, dilation)


def depthwise_conv_autodiff(x: jax.Array, w: jax.Array, stride: int = 1,
                            dilation: int = 1) -> jax.Array:
  """The 'shift' depthwise conv differentiated by JAX, as a reference for the custom VJP."""
  return _depthwise_shift_fwd_impl(x, w, stride, dilation)


# ----------------------------------------------------------------------------------------------
# Dense conv.


def _tap_matmul(xp: jax.Array, w: jax.Array, stride: int, ho: int, wo: int) -> jax.Array:
  """sum over taps (i, j) of tap_ij(xp) @ w[i, j]: a dense correlation of a padded input.

  For 3x3 at stride 1: one matmul of the whole padded input with every tap's weights, then k*k
  shifted slices of its output (no im2col copy of the input). Otherwise one matmul per strided
  input tap (at 5x5 the k*k-times-wider output of the single matmul costs more than it saves).
  Every matmul is a plain 2-D one: XLA:CPU runs those far faster than an einsum that contracts or
  keeps several spatial axes, or than one matmul on an im2col concatenation.

  Args:
    xp: f32[N, Hp, Wp, Cin], already padded.
    w: f32[k, k, Cin, Cout].
    stride: 1 or 2.
    ho, wo: output size.

  Returns:
    f32[N, ho, wo, Cout].
  """
  k, _, cin, cout = w.shape
  n, hp, wp, _ = xp.shape
  y = None
  if stride == 1 and k == 3:
    z = xp.reshape(-1, cin) @ w.transpose(2, 0, 1, 3).reshape(cin, k * k * cout)
    z = z.reshape(n, hp, wp, k * k, cout)
    for i in range(k):
      for j in range(k):
        t = i * k + j
        term = lax.slice(z, (0, i, j, t, 0), (n, i + ho, j + wo, t + 1, cout)).reshape(
            n, ho, wo, cout)
        y = term if y is None else y + term
    return y
  for (i, j), tap in _taps(xp, k, stride, 1, ho, wo):
    term = (tap.reshape(-1, cin) @ w[i, j]).reshape(n, ho, wo, cout)
    y = term if y is None else y + term
  return y


def _conv_shift_fwd_impl(x, w, stride):
  k = w.shape[0]
  ho, wo = out_size(x.shape[1], k, stride), out_size(x.shape[2], k, stride)
  return _tap_matmul(_pad_hw(x, same_padding(k)), w, stride, ho, wo)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_shift(x, w, stride):
  return _conv_shift_fwd_impl(x, w, stride)


def _conv_shift_fwd(x, w, stride):
  return _conv_shift_fwd_impl(x, w, stride), (x, w)


def _conv_shift_bwd_strided(x, w, g, stride):
  """The dense conv's backward at stride > 1, on the output grid (a quarter of the positions).

  Input gradient: Z = g @ [w_t^T for every tap t], one 2-D matmul f32[N*Ho*Wo, k*k*Cin]; tap t's
  block goes back to input positions o*s + d_t by one `lax.pad` each, and the k*k pads are summed.
  Weight gradient: per tap, tap_t(xp)^T @ g (k*k 2-D matmuls over the strided taps).
  """
  k, _, cin, cout = w.shape
  n, h, wd, _ = x.shape
  _, ho, wo, _ = g.shape
  p = same_padding(k)
  hp, wp = h + 2 * p, wd + 2 * p
  zero = jnp.zeros((), g.dtype)
  g2 = g.reshape(-1, cout)
  z = (g2 @ w.transpose(3, 0, 1, 2).reshape(cout, k * k * cin)).reshape(n, ho, wo, k * k, cin)
  dxp = None
  for t in range(k * k):
    i, j = divmod(t, k)
    placed = lax.pad(z[:, :, :, t, :], zero,
                     ((0, 0, 0), (i, hp - i - (ho - 1) * stride - 1, stride - 1),
                      (j, wp - j - (wo - 1) * stride - 1, stride - 1), (0, 0, 0)))
    dxp = placed if dxp is None else dxp + placed
  dw = jnp.stack([tap.reshape(-1, cin).T @ g2
                  for _, tap in _taps(_pad_hw(x, p), k, stride, 1, ho, wo)])
  return (lax.slice(dxp, (0, p, p, 0), (n, p + h, p + wd, cin)),
          sum_like(dw.reshape(w.shape), w))


def _conv_shift_bwd(stride, res, g):
  """Hand-written backward of the dense conv; only (x, w) are kept from the forward pass.

  With y[o] = sum_t xp[o*s + d_t] @ w_t over taps t = (i, j) at offsets d_t, both gradients go
  through one im2col matrix of the cotangent, G[r, t] = g[o] where r = o*s + d_t (else 0): k*k
  copies of g, each placed at its tap offset by one `lax.pad` (s-1 zeros between entries),
  f32[N*Hp*Wp, k*k*Cout]. Then
    input gradient   dxp = G @ W^T, i.e. dxp[r] = sum_t g[(r - d_t)/s] @ w_t^T, the correlation
                     of the dilated cotangent with the flipped kernel (one 2-D matmul), cropped;
    weight gradient  dW = xp^T @ G, all k*k per-tap reductions over positions in one matmul,
  with W = w as f32[Cin, k*k*Cout]. XLA:CPU runs these two large 2-D matmuls several times
  faster than k*k small ones. At stride > 1 most of G would be zeros: see
  `_conv_shift_bwd_strided`.
  """
  x, w = res
  if stride > 1:
    return _conv_shift_bwd_strided(x, w, g, stride)
  k, _, cin, cout = w.shape
  n, h, wd, _ = x.shape
  _, ho, wo, _ = g.shape
  p = same_padding(k)
  hp, wp = h + 2 * p, wd + 2 * p
  zero = jnp.zeros((), g.dtype)
  cols = jnp.stack([
      lax.pad(g, zero, ((0, 0, 0), (i, hp - i - (ho - 1) * stride - 1, stride - 1),
                        (j, wp - j - (wo - 1) * stride - 1, stride - 1), (0, 0, 0)))
      for i in range(k) for j in range(k)], axis=3).reshape(-1, k * k * cout)
  w_mat = w.transpose(2, 0, 1, 3).reshape(cin, k * k * cout)
  dxp = (cols @ w_mat.T).reshape(n, hp, wp, cin)
  dw = _pad_hw(x, p).reshape(-1, cin).T @ cols
  dx = lax.slice(dxp, (0, p, p, 0), (n, p + h, p + wd, cin))
  return dx, sum_like(dw.reshape(cin, k, k, cout).transpose(1, 2, 0, 3), w)


_conv_shift.defvjp(_conv_shift_fwd, _conv_shift_bwd)


def conv(x: jax.Array, w: jax.Array, stride: int = 1, impl: str = "shift") -> jax.Array:
  """Dense kxk conv, no bias, PyTorch padding (k-1)//2.

  Args:
    x: f32[N, H, W, Cin], NHWC.
    w: f32[k, k, Cin, Cout] (HWIO).
    stride: 1 or 2.
    impl: 'lax' (library conv) or 'shift' (per-tap 2-D matmuls of shifted slices, with a
      hand-written VJP).

  Returns:
    f32[N, Ho, Wo, Cout] with Ho = out_size(H, k, stride).
  """
  _check_impl(impl)
  k = w.shape[0]
  p = same_padding(k)
  if impl == "lax":
    return lax.conv_general_dilated(x, w, (stride, stride), ((p, p), (p, p)),
                                    dimension_numbers=_DIMS)
  return _conv_shift(x, w, stride)


def conv_autodiff(x: jax.Array, w: jax.Array, stride: int = 1) -> jax.Array:
  """The 'shift' dense conv differentiated by JAX, as a reference for the custom VJP."""
  return _conv_shift_fwd_impl(x, w, stride)


def pointwise_conv(x: jax.Array, w: jax.Array, impl: str = "shift") -> jax.Array:
  """1x1 conv at stride 1: x f32[N, H, W, Cin], w f32[Cin, Cout] -> f32[N, H, W, Cout]."""
  return conv(x, w[None, None], 1, impl)


# ----------------------------------------------------------------------------------------------
# Pools.


def _pool_lax(x, k, stride, init, op):
  p = same_padding(k)
  return lax.reduce_window(x, init, op, (1, k, k, 1), (1, stride, stride, 1),
                           ((0, 0), (p, p), (p, p), (0, 0)))


def _pool_shift(x, k, stride, pad_value, op):
  ho, wo = out_size(x.shape[1], k, stride), out_size(x.shape[2], k, stride)
  y = None
  for _, tap in _taps(_pad_hw(x, same_padding(k), pad_value), k, stride, 1, ho, wo):
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
  for t, (_, tap) in enumerate(_taps(_pad_hw(x, same_padding(k), -jnp.inf), k, stride, 1, ho, wo)):
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
  _check_impl(impl)
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
  _check_impl(impl)
  ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
  return _sum_pool(x, k, stride, impl) / _sum_pool(ones, k, stride, impl)


# ----------------------------------------------------------------------------------------------
# Batch norm.


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


# ----------------------------------------------------------------------------------------------
# Ops from OpSpec.


def init_op_params(key: jax.Array, spec: OpSpec, channels: int, stride: int = 1) -> Params:
  """Weights of one op with `channels` in and out (layouts in the module docstring).

  Sizes follow the cost model: conv k^2 C^2; sep_conv 2(k^2 C + C^2); dil_conv k^2 C + C^2;
  skip at stride 2 (FactorizedReduce) 2 * C * C/2; everything else none. BN holds no weights.
  Every weight is PyTorch's default, as in the released code (`natjax.initializers`):
  U(+-1/sqrt(fan_in)) with fan_in k*k*C for a dense conv, k*k for a depthwise one, C for 1x1.

  Args:
    key: PRNG key.
    spec: the op.
    channels: C; must be even for skip at stride 2.
    stride: 1 or 2.

  Returns:
    A dict of f32 arrays, possibly empty.
  """
  c, k = channels, spec.kernel
  keys = jax.random.split(key, 4)
  dense = lambda key: initializers.torch_default(key, (k, k, c, c), initializers.conv_fan_in(k, c))
  depthwise = lambda key: initializers.torch_default(key, (k, k, c), k * k)
  pointwise = lambda key, c_out=c: initializers.torch_default(key, (c, c_out), c)
  if spec.family == "conv":
    return {"w": dense(keys[0])}
  if spec.family == "sep_conv":
    return {"dw1": depthwise(keys[0]), "pw1": pointwise(keys[1]),
            "dw2": depthwise(keys[2]), "pw2": pointwise(keys[3])}
  if spec.family == "dil_conv":
    return {"dw": depthwise(keys[0]), "pw": pointwise(keys[1])}
  if spec.family == "skip" and stride == 2:
    if c % 2:
      raise InputError(f"FactorizedReduce needs an even channel count, got {c}")
    return {"w1": pointwise(keys[0], c // 2), "w2": pointwise(keys[1], c // 2)}
  return {}


def factorized_reduce(params: Params, x: jax.Array, impl: str = "shift") -> jax.Array:
  """FactorizedReduce: ReLU -> [1x1/2 conv of x, 1x1/2 conv of x[:, 1:, 1:]] -> concat -> BN.

  An odd H (resp. W) is first zero-padded by one row (column) on the top (left), as the authors'
  code does (`F.pad(x, (1, 0, 1, 0))`, applied there when H is odd); both branches then have
  ceil(H/2) rows, the stride-2 size of every other op. Padding bottom/right would also align the
  shapes but sample different pixels; we follow the reference. Each axis is padded on its own,
  which equals the reference for square inputs.

  Args:
    params: {'w1': f32[C, C//2], 'w2': f32[C, C//2]}.
    x: f32[N, H, W, C], NHWC.
    impl: 'lax' or 'shift'.

  Returns:
    f32[N, ceil(H/2), ceil(W/2), C]; channels [:C//2] come from x, [C//2:] from the shifted x.
  """
  x = jax.nn.relu(x)
  _, h, w, _ = x.shape
  x = jnp.pad(x, ((0, 0), (h % 2, 0), (w % 2, 0), (0, 0)))
  a = conv(x, params["w1"][None, None], 2, impl)
  b = conv(x[:, 1:, 1:, :], params["w2"][None, None], 2, impl)
  return batch_norm(jnp.concatenate([a, b], axis=-1))


def _sep_block(x, dw, pw, stride, impl):
  y = depthwise_conv(jax.nn.relu(x), dw, stride, 1, impl)
  return batch_norm(pointwise_conv(y, pw, impl))


def apply_op(params: Params, x: jax.Array, spec: OpSpec, stride: int = 1,
             impl: str = "shift") -> jax.Array:
  """Runs one op (spec section 3.4) with C channels in and out.

  Args:
    params: the op's weights from `init_op_params(key, spec, C, stride)`.
    x: f32[N, H, W, C], NHWC.
    spec: the op.
    stride: 1 or 2 (2 only on reduction-cell edges leaving the cell inputs).
    impl: 'lax' or 'shift'.

  Returns:
    f32[N, H, W, C] at stride 1, f32[N, ceil(H/2), ceil(W/2), C] at stride 2, for every op.
  """
  _check_impl(impl)
  family, k = spec.family, spec.kernel
  if family == "conv":
    return batch_norm(conv(jax.nn.relu(x), params["w"], stride, impl))
  if family == "sep_conv":
    y = _sep_block(x, params["dw1"], params["pw1"], stride, impl)
    return _sep_block(y, params["dw2"], params["pw2"], 1, impl)
  if family == "dil_conv":
    y = depthwise_conv(jax.nn.relu(x), params["dw"], stride, spec.dilation, impl)
    return batch_norm(pointwise_conv(y, params["pw"], impl))
  if family == "max_pool":
    return max_pool(x, k, stride, impl)
  if family == "avg_pool":
    return avg_pool(x, k, stride, impl)
  if family == "skip":
    return x if stride == 1 else factorized_reduce(params, x, impl)
  if family == "null":
    n, h, w, c = x.shape
    return jnp.zeros((n, -(-h // stride), -(-w // stride), c), x.dtype)
  raise InputError(f"op '{spec.name}': no kernel for family '{family}'")
