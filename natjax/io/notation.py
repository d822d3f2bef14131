"""Genotype notations: the JSON object form and the DARTS/NAT `Genotype(...)` form.

  * JSON: {"normal": [[op, from, to], ...], "normal_concat": [...], "reduce": [...],
    "reduce_concat": [...]}, optionally with "name"; a file may hold one such object, a list of
    them, or an object mapping names to them.
  * DARTS/NAT notation: `Genotype(normal=[('sep_conv_3x3', 0, 2), ...], normal_concat=[2, 3, 4, 5],
    reduce=[...], reduce_concat=range(2, 6))`, alone or as `NAME = Genotype(...)` lines. It is
    parsed with `ast`, never evaluated.

Every parse validates (`natjax.core.arch.make_genotype`) and fails with one InputError line
naming where (`where` prefixes the message: a file, an entry).
"""

from __future__ import annotations

import ast
from typing import Any, Dict

from natjax.core.arch import Genotype, make_genotype
from natjax.errors import InputError, closest, quote


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


def archs_from_json(data: Any, where: str = "") -> Dict[str, Genotype]:
  """name -> genotype of a parsed JSON value: one genotype object, a list of them (named by their
  "name" key or position) or an object mapping names to them."""
  if isinstance(data, list):
    return {str(item.get("name", f"{i}")) if isinstance(item, dict) else str(i):
            genotype_from_json(item, f"{where}item {i}: ") for i, item in enumerate(data)}
  if isinstance(data, dict) and "normal" not in data:
    return {str(k): genotype_from_json(v, f"{where}'{k}': ") for k, v in data.items()}
  return {str(data.get("name", "")) if isinstance(data, dict) else "":
          genotype_from_json(data, where)}


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
  except (RecursionError, MemoryError):  # Python's parser on thousands of nested levels
    raise InputError(f"{where}genotype notation nested too deeply to read") from None
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
