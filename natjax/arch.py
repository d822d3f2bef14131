"""Architectures as arrays, and the conversions to and from op names.

A cell with N intermediate nodes has E = 2N edges. Edges 2k and 2k+1 feed intermediate node k+2;
nodes 0 and 1 are the cell's two inputs. Inside natjax a cell is three fixed-shape arrays
(`Cell`), a (normal, reduce) pair is an `Arch`, and a batch of architectures is a leading axis on
every leaf. Op names exist only in `Genotype`, the human form used by files, messages and drawings.

Formats read and written here:
  * JSON: {"normal": [[op, from, to], ...], "normal_concat": [...], "reduce": [...],
    "reduce_concat": [...]}, optionally with "name"; a file may hold one such object, a list of
    them, or an object mapping names to them.
  * DARTS/NAT notation: `Genotype(normal=[('sep_conv_3x3', 0, 2), ...], normal_concat=[2, 3, 4, 5],
    reduce=[...], reduce_concat=range(2, 6))`, alone or as `NAME = Genotype(...)` lines. It is
    parsed with `ast`, never evaluated.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

from natjax import ops
from natjax.errors import InputError, closest

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


def edge_slot(src: int, dst: int) -> int:
  """Weight-sharing slot of edge (src -> dst): (dst-2)(dst+1)/2 + src (spec section 3.1)."""
  return (dst - 2) * (dst + 1) // 2 + src


def num_slots(num_nodes: int) -> int:
  """Number of distinct (src, dst) slots in a cell with N intermediate nodes."""
  return edge_slot(0, num_nodes + 2)


def destinations(num_nodes: int) -> np.ndarray:
  """int32[E]: destination node of every edge position (edge e feeds node e // 2 + 2)."""
  return (np.arange(2 * num_nodes) // 2 + 2).astype(np.int32)


# --------------------------------------------------------------------------- validation


def _is_index(value: Any) -> bool:
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_cell(edges: Any, concat: Any, cell: str, where: str) -> Tuple[Tuple[Edge, ...],
                                                                         Tuple[int, ...]]:
  """Checks one cell's edges and concat list; returns them as tuples of plain Python values."""
  if not isinstance(edges, (list, tuple)) or not edges:
    raise InputError(f"{where}cell {cell}: expected a non-empty list of (op, from, to) edges")
  if len(edges) % 2:
    raise InputError(f"{where}cell {cell}: has {len(edges)} edges; every intermediate node needs"
                     " exactly 2, so the count must be even")
  out = []
  for e, edge in enumerate(edges):
    if not isinstance(edge, (list, tuple)) or len(edge) != 3:
      raise InputError(f"{where}cell {cell}, edge {e}: expected [op, from, to], got {edge!r}")
    op, src, dst = edge
    if not isinstance(op, str):
      raise InputError(f"{where}cell {cell}, edge {e}: op must be a name, got {op!r}")
    for label, value in (("source", src), ("destination", dst)):
      if not _is_index(value):
        raise InputError(f"{where}cell {cell}, edge {e} {tuple(edge)!r}: {label} node must be an"
                         f" integer, got {value!r}")
      if value < 0:
        raise InputError(f"{where}cell {cell}, edge {e} {tuple(edge)!r}: {label} node is negative")
    if dst != e // 2 + 2:
      raise InputError(f"{where}cell {cell}, edge {e} {tuple(edge)!r}: expected destination node"
                       f" {e // 2 + 2} (edges 2k and 2k+1 feed node k+2, in order)")
    if src >= dst:
      raise InputError(f"{where}cell {cell}, edge {e} {tuple(edge)!r}: source node {src} must be"
                       f" below destination node {dst}")
    if op not in ops.registered_ops():
      raise InputError(f"{where}cell {cell}, edge {e}: unknown op '{op}'"
                       f"{closest(op, ops.registered_ops())}")
    out.append((op, int(src), int(dst)))
  num_nodes = len(edges) // 2
  if not isinstance(concat, (list, tuple, range)) or not len(concat):
    raise InputError(f"{where}cell {cell}: concat must be a non-empty list of node indices")
  for node in concat:
    if not _is_index(node) or not 2 <= node <= num_nodes + 1:
      raise InputError(f"{where}cell {cell}: concat names node {node!r}, which does not exist"
                       f" (intermediate nodes are 2..{num_nodes + 1})")
  if list(concat) != sorted(set(concat)):
    raise InputError(f"{where}cell {cell}: concat {list(concat)} must be increasing without repeats")
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


def cell_to_arrays(edges: Sequence[Edge], concat: Sequence[int], space: Any) -> Cell:
  """Edges with op names -> `Cell` arrays for the op list of `space`."""
  num_nodes = len(edges) // 2
  op = np.array([space.index(name) for name, _, _ in edges], np.int32)
  src = np.array([s for _, s, _ in edges], np.int32)
  mask = np.zeros(num_nodes, bool)
  mask[np.asarray(concat) - 2] = True
  return Cell(op=op, src=src, concat=mask)


def genotype_to_arch(genotype: Genotype, space: Any, where: str = "") -> Arch:
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


def cell_to_edges(cell: Cell, space: Any) -> Tuple[Tuple[Edge, ...], Tuple[int, ...]]:
  """`Cell` arrays (unbatched) -> (edges with op names, concat node list)."""
  op, src, concat = (np.asarray(x) for x in cell)
  dst = destinations(len(op) // 2)
  edges = tuple((space.ops[int(o)], int(s), int(d)) for o, s, d in zip(op, src, dst))
  return edges, tuple(int(n) + 2 for n in np.flatnonzero(concat))


def arch_to_genotype(arch: Arch, space: Any) -> Genotype:
  """`Arch` arrays (unbatched) -> `Genotype` with the op names of `space`."""
  normal, normal_concat = cell_to_edges(arch.normal, space)
  reduce, reduce_concat = cell_to_edges(arch.reduce, space)
  return Genotype(normal, normal_concat, reduce, reduce_concat)


def stack_archs(archs: Sequence[Arch]) -> Arch:
  """Stacks architectures of one shape along a new leading axis."""
  return Arch(*(Cell(*(np.stack([np.asarray(getattr(getattr(a, c), f)) for a in archs])
                       for f in Cell._fields)) for c in CELL_TYPES))


def infer_space(genotype: Genotype, where: str = "") -> Any:
  """The built-in space a genotype belongs to: the NAT space of its size if that holds all its ops,
  else the NAT++ space of its size (whose 13 ops hold every registered built-in op)."""
  from natjax import spaces
  names = {op for cell in (genotype.normal, genotype.reduce) for op, _, _ in cell}
  n = num_nodes_of(genotype)
  candidates = [s for s in map(spaces.get_space, spaces.registered_spaces())
                if s.num_nodes == n and names <= set(s.ops)]
  if not candidates:
    raise InputError(f"{where}no registered search space has {n} intermediate nodes and ops"
                     f" {sorted(names)}")
  return min(candidates, key=lambda s: s.num_ops)


# --------------------------------------------------------------------------- JSON


def genotype_to_json(genotype: Genotype) -> Dict[str, Any]:
  """JSON-ready dict: {"normal": [[op, from, to], ...], "normal_concat": [...], ...}."""
  return {field: [list(x) if isinstance(x, tuple) else x for x in getattr(genotype, field)]
          for field in Genotype._fields}


_JSON_EXTRA_KEYS = frozenset({"name", "params", "madds", "log_prob", "cost_ok", "connected",
                              "accuracy", "source"})


def genotype_from_json(obj: Any, where: str = "") -> Genotype:
  """Parses one JSON genotype object; validates it.

  The extra keys written next to a genotype by `natjax transform` and `natjax search` (name,
  params, madds, log_prob, cost_ok, connected, accuracy, source) are allowed and ignored.
  """
  if not isinstance(obj, dict):
    raise InputError(f"{where}expected a genotype object with keys {', '.join(Genotype._fields)},"
                     f" got {type(obj).__name__}")
  unknown = set(obj) - set(Genotype._fields) - _JSON_EXTRA_KEYS
  if unknown:
    key = sorted(unknown)[0]
    raise InputError(f"{where}unknown key '{key}'{closest(key, Genotype._fields)}")
  missing = [f for f in Genotype._fields if f not in obj]
  if missing:
    raise InputError(f"{where}genotype is missing key '{missing[0]}'")
  return make_genotype(*(obj[f] for f in Genotype._fields), where=where)


def _archs_from_json(data: Any, where: str) -> Dict[str, Genotype]:
  if isinstance(data, list):
    return {str(item.get("name", f"{i}")) if isinstance(item, dict) else str(i):
            genotype_from_json(item, f"{where}item {i}: ") for i, item in enumerate(data)}
  if isinstance(data, dict) and "normal" not in data:
    return {str(k): genotype_from_json(v, f"{where}'{k}': ") for k, v in data.items()}
  return {str(data.get("name", "")) if isinstance(data, dict) else "":
          genotype_from_json(data, where)}


# --------------------------------------------------------------------------- notation


def _literal(node: ast.AST, where: str) -> Any:
  """A literal, or range(a[, b]) of integer literals; anything else is refused."""
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
      and not node.keywords and 1 <= len(node.args) <= 2):
    bounds = [_literal(a, where) for a in node.args]
    if all(_is_index(b) for b in bounds):
      return list(range(*bounds))
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise InputError(f"{where}only literals and range(a, b) are allowed in a genotype, got"
                     f" '{ast.unparse(node)}'") from None


def _genotype_from_call(call: ast.AST, where: str) -> Genotype:
  if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
          and call.func.id == "Genotype"):
    raise InputError(f"{where}expected Genotype(normal=..., normal_concat=..., reduce=...,"
                     " reduce_concat=...)")
  if len(call.args) > len(Genotype._fields):
    raise InputError(f"{where}Genotype takes {len(Genotype._fields)} fields, got"
                     f" {len(call.args)} positional values")
  fields = dict(zip(Genotype._fields, (_literal(a, where) for a in call.args)))
  for kw in call.keywords:
    if kw.arg not in Genotype._fields:
      raise InputError(f"{where}unknown Genotype field '{kw.arg}'"
                       f"{closest(kw.arg or '', Genotype._fields)}")
    fields[kw.arg] = _literal(kw.value, where)
  return genotype_from_json(fields, where)


def parse_notation(text: str, where: str = "") -> Dict[str, Genotype]:
  """Parses `Genotype(...)` or lines `NAME = Genotype(...)` without evaluating anything.

  Returns:
    name -> genotype; a lone expression gets the name ''.
  """
  try:
    module = ast.parse(text)
  except SyntaxError as err:
    raise InputError(f"{where}malformed genotype notation at line {err.lineno}: {err.msg}") from None
  found: Dict[str, Genotype] = {}
  for stmt in module.body:
    if isinstance(stmt, ast.Expr):
      found[""] = _genotype_from_call(stmt.value, where)
    elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
          and isinstance(stmt.targets[0], ast.Name)):
      if isinstance(stmt.value, ast.Call) and getattr(stmt.value.func, "id", "") == "Genotype":
        name = stmt.targets[0].id
        found[name] = _genotype_from_call(stmt.value, f"{where}{name}: ")
    elif not isinstance(stmt, (ast.Import, ast.ImportFrom)):
      raise InputError(f"{where}line {stmt.lineno}: expected Genotype(...) or NAME = Genotype(...)")
  if not found:
    raise InputError(f"{where}no Genotype(...) found")
  return found


