"""Genotype files and the one resolver of architecture arguments.

`resolve_arch(spec)` turns what a user writes for an architecture (a command's --arch, a config's
`arch` or `derive_archs`) into a named genotype, the same way everywhere:

  NAME                   a built-in genotype or a published cell (`natjax archs`; `natjax.core.zoo`),
                         case-insensitive
  FILE                   a file holding exactly one genotype, JSON or DARTS notation
  FILE:NAME              the entry NAME of a file holding several (a JSON list or mapping, or
                         `NAME = Genotype(...)` lines: a DARTS-family genotypes.py as is)
  DIR/derived.json[:NAME] or DIR[:NAME]
                         the chosen output of a search's derivation (default: its first entry),
                         named 'RULE(NAME)' after the search's rule (from DIR/config.json)

`resolve_archs(specs, archs_files)` is what every command that takes several architectures
calls: each spec through `resolve_arch`, then every genotype of each file (`archs_in_file`: all
entries of a genotype file, all chosen outputs of a derived.json or a search work directory).

Every failure is one InputError line naming the file and the entry, with the closest valid name.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from natjax.core import genotypes, zoo
from natjax.core.arch import Genotype
from natjax import files, registry
from natjax.errors import InputError, closest, quote
from natjax.io.json_files import CONFIG_FILE
from natjax.io.notation import (format_notation_file, genotype_from_json, genotype_to_json,
                                json_entries, notation_entries)

DERIVED_FILE = "derived.json"  # what a search's derivation writes in its work directory


def read_archs(path: str) -> Dict[str, Genotype]:
  """Reads every genotype in a JSON or notation file.

  Returns:
    name -> genotype; unnamed entries are named after the file (and their position).

  Raises:
    InputError: missing, empty or malformed file, one that holds no genotype, or an invalid
      genotype; the message names the file, the cell and the edge.
  """
  return {name: read() for name, read in file_entries(path).items()}


def file_entries(path: str) -> Dict[str, Callable[[], Genotype]]:
  """The entries of `read_archs`, each validated only when called: `FILE:NAME` reads its one entry
  even when another entry of the file is not a valid genotype.

  Raises:
    InputError: missing, empty or malformed file (one that does not parse at all), or one that
      holds no genotype (an empty JSON list or mapping).
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
    found = json_entries(files.parse_json(text, path), where)
  else:
    found = notation_entries(text, where)
  if not found:
    raise InputError(f"{where}holds no genotype")
  stem = os.path.splitext(os.path.basename(path))[0]
  return {(name or stem): read for name, read in found.items()}


def write_archs(named: Dict[str, Genotype], path: str, form: str = "natjax") -> None:
  """Writes genotypes as a JSON list of objects with a "name" key (`read_archs` reads it); a path
  ending in .py gets a DARTS-style genotypes.py instead (`NAME = Genotype(...)` lines). `form`:
  'natjax' edges (op, from, to), 'darts' edges (op, from) with DARTS's op names.

  Raises:
    InputError: `path` ends in neither .py nor .json (one line naming it); nothing is written.
  """
  if not path.endswith((".py", ".json")):
    raise InputError(f"{path}: a genotype file is written as FILE.py (a genotypes.py) or"
                     " FILE.json")
  if path.endswith(".py"):
    text = format_notation_file(named, form)
  else:
    text = json.dumps([{"name": n, **genotype_to_json(g, form)} for n, g in named.items()],
                      indent=1)
  files.write_text(path, text)


def _derived_entries(path: str) -> Optional[List[Dict[str, Any]]]:
  """The entries of a search's derived.json, or None when `path` is another kind of file."""
  try:
    obj = files.read_json(path)
  except InputError:
    return None  # read_archs reports what is wrong with it
  if (isinstance(obj, list) and obj and
      all(isinstance(e, dict) and "name" in e and isinstance(e.get("output"), dict)
          for e in obj)):
    return obj
  return None


def _search_config(derived_path: str) -> Dict[str, Any]:
  """The config.json of the search that wrote `derived_path` ({} when absent or unreadable)."""
  try:
    config = files.read_json(os.path.join(os.path.dirname(derived_path), CONFIG_FILE))
  except InputError:
    return {}
  return config if isinstance(config, dict) else {}


def _search_rule(derived_path: str) -> Optional[str]:
  """The rule of the search that wrote `derived_path`, from its config.json when present."""
  rule = _search_config(derived_path).get("rule")
  return rule if isinstance(rule, str) else None


def _import_search_modules(derived_path: str) -> None:
  """Imports the modules the search that wrote `derived_path` imported (its config's `imports`,
  e.g. a research fork whose ops its genotypes use)."""
  imports = _search_config(derived_path).get("imports") or []
  if not (isinstance(imports, list) and all(isinstance(m, str) for m in imports)):
    raise InputError(f"{os.path.join(os.path.dirname(derived_path), CONFIG_FILE)}: field"
                     " 'imports' must be a list of module names")
  registry.import_modules(imports)


