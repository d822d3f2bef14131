"""Conv units: a convolution (or two) followed by one normaliser, the building blocks of op
families (`natjax.core.families`) and of cell preprocessing (spec section 3.4).

Each unit comes as three functions, so that what it holds, what it computes and what it costs are
written in one place:
  *_weights(..., norm)              -> (params, stats) descriptions (`natjax.kernels.initializers`:
                                       PyTorch's default U(+-1/sqrt(fan_in)), as released)
  unit(params, stats, x, ..., norm) -> (y, stats)
  *_cost(...)                       -> (params, MAdds) in the stand-alone network: BN affine (2C)
                                       counted, MAdds of the convs at output resolution.
`norm` is a normaliser (`natjax.kernels.norm`); its params sit beside the unit's weights.

Units (C channels; weights as in `natjax.kernels.conv`):
  conv_bn            conv kxk (stride s, no bias) -> BN                 {'w': f32[k, k, Cin, Cout]}
  relu_dw_pw_bn      ReLU -> depthwise kxk (stride s, dilation d) -> pointwise -> BN
                                                           {'dw': f32[k, k, C], 'pw': f32[C, C]}
  factorized_reduce  ReLU -> [1x1/2 conv of x, 1x1/2 conv of x[:, 1:, 1:]] -> concat -> BN
                                             {'w1': f32[Cin, Cout/2], 'w2': f32[Cin, Cout/2]}
  relu_factorized_conv_bn  ReLU -> conv 1xk (stride (1, s)) -> conv kx1 (stride (s, 1)) -> BN
                                                       {'w1x': f32[k, C, C], 'wx1': f32[k, C, C]}
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp

from natjax.errors import InputError
from natjax.kernels import conv
from natjax.kernels.initializers import conv_fan_in, conv_weight
from natjax.kernels.norm import Normalizer

Params = Dict[str, Any]
Int = Any  # A Python int or an int32 jax scalar (possibly traced).


def conv_bn_weights(k: int, c_in: int, c_out: int, norm: Normalizer) -> Tuple[Params, Params]:
  """Dense kxk conv (HWIO) + the normaliser's params; its stats."""
  bn, stats = norm.init(c_out)
  return {"w": conv_weight((k, k, c_in, c_out), conv_fan_in(k, c_in)), **bn}, stats


def conv_bn(params: Params, stats: Params, x: jax.Array, stride: int, impl: str,
            norm: Normalizer) -> Tuple[jax.Array, Params]:
  """BN(conv(x)): f32[N, H, W, Cin] -> f32[N, H/stride, W/stride, Cout] (ceil), new stats."""
  return norm(params, stats, conv.conv(x, params["w"], stride, impl))


def conv_bn_cost(c_in: Int, c_out: Int, k: int, h_out: Int, w_out: Int) -> Tuple[Int, Int]:
  """(k²·c_in·c_out + 2·c_out weights, k²·c_in·c_out·h_out·w_out multiply-adds)."""
  weights = k * k * c_in * c_out
  return weights + 2 * c_out, weights * h_out * w_out


def dw_pw_bn_weights(k: int, c: int, norm: Normalizer) -> Tuple[Params, Params]:
  """Depthwise kxk [k, k, C] + pointwise [C, C] + the normaliser's params; its stats."""
  bn, stats = norm.init(c)
  return {"dw": conv_weight((k, k, c), conv_fan_in(k, c, groups=c)),
          "pw": conv_weight((c, c), c), **bn}, stats


def relu_dw_pw_bn(params: Params, stats: Params, x: jax.Array, stride: int, dilation: int,
                  impl: str, norm: Normalizer) -> Tuple[jax.Array, Params]:
  """BN(pointwise(depthwise(ReLU(x)))): f32[N, H, W, C] -> f32[N, H/stride, W/stride, C]."""
  y = conv.depthwise_conv(jax.nn.relu(x), params["dw"], stride, dilation, impl)
  return norm(params, stats, conv.pointwise_conv(y, params["pw"], impl))


def dw_pw_bn_cost(c: Int, k: int, h_out: Int, w_out: Int) -> Tuple[Int, Int]:
  """One depthwise-pointwise-BN block: (k²·c + c² + 2c weights, (k²·c + c²)·h_out·w_out)."""
  weights = k * k * c + c * c
  return weights + 2 * c, weights * h_out * w_out


