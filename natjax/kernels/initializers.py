"""Initial weights: the one place that says how a weight is drawn.

A weight is first described (`Draw`: shape, distribution, scale), then drawn. Op families and the
networks describe their weights (`conv_weight`, `linear_weight`, `const`); the supernet draws each
description from its own key (`materialize_keyed`), the retraining networks draw all of them from
one pool per distribution (`materialize_pooled`, which compiles in a fraction of a second where
per-leaf draws take seconds on XLA:CPU).

`conv_weight` is He-normal, N(0, 2 / fan_in): the initialisation of every convolution of the
supernet and of the retraining networks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

KINDS = ("normal", "uniform", "const")


@dataclasses.dataclass(frozen=True)
class Draw:
  """How to fill one f32 array.

  Attributes:
    shape: the array's shape.
    kind: 'normal' (N(0, 1) times scale), 'uniform' (U(-1, 1) times scale) or 'const' (scale).
    scale: standard deviation, bound or value.
  """
  shape: Tuple[int, ...]
  kind: str
  scale: float


def conv_weight(shape: Sequence[int], fan_in: int) -> Draw:
  """A convolution weight, He-normal N(0, 2 / fan_in); fan_in = k*k*Cin for a dense conv, k*k for a
  depthwise one, Cin for a pointwise one."""
  return Draw(tuple(shape), "normal", float(np.sqrt(2.0 / fan_in)))


def linear_weight(shape: Sequence[int], fan_in: int) -> Draw:
  """A Linear layer's weight or bias, PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  return Draw(tuple(shape), "uniform", float(1.0 / np.sqrt(fan_in)))


def const(shape: Sequence[int], value: float) -> Draw:
  """An array filled with `value` (BatchNorm's scale 1 and bias 0, running mean 0, variance 1)."""
  return Draw(tuple(shape), "const", float(value))


def _is_draw(x: Any) -> bool:
  return isinstance(x, Draw)


def draw(d: Draw, key: jax.Array) -> jax.Array:
  """f32[d.shape] drawn from `key`."""
  if d.kind == "normal":
    return jax.random.normal(key, d.shape, jnp.float32) * np.float32(d.scale)
  if d.kind == "uniform":
    return jax.random.uniform(key, d.shape, jnp.float32, -1.0, 1.0) * np.float32(d.scale)
  return jnp.full(d.shape, d.scale, jnp.float32)


def he_normal(key: jax.Array, shape: Sequence[int], fan_in: int) -> jax.Array:
  """A convolution weight drawn from `key` (`conv_weight`)."""
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
  """Every `Draw` leaf of `tree` cut, in tree order, from ONE normal and ONE uniform draw of `key`
  (lengths rounded up to a power of two, so few shapes ever compile), on the host unless traced.

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
