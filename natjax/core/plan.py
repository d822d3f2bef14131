"""The macro plan of a DARTS-style network: where cells reduce, the channels each cell reads and
emits, its resolution, and where an edge's shared weights sit in a cell.

One plan serves the supernet (`natjax.nn.supernet`), the retraining networks
(`natjax.nn.evalnet`) and the cost model (`natjax.core.costs`):

  * cells 0 .. n-1; reduction cells at n//3 and 2n//3 (`reduction_cells`) double C and halve the
    resolution (ceil);
  * cell i reads s0 = the output of cell i-2 (C_pp channels) and s1 = that of cell i-1 (C_p);
    the first cells read the stem's outputs. s0 is FactorizedReduce'd when the previous cell
    reduced (`reduction_prev`; also for the first cell of a network whose stem's s0 is at twice
    the resolution of its s1, as ImageNet's);
  * cell i emits (number of nodes it concatenates) * C channels: N for the supernet, len(concat)
    for a genotype's cell, sum(concat) of an `Arch`'s traced mask in the cost model.

Slots: the weights of edge (src -> dst), dst = 2..N+1, are those of slot `edge_slot(src, dst)` of
the cell's slot table; in a reduction cell, edges from the inputs (src < 2) are strided and use a
table of their own (`input_slot`), the other edges another (`inner_slot`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Tuple

Int = Any  # A Python int or an int32 jax array (possibly traced, with batch axes).


def reduction_cells(num_cells: int) -> Tuple[int, int]:
  """Indices of the two reduction cells: (num_cells // 3, 2 * num_cells // 3)."""
  return num_cells // 3, 2 * num_cells // 3


class CellLayout(NamedTuple):
  """Channels, kind and resolution of one cell.

  Attributes:
    c_pp, c_p: channels of the cell's inputs s0 and s1.
    c: the cell's node width C.
    c_out: channels the cell emits, (number of nodes concatenated) * C.
    reduction: whether the cell reduces (stride 2 on edges from its inputs).
    reduction_prev: whether s0 is at twice the resolution of s1 (FactorizedReduce'd).
    size: side (pixels) of s1 and of the cell's nodes before a reduction; None when the plan was
      made without an input size.
  """
  c_pp: Int
  c_p: Int
  c: int
  c_out: Int
  reduction: bool
  reduction_prev: bool
  size: Optional[Int] = None


def cell_layouts(num_cells: int, channels: int, stem_channels: Int,
                 nodes_out: Callable[[bool], Int], reduction_prev: bool = False,
                 size: Optional[Int] = None) -> Tuple[CellLayout, ...]:
  """The layout of every cell.

  Args:
    num_cells: cells in the network.
    channels: C of the first cells; doubled at each reduction cell.
    stem_channels: channels of both stem outputs (the first cell's s0 and s1).
    nodes_out: number of nodes a normal (False) or reduction (True) cell concatenates: an int,
      or an int32 array (with batch axes) under the cost model.
    reduction_prev: whether the first cell's s0 is at twice its s1's resolution.
    size: side (pixels) of the stem's output s1, to track every cell's resolution; optional.

  Returns:
    One CellLayout per cell.
  """
  reductions = reduction_cells(num_cells)
  c_pp, c_p, c = stem_channels, stem_channels, channels
  layouts = []
  for i in range(num_cells):
    reduction = i in reductions
    c = 2 * c if reduction else c
    c_out = nodes_out(reduction) * c
    layouts.append(CellLayout(c_pp, c_p, c, c_out, reduction, reduction_prev, size))
    c_pp, c_p, reduction_prev = c_p, c_out, reduction
    if reduction and size is not None:
      size = (size + 1) // 2
  return tuple(layouts)


def edge_slot(src: Int, dst: Int) -> Int:
  """Weight-sharing slot of edge (src -> dst): (dst-2)(dst+1)/2 + src (spec section 3.1); the
  slots of node dst are its two inputs then its dst-2 inner sources. Ints or int arrays."""
  return (dst - 2) * (dst + 1) // 2 + src


def num_slots(num_nodes: int) -> int:
  """Number of distinct (src, dst) slots in a cell with N intermediate nodes."""
  return edge_slot(0, num_nodes + 2)


def input_slot(src: Int, dst: Int) -> Int:
  """Row of edge (src -> dst), src < 2, in a reduction cell's table of strided input edges."""
  return 2 * (dst - 2) + src


def inner_slot(src: Int, dst: Int) -> Int:
  """Row of edge (src -> dst), src >= 2, in a reduction cell's table of inner edges."""
  return (dst - 2) * (dst - 3) // 2 + src - 2
