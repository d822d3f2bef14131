"""Architectures as arrays, the genotype (named) form, and the conversions between them.

A cell with N intermediate nodes has E = 2N edges. Edges 2k and 2k+1 feed intermediate node k+2;
nodes 0 and 1 are the cell's two inputs. Inside natjax a cell is three fixed-shape arrays
(`Cell`), a (normal, reduce) pair is an `Arch`, and a batch of architectures is a leading axis on
every leaf. Op names exist only in `Genotype`, the human form used by files, messages and drawings;
a search space's op list (`natjax.core.spaces`) maps names to the indices the arrays hold.

Genotypes are validated where they are built (`make_genotype`): every failure is one InputError
line naming the cell, the edge and the problem. Edges may be written as natjax writes them,
(op, from, to), or as the DARTS family does, (op, from) with the destination implied by position;
op names of other NAS code with a natjax equivalent are renamed (`natjax.core.ops.ALIASES`:
DARTS's 'none' is 'null'). Files and notations live in `natjax.io`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence, Tuple

import numpy as np

from natjax.core import ops, spaces
from natjax.core.spaces import SearchSpace
from natjax.errors import InputError, quote

Edge = Tuple[str, int, int]

CELL_TYPES = ("normal", "reduce")


class Cell(NamedTuple):
  """One cell as arrays (a pytree; leaves may carry leading batch axes).

  Attributes:
    op: int32[E], index of each edge's op in the search space's op list.
    src: int32[E], source node of each edge; edge e feeds node e // 2 + 2.
    concat: bool[N], which intermediate nodes (2 ... N+1) form the cell output.
  """
  op: Any
  src: Any
  concat: Any


class Arch(NamedTuple):
  """A (normal, reduce) pair of cells."""
  normal: Cell
  reduce: Cell


class Genotype(NamedTuple):
  """The named form of an architecture, as written in the NAT/DARTS papers and code."""
  normal: Tuple[Edge, ...]
  normal_concat: Tuple[int, ...]
  reduce: Tuple[Edge, ...]
  reduce_concat: Tuple[int, ...]


def destinations(num_nodes: int) -> np.ndarray:
  """int32[E]: destination node of every edge position (edge e feeds node e // 2 + 2)."""
  return (np.arange(2 * num_nodes) // 2 + 2).astype(np.int32)


# --------------------------------------------------------------------------- validation


def _is_index(value: Any) -> bool:
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _flatten_node_pairs(edges: Sequence[Any]) -> Sequence[Any]:
  """AutoDL-Projects writes a cell as one pair of (op, from) edges per node; natjax's list is the
  pairs concatenated. Any other list is returned as is."""
  def is_pair(item):
    return (isinstance(item, (list, tuple)) and len(item) == 2
            and all(isinstance(e, (list, tuple)) for e in item))
  if edges and all(is_pair(item) for item in edges):
    return [e for pair in edges for e in pair]
  return edges


def _check_in_degrees(edges: Sequence[Tuple[str, int, int]], cell: str, where: str) -> None:
  """With explicit destinations, every intermediate node 2..max must have exactly 2 inputs."""
  last = max(dst for _, _, dst in edges)
  for node in range(2, last + 1):
    inputs = [(op, src) for op, src, dst in edges if dst == node]
    if len(inputs) == 2:
      continue
    if len(inputs) < 2:
      raise InputError(f"{where}cell {cell}: node {node} has {len(inputs)} input(s)"
                       f" {quote(inputs)}; every intermediate node takes exactly 2 (pad with"
                       f" ('null', 0, {node}))")
    raise InputError(f"{where}cell {cell}: node {node} has {len(inputs)} inputs {quote(inputs)};"
                     " every intermediate node takes exactly 2 (a cell whose nodes sum more"
                     " inputs is not representable)")


def _check_cell(edges: Any, concat: Any, cell: str, where: str) -> Tuple[Tuple[Edge, ...],
                                                                         Tuple[int, ...]]:
  """Checks one cell's edges and concat list; returns them as tuples of plain Python values.

  An edge is (op, from, to), or DARTS's (op, from) with the destination implied by position
  (edges 2k and 2k+1 feed node k+2); AutoDL-Projects' per-node pairs are flattened first, and op
  names other NAS code spells differently (`ops.ALIASES`, e.g. 'none') become natjax's. An edge
  (op, to, from) is said to look swapped only when (op, from, to) would be in range; a node past
  the cell's last one is named as out of range.
  """
  if not isinstance(edges, (list, tuple)) or not edges:
    raise InputError(f"{where}cell {cell}: expected a non-empty list of (op, from) or"
                     " (op, from, to) edges")
  edges = _flatten_node_pairs(edges)
  last_node = (len(edges) + 1) // 2 + 1  # 0 and 1 are the cell inputs; 2 edges feed each node.
  parsed = []
  for e, edge in enumerate(edges):
    if not isinstance(edge, (list, tuple)) or len(edge) not in (2, 3):
      raise InputError(f"{where}cell {cell}, edge {e}: expected (op, from) or (op, from, to),"
                       f" got {quote(edge)}")
    op, src = edge[0], edge[1]
    dst = edge[2] if len(edge) == 3 else e // 2 + 2
    if not isinstance(op, str):
      raise InputError(f"{where}cell {cell}, edge {e}: op must be a name, got {quote(op)}")
    for label, value in (("source", src), ("destination", dst)):
      if not _is_index(value):
        raise InputError(f"{where}cell {cell}, edge {e} {quote(tuple(edge))}: {label} node must"
                         f" be an integer, got {quote(repr(value))}")
      if value < 0:
        raise InputError(f"{where}cell {cell}, edge {e} {quote(tuple(edge))}: {label} node is"
                         " negative")
    if len(edge) == 3 and src > dst >= 0 and src >= 2:
      if src > last_node:  # Out of range in either order: swapping would not help.
        raise InputError(f"{where}cell {cell}, edge {e} {quote(tuple(edge))}: node {src} is out"
                         f" of range; a cell of {len(edges)} edges has nodes 0..{last_node}")
      raise InputError(f"{where}cell {cell}, edge {e} {quote(tuple(edge))}: the nodes look"
                       f" swapped: natjax reads (op, from, to) and this reads as (op, to, from),"
                       f" FairDARTS's order; write ({op!r}, {dst}, {src})")
    parsed.append((op, int(src), int(dst)))
  if all(len(edge) == 3 for edge in edges):
    _check_in_degrees(parsed, cell, where)
  if len(parsed) % 2:
    raise InputError(f"{where}cell {cell}: has {len(parsed)} edges; every intermediate node needs"
                     " exactly 2, so the count must be even")
  out = []
  for e, (op, src, dst) in enumerate(parsed):
    edge = tuple(edges[e])
    if dst != e // 2 + 2:
      raise InputError(f"{where}cell {cell}, edge {e} {quote(edge)}: expected destination node"
                       f" {e // 2 + 2} (edges 2k and 2k+1 feed node k+2, in order)")
    if src >= dst:
      raise InputError(f"{where}cell {cell}, edge {e} {quote(edge)}: source node {src} must be"
                       f" below destination node {dst}")
    op = ops.canonical_name(op)
    if op not in ops.registered_ops():
      raise InputError(f"{where}cell {cell}, edge {e}: {ops.unknown_op_message(op)}")
    out.append((op, src, dst))
  num_nodes = len(edges) // 2
  if not isinstance(concat, (list, tuple, range)) or not len(concat):
    raise InputError(f"{where}cell {cell}: concat must be a non-empty list of node indices")
  for node in concat:
    if not _is_index(node) or not 2 <= node <= num_nodes + 1:
      raise InputError(f"{where}cell {cell}: concat names node {quote(node)}, which does not exist"
                       f" (intermediate nodes are 2..{num_nodes + 1})")
  if list(concat) != sorted(set(concat)):
    raise InputError(f"{where}cell {cell}: concat {quote(list(concat))} must be increasing"
                     " without repeats")
  _check_depends_on_inputs(out, concat, cell, where)
  return tuple(out), tuple(int(n) for n in concat)


def _check_depends_on_inputs(edges: Sequence[Edge], concat: Sequence[int], cell: str,
                             where: str) -> None:
  """Rejects a cell whose output is zero whatever its inputs (every path crosses a null edge)."""
  live = {0: True, 1: True}
  for op, src, dst in edges:
    live[dst] = live.get(dst, False) or (op != "null" and live.get(src, False))
  if not any(live.get(n, False) for n in concat):
    raise InputError(f"{where}cell {cell}: output does not depend on the cell inputs (every path to"
                     f" the output nodes {list(concat)} passes through a null edge)")


def make_genotype(normal: Any, normal_concat: Any, reduce: Any, reduce_concat: Any,
                  where: str = "") -> Genotype:
  """Validates loose Python values (lists, tuples, ranges) and returns a `Genotype`.

  Args:
    where: prefix for error messages, e.g. "file.json: ".

  Raises:
    InputError: one line naming the cell, the edge and the problem.
  """
  n_edges, n_concat = _check_cell(normal, normal_concat, "normal", where)
  r_edges, r_concat = _check_cell(reduce, reduce_concat, "reduce", where)
  if len(n_edges) != len(r_edges):
    raise InputError(f"{where}normal cell has {len(n_edges) // 2} intermediate nodes but reduce"
                     f" cell has {len(r_edges) // 2}; both cells need the same number")
  return Genotype(n_edges, n_concat, r_edges, r_concat)


def num_nodes_of(genotype: Genotype) -> int:
  """N, the number of intermediate nodes."""
  return len(genotype.normal) // 2


# --------------------------------------------------------------------------- arrays


def cell_to_arrays(edges: Sequence[Edge], concat: Sequence[int], space: SearchSpace) -> Cell:
  """Edges with op names -> `Cell` arrays for the op list of `space`."""
  num_nodes = len(edges) // 2
  op = np.array([space.index(name) for name, _, _ in edges], np.int32)
  src = np.array([s for _, s, _ in edges], np.int32)
  mask = np.zeros(num_nodes, bool)
  mask[np.asarray(concat) - 2] = True
  return Cell(op=op, src=src, concat=mask)


def genotype_to_arch(genotype: Genotype, space: SearchSpace, where: str = "") -> Arch:
  """Converts a validated genotype to arrays in `space`'s vocabulary and cell shape.

  Raises:
    InputError: if a cell has the wrong number of nodes for the space or an op outside its
      vocabulary (the message names the cell and edge).
  """
  for cell in CELL_TYPES:
    edges = getattr(genotype, cell)
    if len(edges) != space.num_edges:
      raise InputError(f"{where}cell {cell}: has {len(edges) // 2} intermediate nodes but space"
                       f" '{space.name}' has {space.num_nodes}")
    for e, (name, _, _) in enumerate(edges):
      if name not in space.ops:
        raise InputError(f"{where}cell {cell}, edge {e}: op '{name}' is not in the vocabulary of"
                         f" space '{space.name}' ({', '.join(space.ops)})")
  return Arch(*(cell_to_arrays(getattr(genotype, c), getattr(genotype, c + "_concat"), space)
                for c in CELL_TYPES))


def cell_to_edges(cell: Cell, space: SearchSpace) -> Tuple[Tuple[Edge, ...], Tuple[int, ...]]:
  """`Cell` arrays (unbatched) -> (edges with op names, concat node list)."""
  op, src, concat = (np.asarray(x) for x in cell)
  dst = destinations(len(op) // 2)
  edges = tuple((space.ops[int(o)], int(s), int(d)) for o, s, d in zip(op, src, dst))
  return edges, tuple(int(n) + 2 for n in np.flatnonzero(concat))


def arch_to_genotype(arch: Arch, space: SearchSpace) -> Genotype:
  """`Arch` arrays (unbatched) -> `Genotype` with the op names of `space`."""
  normal, normal_concat = cell_to_edges(arch.normal, space)
  reduce, reduce_concat = cell_to_edges(arch.reduce, space)
  return Genotype(normal, normal_concat, reduce, reduce_concat)


def stack_archs(archs: Sequence[Arch]) -> Arch:
  """Stacks architectures of one shape along a new leading axis."""
  return Arch(*(Cell(*(np.stack([np.asarray(getattr(getattr(a, c), f)) for a in archs])
                       for f in Cell._fields)) for c in CELL_TYPES))


def infer_space(genotype: Genotype, where: str = "") -> SearchSpace:
  """The smallest registered space of the genotype's size that holds all its ops: for the built-in
  cells the NAT space of its size if that holds all its ops, else the NAT++ one (13 ops)."""
  names = {op for cell in (genotype.normal, genotype.reduce) for op, _, _ in cell}
  n = num_nodes_of(genotype)
  candidates = [s for s in map(spaces.get_space, spaces.registered_spaces())
                if s.num_nodes == n and names <= set(s.ops)]
  if not candidates:
    raise InputError(f"{where}no registered search space has {n} intermediate nodes and ops"
                     f" {sorted(names)}")
  return min(candidates, key=lambda s: s.num_ops)
