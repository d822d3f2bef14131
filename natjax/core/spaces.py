"""Search spaces: an op list, a cell shape and an output convention, registered by name.

Built-in spaces (spec section 3):
  darts     NAT fully-concat space, N=4 intermediate nodes, 9 ops (last is null)
  enas      NAT loose-end space, N=5, 9 ops
  darts_pp  NAT++ fully-concat space, N=4, the 13-op list
  enas_pp   NAT++ loose-end space, N=5, the 13-op list

A cell of a space has E = 2N edges; edges 2k and 2k+1 feed intermediate node k+2; nodes 0 and 1
are the cell's inputs. The last op of every list is `null`, which the input sampler
(`natjax.core.sampler`) never draws.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from natjax.core import ops
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
  """Names of every registered space, in registration order."""
  return _REGISTRY.names()


def unregister_space(name: str) -> None:
  """Removes a space (`natjax.core.extend.temporary` undoes its registrations with it)."""
  _REGISTRY.remove(name)


def is_registered(space: SearchSpace) -> bool:
  """Whether `space` equals the space registered under its name."""
  return space.name in _REGISTRY and _REGISTRY.get(space.name) == space


def as_space(space: Union[str, SearchSpace]) -> SearchSpace:
  """A space given by name or as a SearchSpace."""
  return get_space(space) if isinstance(space, str) else space


register_space(SearchSpace("darts", NAT_FULLY_CONCAT_OPS, 4, "fully_concat"))
register_space(SearchSpace("enas", NAT_LOOSE_END_OPS, 5, "loose_end"))
register_space(SearchSpace("darts_pp", NATPP_OPS, 4, "fully_concat"))
register_space(SearchSpace("enas_pp", NATPP_OPS, 5, "loose_end"))
