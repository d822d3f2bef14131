"""Registration for a while: `temporary` registers op families, ops, search spaces and transition
rules, and removes them again on exit (tests, notebooks, a fork trying an idea).

  with extend.temporary(families=[GROUP_CONV], ops=[OpSpec('group_conv_3x3', 'group_conv', 3)],
                        spaces=[SearchSpace('mine', ('group_conv_3x3', 'skip_connect', 'null'), 2,
                                            'fully_concat')]):
    ...  # everything natjax does sees them; afterwards nothing does

(GROUP_CONV: the op family of examples/fork/grouped_conv.py, whose ENTRIES are these arguments.)

Entries are registered in dependency order (families, ops, spaces, rules), each validated as the
permanent `register_*` functions do, and removed in reverse order, also when the body raises. A
name already registered with the same object is left as it was.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, List, Sequence

from natjax.core import families as families_lib
from natjax.core import ops as ops_lib
from natjax.core import rules as rules_lib
from natjax.core import spaces as spaces_lib


@contextlib.contextmanager
def temporary(families: Sequence[families_lib.OpFamily] = (),
              ops: Sequence[ops_lib.OpSpec] = (),
              spaces: Sequence[spaces_lib.SearchSpace] = (),
              rules: Sequence[rules_lib.Rule] = ()) -> Iterator[None]:
  """Registers the given entries for the duration of the `with` block (see the module docstring).

  Args:
    families, ops, spaces, rules: the entries, as `register_op_family`, `register_op`,
      `register_space` and `register_rule` take them.

  Raises:
    InputError: an entry that its `register_*` function refuses (nothing stays registered).
  """
  steps = ((families, families_lib.register_op_family, families_lib.registered_families,
            families_lib.unregister_op_family),
           (ops, ops_lib.register_op, ops_lib.registered_ops, ops_lib.unregister_op),
           (spaces, spaces_lib.register_space, spaces_lib.registered_spaces,
            spaces_lib.unregister_space),
           (rules, rules_lib.register_rule, rules_lib.registered_rules, rules_lib.unregister_rule))
  undo: List[Callable[[], None]] = []
  try:
    for entries, register, registered, unregister in steps:
      for entry in entries:
        new = entry.name not in registered()
        register(entry)  # the same object again is fine; another one under its name is refused
        if new:
          undo.append(lambda unregister=unregister, name=entry.name: unregister(name))
    yield
  finally:
    for step in reversed(undo):
      step()
