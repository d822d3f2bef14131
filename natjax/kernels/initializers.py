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
description from its own key (`materialize_keyed` for one tree; `draw_at_paths` for a whole network,
every key named by its path of splits from one root key and drawn in a few batched operations), the
retraining networks draw all of them from one pool per distribution (`materialize_pooled`, which
compiles in a fraction of a second where per-leaf draws take seconds on XLA:CPU). Flax modules (the
policy) take `uniform` and `normal`. Every draw is float32 from an explicit key.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any, Callable, Dict, List, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry2x32_p

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


# A key named by the splits that lead to it from a root key: ((n0, i0), (n1, i1), ...) is
# split(...split(split(root, n0)[i0], n1)[i1]...), () the root itself.
KeyPath = Tuple[Tuple[int, int], ...]


@dataclasses.dataclass(frozen=True)
class AtPaths:
  """`draw` from each key of `paths` (`draw_at_paths`): f32[len(paths), *draw.shape] stacked, or
  f32[draw.shape] from the one path when `stacked` is False."""
  draw: Draw
  paths: Tuple[KeyPath, ...]
  stacked: bool = True


def at_path(d: Draw, path: KeyPath) -> AtPaths:
  """`d` drawn from the key at `path`, unstacked."""
  return AtPaths(d, (tuple(path),), stacked=False)


def leaf_paths(tree: Any, path: KeyPath, min_keys: int = 4) -> List[KeyPath]:
  """The key path of every `Draw` leaf of `tree` (tree order) as `materialize_keyed(tree, key at
  path)` draws them: leaf i from split(key, max(min_keys, number of leaves))[i]."""
  num = len(jax.tree.leaves(tree, is_leaf=_is_draw))
  return [path + ((max(min_keys, num), i),) for i in range(num)]


def _key_at(root: jax.Array, path: KeyPath) -> jax.Array:
  """The key at `path`, split by split."""
  for n, i in path:
    root = jax.random.split(root, n)[i]
  return root


def _one_by_one(wanted: Sequence[AtPaths], key: jax.Array) -> List[jax.Array]:
  """Each leaf drawn key by key: the definition `draw_at_paths` follows (and its fallback)."""
  out = []
  for leaf in wanted:
    drawn = jnp.stack([draw(leaf.draw, _key_at(key, p)) for p in leaf.paths])
    out.append(drawn if leaf.stacked else drawn[0])
  return out


def _foldlike(key: jax.Array) -> bool:
  """Whether keys of `key` split and draw as one counter-mode hash per key (threefry with
  `jax_threefry_partitionable`, jax's default since 0.5): split(k, n)[i] and element i of a draw
  are then threefry2x32(k, (0, i)) whatever n or the shape."""
  return (bool(jax.config.jax_threefry_partitionable)
          and str(jax.random.key_impl(key)) == "threefry2x32")


