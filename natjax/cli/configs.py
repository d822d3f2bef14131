"""Config files and command-line overrides (ml_collections).

A config file is a Python module with `get_config()` (or `get_config(arg)`) returning an
`ml_collections.ConfigDict`. It is named by path, optionally followed by `:ARG`, which is passed
to `get_config` as a string (`configs/retrain_digits.py:runlocal`). Files under configs/ are not a
package; they import each other by adding their own directory to `sys.path`.

Overrides come from the command line as `--config.FIELD=VALUE` or `--config.FIELD VALUE` (a
dotted FIELD reaches into nested dicts). VALUE is converted to the type the field already has:
bool ('true'/'false', '1'/'0', 'yes'/'no'), int, float, str, tuple or list (a Python literal such
as "('DARTS', 'ResBlock')" or a comma-separated list); a field that holds None takes a Python
literal when VALUE parses as one, else the string.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from typing import Any, List, Optional, Sequence, Tuple

import ml_collections

from natjax.errors import InputError, closest, quote

PREFIX = "--config."
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def split_spec(spec: str) -> Tuple[str, Optional[str]]:
  """'path/to/file.py:arg' -> ('path/to/file.py', 'arg'); without a colon, arg is None."""
  path, sep, arg = spec.partition(".py:")
  if sep:
    return path + ".py", arg
  return spec, None


def load_module_config(spec: str) -> ml_collections.ConfigDict:
  """Imports a config file by path and returns its `get_config([arg])`.

  Raises:
    InputError: a missing file, a file without `get_config`, or an error raised while loading.
  """
  path, arg = split_spec(spec)
  if not os.path.isfile(path):
    raise InputError(f"config file {path}: not found")
  name = "natjax_config_" + os.path.splitext(os.path.basename(path))[0]
  module_spec = importlib.util.spec_from_file_location(name, os.path.abspath(path))
  if module_spec is None or module_spec.loader is None:
    raise InputError(f"config file {path}: not a Python file")
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except Exception as err:  # The user's file: report it in one line.
    raise InputError(f"config file {path}: fails to load ({type(err).__name__}:"
                     f" {quote(str(err))})") from None
  if not hasattr(module, "get_config"):
    raise InputError(f"config file {path}: defines no get_config()")
  try:
    config = module.get_config() if arg is None else module.get_config(arg)
  except InputError:
    raise
  except Exception as err:  # The user's get_config: report it in one line.
    raise InputError(f"config file {path}: get_config({'' if arg is None else repr(arg)})"
                     f" fails ({type(err).__name__}: {quote(str(err))})") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise InputError(f"config file {path}: get_config() returned {type(config).__name__},"
                     " not an ml_collections.ConfigDict")
  return config


def parse_overrides(overrides: Sequence[str]) -> List[Tuple[str, str]]:
  """['--config.a=1', '--config.b', '2'] -> [('a', '1'), ('b', '2')]."""
  pairs, i = [], 0
  overrides = list(overrides)
  while i < len(overrides):
    token = overrides[i]
    if not token.startswith(PREFIX):
      raise InputError(f"unrecognized argument '{quote(token)}'; config overrides are"
                       f" {PREFIX}FIELD=VALUE")
    body = token[len(PREFIX):]
    if "=" in body:
      field, value = body.split("=", 1)
      i += 1
    elif i + 1 < len(overrides) and not overrides[i + 1].startswith("--"):
      field, value = body, overrides[i + 1]
      i += 2
    else:
      raise InputError(f"{quote(token)}: no value; write {quote(token)}=VALUE")
    if not field:
      raise InputError(f"{token}: empty field name")
    pairs.append((field, value))
  return pairs


def _literal(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError, RecursionError, MemoryError):  # nested too deeply: as text
    return text


def convert(value: str, current: Any, field: str) -> Any:
  """Converts the command-line text `value` to the type of the field's `current` value."""
  where = f"--config.{field}={quote(value)}"
  if current is None:
    return _literal(value)
  if isinstance(current, bool):
    if value.lower() in _TRUE:
      return True
    if value.lower() in _FALSE:
      return False
    raise InputError(f"{where}: expected a bool (true/false)")
  if isinstance(current, int):
    try:
      return int(value)
    except ValueError:
      raise InputError(f"{where}: expected an int") from None
  if isinstance(current, float):
    try:
      return float(value)
    except ValueError:
      raise InputError(f"{where}: expected a float") from None
  if isinstance(current, (tuple, list)):
    parsed = _literal(value)
    if not isinstance(parsed, (tuple, list)):
      parsed = [] if not value.strip() else [_literal(v.strip()) for v in value.split(",")]
    return type(current)(parsed)
  if isinstance(current, str):
    return value
  raise InputError(f"--config.{field}: a {type(current).__name__} field cannot be set from the"
                   " command line")


def apply_override(config: ml_collections.ConfigDict, field: str, value: str) -> None:
  """Sets `config.<field>` (dotted for nested dicts) from command-line text, in place."""
  node, parts = config, field.split(".")
  for depth, part in enumerate(parts):
    keys = list(node.keys())
    if part not in keys:
      prefix = ".".join(parts[:depth])
      names = [f"{prefix}.{k}" if prefix else k for k in keys]
      raise InputError(f"--config.{field}: unknown config field{closest(field, names)}")
    if depth < len(parts) - 1:
      node = node[part]
      if not isinstance(node, ml_collections.ConfigDict):
        raise InputError(f"--config.{field}: '{'.'.join(parts[:depth + 1])}' is not a nested"
                         " config")
  last = parts[-1]
  new = convert(value, node[last], field)
  try:
    node[last] = new
  except (TypeError, ValueError) as err:
    raise InputError(f"--config.{field}={quote(value)}: {quote(str(err))}") from None


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
  """Loads a config file (`FILE[:ARG]`) and applies `--config.FIELD=VALUE` overrides in order.

  Raises:
    InputError: one line naming the file or the field (with the closest field for a misspelling).
  """
  config = load_module_config(spec)
  for field, value in parse_overrides(overrides):
    apply_override(config, field, value)
  return config
