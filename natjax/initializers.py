"""Parameter initialisation: the released code's, which is PyTorch's defaults, in one place.

The released NAT / NAT++ code never initialises a layer itself, so every weight starts as PyTorch
creates it (PyTorch 1.x `reset_parameters`, unchanged since). natjax follows it everywhere: the
supernet (`natjax.kernels`, `natjax.supernet`), the retraining networks (`natjax.evalnet`) and
the policy (`natjax.policy`, spec section 5 item 6).

  layer                         PyTorch                               natjax
  Conv2d / Linear weight        kaiming_uniform_(a=sqrt(5))           U(-b, b), b = 1/sqrt(fan_in)
  Conv2d / Linear bias          uniform_(-1/sqrt(fan_in), ...)        U(-b, b), b = 1/sqrt(fan_in)
  Embedding                     normal_(0, 1)                         N(0, 1)
  pygcn GraphConvolution        uniform_(-stdv, stdv) on weight and   U(-b, b), b = 1/sqrt(out)
                                bias, stdv = 1/sqrt(weight.size(1))
  BatchNorm2d (affine)          weight 1, bias 0; running mean 0,     the same
                                running variance 1

kaiming_uniform_ with negative slope a draws U(-b, b) with b = gain * sqrt(3 / fan_in) and
gain = sqrt(2 / (1 + a^2)); a = sqrt(5) gives gain = sqrt(1/3), so b = 1/sqrt(fan_in) and the
standard deviation is b / sqrt(3) = 1/sqrt(3 fan_in). That is 1/sqrt(6) = 0.41 times He-normal's
sqrt(2 / fan_in), which matters: with a batch norm after every conv, the effective step of SGD on
a weight scales with 1 / |w|^2, so the same learning rate moves PyTorch-initialised convs about six
times further.

fan_in of a PyTorch conv is (C_in / groups) * k_h * k_w (`conv_fan_in`): k*k*C_in for a dense
kxk conv, k*k for a depthwise one (groups = C), C_in for a 1x1 conv; a Linear's is in_features.

Every function here is pure and draws float32 from an explicit key.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Initializer = Callable[..., jax.Array]  # (key, shape, dtype=float32) -> array, as in Flax


def conv_fan_in(kernel: int, c_in: int, groups: int = 1) -> int:
  """PyTorch's fan_in of a kxk conv: (c_in / groups) * k * k (k*k for a depthwise conv)."""
  return (c_in // groups) * kernel * kernel


def torch_bound(fan_in: int) -> float:
  """b = 1/sqrt(fan_in): PyTorch's default Conv2d / Linear weight and bias range U(-b, b)."""
  if fan_in < 1:
    raise ValueError(f"fan_in must be >= 1, got {fan_in}")
  return float(1.0 / np.sqrt(fan_in))


def gcn_bound(out_features: int) -> float:
  """b = 1/sqrt(out_features): pygcn GraphConvolution's weight and bias range U(-b, b)."""
  return torch_bound(out_features)


def uniform(bound: float) -> Initializer:
  """The initialiser U(-bound, bound) with the Flax signature (key, shape, dtype=float32)."""

  def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    return jax.random.uniform(key, tuple(shape), dtype, -bound, bound)

  return init


def normal(std: float = 1.0) -> Initializer:
  """The initialiser N(0, std^2) with the Flax signature; std 1 is PyTorch's Embedding."""

  def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    return jax.random.normal(key, tuple(shape), dtype) * jnp.asarray(std, dtype)

  return init


def torch_default(key: jax.Array, shape: Sequence[int], fan_in: int) -> jax.Array:
  """float32[shape] ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)): a PyTorch conv or Linear parameter.

  Args:
    key: PRNG key.
    shape: any layout (natjax stores convs HWIO, depthwise [k, k, C], 1x1 and Linear [in, out]).
    fan_in: the layer's fan_in (`conv_fan_in`, or in_features for a Linear), not read from shape.
  """
  return uniform(torch_bound(fan_in))(key, shape)
