"""The input-architecture sampler: uniform random cells of a search space (spec section 3.5).

Jit-able and vmappable over keys; `sample_archs` draws a batch (a leading axis on every leaf).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from natjax.core.arch import Arch, Cell
from natjax.core.spaces import SearchSpace


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