def format_notation(genotype: Genotype) -> str:
  """The DARTS/NAT notation of a genotype (parse_notation reads it back)."""
  parts = ", ".join(f"{field}={list(getattr(genotype, field))!r}" for field in Genotype._fields)
  return f"Genotype({parts})"


# --------------------------------------------------------------------------- files and names


def read_archs(path: str) -> Dict[str, Genotype]:
  """Reads every genotype in a JSON or notation file.

  Returns:
    name -> genotype; unnamed entries are named after the file (and their position).

  Raises:
    InputError: missing, empty or malformed file, or an invalid genotype; the message names the
      file, the cell and the edge.
  """
  where = f"{path}: "
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
  except OSError as err:
    raise InputError(f"{where}cannot read file ({err.strerror})") from None
  except UnicodeDecodeError:
    raise InputError(f"{where}not a text file") from None
  if not text.strip():
    raise InputError(f"{where}file is empty")
  stripped = text.lstrip()
  if stripped[0] in "[{":
    try:
      data = json.loads(text)
    except json.JSONDecodeError as err:
      raise InputError(f"{where}malformed JSON at line {err.lineno}, column {err.colno}:"
                       f" {err.msg}") from None
    found = _archs_from_json(data, where)
  else:
    found = parse_notation(text, where)
  stem = os.path.splitext(os.path.basename(path))[0]
  return {(name or stem): g for name, g in found.items()}


