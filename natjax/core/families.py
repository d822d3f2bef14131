"""Op families: what each kind of edge op computes and which weights it holds.

Families and their released semantics (spec section 3.4; C channels in and out):
  conv      ReLU -> conv kxk (pad k//2, stride s, no bias) -> BN
  sep_conv  [ReLU -> depthwise kxk (stride s) -> pointwise 1x1 -> BN] twice (second at stride 1)
  dil_conv  ReLU -> depthwise kxk dilation 2 (pad k-1, stride s) -> pointwise 1x1 -> BN
  max_pool  max pool kxk, pad k//2, stride s
  avg_pool  avg pool kxk, pad k//2, stride s, padding excluded from the average
  skip      identity at stride 1; FactorizedReduce at stride 2
  null      zeros of the output shape

Batch norm uses batch statistics and no affine parameters; the supernet adds whatever
normalisation follows pools.

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

from typing import Dict

import jax
import jax.numpy as jnp

from natjax.errors import InputError
from natjax.kernels import conv, norm, pool
from natjax.kernels.initializers import he_normal
from natjax.core.ops import OpSpec
from natjax.kernels.windows import check_impl

Params = Dict[str, jax.Array]


def init_op_params(key: jax.Array, spec: OpSpec, channels: int, stride: int = 1) -> Params:
  """Weights of one op with `channels` in and out (layouts in the module docstring).

  Sizes follow the cost model: conv k^2 C^2; sep_conv 2(k^2 C + C^2); dil_conv k^2 C + C^2;
  skip at stride 2 (FactorizedReduce) 2 * C * C/2; everything else none. BN holds no weights.

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
  if spec.family == "conv":
    return {"w": he_normal(keys[0], (k, k, c, c), k * k * c)}
  if spec.family == "sep_conv":
    return {"dw1": he_normal(keys[0], (k, k, c), k * k), "pw1": he_normal(keys[1], (c, c), c),
            "dw2": he_normal(keys[2], (k, k, c), k * k), "pw2": he_normal(keys[3], (c, c), c)}
  if spec.family == "dil_conv":
    return {"dw": he_normal(keys[0], (k, k, c), k * k), "pw": he_normal(keys[1], (c, c), c)}
  if spec.family == "skip" and stride == 2:
    if c % 2:
      raise InputError(f"FactorizedReduce needs an even channel count, got {c}")
    return {"w1": he_normal(keys[0], (c, c // 2), c), "w2": he_normal(keys[1], (c, c // 2), c)}
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
  a = conv.conv(x, params["w1"][None, None], 2, impl)
  b = conv.conv(x[:, 1:, 1:, :], params["w2"][None, None], 2, impl)
  return norm.batch_norm(jnp.concatenate([a, b], axis=-1))


def _sep_block(x, dw, pw, stride, impl):
  y = conv.depthwise_conv(jax.nn.relu(x), dw, stride, 1, impl)
  return norm.batch_norm(conv.pointwise_conv(y, pw, impl))


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
  check_impl(impl)
  family, k = spec.family, spec.kernel
  if family == "conv":
    return norm.batch_norm(conv.conv(jax.nn.relu(x), params["w"], stride, impl))
  if family == "sep_conv":
    y = _sep_block(x, params["dw1"], params["pw1"], stride, impl)
    return _sep_block(y, params["dw2"], params["pw2"], 1, impl)
  if family == "dil_conv":
    y = conv.depthwise_conv(jax.nn.relu(x), params["dw"], stride, spec.dilation, impl)
    return norm.batch_norm(conv.pointwise_conv(y, params["pw"], impl))
  if family == "max_pool":
    return pool.max_pool(x, k, stride, impl)
  if family == "avg_pool":
    return pool.avg_pool(x, k, stride, impl)
  if family == "skip":
    return x if stride == 1 else factorized_reduce(params, x, impl)
  if family == "null":
    n, h, w, c = x.shape
    return jnp.zeros((n, -(-h // stride), -(-w // stride), c), x.dtype)
  raise InputError(f"op '{spec.name}': no kernel for family '{family}'")
