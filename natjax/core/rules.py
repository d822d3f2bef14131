"""Transition rules: which output op an edge holding a given input op may become.

A rule is data: a name, a mapping input op name -> ordered tuple of allowed output op names (the
order is the order of the masked softmax entries, spec section 4.4) and the set of transitions the
rule declares to raise cost. Rules are registered by name; a research fork can also load one from
a JSON file, either the full form

  {"name": "r", "kind": "mask", "allowed": {"conv_3x3": ["conv_3x3", "null"], ...},
   "declared_increases": [["null", "skip_connect"]]}

or simply an object op -> list of ops. Every rule is validated where it enters (registration or
load): op names are known, no row is empty and every cost-increasing transition is declared,
where cost is the reference per-op cost of spec section 4.3. Coverage of a search space's
vocabulary is checked when the rule is compiled to a boolean mask over that space.

Built-in rules (spec sections 4.1, 4.2):
  nat    released NAT: every op o allows (null, o, skip_connect), the 3-way action head order;
         defined for every op, including those registered after it (`EveryOp`).
  natpp  the NAT++ two-level dictionary, row order as in the released code.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Dict, FrozenSet, Iterator, Mapping, Optional, Tuple, Union

import numpy as np

from natjax import files
from natjax.core import ops, spaces
from natjax.core.spaces import SearchSpace
from natjax.errors import InputError, closest, quote
from natjax.registry import Registry

KINDS = ("actions", "mask")

# Reference shape of the NAT++ cost figure (spec section 4.3).
REF_CHANNELS = 128
REF_HEIGHT = 32
REF_WIDTH = 32

Transition = Tuple[str, str]


class EveryOp(Mapping[str, Tuple[str, ...]]):
  """A late-bound table: the row of every registered op, computed from the op's name when read.

  Its keys are the ops registered when it is read, so a rule built on it (`nat`) covers ops
  registered after it; repeated names in a row are merged, first occurrence kept.
  """

  def __init__(self, row: Callable[[str], Tuple[str, ...]]):
    """`row(op_name)` -> the ordered outputs of that op."""
    self._row = row

  def __getitem__(self, op_name: str) -> Tuple[str, ...]:
    if op_name not in ops.registered_ops():
      raise KeyError(op_name)
    return tuple(dict.fromkeys(self._row(op_name)))

  def __iter__(self) -> Iterator[str]:
    return iter(ops.registered_ops())

  def __len__(self) -> int:
    return len(ops.registered_ops())

  def __eq__(self, other: object) -> bool:
    if isinstance(other, EveryOp):
      return self._row is other._row
    return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

  __hash__ = None

  def __repr__(self) -> str:
    return f"EveryOp({getattr(self._row, '__name__', self._row)})"


@dataclasses.dataclass(frozen=True)
class Rule:
  """A transition rule.

  Attributes:
    name: registry key.
    allowed: input op name -> ordered tuple of allowed output op names; the order is the order of
      the masked softmax entries. An `EveryOp` table binds late: its rows are read when the rule
      is compiled against a space, and checked there.
    declared_increases: (from, to) transitions that are allowed although they raise cost.
    kind: 'actions' for NAT's 3-way {null, keep, skip} head, 'mask' for NAT++'s masked head over
      the full vocabulary.
  """
  name: str
  allowed: Mapping[str, Tuple[str, ...]]
  declared_increases: FrozenSet[Transition] = frozenset()
  kind: str = "mask"

  def __post_init__(self):
    if not isinstance(self.allowed, EveryOp):
      object.__setattr__(self, "allowed",
                         {str(k): tuple(v) for k, v in dict(self.allowed).items()})
    object.__setattr__(self, "declared_increases",
                       frozenset(tuple(t) for t in self.declared_increases))


# ---------------------------------------------------------------------------------------------
# Reference cost.


def reference_op_cost(op_name: str) -> Tuple[int, int]:
  """Reference cost of one op at C_in = C_out = 128, 32x32 input, stride 1 (spec section 4.3).

  Args:
    op_name: a registered op name.

  Returns:
    (params, madds) from the op's family (`OpFamily.reference_cost`): conv weight count (BN
    ignored) and multiply-adds. Built-in families: convs madds = params*H*W; pooling k^2*C*H*W
    madds and no params; skip C*H*W madds; null nothing.
  """
  spec = ops.get_op(op_name)
  return ops.family_of(spec).reference_cost(spec, REF_CHANNELS, REF_HEIGHT * REF_WIDTH)


def transition_raises_cost(src: str, dst: str) -> bool:
  """Whether src -> dst raises reference params or MAdds (not cost-non-increasing)."""
  src_params, src_madds = reference_op_cost(src)
  dst_params, dst_madds = reference_op_cost(dst)
  return dst_params > src_params or dst_madds > src_madds


# ---------------------------------------------------------------------------------------------
# Validation.


def _where(rule_name: str, source: Optional[str]) -> str:
  return f"rule '{rule_name}'" + (f" (file {source})" if source else "")


def _check_op(name: str, where: str, role: str) -> None:
  if name not in ops.registered_ops():
    raise InputError(f"{where}, {role}: {ops.unknown_op_message(name)}")


def validate_rule(rule: Rule, source: Optional[str] = None,
                  declared_key_missing: bool = False) -> Rule:
  """Checks a rule; raises a one-line InputError naming the rule, file, op and transition.

  Args:
    rule: the rule to check.
    source: the file the rule came from, named in messages.
    declared_key_missing: the file's wrapped form has no 'declared_increases' key (the message
      of an undeclared cost-raising transition says so).

  Returns:
    The rule, unchanged.
  """
  where = _where(rule.name, source)
  if not isinstance(rule.name, str) or not rule.name:
    raise InputError(f"{where}: the name must be a non-empty string")
  if rule.kind not in KINDS:
    raise InputError(f"{where}: kind '{rule.kind}' is not one of {', '.join(KINDS)}"
                     f"{closest(rule.kind, KINDS)}")
  if not rule.allowed:
    raise InputError(f"{where}: the rule has no rows")
  for src, dsts in rule.allowed.items():
    _check_op(src, where, "input ops")
    if not dsts:
      raise InputError(f"{where}: row '{src}' allows no op")
    if len(set(dsts)) != len(dsts):
      raise InputError(f"{where}: row '{src}' lists an op twice")
    for dst in dsts:
      _check_op(dst, where, f"row '{src}'")
  for src, dst in sorted(rule.declared_increases):
    _check_op(src, where, "declared_increases")
    _check_op(dst, where, "declared_increases")
  for src, dsts in rule.allowed.items():
    for dst in dsts:
      _check_cost(rule, src, dst, where, declared_key_missing)
  return rule


def _check_cost(rule: Rule, src: str, dst: str, where: str, key_missing: bool = False) -> None:
  """Raises unless src -> dst is cost-non-increasing or declared by the rule."""
  if transition_raises_cost(src, dst) and (src, dst) not in rule.declared_increases:
    hint = (f"; the file has no 'declared_increases' key: add \"declared_increases\":"
            f" [[\"{src}\", \"{dst}\"]] if the increase is meant" if key_missing else "")
    raise InputError(f"{where}: transition {src} -> {dst} raises cost "
                     f"({_cost_str(src)} -> {_cost_str(dst)}) and is not declared in"
                     f" 'declared_increases'{hint}")


def _cost_str(op_name: str) -> str:
  params, madds = reference_op_cost(op_name)
  return f"{params / 1e3:.1f}K params/{madds / 1e6:.1f}M MAdds"


# ---------------------------------------------------------------------------------------------
# Registry.

_REGISTRY: Registry[Rule] = Registry("transition rule")


def register_rule(rule: Rule) -> Rule:
  """Validates and registers a rule; a different rule under the same name is an error."""
  validate_rule(rule)
  return _REGISTRY.add(rule.name, rule)


def registered_rules() -> Tuple[str, ...]:
  """Names of every registered rule, in registration order."""
  return _REGISTRY.names()


def unregister_rule(name: str) -> None:
  """Removes a rule (`natjax.core.extend.temporary` undoes its registrations with it)."""
  _REGISTRY.remove(name)


def is_registered(rule: Rule) -> bool:
  """Whether `rule` equals the rule registered under its name (validated on registration)."""
  return rule.name in _REGISTRY and _REGISTRY.get(rule.name) == rule


def as_rule(rule: Union[str, Rule]) -> Rule:
  """A validated rule: a registered name or a JSON rule path looked up or loaded, or a Rule object
  checked here (a registered one is not checked again)."""
  if isinstance(rule, Rule):
    return rule if is_registered(rule) else validate_rule(rule)
  return get_rule(rule)


def default_space(num_nodes: int, rule: Union[str, Rule]) -> SearchSpace:
  """The built-in space for N intermediate nodes under a rule: 'darts' / 'enas' for an 'actions'
  rule, 'darts_pp' / 'enas_pp' for a 'mask' rule."""
  pp = as_rule(rule).kind == "mask"
  for space in map(spaces.get_space, spaces.registered_spaces()):
    if space.num_nodes == num_nodes and (space.num_ops == len(spaces.NATPP_OPS)) == pp:
      return space
  raise InputError(f"no built-in search space has {num_nodes} intermediate nodes")


def default_rule(space: Union[str, SearchSpace]) -> Rule:
  """The rule a space's architectures are transformed under when none is named: 'natpp' for a
  space whose vocabulary is NAT++'s 13 ops (darts_pp, enas_pp), 'nat' for every other space
  (darts, enas, and a registered space of other ops: nat has a row for every op)."""
  space = spaces.as_space(space)
  return get_rule("natpp" if set(space.ops) == set(spaces.NATPP_OPS) else "nat")


def get_rule(name_or_path: str) -> Rule:
  """A registered rule by name, or a rule loaded (not registered) from a JSON file path."""
  if name_or_path in _REGISTRY:
    return _REGISTRY.get(name_or_path)
  if os.path.isfile(name_or_path) or str(name_or_path).endswith(".json"):
    return load_rule_json(name_or_path)
  return _REGISTRY.get(name_or_path)  # Raises, naming the closest rule.


# ---------------------------------------------------------------------------------------------
# JSON.


def _op_list(value, where: str, what: str) -> Tuple[str, ...]:
  if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
    raise InputError(f"{where}: {what} must be a list of op names, got {quote(json.dumps(value))}")
  return tuple(value)


def rule_from_dict(data, name: str, source: Optional[str] = None) -> Rule:
  """Builds and validates a rule from parsed JSON (full form or a plain op -> ops object).

  Args:
    data: the parsed JSON value.
    name: the name used when `data` carries none.
    source: the file, named in messages.

  Returns:
    The validated Rule.
  """
  where = _where(name, source)
  if not isinstance(data, dict):
    raise InputError(f"{where}: expected a JSON object, got {type(data).__name__}")
  full = "allowed" in data
  if full:
    unknown = sorted(set(data) - {"name", "kind", "allowed", "declared_increases"})
    if unknown:
      raise InputError(f"{where}: unknown key '{unknown[0]}'"
                       f"{closest(unknown[0], ('name', 'kind', 'allowed', 'declared_increases'))}")
    name = data.get("name", name)
    if not isinstance(name, str) or not name:
      raise InputError(f"{where}: 'name' must be a non-empty string")
    where = _where(name, source)
    kind = data.get("kind", "mask")
    if not isinstance(kind, str):
      raise InputError(f"{where}: 'kind' must be a string")
    table = data["allowed"]
    pairs = data.get("declared_increases", [])
  else:
    kind, table, pairs = "mask", data, [["null", "skip_connect"]]
  if not isinstance(table, dict):
    raise InputError(f"{where}: 'allowed' must be an object op -> list of ops")
  allowed = {src: _op_list(dsts, where, f"row '{src}'") for src, dsts in table.items()}
  if not isinstance(pairs, list) or not all(
      isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in pairs):
    raise InputError(f"{where}: 'declared_increases' must be a list of [from, to] op pairs")
  if not full:
    pairs = [p for p in pairs if p[0] in allowed and p[1] in allowed[p[0]]]
  rule = Rule(name, allowed, frozenset(tuple(p) for p in pairs), kind)
  return validate_rule(rule, source, declared_key_missing=full and "declared_increases" not in data)


def load_rule_json(path: str) -> Rule:
  """Loads and validates a rule from a JSON file; every failure is a one-line InputError.

  A plain object op -> ops gets the file's stem as name, kind 'mask' and null -> skip_connect
  declared when its table allows it.
  """
  name = os.path.splitext(os.path.basename(str(path)))[0]
  data = files.read_json(path, "transition rule file")
  return rule_from_dict(data, name, str(path))


# ---------------------------------------------------------------------------------------------
# Compilation against a search space.


def _space_rows(rule: Rule, space: SearchSpace) -> Tuple[Tuple[int, ...], ...]:
  """Per op of the space, the allowed output indices in rule order, restricted to the space.

  Rows of a late-bound table (`EveryOp`) are computed and checked for cost here; a static table
  was checked when the rule was registered or loaded.
  """
  late = isinstance(rule.allowed, EveryOp)
  rows = []
  for src in space.ops:
    if src not in rule.allowed:
      raise InputError(f"rule '{rule.name}' has no row for op '{src}' of space '{space.name}'")
    row = tuple(dst for dst in rule.allowed[src] if dst in space.ops)
    if not row:
      raise InputError(f"rule '{rule.name}': row '{src}' allows no op of space '{space.name}'")
    if late:
      for dst in row:
        _check_cost(rule, src, dst, _where(rule.name, None))
    rows.append(tuple(space.ops.index(dst) for dst in row))
  return tuple(rows)


def allowed_indices(rule: Rule, space: SearchSpace) -> Tuple[Tuple[int, ...], ...]:
  """Allowed output op indices per input op index, in softmax order.

  Args:
    rule: a validated rule.
    space: the search space.

  Returns:
    A length-V tuple; entry i is the ordered tuple of op indices op i may become in this space.
  """
  return _space_rows(rule, space)


def compile_mask(rule: Rule, space: SearchSpace) -> np.ndarray:
  """The rule as a boolean matrix over a space's vocabulary.

  Args:
    rule: a validated rule.
    space: the search space.

  Returns:
    bool[V, V]: entry [i, j] is True iff op i may become op j. Outputs outside the space's
    vocabulary are dropped; an op of the space without a row, or a row left empty, raises.
  """
  mask = np.zeros((space.num_ops, space.num_ops), bool)
  for i, row in enumerate(_space_rows(rule, space)):
    mask[i, list(row)] = True
  return mask


# ---------------------------------------------------------------------------------------------
# Formatting.


def _restricted(rule: Rule, space: Optional[SearchSpace]
                ) -> Tuple[Dict[str, Tuple[str, ...]], FrozenSet[Transition]]:
  if space is None:
    return dict(rule.allowed), rule.declared_increases
  rows = _space_rows(rule, space)
  allowed = {src: tuple(space.ops[j] for j in row) for src, row in zip(space.ops, rows)}
  declared = frozenset(t for t in rule.declared_increases
                       if t[0] in allowed and t[1] in allowed[t[0]])
  return allowed, declared


def format_rule(rule: Rule, space: Optional[SearchSpace] = None, as_json: bool = False) -> str:
  """Renders a rule as a table (one line per input op) or as JSON that load_rule_json reads.

  Args:
    rule: the rule.
    space: optional SearchSpace; rows and outputs are restricted to its vocabulary, in its order.
    as_json: JSON instead of the human table.

  Returns:
    The text, without a trailing newline.
  """
  allowed, declared = _restricted(rule, space)
  if as_json:
    return json.dumps({"name": rule.name, "kind": rule.kind,
                       "allowed": {k: list(v) for k, v in allowed.items()},
                       "declared_increases": [list(t) for t in sorted(declared)]}, indent=2)
  return "\n".join(f"{src} -> {', '.join(dsts)}" for src, dsts in allowed.items())


# ---------------------------------------------------------------------------------------------
# Built-in rules.


def _null_itself_skip(op_name: str) -> Tuple[str, ...]:
  return ("null", op_name, "skip_connect")


def _nat_rule() -> Rule:
  """NAT: (null, keep, skip) for every op, duplicates merged (spec section 4.1); bound late, so
  it covers ops registered after it."""
  return Rule("nat", EveryOp(_null_itself_skip), frozenset({("null", "skip_connect")}), "actions")


def _natpp_rule() -> Rule:
  """NAT++: the released two-level dictionary (spec section 4.2), code order."""
  s, n = "skip_connect", "null"
  table = {
      "conv_5x5": ("conv_5x5", "conv_3x3", "conv_1x1", "sep_conv_5x5", "sep_conv_3x3",
                   "dil_conv_5x5", "dil_conv_3x3", "max_pool_5x5", "max_pool_3x3",
                   "avg_pool_5x5", "avg_pool_3x3", s, n),
      "conv_3x3": ("conv_3x3", "conv_1x1", "sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3",
                   "avg_pool_3x3", s, n),
      "conv_1x1": ("conv_1x1", s, n),
      "sep_conv_5x5": ("sep_conv_5x5", "sep_conv_3x3", "dil_conv_5x5", "dil_conv_3x3",
                       "max_pool_5x5", "max_pool_3x3", "avg_pool_5x5", "avg_pool_3x3", s, n),
      "sep_conv_3x3": ("sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3", s, n),
      "dil_conv_5x5": ("dil_conv_5x5", "dil_conv_3x3", "max_pool_5x5", "max_pool_3x3",
                       "avg_pool_5x5", "avg_pool_3x3", s, n),
      "dil_conv_3x3": ("dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3", s, n),
      "avg_pool_5x5": ("avg_pool_5x5", "avg_pool_3x3", "max_pool_5x5", "max_pool_3x3", s, n),
      "avg_pool_3x3": ("avg_pool_3x3", "max_pool_3x3", s, n),
      "max_pool_5x5": ("max_pool_5x5", "max_pool_3x3", "avg_pool_5x5", "avg_pool_3x3", s, n),
      "max_pool_3x3": ("max_pool_3x3", "avg_pool_3x3", s, n),
      s: (s, n),
      n: (s, n),
  }
  return Rule("natpp", table, frozenset({(n, s)}), "mask")


register_rule(_nat_rule())
register_rule(_natpp_rule())