def _split_entry(spec: str) -> Tuple[str, Optional[str]]:
  """'FILE:NAME' -> ('FILE', 'NAME') when FILE exists; otherwise (spec, None)."""
  path, sep, name = spec.rpartition(":")
  if sep and path and os.path.exists(path):
    return path, name
  return spec, None


def _pick(path: str, names: List[str], name: Optional[str]) -> int:
  """The index of entry `name` among `names` (the first when None)."""
  if name is None:
    return 0
  if name not in names:
    raise InputError(f"{path}: no entry '{name}'{closest(name, names)}; entries:"
                     f" {', '.join(names)}")
  return names.index(name)


def _from_derived(path: str, entries: List[Dict[str, Any]],
                  name: Optional[str]) -> Tuple[str, Genotype]:
  """The chosen output of a derived.json entry, named 'RULE(NAME)'."""
  _import_search_modules(path)
  entry = entries[_pick(path, [str(e["name"]) for e in entries], name)]
  fields = {f: entry["output"][f] for f in Genotype._fields if f in entry["output"]}
  genotype = genotype_from_json(fields, f"{path}: {entry['name']}: ")
  return f"{_search_rule(path) or 'derived'}({entry['name']})", genotype


def resolve_arch(spec: str, what: str = "architecture") -> Tuple[str, Genotype]:
  """A built-in name, a genotype file, FILE:NAME, or a search's derived.json[:NAME] (or its work
  directory[:NAME]) -> (display name, genotype). See the module docstring.

  Args:
    spec: what the user wrote.
    what: where it was written, named when it is a URL ('--arch', 'config.arch').

  Raises:
    InputError: naming the file and the entry (with the closest entry name) or the bad genotype;
      a URL, by `what`.
  """
  files.refuse_url(spec, what)
  if spec.lower() in {n.lower() for n in genotypes.builtin_names()}:
    return genotypes.builtin_name(spec), genotypes.builtin(spec)
  if spec.lower() in {n.lower() for n in zoo.names()} and not os.path.exists(spec):
    cell = zoo.get(spec)
    return cell.name, cell.genotype
  path, name = _split_entry(spec)
  if os.path.isdir(path):
    path = os.path.join(path, DERIVED_FILE)
    if not os.path.isfile(path):
      raise InputError(f"{path}: not found (a search work directory holds {DERIVED_FILE})")
  if not os.path.isfile(path):
    if spec.lower() in {n.lower() for n in zoo.NOT_REPRESENTABLE}:
      zoo.get(spec)  # Says why the published cell is not here.
    raise InputError(f"'{quote(spec)}' is neither a built-in architecture"
                     f"{closest(spec, genotypes.builtin_names() + zoo.names())} nor an existing"
                     " file")
  entries = _derived_entries(path)
  if entries is not None:
    return _from_derived(path, entries, name)
  found = file_entries(path)
  if name is None and len(found) != 1:
    raise InputError(f"{path}: holds {len(found)} genotypes ({', '.join(found)}); pick one with"
                     f" {path}:NAME, or take them all with --archs-file {path}")
  names = list(found)
  chosen = names[_pick(path, names, name)]
  return chosen, found[chosen]()


def archs_in_file(path: str) -> Dict[str, Genotype]:
  """Every genotype a file holds, by name: the entries of a JSON or notation file
  (`read_archs`), or the chosen output of every entry of a search's derived.json (or of a search
  work directory's), named 'RULE(NAME)'.

  Raises:
    InputError: as `read_archs`; a directory without derived.json.
  """
  if os.path.isdir(path):
    path = os.path.join(path, DERIVED_FILE)
    if not os.path.isfile(path):
      raise InputError(f"{path}: not found (a search work directory holds {DERIVED_FILE})")
  entries = _derived_entries(path) if os.path.isfile(path) else None
  if entries is None:
    return read_archs(path)
  return dict(_from_derived(path, entries, str(e["name"])) for e in entries)


def resolve_archs(specs: Sequence[str] = (),
                  archs_files: Sequence[str] = ()) -> List[Tuple[str, Genotype]]:
  """The architectures a command was given: each of `specs` (its --arch, `resolve_arch`), then
  every genotype of each of `archs_files` (its --archs-file, `archs_in_file`), in order.

  Raises:
    InputError: as `resolve_arch` and `archs_in_file`; a URL, naming its flag; nothing given.
  """
  found = [resolve_arch(spec, "--arch") for spec in specs]
  for path in archs_files:
    files.refuse_url(path, "--archs-file")
    found.extend(archs_in_file(path).items())
  if not found:
    raise InputError("give at least one architecture with --arch or --archs-file")
  return found