def factorized_reduce_weights(c_in: int, c_out: int, norm: Normalizer) -> Tuple[Params, Params]:
  """Two 1x1 stride-2 convs [C_in, C_out/2] + the normaliser's params for C_out; its stats.

  Raises:
    InputError: an odd C_out (the two halves must be equal).
  """
  if c_out % 2:
    raise InputError(f"FactorizedReduce needs an even channel count, got {c_out}")
  bn, stats = norm.init(c_out)
  return {"w1": conv_weight((c_in, c_out // 2), c_in),
          "w2": conv_weight((c_in, c_out // 2), c_in), **bn}, stats


def factorized_reduce(params: Params, stats: Params, x: jax.Array, impl: str,
                      norm: Normalizer) -> Tuple[jax.Array, Params]:
  """FactorizedReduce: ReLU -> [1x1/2 conv of x, 1x1/2 conv of x[:, 1:, 1:]] -> concat -> BN.

  An odd H (resp. W) is first zero-padded by one row (column) on the top (left), as the authors'
  code does (`F.pad(x, (1, 0, 1, 0))`, applied there when H is odd); both branches then have
  ceil(H/2) rows, the stride-2 size of every other op. Padding bottom/right would also align the
  shapes but sample different pixels; we follow the reference. Each axis is padded on its own,
  which equals the reference for square inputs.

  Args:
    params: {'w1': f32[Cin, Cout//2], 'w2': f32[Cin, Cout//2], + the normaliser's}.
    stats: the normaliser's statistics.
    x: f32[N, H, W, Cin], NHWC.
    impl: 'lax' or 'shift'.
    norm: the normaliser.

  Returns:
    (f32[N, ceil(H/2), ceil(W/2), Cout], new stats); channels [:Cout//2] come from x, [Cout//2:]
    from the shifted x.
  """
  x = jax.nn.relu(x)
  _, h, w, _ = x.shape
  x = jnp.pad(x, ((0, 0), (h % 2, 0), (w % 2, 0), (0, 0)))
  a = conv.conv(x, params["w1"][None, None], 2, impl)
  b = conv.conv(x[:, 1:, 1:, :], params["w2"][None, None], 2, impl)
  return norm(params, stats, jnp.concatenate([a, b], axis=-1))


def factorized_reduce_cost(c_in: Int, c_out: Int, h_out: Int, w_out: Int) -> Tuple[Int, Int]:
  """(2·c_in·(c_out/2) + 2·c_out weights, 2·c_in·(c_out/2)·h_out·w_out multiply-adds)."""
  weights = 2 * c_in * (c_out // 2)
  return weights + 2 * c_out, weights * h_out * w_out


def factorized_conv_weights(k: int, c: int, norm: Normalizer) -> Tuple[Params, Params]:
  """A 1xk and a kx1 conv [k, C, C] (fan-in k*C each) + the normaliser's params; its stats."""
  bn, stats = norm.init(c)
  return {"w1x": conv_weight((k, c, c), k * c), "wx1": conv_weight((k, c, c), k * c), **bn}, stats


def relu_factorized_conv_bn(params: Params, stats: Params, x: jax.Array, stride: int, impl: str,
                            norm: Normalizer) -> Tuple[jax.Array, Params]:
  """BN(conv_kx1(conv_1xk(ReLU(x)))): f32[N, H, W, C] -> f32[N, H/stride, W/stride, C] (ceil).

  The 1xk conv strides along W only and the kx1 conv along H only, as the DARTS code's
  `conv_7x1_1x7` (nn.Conv2d (1, 7) stride (1, s), then (7, 1) stride (s, 1), one BN).
  """
  y = conv.axis_conv(jax.nn.relu(x), params["w1x"], 2, stride, impl)
  return norm(params, stats, conv.axis_conv(y, params["wx1"], 1, stride, impl))


def factorized_conv_cost(c: Int, k: int, h_in: Int, h_out: Int, w_out: Int) -> Tuple[Int, Int]:
  """(2k·c² + 2c weights, k·c²·h_in·w_out + k·c²·h_out·w_out multiply-adds): the 1xk conv runs at
  h_in x w_out, the kx1 conv at h_out x w_out."""
  weights = k * c * c
  return 2 * weights + 2 * c, weights * h_in * w_out + weights * h_out * w_out
