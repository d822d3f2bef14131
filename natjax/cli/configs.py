"""Config files and command-line overrides, through ml_collections' `config_flags`.

A config file is a Python module with `get_config()` (or `get_config(arg)`) returning an
`ml_collections.ConfigDict`. It is named by path, optionally followed by `:ARG`, which is passed
to `get_config` as a string (`configs/nat_cifar10.py:enas`). Files under configs/ are not a
package; they import each other by adding their own directory to `sys.path`.

Overrides come from the command line as `--config.FIELD=VALUE` or `--config.FIELD VALUE` (a
dotted FIELD reaches into nested dicts). VALUE is parsed as the field's type by ml_collections:
int, float, bool (true/false, 1/0), str, tuple (a Python literal such as "('DARTS', 'ResBlock')",
or the flag repeated once per element; a single value is a 1-tuple). A field that may hold None
is declared with its type, `ml_collections.config_dict.placeholder(str)`, so that it can be set.

Both go through `config_flags` on private absl `FlagValues` (never absl's global FLAGS), so they fit
natjax's subcommands: the file through `DEFINE_config_file`, then the overrides through
`DEFINE_config_dict` on the loaded config, in two steps so that a failure is pinned on the file or
on the command line. The config comes back locked: a field that does not exist is an error, on
the command line and in a config file that sets one on a base config (configs/default.py and
configs/retrain_cifar10.py return theirs locked).

A run's config must hold every field its command reads (`Kind`): the first missing one is named,
and a config holding every field of another command is said to be that command's.

Every failure is one `InputError` line naming the file or the `--config.FIELD=VALUE` and, for a
misspelt field, the closest existing one.
"""

from __future__ import annotations

import inspect
import re
import sys
import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from absl import flags
import ml_collections
from ml_collections import config_flags

from natjax import files
from natjax.errors import InputError, closest, missing_field, quote

FLAG = "config"
PREFIX = f"--{FLAG}."
_MODULE = f"{FLAG}_config"  # the name config_flags loads a config file under (sys.modules)
# A locked ConfigDict refusing a new field; its own suggestion follows.
_LOCKED = re.compile(r'Key "(?P<field>[^"]*)" does not exist and cannot be added since the config'
                     r' is locked(?:.*Did you mean "(?P<near>[^"]*)")?', re.S)
_EXPECTED = {bool: "a bool (true/false)", int: "an int", float: "a float",
             tuple: "a tuple (\"('A', 'B')\", or the flag once per element)"}


class Kind(NamedTuple):
  """The configs of one command.

  Attributes:
    command: the command that runs them ('search').
    fields: every field the command reads.
    example: a config file of that kind, named in messages ('configs/quickstart.py').
  """
  command: str
  fields: Sequence[str]
  example: str


def load_config(spec: str, overrides: Sequence[str] = (), kind: Optional[Kind] = None,
                others: Sequence[Kind] = ()) -> ml_collections.ConfigDict:
  """Loads a config file (`FILE[:ARG]`) and applies `--config.FIELD=VALUE` overrides in order.

  Args:
    spec: the config file's path, optionally followed by ':ARG' for `get_config(ARG)`.
    overrides: command-line tokens, each `--config.FIELD=VALUE`, or `--config.FIELD` then VALUE.
    kind: the fields the file's config must hold (None: no check).
    others: the other commands' kinds, to say when the file is one of theirs.

  Returns:
    The config, locked (no field can be added).

  Raises:
    InputError: one line naming the file or the field (with the closest field for a misspelling),
      or the first field of `kind` the file's config lacks.
  """
  config = _load_file(spec)
  if kind is not None:
    _check_kind(config, spec.split(":", 1)[0], kind, others)
  return _override(config, list(overrides))


def _check_kind(config: ml_collections.ConfigDict, path: str, kind: Kind,
                others: Sequence[Kind]) -> None:
  """InputError naming the first field of `kind` that `config` lacks, and the command whose
  config it is when it holds every field of another kind: the run's own check
  (`natjax.errors.require_fields`, in each command's `validate_config`), said with the file."""
  missing = missing_field(config, kind.fields)
  if missing is None:
    return
  mistaken = [k for k in others if missing_field(config, k.fields) is None]
  why = (f"a {mistaken[0].command} config, not a {kind.command} config" if mistaken
         else f"a {kind.command} config sets every field")
  raise InputError(f"config file {path}: no field '{missing}' ({why}; see {kind.example})")


