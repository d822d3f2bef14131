"""How the suite's tests are handed to pytest-xdist's workers (tests/conftest.py's hooks).

A unit of work goes to one worker whole. A module named as sharing a fixture (its tests share an
expensive module-scoped fixture: a search, a retraining run) is one unit, so the fixture is made
once; every other test is a unit of its own. Units go out in collection order, which `order`
makes longest first: those modules, then the tests marked `slow`, then the rest, so that the
workers end together on short tests instead of one starting a three-minute test when the other
has nothing left.

xdist's own `xdist_group` mark cannot do the first part under pytest 9.2: it suffixes the node
ids through an attribute pytest no longer reads, and the groups are silently ignored.
"""

from __future__ import annotations

from collections.abc import Collection


def module_of(nodeid: str) -> str:
  """'tests/a_test.py' for 'tests/a_test.py::test_b[c]'."""
  return nodeid.split("::")[0]


def order(items: list, shared_fixture_modules: Collection[str]) -> None:
  """Sorts pytest items in place: the modules' tests, the `slow` tests, the rest; each part in
  collection order."""
  def rank(item):
    if module_of(item.nodeid) in shared_fixture_modules:
      return 0
    return 1 if item.get_closest_marker("slow") else 2
  items.sort(key=rank)


def make_scheduler(config, log, shared_fixture_modules: Collection[str]):
  """For `pytest_xdist_make_scheduler`: with -n and the default `--dist load`, xdist's load-scope
  scheduling whose scopes are the modules and single tests above; None (xdist's choice) for any
  other --dist."""
  if config.getvalue("dist") != "load":
    return None
  from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel

  class Scheduler(LoadScopeScheduling):

    def _split_scope(self, nodeid):
      module = module_of(nodeid)
      return module if module in shared_fixture_modules else nodeid

  return Scheduler(config, log)
