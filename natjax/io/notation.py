"""Genotype notations: the JSON object form and the DARTS/NAT `Genotype(...)` form.

  * JSON: {"normal": [[op, from, to], ...], "normal_concat": [...], "reduce": [...],
    "reduce_concat": [...]}, optionally with "name"; a file may hold one such object, a list of
    them, or an object mapping names to them.
  * DARTS/NAT notation: `Genotype(normal=[('sep_conv_3x3', 0, 2), ...], normal_concat=[2, 3, 4, 5],
    reduce=[...], reduce_concat=range(2, 6))`, alone or as `NAME = Genotype(...)` lines. It is
    parsed with `ast`, never evaluated. A DARTS-family `genotypes.py` reads as is: imports, the
    `namedtuple` line, `PRIMITIVES` and other assignments and docstrings are skipped, `NAME =
    OTHER` names an earlier genotype again (DARTS's `DARTS = DARTS_V2`), and AutoDL-Projects'
    extra fields `connectN=None, connects=None` are ignored.

Edges are read in either form (`natjax.core.arch`): natjax's (op, from, to) or the DARTS family's
(op, from), destination by position. Both writers take `form`: 'natjax' writes (op, from, to),
'darts' writes (op, from) and DARTS's op names ('none' for 'null'), for code of the DARTS family.

Every parse validates (`natjax.core.arch.make_genotype`) and fails with one InputError line
naming where (`where` prefixes the message: a file, an entry).
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from natjax.core.arch import Genotype, make_genotype
from natjax.errors import InputError, closest, quote


FORMS = ("natjax", "darts")
_DARTS_NAMES = {"null": "none"}  # natjax name -> DARTS's PRIMITIVES name


def check_form(form: str) -> str:
  """Returns `form` if it is one of FORMS; InputError with the closest name otherwise."""
  if form not in FORMS:
    raise InputError(f"unknown genotype form '{form}'{closest(form, FORMS)}; forms:"
                     f" {', '.join(FORMS)}")
  return form


def _edges(edges, form: str) -> List[Tuple[Any, ...]]:
  if form == "darts":
    return [(_DARTS_NAMES.get(op, op), src) for op, src, _ in edges]
  return [tuple(edge) for edge in edges]


def genotype_to_json(genotype: Genotype, form: str = "natjax") -> Dict[str, Any]:
  """JSON-ready dict: {"normal": [[op, from, to], ...], "normal_concat": [...], ...}; with
  form='darts' edges are [op, from] and 'null' is written 'none'."""
  check_form(form)
  out: Dict[str, Any] = {}
  for cell in ("normal", "reduce"):
    out[cell] = [list(edge) for edge in _edges(getattr(genotype, cell), form)]
    out[cell + "_concat"] = list(getattr(genotype, cell + "_concat"))
  return out


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


def archs_from_json(data: Any, where: str = "") -> Dict[str, Genotype]:
  """name -> genotype of a parsed JSON value: one genotype object, a list of them (named by their
  "name" key or position) or an object mapping names to them."""
  return {name: read() for name, read in json_entries(data, where).items()}


def json_entries(data: Any, where: str = "") -> Dict[str, Callable[[], Genotype]]:
  """The entries of `archs_from_json`, each read and validated only when called (so that one bad
  entry does not hide the others)."""
  if isinstance(data, list):
    return {str(item.get("name", f"{i}")) if isinstance(item, dict) else str(i):
            functools.partial(genotype_from_json, item, f"{where}item {i}: ")
            for i, item in enumerate(data)}
  if isinstance(data, dict) and "normal" not in data:
    return {str(k): functools.partial(genotype_from_json, v, f"{where}'{k}': ")
            for k, v in data.items()}
  return {str(data.get("name", "")) if isinstance(data, dict) else "":
          functools.partial(genotype_from_json, data, where)}


def _literal(node: ast.AST, where: str) -> Any:
  """A literal, or range(a[, b]) of integer literals; anything else is refused."""
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
      and not node.keywords and 1 <= len(node.args) <= 2):
    bounds = [_literal(a, where) for a in node.args]
    if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
      return list(range(*bounds))
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise InputError(f"{where}only literals and range(a, b) are allowed in a genotype, got"
                     f" '{quote(ast.unparse(node))}'") from None
  except RecursionError:
    raise InputError(f"{where}a value is nested too deeply to read") from None


_IGNORED_FIELDS = ("connectN", "connects")  # AutoDL-Projects' Genotype, None in its cells


def _is_genotype_call(node: ast.AST) -> bool:
  """`Genotype(...)` or `module.Genotype(...)`."""
  if not isinstance(node, ast.Call):
    return False
  func = node.func
  return ((isinstance(func, ast.Name) and func.id == "Genotype")
          or (isinstance(func, ast.Attribute) and func.attr == "Genotype"))


def _genotype_from_call(call: ast.AST, where: str) -> Genotype:
  if not _is_genotype_call(call):
    raise InputError(f"{where}expected Genotype(normal=..., normal_concat=..., reduce=...,"
                     " reduce_concat=...)")
  if len(call.args) > len(Genotype._fields):
    raise InputError(f"{where}Genotype takes {len(Genotype._fields)} fields, got"
                     f" {len(call.args)} positional values")
  fields = dict(zip(Genotype._fields, (_literal(a, where) for a in call.args)))
  for kw in call.keywords:
    if kw.arg in _IGNORED_FIELDS and _literal(kw.value, where) is None:
      continue
    if kw.arg not in Genotype._fields:
      raise InputError(f"{where}unknown Genotype field '{kw.arg}'"
                       f"{closest(kw.arg or '', Genotype._fields)}")
    fields[kw.arg] = _literal(kw.value, where)
  return genotype_from_json(fields, where)


def parse_notation(text: str, where: str = "") -> Dict[str, Genotype]:
  """Parses `Genotype(...)` or a file of `NAME = Genotype(...)` lines (a DARTS-family
  `genotypes.py`: see the module docstring) without evaluating anything.

  Returns:
    name -> genotype, in file order; a lone expression gets the name ''.

  Raises:
    InputError: malformed Python, a Genotype(...) that is not literal, an invalid genotype (the
      message names the entry), a bare expression other than Genotype(...) or a string, or no
      genotype at all.
  """
  return {name: read() for name, read in notation_entries(text, where).items()}


def _prefix_hint(text: str, lineno: Optional[int]) -> str:
  """A hint for a line such as a search log's `10/09 09:19:10 AM genotype = Genotype(...)`:
  text before Genotype(...) that is not `NAME =`; '' otherwise."""
  lines = text.splitlines()
  if not lineno or lineno > len(lines):
    return ""
  before, found, _ = lines[lineno - 1].partition("Genotype(")
  if not found or not before.strip() or re.fullmatch(r"\s*[A-Za-z_]\w*\s*=\s*", before):
    return ""
  return (f" (the line has '{quote(before.strip())}' before Genotype(...); keep `Genotype(...)` or"
          " `NAME = Genotype(...)`, as in a genotypes.py)")


def notation_entries(text: str, where: str = "") -> Dict[str, Callable[[], Genotype]]:
  """The entries of `parse_notation`, each read and validated only when called (so that one bad
  entry of a repository's genotypes.py does not hide the others).

  Raises:
    InputError: malformed Python, or no genotype at all.
  """
  try:
    module = ast.parse(text)
  except SyntaxError as err:
    raise InputError(f"{where}malformed genotype notation at line {err.lineno}: {err.msg}"
                     f"{_prefix_hint(text, err.lineno)}") from None
  except (RecursionError, MemoryError):  # Python's parser on thousands of nested levels
    raise InputError(f"{where}genotype notation nested too deeply to read") from None
  except ValueError:
    raise InputError(f"{where}not a genotype notation (unreadable as Python)") from None
  found: Dict[str, Callable[[], Genotype]] = {}
  for stmt in module.body:
    if isinstance(stmt, ast.Expr):
      if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
        continue  # A docstring or a string comment.
      found[""] = functools.partial(_genotype_from_call, stmt.value, where)
    elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
          and isinstance(stmt.targets[0], ast.Name)):
      name = stmt.targets[0].id
      if _is_genotype_call(stmt.value):
        found[name] = functools.partial(_genotype_from_call, stmt.value, f"{where}{name}: ")
      elif isinstance(stmt.value, ast.Name) and stmt.value.id in found:
        found[name] = found[stmt.value.id]  # DARTS = DARTS_V2
  if not found:
    raise InputError(f"{where}no Genotype(...) found")
  return found


def format_notation(genotype: Genotype, form: str = "natjax") -> str:
  """The DARTS/NAT notation of a genotype (parse_notation reads it back); form='darts' writes
  (op, from) edges and 'none' for 'null', as the DARTS family's genotypes.py does."""
  check_form(form)
  parts = []
  for cell in ("normal", "reduce"):
    parts.append(f"{cell}={_edges(getattr(genotype, cell), form)!r}")
    parts.append(f"{cell}_concat={list(getattr(genotype, cell + '_concat'))!r}")
  return f"Genotype({', '.join(parts)})"


def format_notation_file(named: Dict[str, Genotype], form: str = "natjax") -> str:
  """A genotypes.py of `NAME = Genotype(...)` lines, with the namedtuple definition that
  DARTS-family code imports it with (parse_notation reads it back)."""
  lines = ["from collections import namedtuple", "",
           "Genotype = namedtuple('Genotype', 'normal normal_concat reduce reduce_concat')", ""]
  for name, genotype in named.items():
    if not name.isidentifier():
      raise InputError(f"'{name}' is not a Python name; genotypes.py needs one per genotype")
    lines.append(f"{name} = {format_notation(genotype, form)}")
  return "\n".join(lines) + "\n"