def _hash(data: jax.Array, count: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """threefry2x32 of key data uint32[..., 2] at counters (0, count): two uint32[...] words."""
  return threefry2x32_p.bind(data[..., 0], data[..., 1], jnp.zeros_like(count), count)


def _key_data_at(key: jax.Array, paths: Sequence[KeyPath]) -> jax.Array:
  """uint32[len(paths), 2]: the data of the key at every path, all paths one depth at a time."""
  depth = max(len(p) for p in paths)
  index = np.zeros((len(paths), max(depth, 1)), np.uint32)
  for r, p in enumerate(paths):
    index[r, :len(p)] = [i for _, i in p]
  lengths = np.asarray([len(p) for p in paths])

  def deeper(d, data):
    child = jnp.stack(_hash(data, jnp.asarray(index)[:, d]), axis=-1)
    return jnp.where(jnp.asarray(lengths > d)[:, None], child, data)

  data = jnp.broadcast_to(jax.random.key_data(key), (len(paths), 2))
  return jax.lax.fori_loop(0, depth, deeper, data)


def _from_bits(bits: jax.Array, kind: str, scales: jax.Array) -> jax.Array:
  """f32 draws from uint32 bits, as `jax.random.uniform` / `jax.random.normal` compute them (23
  mantissa bits into [1, 2), minus 1, scaled to [lo, hi)); `scales` broadcasts against `bits`."""
  floats = jax.lax.bitcast_convert_type((bits >> np.uint32(9)) | np.uint32(0x3F800000),
                                        jnp.float32) - np.float32(1.0)
  if kind == "uniform":
    return jnp.maximum(-scales, floats * (scales - -scales) + -scales)
  lo = np.nextafter(np.float32(-1.0), np.float32(0.0))
  unit = jnp.maximum(lo, floats * (np.float32(1.0) - lo) + lo)
  return np.float32(np.sqrt(2)) * jax.lax.erf_inv(unit) * scales


def _groups(wanted: Sequence[AtPaths]) -> List[Tuple[str, int, List[int]]]:
  """(kind, size, leaf indices): the leaves drawn together, those of one kind and element count."""
  groups: Dict[Tuple[str, int], List[int]] = collections.defaultdict(list)
  for j, leaf in enumerate(wanted):
    if leaf.draw.kind != "const":
      groups[(leaf.draw.kind, int(np.prod(leaf.draw.shape)))].append(j)
  return [(kind, size, members) for (kind, size), members in groups.items()]


@functools.partial(jax.jit, static_argnums=1)
def _draw_groups(key: jax.Array, wanted: Tuple[AtPaths, ...]) -> List[jax.Array]:
  """f32[rows, size] per group of `_groups`: row by row, each member's draws from its paths."""
  paths = [p for leaf in wanted for p in leaf.paths]
  data = _key_data_at(key, paths)
  starts = np.cumsum([0] + [len(leaf.paths) for leaf in wanted])
  rows = [np.concatenate([np.arange(starts[j], starts[j + 1]) for j in members])
          for _, _, members in _groups(wanted)]
  if not rows:
    return []
  # Element e of a draw from key k is hash(k, e): every element of every group in one call.
  words, counts = [], []
  for (_, size, _), r in zip(_groups(wanted), rows):
    words.append(jnp.broadcast_to(data[r][:, None, :], (len(r), size, 2)).reshape(-1, 2))
    counts.append(jnp.broadcast_to(jnp.arange(size, dtype=jnp.uint32), (len(r), size)).ravel())
  # The barriers keep the bits and each group one buffer: otherwise XLA fuses the hash into every
  # slice after it and compiles (and runs) it once per slice.
  bits = jax.lax.optimization_barrier(
      jnp.bitwise_xor(*_hash(jnp.concatenate(words), jnp.concatenate(counts))))
  out, offset = [], 0
  for (kind, size, members), r in zip(_groups(wanted), rows):
    scales = np.concatenate([np.full(len(wanted[j].paths), wanted[j].draw.scale, np.float32)
                             for j in members])
    out.append(jax.lax.optimization_barrier(_from_bits(
        bits[offset:offset + len(r) * size].reshape(len(r), size), kind, scales[:, None])))
    offset += len(r) * size
  return out


def _batched(wanted: Sequence[AtPaths], key: jax.Array) -> List[jax.Array]:
  """`_one_by_one`'s values from one hash for the keys and one for every element of every draw.

  Outside a trace the groups come to the host and are cut there: cutting them in the compiled
  program would compile one copy kernel per leaf, seconds for a supernet's thousand leaves.
  """
  wanted = tuple(wanted)
  groups = _draw_groups(key, wanted)
  traced = isinstance(key, jax.core.Tracer)
  xp = jnp if traced else np
  if not traced:
    groups = jax.device_get(groups)
  out: List[Any] = [None] * len(wanted)
  for (_, _, members), values in zip(_groups(wanted), groups):
    row = 0
    for j in members:
      count = len(wanted[j].paths)
      out[j] = values[row:row + count].reshape((count,) + wanted[j].draw.shape)
      row += count
  for j, leaf in enumerate(wanted):
    if leaf.draw.kind == "const":
      out[j] = xp.full((len(leaf.paths),) + leaf.draw.shape, leaf.draw.scale, np.float32)
  return [jnp.asarray(x if leaf.stacked else x[0]) for x, leaf in zip(out, wanted)]


def draw_at_paths(tree: Any, key: jax.Array) -> Any:
  """Every `AtPaths` leaf of `tree` drawn from the keys at its paths under `key`.

  The values are those of drawing each description from its own key, split by split
  (`draw(d, key at path)`; uniform draws bit for bit, normal ones to rounding), but with jax's
  default threefry keys the work is two hashes: one for the keys of every path, one for every
  element of every draw (`_foldlike`). A whole supernet (thousands of leaves) then compiles in
  seconds where drawing leaf by leaf takes minutes under jit. Other key kinds are drawn leaf by
  leaf.

  Args:
    tree: a pytree whose leaves are `AtPaths` (others are returned as they are).
    key: the root key (typed or raw uint32[2]).

  Returns:
    The tree with f32 arrays in place of the `AtPaths` leaves.
  """
  is_at = lambda x: isinstance(x, AtPaths)
  leaves, treedef = jax.tree.flatten(tree, is_leaf=is_at)
  wanted = [leaf for leaf in leaves if is_at(leaf)]
  if not wanted:
    return tree
  if not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.wrap_key_data(key)
  drawn = iter((_batched if _foldlike(key) else _one_by_one)(wanted, key))
  return jax.tree.unflatten(treedef, [next(drawn) if is_at(leaf) else leaf for leaf in leaves])
