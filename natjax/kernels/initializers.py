"""Initial weights: the released code's, which is PyTorch's defaults, in one place.

The released NAT / NAT++ code never initialises a layer itself, so every weight starts as PyTorch
creates it (PyTorch 1.x `reset_parameters`, unchanged since). natjax follows it everywhere: the
supernet (`natjax.nn.supernet`, through the op families' descriptions), the retraining networks
(`natjax.nn.evalnet`) and the policy (`natjax.nn.policy`, spec section 5 item 6).

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

A weight is first described (`Draw`: shape, distribution, scale), then drawn. Op families and the
networks describe their weights (`conv_weight`, `linear_weight`, `const`); the supernet draws each
description from its own key (`materialize_keyed`), the retraining networks draw all of them from
one pool per distribution (`materialize_pooled`, which compiles in a fraction of a second where
per-leaf draws take seconds on XLA:CPU). Flax modules (the policy) take `uniform` and `normal`.
Every draw is float32 from an explicit key.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

KINDS = ("normal", "uniform", "const")
Initializer = Callable[..., jax.Array]  # (key, shape, dtype=float32) -> array, as in Flax


def conv_fan_in(kernel: int, c_in: int, groups: int = 1) -> int:
  """PyTorch's fan_in of a kxk conv: (c_in / groups) * k * k (k*k for a depthwise conv)."""
  return (c_in // groups) * kernel * kernel


def torch_bound(fan_in: int) -> float:
  """b = 1/sqrt(fan_in): PyTorch's default Conv2d / Linear weight and bias range U(-b, b).

  Raises:
    ValueError: fan_in < 1.
  """
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


@dataclasses.dataclass(frozen=True)
class Draw:
  """How to fill one f32 array.

  Attributes:
    shape: the array's shape.
    kind: 'normal' (N(0, 1) times scale), 'uniform' (U(-scale, scale)) or 'const' (scale).
    scale: standard deviation, bound or value.
  """
  shape: Tuple[int, ...]
  kind: str
  scale: float


def conv_weight(shape: Sequence[int], fan_in: int) -> Draw:
  """A convolution weight, PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)); fan_in is
  `conv_fan_in`: k*k*Cin for a dense conv, k*k for a depthwise one, Cin for a pointwise one.
  Any layout (HWIO, depthwise [k, k, C], 1x1 [Cin, Cout]): fan_in is not read from the shape."""
  return Draw(tuple(shape), "uniform", torch_bound(fan_in))


def linear_weight(shape: Sequence[int], fan_in: int) -> Draw:
  """A Linear layer's weight or bias, PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
  fan_in = in_features."""
  return Draw(tuple(shape), "uniform", torch_bound(fan_in))


def const(shape: Sequence[int], value: float) -> Draw:
  """An array filled with `value` (BatchNorm's scale 1 and bias 0, running mean 0, variance 1)."""
  return Draw(tuple(shape), "const", float(value))


def _is_draw(x: Any) -> bool:
  return isinstance(x, Draw)


def draw(d: Draw, key: jax.Array) -> jax.Array:
  """f32[d.shape] drawn from `key`."""
  if d.kind == "normal":
    return normal(d.scale)(key, d.shape)
  if d.kind == "uniform":
    return uniform(d.scale)(key, d.shape)
  return jnp.full(d.shape, d.scale, jnp.float32)


def torch_default(key: jax.Array, shape: Sequence[int], fan_in: int) -> jax.Array:
  """float32[shape] ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)): a PyTorch conv or Linear parameter.

  Args:
    key: PRNG key.
    shape: any layout (natjax stores convs HWIO, depthwise [k, k, C], 1x1 and Linear [in, out]).
    fan_in: the layer's fan_in (`conv_fan_in`, or in_features for a Linear), not read from shape.
  """
  return draw(conv_weight(shape, fan_in), key)


def materialize_keyed(tree: Any, key: jax.Array, min_keys: int = 4) -> Any:
  """Every `Draw` leaf of `tree` drawn from its own key: leaf i (in tree order) from
  `jax.random.split(key, max(min_keys, number of leaves))[i]`. Jit- and vmap-able over `key`.

  The supernet's op weights have always been drawn from a split into 4 keys; `min_keys` keeps
  their values whatever the number of leaves.
  """
  leaves, treedef = jax.tree.flatten(tree, is_leaf=_is_draw)
  keys = jax.random.split(key, max(min_keys, len(leaves)))
  return jax.tree.unflatten(treedef, [draw(d, k) for d, k in zip(leaves, keys)])


def materialize_pooled(tree: Any, key: jax.Array) -> Any:
  """Every `Draw` leaf of `tree` cut, in tree order, from ONE N(0, 1) and ONE U(-1, 1) draw of
  `key` and scaled (lengths rounded up to a power of two, so few shapes ever compile), on the host
  unless traced.

  Returns:
    The tree with f32 arrays in place of the `Draw`s.
  """
  leaves, treedef = jax.tree.flatten(tree, is_leaf=_is_draw)
  sizes = {kind: sum(int(np.prod(d.shape)) for d in leaves if d.kind == kind)
           for kind in ("normal", "uniform")}
  padded = {kind: 1 << max(n - 1, 0).bit_length() for kind, n in sizes.items() if n}
  k_normal, k_uniform = jax.random.split(key)
  draws = {"normal": lambda n: jax.random.normal(k_normal, (n,), jnp.float32),
           "uniform": lambda n: jax.random.uniform(k_uniform, (n,), jnp.float32, -1.0, 1.0)}
  pools = {kind: draws[kind](n) for kind, n in padded.items()}
  traced = isinstance(key, jax.core.Tracer)  # Under eval_shape or jit.
  xp = jnp if traced else np
  if not traced:
    pools = {kind: np.asarray(p) for kind, p in pools.items()}
  offsets = {"normal": 0, "uniform": 0}
  arrays = []
  for d in leaves:
    if d.kind == "const":
      arrays.append(xp.full(d.shape, d.scale, np.float32))
      continue
    size, start = int(np.prod(d.shape)), offsets[d.kind]
    offsets[d.kind] = start + size
    arrays.append(pools[d.kind][start:start + size].reshape(d.shape) * np.float32(d.scale))
  return jax.tree.unflatten(treedef, [jnp.asarray(a) for a in arrays])
