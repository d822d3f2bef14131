"""Name -> object registries (op families, ops, search spaces, transition rules, datasets) and the
import of the modules that fill them.

Registration is where extension happens (a research fork registers a rule or an op without editing
natjax), so it fails loudly: re-registering a name with a different object is an error, and a
lookup of an unknown name names the closest registered one. A fork's modules are imported by name
(`import_modules`: the command line's `--imports`, `NATJAX_IMPORTS`, a config's `imports`, a
policy export's record), so that their registrations run before anything looks them up.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Dict, Generic, Iterable, List, Tuple, TypeVar, Union

from natjax.errors import InputError, closest, quote

T = TypeVar("T")
_REMOVALS = [0]  # entries removed from any registry so far (see `generation`)
_IMPORTED: List[str] = []  # modules imported through `import_modules`, in order


class Registry(Generic[T]):
  """Registered objects of one kind, in registration order."""

  def __init__(self, kind: str):
    """`kind` names the objects in messages, e.g. 'search space'."""
    self.kind = kind
    self._items: Dict[str, T] = {}

  def add(self, name: str, item: T) -> T:
    """Registers `item`; the same object twice is fine, a different one under a taken name is not."""
    old = self._items.get(name)
    if old is not None and old != item:
      raise InputError(f"{self.kind} '{name}' is already registered differently")
    self._items[name] = item
    return item

  def remove(self, name: str) -> None:
    """Unregisters `name` (temporary registrations end here); InputError if it is unknown."""
    self.get(name)
    del self._items[name]
    _REMOVALS[0] += 1

  def get(self, name: str) -> T:
    """The item registered as `name`; InputError naming the closest name otherwise."""
    try:
      return self._items[name]
    except KeyError:
      raise InputError(f"unknown {self.kind} '{quote(name)}'{closest(name, self._items)};"
                       f" {self.kind}s: {', '.join(self._items)}") from None

  def __contains__(self, name: object) -> bool:
    return name in self._items

  def names(self) -> Tuple[str, ...]:
    return tuple(self._items)


def generation() -> int:
  """A number that changes whenever an entry is removed from any registry: a name can then be
  registered again with other contents, so it belongs in the key of any cache keyed by names."""
  return _REMOVALS[0]


def split_modules(names: Union[str, Iterable[str], None]) -> Tuple[str, ...]:
  """'a.b, c' or ['a.b', 'c'] -> ('a.b', 'c'): module names, blanks dropped, repeats merged."""
  if names is None:
    return ()
  parts = names.split(",") if isinstance(names, str) else list(names)
  return tuple(dict.fromkeys(p.strip() for p in parts if p and p.strip()))


def import_modules(names: Union[str, Iterable[str], None]) -> Tuple[str, ...]:
  """Imports a research fork's modules by name, so that their registrations run.

  The current directory is put on `sys.path` first (console scripts leave it out), so a fork's
  module beside where the command runs is found as it would be by `python -m`.

  Args:
    names: module names, as a sequence or a comma-separated string ('examples.fork,mine').

  Returns:
    The names imported, in order; `imported_modules()` then lists them too.

  Raises:
    InputError: one line naming the module that failed to import and why.
  """
  names = split_modules(names)
  if names and os.getcwd() not in sys.path and "" not in sys.path:
    sys.path.insert(0, os.getcwd())
  for name in names:
    try:
      importlib.import_module(name)
    except InputError as err:
      raise InputError(f"module '{name}': {err}") from None
    except Exception as err:  # pylint: disable=broad-except
      # The fork's own code: whatever it raised, the user needs the module's name.
      detail = (str(err).strip().splitlines() or [""])[0]
      raise InputError(f"cannot import module '{name}' ({type(err).__name__}: {detail})") from None
    if name not in _IMPORTED:
      _IMPORTED.append(name)
  return names


def imported_modules() -> Tuple[str, ...]:
  """The modules imported through `import_modules` in this process, in order (what a saved
  config or policy records, so that a fresh process can import them again)."""
  return tuple(_IMPORTED)