def builtin_names() -> List[str]:
  """Names of the built-in genotypes (natjax.genotypes)."""
  from natjax import genotypes
  return [k for k, v in vars(genotypes).items() if isinstance(v, Genotype)]


def builtin(name: str) -> Genotype:
  """A built-in genotype by name (case-insensitive); InputError with a suggestion otherwise."""
  from natjax import genotypes
  names = builtin_names()
  by_lower = {n.lower(): n for n in names}
  if name.lower() in by_lower:
    return getattr(genotypes, by_lower[name.lower()])
  raise InputError(f"unknown architecture '{name}'{closest(name, names)}; built-ins:"
                   f" {', '.join(names)}")


def resolve_arch(name_or_file: str) -> Tuple[str, Genotype]:
  """A built-in name or a file holding exactly one genotype -> (name, genotype)."""
  if name_or_file.lower() in {n.lower() for n in builtin_names()}:
    g = builtin(name_or_file)
    return [n for n in builtin_names() if n.lower() == name_or_file.lower()][0], g
  if os.path.exists(name_or_file):
    found = read_archs(name_or_file)
    if len(found) != 1:
      raise InputError(f"{name_or_file}: holds {len(found)} genotypes ({', '.join(found)});"
                       " pass a file with one")
    return next(iter(found.items()))
  raise InputError(f"'{name_or_file}' is neither a built-in architecture"
                   f"{closest(name_or_file, builtin_names())} nor an existing file")


def write_json(genotypes: Dict[str, Genotype], path: str) -> None:
  """Writes genotypes as a JSON list of objects with a "name" key."""
  with open(path, "w", encoding="utf-8") as f:
    json.dump([{"name": n, **genotype_to_json(g)} for n, g in genotypes.items()], f, indent=1)
