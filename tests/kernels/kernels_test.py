"""Tests for natjax.kernels (convolutions, pools, batch norm, conv units): 'shift' equals 'lax',
and both equal independent numpy arithmetic."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numeric_checks import assert_close as _assert_close
from numeric_checks import random_normal as _random

from natjax.errors import InputError
from natjax.kernels import conv, initializers, norm, pool, units, windows

B, C = 2, 4

_max_pool = jax.jit(pool.max_pool, static_argnums=(1, 2, 3))
_avg_pool = jax.jit(pool.avg_pool, static_argnums=(1, 2, 3))
_depthwise = jax.jit(conv.depthwise_conv, static_argnums=(2, 3, 4))
_conv = jax.jit(conv.conv, static_argnums=(2, 3))
_factorized_reduce = jax.jit(
    lambda p, x, impl: units.factorized_reduce(p, {}, x, impl, norm.BatchStats())[0],
    static_argnums=(2,))


# ----------------------------------------------------------------------------------------------
# Independent numpy references.


def _np_pool(x, k, stride, reduce):
  """Pooling by explicit windows over valid cells only (pad k//2 never enters the window)."""
  n, h, w, c = x.shape
  p = k // 2
  ho, wo = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
  out = np.zeros((n, ho, wo, c), np.float64)
  for a in range(ho):
    for b in range(wo):
      r0, c0 = a * stride - p, b * stride - p
      win = x[:, max(r0, 0):r0 + k, max(c0, 0):c0 + k, :]
      out[:, a, b, :] = reduce(win, axis=(1, 2))
  return out


def _np_depthwise_pixel(x, w, a, b, stride, dilation):
  """y[:, a, b, :] of a depthwise conv by explicit summation over in-bounds taps."""
  k = w.shape[0]
  p = dilation * (k - 1) // 2
  total = np.zeros(x.shape[-1], np.float64)
  for i in range(k):
    for j in range(k):
      r, s = a * stride + i * dilation - p, b * stride + j * dilation - p
      if 0 <= r < x.shape[1] and 0 <= s < x.shape[2]:
        total += x[0, r, s, :] * w[i, j, :]
  return total


def _np_batch_norm(y, eps=1e-5):
  mean = y.mean(axis=(0, 1, 2))
  var = y.var(axis=(0, 1, 2))
  return (y - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize("impl", windows.IMPLS)
def test_avg_pool_excludes_padding_at_corner(impl):
  x = jnp.arange(16, dtype=jnp.float32).reshape(1, 4, 4, 1)
  y3 = np.asarray(_avg_pool(x, 3, 1, impl))
  y5 = np.asarray(_avg_pool(x, 5, 1, impl))
  assert y3[0, 0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)
  assert y5[0, 0, 0, 0] == pytest.approx((0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10) / 9)
  assert y3[0, 3, 3, 0] == pytest.approx((10 + 11 + 14 + 15) / 4)
  assert y3[0, 1, 1, 0] == pytest.approx((0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10) / 9)


@pytest.mark.parametrize("impl", windows.IMPLS)
def test_max_pool_hand_image_pads_with_minus_infinity(impl):
  # All negative, so zero padding would show up as 0 at the border.
  x = -jnp.asarray([[1, 5, 2], [7, 3, 9], [4, 8, 6]], jnp.float32).reshape(1, 3, 3, 1)
  expected = np.asarray([[-1, -1, -2], [-1, -1, -2], [-3, -3, -3]], np.float32)
  np.testing.assert_array_equal(np.asarray(_max_pool(x, 3, 1, impl))[0, :, :, 0], expected)
  np.testing.assert_array_equal(np.asarray(_max_pool(x, 3, 2, impl))[0, :, :, 0],
                                expected[::2, ::2])


@pytest.mark.parametrize("impl", windows.IMPLS)
@pytest.mark.parametrize("k,stride,h", [(3, 1, 8), (3, 2, 7), (5, 2, 8), (5, 1, 7)])
def test_pools_match_numpy_windows(impl, k, stride, h):
  x = _random(3, (B, h, h, C))
  _assert_close(_max_pool(jnp.asarray(x), k, stride, impl), _np_pool(x, k, stride, np.max))
  _assert_close(_avg_pool(jnp.asarray(x), k, stride, impl), _np_pool(x, k, stride, np.mean))


@pytest.mark.parametrize("impl", windows.IMPLS)
def test_depthwise_conv_one_pixel_by_hand(impl):
  x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
  w = np.arange(1, 10, dtype=np.float32).reshape(3, 3, 1)
  y = np.asarray(_depthwise(jnp.asarray(x), jnp.asarray(w), 1, 1, impl))
  # Corner (0, 0): taps (1,1),(1,2),(2,1),(2,2) = weights 5,6,8,9 on x[0,0],x[0,1],x[1,0],x[1,1].
  assert y[0, 0, 0, 0] == pytest.approx(5 * 0 + 6 * 1 + 8 * 5 + 9 * 6)
  # Dilation 2 at (2, 2): taps hit x rows/cols {0, 2, 4}.
  y = np.asarray(_depthwise(jnp.asarray(x), jnp.asarray(w), 1, 2, impl))
  hand = sum(w[i, j, 0] * x[0, 2 * i, 2 * j, 0] for i in range(3) for j in range(3))
  assert y[0, 2, 2, 0] == pytest.approx(hand)


@pytest.mark.parametrize("impl", windows.IMPLS)
@pytest.mark.parametrize("stride,dilation,k", [(1, 1, 3), (2, 1, 5), (1, 2, 3), (2, 2, 5)])
def test_depthwise_conv_matches_numpy_at_every_pixel(impl, stride, dilation, k):
  x, w = _random(4, (1, 7, 7, C)), _random(5, (k, k, C))
  y = np.asarray(_depthwise(jnp.asarray(x), jnp.asarray(w), stride, dilation, impl))
  assert y.shape == (1, 4 if stride == 2 else 7, 4 if stride == 2 else 7, C)
  expected = np.stack([np.stack([_np_depthwise_pixel(x, w, a, b, stride, dilation)
                                 for b in range(y.shape[2])]) for a in range(y.shape[1])])
  _assert_close(y[0], expected)


@pytest.mark.parametrize("impl", windows.IMPLS)
@pytest.mark.parametrize("k,stride", [(1, 1), (3, 2), (5, 1)])
def test_dense_conv_matches_numpy(impl, k, stride):
  x, w = _random(6, (B, 7, 7, C)), _random(7, (k, k, C, 2 * C))
  p = k // 2
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  ho = (7 + 2 * p - k) // stride + 1
  expected = np.zeros((B, ho, ho, 2 * C))
  for a in range(ho):
    for b in range(ho):
      win = xp[:, a * stride:a * stride + k, b * stride:b * stride + k, :]
      expected[:, a, b, :] = np.einsum("nijc,ijco->no", win, w)
  _assert_close(_conv(jnp.asarray(x), jnp.asarray(w), stride, impl), expected)


@pytest.mark.parametrize("impl", windows.IMPLS)
@pytest.mark.parametrize("h", [8, 7])
def test_factorized_reduce_shape_and_channel_split(impl, h):
  weights, _ = units.factorized_reduce_weights(C, C, norm.BatchStats())
  params = initializers.materialize_keyed(weights, jax.random.key(3))
  x = _random(8, (B, h, h, C))
  y = np.asarray(_factorized_reduce(params, jnp.asarray(x), impl))
  assert y.shape == (B, (h + 1) // 2, (h + 1) // 2, C)
  relu = np.maximum(x, 0.0)
  if h % 2:  # Zero row/column on top/left, as the authors' code pads an odd input.
    padded = np.pad(relu, ((0, 0), (1, 0), (1, 0), (0, 0)))
  else:
    padded = relu
  first = padded[:, ::2, ::2, :] @ np.asarray(params["w1"])
  second = padded[:, 1::2, 1::2, :] @ np.asarray(params["w2"])
  assert first.shape == second.shape
  expected = _np_batch_norm(np.concatenate([first, second], axis=-1))
  _assert_close(y[..., :C // 2], expected[..., :C // 2])
  _assert_close(y[..., C // 2:], expected[..., C // 2:])
  # Second half depends on w2 only: zeroing it zeroes those channels and leaves the first half.
  zeroed = dict(params, w2=jnp.zeros_like(params["w2"]))
  y0 = np.asarray(_factorized_reduce(zeroed, jnp.asarray(x), impl))
  np.testing.assert_array_equal(y0[..., C // 2:], 0.0)
  _assert_close(y0[..., :C // 2], y[..., :C // 2])


def test_batch_norm_statistics_and_affine():
  x = 3.0 + 2.0 * _random(11, (4, 5, 5, 8))
  y = np.asarray(norm.batch_norm(jnp.asarray(x)))
  np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
  var = x.var(axis=(0, 1, 2))
  np.testing.assert_allclose(y.var(axis=(0, 1, 2)), var / (var + 1e-5), rtol=1e-4)
  np.testing.assert_allclose(y.var(axis=(0, 1, 2)), 1.0, rtol=1e-4)
  _assert_close(y, _np_batch_norm(x.astype(np.float64)))
  scale, bias = _random(12, (8,)), _random(13, (8,))
  ya = np.asarray(norm.batch_norm(jnp.asarray(x), scale=jnp.asarray(scale),
                                     bias=jnp.asarray(bias)))
  _assert_close(ya, y * scale + bias)


@pytest.mark.parametrize("k,stride,dilation,h", [(3, 1, 1, 7), (5, 2, 1, 8), (3, 2, 1, 7),
                                                 (5, 1, 2, 8), (3, 2, 2, 7), (5, 2, 2, 7)])
def test_depthwise_custom_vjp_equals_autodiff(k, stride, dilation, h):
  x, w = jnp.asarray(_random(14, (B, h, h, C))), jnp.asarray(_random(15, (k, k, C)))
  probe = jnp.asarray(_random(16, (B, -(-h // stride), -(-h // stride), C)))

  @jax.jit
  def all_grads(x, w):
    fns = (lambda x, w: conv.depthwise_conv(x, w, stride, dilation, "shift"),
           lambda x, w: conv.depthwise_conv_autodiff(x, w, stride, dilation),
           lambda x, w: conv.depthwise_conv(x, w, stride, dilation, "lax"))
    # A nonlinearity, so the cotangent reaching the conv is not the probe itself.
    return [jax.grad(lambda x, w: jnp.sum(jnp.sin(fn(x, w)) * probe), (0, 1))(x, w) for fn in fns]

  custom, auto, library = all_grads(x, w)
  for c, a, l in zip(custom, auto, library):
    _assert_close(c, a)
    _assert_close(c, l)


@pytest.mark.parametrize("k,stride,h", [(1, 1, 7), (1, 2, 8), (1, 2, 7), (3, 1, 8), (3, 2, 7),
                                        (3, 2, 8), (5, 1, 7), (5, 2, 8)])
def test_dense_conv_custom_vjp_equals_autodiff(k, stride, h):
  # Cout = 2 Cin, so a transposed weight in the backward cannot pass.
  x, w = jnp.asarray(_random(17, (B, h, h, C))), jnp.asarray(_random(18, (k, k, C, 2 * C)))
  probe = jnp.asarray(_random(19, (B, -(-h // stride), -(-h // stride), 2 * C)))

  @jax.jit
  def all_grads(x, w):
    fns = (lambda x, w: conv.conv(x, w, stride, "shift"),
           lambda x, w: conv.conv_autodiff(x, w, stride),
           lambda x, w: conv.conv(x, w, stride, "lax"))
    return [jax.grad(lambda x, w: jnp.sum(jnp.sin(fn(x, w)) * probe), (0, 1))(x, w) for fn in fns]

  custom, auto, library = all_grads(x, w)
  for c, a, l in zip(custom, auto, library):
    _assert_close(c, a)
    _assert_close(c, l)


def _np_max_pool_grad(x, g, k, stride):
  """Max-pool input gradient by explicit windows: g goes to the first max in row-major order."""
  n, h, w, c = x.shape
  p = k // 2
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=-np.inf)
  dxp = np.zeros(xp.shape, np.float64)
  for a in range(g.shape[1]):
    for b in range(g.shape[2]):
      win = xp[:, a * stride:a * stride + k, b * stride:b * stride + k, :].reshape(n, k * k, c)
      first = np.argmax(win, axis=1)  # numpy returns the first occurrence of the max.
      for t in range(k * k):
        hit = first == t
        dxp[:, a * stride + t // k, b * stride + t % k, :] += np.where(hit, g[:, a, b, :], 0.0)
  return dxp[:, p:p + h, p:p + w, :]


@pytest.mark.parametrize("data", ["continuous", "ties", "constant"])
@pytest.mark.parametrize("k,stride,h", [(3, 1, 8), (3, 2, 7), (3, 2, 8), (5, 1, 7), (5, 2, 8)])
def test_max_pool_mask_gradient_equals_lax_and_first_max_rule(k, stride, h, data):
  x = _random(20, (B, h, h, C))
  if data == "ties":  # Few distinct values: most windows hold their max more than once.
    x = np.round(x)
  elif data == "constant":  # Every window ties everywhere: all goes to its first valid cell.
    x = np.ones_like(x)
  out_hw = -(-h // stride)
  probe = _random(21, (B, out_hw, out_hw, C))

  @jax.jit
  def grads(x):
    return [jax.grad(lambda x: jnp.sum(pool.max_pool(x, k, stride, impl) * probe))(x)
            for impl in ("shift", "lax")]

  shift, library = grads(jnp.asarray(x))
  # Same receiving positions (the tie rule); values equal up to summation order.
  np.testing.assert_array_equal(np.asarray(shift) != 0, np.asarray(library) != 0)
  _assert_close(shift, library)
  _assert_close(shift, _np_max_pool_grad(x, probe, k, stride))


def test_unknown_impl_raises():
  x = jnp.zeros((1, 3, 3, 2))
  with pytest.raises(ValueError, match="impl"):
    pool.max_pool(x, 3, 1, "cudnn")


def test_running_batch_norm_train_and_eval_match_numpy():
  rng = np.random.default_rng(0)
  x = rng.normal(2.0, 3.0, size=(4, 3, 5, 6)).astype(np.float32)
  params = {"scale": rng.normal(size=6).astype(np.float32),
            "bias": rng.normal(size=6).astype(np.float32)}
  stats = {"mean": rng.normal(size=6).astype(np.float32),
           "var": rng.uniform(0.5, 2, size=6).astype(np.float32)}
  y, new = norm.running_batch_norm(params, stats, jnp.asarray(x), train=True, momentum=0.1)
  mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
  n = 4 * 3 * 5
  np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * params["scale"]
                             + params["bias"], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(new["mean"], 0.9 * stats["mean"] + 0.1 * mean, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(new["var"], 0.9 * stats["var"] + 0.1 * var * n / (n - 1), rtol=1e-5)
  y, same = norm.running_batch_norm(params, stats, jnp.asarray(x), train=False)
  np.testing.assert_allclose(y, (x - stats["mean"]) / np.sqrt(stats["var"] + 1e-5)
                             * params["scale"] + params["bias"], rtol=1e-4, atol=1e-5)
  assert same is stats


def _np_axis_conv(x, w, axis, stride):
  """A 1xk (axis 2) or kx1 (axis 1) conv by explicit summation over in-bounds taps."""
  k = w.shape[0]
  p = (k - 1) // 2
  n, h, wd, _ = x.shape
  size = (x.shape[axis] + 2 * p - k) // stride + 1
  out_h, out_w = (size, wd) if axis == 1 else (h, size)
  out = np.zeros((n, out_h, out_w, w.shape[2]), np.float64)
  for a in range(out_h):
    for b in range(out_w):
      for t in range(k):
        r, s = (a * stride + t - p, b) if axis == 1 else (a, b * stride + t - p)
        if 0 <= r < h and 0 <= s < wd:
          out[:, a, b, :] += x[:, r, s, :] @ w[t]
  return out


@pytest.mark.parametrize("impl", windows.IMPLS)
@pytest.mark.parametrize("axis,k,stride,h", [(1, 7, 1, 8), (2, 7, 2, 7), (1, 3, 2, 8), (2, 3, 1, 7)])
def test_axis_conv_matches_numpy_and_gradients_agree(impl, axis, k, stride, h):
  x, w = _random(20, (B, h, h + 1, C)), _random(21, (k, C, 2 * C))
  y = jax.jit(conv.axis_conv, static_argnums=(2, 3, 4))(jnp.asarray(x), jnp.asarray(w), axis,
                                                         stride, impl)
  _assert_close(y, _np_axis_conv(x, w, axis, stride))
  probe = jnp.asarray(_random(22, y.shape))
  grads = [jax.grad(lambda x, w, i=i: jnp.sum(jnp.sin(conv.axis_conv(x, w, axis, stride, i))
                                              * probe), (0, 1))(jnp.asarray(x), jnp.asarray(w))
           for i in windows.IMPLS]
  for a, b in zip(*grads):
    _assert_close(a, b)


def test_kernel_form_resolution():
  assert windows.resolve_impl("auto", "cpu") == "shift"
  assert windows.resolve_impl("auto", "gpu") == windows.resolve_impl("auto", "tpu") == "lax"
  for impl in windows.IMPLS:
    assert windows.resolve_impl(impl, "cpu") == windows.resolve_impl(impl, "gpu") == impl
  with pytest.raises(InputError, match=r"unknown kernel impl 'shfit'.*'shift'.*auto, lax, shift"):
    windows.resolve_impl("shfit")


def test_bfloat16_batch_norm_takes_float32_statistics():
  x = _random(0, (4, 3, 3, 5)) * 3.0 + 100.0  # a large mean: bfloat16 statistics lose it
  y = norm.batch_norm(x.astype(jnp.bfloat16))
  assert y.dtype == jnp.bfloat16
  want = norm.batch_norm(x.astype(jnp.bfloat16).astype(jnp.float32))
  np.testing.assert_allclose(np.asarray(y, np.float32), want, atol=2e-2)
