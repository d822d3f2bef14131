"""Search spaces: an op list, a cell shape and an output convention, registered by name.

Built-in spaces (spec section 3):
  darts     NAT fully-concat space, N=4 intermediate nodes, 9 ops (last is null)
  enas      NAT loose-end space, N=5, 9 ops
  darts_pp  NAT++ fully-concat space, N=4, the 13-op list
  enas_pp   NAT++ loose-end space, N=5, the 13-op list

A cell of a space has E = 2N edges; edges 2k and 2k+1 feed intermediate node k+2; nodes 0 and 1
are the cell's inputs. The last op of every list is `null`, which the input sampler never draws.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from natjax import ops
from natjax.arch import Arch, Cell
from natjax.errors import InputError, closest
from natjax.registry import Registry

OUTPUT_RULES = ("fully_concat", "loose_end")

NAT_FULLY_CONCAT_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                        "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "conv_3x3", "null")
NAT_LOOSE_END_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                     "sep_conv_5x5", "conv_1x1", "conv_3x3", "conv_5x5", "null")
NATPP_OPS = ("max_pool_3x3", "max_pool_5x5", "avg_pool_3x3", "avg_pool_5x5", "skip_connect",
             "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "conv_1x1",
             "conv_3x3", "conv_5x5", "null")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """A registered search space.

  Attributes:
    name: registry key.
    ops: op names; an architecture's `op` arrays index this tuple. The last entry is 'null'.
    num_nodes: N, intermediate nodes per cell.
    output: 'fully_concat' (all intermediate nodes form the output) or 'loose_end' (only nodes
      that no edge of the cell reads from).
  """
  name: str
  ops: Tuple[str, ...]
  num_nodes: int
  output: str

  @property
  def num_edges(self) -> int:
    """E = 2N."""
    return 2 * self.num_nodes

  @property
  def num_ops(self) -> int:
    """V, the vocabulary size (null included)."""
    return len(self.ops)

  @property
  def null_index(self) -> int:
    return self.ops.index("null")

  @property
  def skip_index(self) -> int:
    return self.ops.index("skip_connect")

  def index(self, op_name: str) -> int:
    """Index of an op name in this space; raises InputError naming the space otherwise."""
    if op_name in self.ops:
      return self.ops.index(op_name)
    ops.get_op(op_name)  # An unknown name gets the registry's message and suggestion.
    raise InputError(f"op '{op_name}' is not in the vocabulary of space '{self.name}'"
                     f" ({', '.join(self.ops)})")

  def output_mask(self, src: jax.Array) -> jax.Array:
    """Which intermediate nodes form the cell output under this space's rule.

    Args:
      src: int[..., E] source node of every edge.

    Returns:
      bool[..., N]: True for output nodes. Fully-concat: all True. Loose-end: True for nodes that
      are not the source of any edge (a null edge still counts as a use, spec section 3.2).
    """
    xp = jnp if isinstance(src, jax.Array) else np
    nodes = xp.arange(2, self.num_nodes + 2)
    if self.output == "fully_concat":
      return xp.ones(src.shape[:-1] + (self.num_nodes,), bool)
    used = (src[..., :, None] == nodes).any(axis=-2)
    return ~used


_REGISTRY: Registry[SearchSpace] = Registry("search space")


def register_space(space: SearchSpace) -> SearchSpace:
  """Adds a space; validates its op list and shape on registration."""
  if space.output not in OUTPUT_RULES:
    raise InputError(f"space '{space.name}': output rule '{space.output}' is not one of "
                     f"{', '.join(OUTPUT_RULES)}{closest(space.output, OUTPUT_RULES)}")
  if space.num_nodes < 1:
    raise InputError(f"space '{space.name}': num_nodes must be >= 1, got {space.num_nodes}")
  for name in space.ops:
    ops.get_op(name)
  if len(set(space.ops)) != len(space.ops):
    raise InputError(f"space '{space.name}': op list repeats a name")
  if space.ops[-1] != "null" or "skip_connect" not in space.ops:
    raise InputError(f"space '{space.name}': the op list must contain skip_connect and end with null")
  return _REGISTRY.add(space.name, space)


def get_space(name: str) -> SearchSpace:
  """Looks a space up by name; raises InputError with the closest name otherwise."""
  return _REGISTRY.get(name)


def registered_spaces() -> Tuple[str, ...]:
  return _REGISTRY.names()


register_space(SearchSpace("darts", NAT_FULLY_CONCAT_OPS, 4, "fully_concat"))
register_space(SearchSpace("enas", NAT_LOOSE_END_OPS, 5, "loose_end"))
register_space(SearchSpace("darts_pp", NATPP_OPS, 4, "fully_concat"))
register_space(SearchSpace("enas_pp", NATPP_OPS, 5, "loose_end"))


def sample_cell(key: jax.Array, space: SearchSpace) -> Cell:
  """Draws one input cell uniformly as the released sampler does (spec section 3.5).

  For intermediate node k (0-based) both sources are drawn independently and uniformly from
  {0, ..., k+1} and both ops uniformly from every op but null. Jit-able and vmappable over keys.

  Args:
    key: PRNG key.
    space: the search space (static).

  Returns:
    Cell with op int32[E], src int32[E] and concat bool[N] set by the space's output rule.
  """
  num_edges = space.num_edges
  src_key, op_key = jax.random.split(key)
  # Edge e feeds node e//2 + 2, so its source is uniform over {0, ..., e//2 + 1}.
  num_choices = jnp.arange(num_edges) // 2 + 2
  u = jax.random.uniform(src_key, (num_edges,))
  src = jnp.minimum(jnp.floor(u * num_choices), num_choices - 1).astype(jnp.int32)
  op = jax.random.randint(op_key, (num_edges,), 0, space.num_ops - 1, dtype=jnp.int32)
  return Cell(op=op, src=src, concat=space.output_mask(src))


def sample_arch(key: jax.Array, space: SearchSpace) -> Arch:
  """Draws an independent (normal, reduce) pair; jit-able and vmappable over keys."""
  normal_key, reduce_key = jax.random.split(key)
  return Arch(normal=sample_cell(normal_key, space), reduce=sample_cell(reduce_key, space))


def sample_archs(key: jax.Array, space: SearchSpace, num: int) -> Arch:
  """A batch of `num` independent architectures: every leaf has a leading axis of size num."""
  return jax.vmap(lambda k: sample_arch(k, space))(jax.random.split(key, num))