def _load_file(spec: str) -> ml_collections.ConfigDict:
  """`get_config([ARG])` of the file, locked, through `config_flags.DEFINE_config_file`."""
  path = spec.split(":", 1)[0]
  files.read_text(path, "config file")  # missing, a directory, unreadable: one line
  argv = ["natjax", f"--{FLAG}={spec}"]
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file(FLAG, flag_values=flag_values, sys_argv=argv)
  sys.modules.pop(_MODULE, None)  # config_flags would re-run a new file in an older one's module
  try:
    with warnings.catch_warnings():  # config_flags' loader uses importlib's load_module()
      warnings.filterwarnings("ignore", "the load_module", DeprecationWarning)
      flag_values(argv)
    config = flag_values[FLAG].value
    if not isinstance(config, ml_collections.ConfigDict):
      getattr(config, "lock", None)  # a failed load is raised on first use (an OSError)
  except Exception as err:  # The user's file: report it in one line.
    module = sys.modules.get(_MODULE)  # present when the file ran (config_flags drops it if not)
    if module is not None and not hasattr(module, "get_config"):
      raise InputError(f"config file {path}: defines no get_config()") from None
    if module is not None and ":" in spec and not _takes_argument(module.get_config):
      raise InputError(f"config file {path}: takes no argument (its get_config() has no"
                       f" parameter), got ':{quote(spec.split(':', 1)[1])}'; drop it") from None
    raise InputError(f"config file {path}: {_file_problem(err)}") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise InputError(f"config file {path}: get_config() returned {type(config).__name__}, not an"
                     " ml_collections.ConfigDict")
  return config


def _takes_argument(get_config: Any) -> bool:
  """Whether `get_config` can be called with one positional argument."""
  try:
    inspect.signature(get_config).bind("arg")
  except (TypeError, ValueError):
    return False
  return True


def _file_problem(err: BaseException) -> str:
  """What went wrong in a config file, from the innermost error of what config_flags raised."""
  while err.__cause__ is not None or (err.__context__ is not None
                                     and not err.__suppress_context__):
    err = err.__cause__ or err.__context__
  text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
  locked = _LOCKED.search(text)
  if locked:
    near = f" (did you mean '{locked['near']}'?)" if locked["near"] else ""
    return f"sets '{locked['field']}', not a config field{near}"
  return f"fails to load ({type(err).__name__}: {quote(text)})"


def _fields(config: ml_collections.ConfigDict, prefix: str = "") -> Dict[str, type]:
  """{dotted field name: its type} of every field, nested dicts and their fields included."""
  found = {}
  for key in config.keys():
    name, value = prefix + key, config[key]
    found[name] = config.get_type(key)
    if isinstance(value, ml_collections.ConfigDict):
      found.update(_fields(value, name + "."))
  return found


def _override(config: ml_collections.ConfigDict,
              tokens: List[str]) -> ml_collections.ConfigDict:
  """Applies the tokens through `config_flags.DEFINE_config_dict` on the loaded config."""
  if not tokens:
    return config
  types = _fields(config)
  for token in tokens:
    if token.startswith("--") and not token.startswith(PREFIX):
      raise _unrecognized(token)
    if token.startswith(PREFIX):
      field = token[len(PREFIX):].split("=", 1)[0]
      if field not in types:
        raise InputError(f"{PREFIX}{quote(field)}: unknown config field{closest(field, types)}")
      if types[field] is type(None):
        raise InputError(f"{PREFIX}{field}: a field holding None cannot be set from the command"
                         " line; declare it as ml_collections.config_dict.placeholder(TYPE)")
  argv = ["natjax", *tokens]
  flag_values = flags.FlagValues()
  try:
    config_flags.DEFINE_config_dict(FLAG, config, flag_values=flag_values, sys_argv=argv)
    rest = flag_values(argv)[1:]
  except flags.IllegalFlagValueError as err:
    raise InputError(_bad_value(err, types)) from None
  except flags.UnrecognizedFlagError as err:  # '-x', '--noconfig.x'
    raise _unrecognized(err.flagvalue) from None
  except flags.Error as err:  # A flag without its value, a field of a type absl cannot parse.
    raise InputError(quote(str(err).split("\n")[0], 160)) from None
  if rest:
    raise _unrecognized(rest[0])
  return config


def _unrecognized(token: str) -> InputError:
  return InputError(f"unrecognized argument '{quote(token)}'; config overrides are"
                    f" {PREFIX}FIELD=VALUE")


def _bad_value(err: flags.IllegalFlagValueError, types: Dict[str, type]) -> str:
  """'--config.FIELD=VALUE: expected an int' from absl's 'flag --config.FIELD=VALUE: why'."""
  text, why = str(err), str(err.__context__ or "")
  found = re.match(rf"flag {re.escape(PREFIX)}(?P<field>[^=]*)=(?P<value>.*)", text, re.S)
  if not found:
    return quote(text)
  field, value = found["field"], found["value"]
  if why and value.endswith(": " + why):
    value = value[:-len(why) - 2]
  expected = _EXPECTED.get(types.get(field), f"a {getattr(types.get(field), '__name__', '?')}")
  return f"{PREFIX}{field}={quote(value)}: expected {expected}"
