"""Static networks: the supernet's cells for one fixed architecture.

`apply_static` runs the same parameters (`natjax.nn.supernet.init_supernet`) and the same kernels as
`apply_supernet`, but with the architecture as Python integers at trace time: no `lax.switch`, no
dynamic gather, only the selected op of every edge. It is the equality oracle for the supernet and
its speed baseline; it compiles once per architecture.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from natjax.core import spaces
from natjax.core.arch import Arch, Cell
from natjax.kernels.norm import Normalizer
from natjax.core.plan import CellLayout
from natjax.nn.supernet import (Params, SupernetConfig, cell_output, forward,
                                softmax_cross_entropy, traced_once_edge_op)


def _static_edge(node: Params, op_name: str, src: int, states: list, reduction: bool,
                 impl: str, norm: Normalizer) -> jax.Array:
  """The one op of edge (src -> len(states)) with its slot's parameters picked statically."""
  if src < 2:
    group, index, stride = node["inputs"], src, 2 if reduction else 1
  else:
    group, index, stride = node["inner"], src - 2, 1
  slot_params = jax.tree.map(lambda a: a[index], group[op_name])
  return traced_once_edge_op(slot_params, states[src], op_name, stride, impl, norm)


def static_cell(cell_params: Params, s0: jax.Array, s1: jax.Array, cell: Cell,
                layout: CellLayout, space: spaces.SearchSpace, impl: str,
                norm: Normalizer) -> jax.Array:
  """One cell of a fixed architecture.

  Args:
    cell_params: one entry of the supernet's params['cells'].
    s0, s1: preprocessed inputs f32[B, H, W, C].
    cell: numpy op int[E], src int[E] (concat is not read: the space's output rule is).
    layout: the cell's channels and kind.
    space: the search space.
    impl: kernel implementation.
    norm: the supernet's normaliser.

  Returns:
    f32[B, H', W', N*C], unused nodes times 0, exactly as the supernet cell.
  """
  op, src = np.asarray(cell.op), np.asarray(cell.src)
  states = [s0, s1]
  for k, node in enumerate(cell_params["nodes"]):
    edges = [_static_edge(node, space.ops[int(op[e])], int(src[e]), states, layout.reduction, impl,
                          norm)
             for e in (2 * k, 2 * k + 1)]
    states.append(edges[0] + edges[1])
  return cell_output(states[2:], space.output_mask(src))


def apply_static(params: Params, x: jax.Array, arch_numpy: Arch,
                 config: SupernetConfig) -> jax.Array:
  """Logits of the fixed architecture `arch_numpy` (numpy arrays; static under jit).

  Args:
    params: the supernet's parameters.
    x: f32[B, H, W, 3] images, NHWC.
    arch_numpy: Arch of numpy int arrays; close over it (do not pass it as a traced argument).
    config: the supernet.

  Returns:
    f32[B, num_classes] logits.
  """
  space = spaces.get_space(config.space)
  arch_numpy = jax.tree.map(np.asarray, arch_numpy)
  cell_fn = functools.partial(static_cell, space=space, impl=config.impl,
                              norm=config.normalizer())
  return forward(params, x, arch_numpy, config, cell_fn)


def static_loss(params: Params, x: jax.Array, y: jax.Array, arch_numpy: Arch,
                config: SupernetConfig) -> Any:
  """Mean cross entropy of the static network on images f32[B, H, W, 3] and labels int[B]."""
  return softmax_cross_entropy(apply_static(params, x, arch_numpy, config), y)
