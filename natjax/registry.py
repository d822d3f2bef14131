"""A name -> object registry, shared by ops, search spaces and transition rules.

Registration is where extension happens (a research fork registers a rule or an op without editing
natjax), so it fails loudly: re-registering a name with a different object is an error, and a
lookup of an unknown name names the closest registered one.
"""

from __future__ import annotations

from typing import Dict, Generic, Tuple, TypeVar

from natjax.errors import InputError, closest

T = TypeVar("T")


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

  def get(self, name: str) -> T:
    """The item registered as `name`; InputError naming the closest name otherwise."""
    try:
      return self._items[name]
    except KeyError:
      raise InputError(f"unknown {self.kind} '{name}'{closest(name, self._items)};"
                       f" {self.kind}s: {', '.join(self._items)}") from None

  def __contains__(self, name: object) -> bool:
    return name in self._items

  def names(self) -> Tuple[str, ...]:
    return tuple(self._items)
