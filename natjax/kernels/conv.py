"""Convolutions (NHWC, float32, no bias): depthwise, dense and pointwise, each in two
interchangeable implementations chosen by the string `impl` (`natjax.kernels.windows.IMPLS`):

  'lax'    `lax.conv_general_dilated`: the right choice on GPU/TPU.
  'shift'  shifted slices of a padded input: a depthwise conv is a sum of k*k strided slices times
           per-channel weights, a dense conv a sum of per-tap 2-D matmuls of the same slices. On
           XLA:CPU the gradient of a library conv inside `lax.switch` is 25-70x slower (design.md,
           "The one hard problem"); these are not. Both carry hand-written backward passes
           (`jax.custom_vjp`, proven equal to autodiff of the 'lax' forms in tests): shift-form
           correlations of the cotangent with the flipped kernel plus per-tap weight reductions.
           Each keeps only its input for the backward pass, which matters inside `lax.switch`:
           every branch must fill the union of all branches' residual slots.

Weights: dense HWIO f32[k, k, Cin, Cout]; depthwise f32[k, k, C]; pointwise f32[Cin, Cout]; a conv
along one axis (`axis_conv`, 1xk or kx1) f32[k, Cin, Cout].
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from natjax.kernels.varying import sum_like
from natjax.kernels.windows import check_impl, out_size, pad_hw, same_padding, taps

_DIMS = ("NHWC", "HWIO", "NHWC")


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
  xp = pad_hw(x, same_padding(k, dilation))
  y = None
  for (i, j), tap in taps(xp, k, stride, dilation, ho, wo):
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
                  for _, tap in taps(pad_hw(x, p), k, stride, dilation, ho, wo)])
  low = (k - 1) * dilation - p
  high_h = h + p - 1 - (ho - 1) * stride
  high_w = wd + p - 1 - (wo - 1) * stride
  gp = lax.pad(g, jnp.zeros((), g.dtype),
               ((0, 0, 0), (low, high_h, stride - 1), (low, high_w, stride - 1), (0, 0, 0)))
  dx = None
  for (i, j), tap in taps(gp, k, 1, dilation, h, wd):
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
  check_impl(impl)
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
  for (i, j), tap in taps(xp, k, stride, 1, ho, wo):
    term = (tap.reshape(-1, cin) @ w[i, j]).reshape(n, ho, wo, cout)
    y = term if y is None else y + term
  return y


def _conv_shift_fwd_impl(x, w, stride):
  k = w.shape[0]
  ho, wo = out_size(x.shape[1], k, stride), out_size(x.shape[2], k, stride)
  return _tap_matmul(pad_hw(x, same_padding(k)), w, stride, ho, wo)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_shift(x, w, stride):
  return _conv_shift_fwd_impl(x, w, stride)


def _conv_shift_fwd(x, w, stride):
  return _conv_shift_fwd_impl(x, w, stride), (x, w)


def _place_at_tap(v: jax.Array, i: int, j: int, hp: int, wp: int, stride: int) -> jax.Array:
  """v: f32[N, Ho, Wo, C], one value per output position o, placed at padded input position
  o*stride + (i, j) of an f32[N, Hp, Wp, C] grid of zeros (one `lax.pad`, stride-1 zeros between
  entries): where tap (i, j) of the conv read it."""
  _, ho, wo, _ = v.shape
  return lax.pad(v, jnp.zeros((), v.dtype),
                 ((0, 0, 0), (i, hp - i - (ho - 1) * stride - 1, stride - 1),
                  (j, wp - j - (wo - 1) * stride - 1, stride - 1), (0, 0, 0)))


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
  g2 = g.reshape(-1, cout)
  z = (g2 @ w.transpose(3, 0, 1, 2).reshape(cout, k * k * cin)).reshape(n, ho, wo, k * k, cin)
  dxp = None
  for t in range(k * k):
    i, j = divmod(t, k)
    placed = _place_at_tap(z[:, :, :, t, :], i, j, hp, wp, stride)
    dxp = placed if dxp is None else dxp + placed
  dw = jnp.stack([tap.reshape(-1, cin).T @ g2
                  for _, tap in taps(pad_hw(x, p), k, stride, 1, ho, wo)])
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
  p = same_padding(k)
  hp, wp = h + 2 * p, wd + 2 * p
  cols = jnp.stack([_place_at_tap(g, i, j, hp, wp, stride) for i in range(k) for j in range(k)],
                   axis=3).reshape(-1, k * k * cout)
  w_mat = w.transpose(2, 0, 1, 3).reshape(cin, k * k * cout)
  dxp = (cols @ w_mat.T).reshape(n, hp, wp, cin)
  dw = pad_hw(x, p).reshape(-1, cin).T @ cols
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
  check_impl(impl)
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
# Conv along one spatial axis (1xk or kx1), the halves of a factorised kxk conv.


def axis_conv(x: jax.Array, w: jax.Array, axis: int, stride: int = 1,
              impl: str = "shift") -> jax.Array:
  """Dense 1xk (axis=2, along W) or kx1 (axis=1, along H) conv, no bias: padding (k-1)//2 and
  the stride apply along `axis` only, as PyTorch's Conv2d(kernel_size=(1, k), stride=(1, s),
  padding=(0, (k-1)//2)) and its (k, 1) transpose.

  The 'shift' form is a sum of k 2-D matmuls of strided slices, differentiated by JAX (its
  residuals are the slices; the ops that use it sit in no built-in search space).

  Args:
    x: f32[N, H, W, Cin], NHWC.
    w: f32[k, Cin, Cout] (k odd).
    axis: 1 (H) or 2 (W).
    stride: 1 or 2, along `axis`.
    impl: 'lax' or 'shift'.

  Returns:
    f32[N, H', W', Cout] with the size along `axis` = out_size(size, k, stride), the other kept.

  Raises:
    InputError: an unknown `impl`.
  """
  check_impl(impl)
  k, cin, cout = w.shape
  p = same_padding(k)
  if impl == "lax":
    kernel = w[:, None] if axis == 1 else w[None]
    strides = (stride, 1) if axis == 1 else (1, stride)
    padding = ((p, p), (0, 0)) if axis == 1 else ((0, 0), (p, p))
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=_DIMS)
  size = out_size(x.shape[axis], k, stride)
  widths = [(0, 0)] * 4
  widths[axis] = (p, p)
  xp = jnp.pad(x, widths)
  shape = list(x.shape[:3]) + [cout]
  shape[axis] = size
  y = None
  for j in range(k):
    tap = lax.slice_in_dim(xp, j, j + (size - 1) * stride + 1, stride, axis)
    term = (tap.reshape(-1, cin) @ w[j]).reshape(shape)
    y = term if y is None else y + term
  return y
