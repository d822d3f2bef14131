"""Tests for natjax.core.rules: rules as data, validation, reference costs and masks."""

import dataclasses
import itertools
import json

import numpy as np
import pytest

from natjax.core import ops, rules, spaces
from natjax.errors import InputError

S, N = "skip_connect", "null"

# Spec section 4.2, written out literally (row order = softmax order).
NATPP_TABLE = {
    "conv_5x5": ["conv_5x5", "conv_3x3", "conv_1x1", "sep_conv_5x5", "sep_conv_3x3",
                 "dil_conv_5x5", "dil_conv_3x3", "max_pool_5x5", "max_pool_3x3",
                 "avg_pool_5x5", "avg_pool_3x3", "skip_connect", "null"],
    "conv_3x3": ["conv_3x3", "conv_1x1", "sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3",
                 "avg_pool_3x3", "skip_connect", "null"],
    "conv_1x1": ["conv_1x1", "skip_connect", "null"],
    "sep_conv_5x5": ["sep_conv_5x5", "sep_conv_3x3", "dil_conv_5x5", "dil_conv_3x3",
                     "max_pool_5x5", "max_pool_3x3", "avg_pool_5x5", "avg_pool_3x3",
                     "skip_connect", "null"],
    "sep_conv_3x3": ["sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3",
                     "skip_connect", "null"],
    "dil_conv_5x5": ["dil_conv_5x5", "dil_conv_3x3", "max_pool_5x5", "max_pool_3x3",
                     "avg_pool_5x5", "avg_pool_3x3", "skip_connect", "null"],
    "dil_conv_3x3": ["dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "null"],
    "avg_pool_5x5": ["avg_pool_5x5", "avg_pool_3x3", "max_pool_5x5", "max_pool_3x3",
                     "skip_connect", "null"],
    "avg_pool_3x3": ["avg_pool_3x3", "max_pool_3x3", "skip_connect", "null"],
    "max_pool_5x5": ["max_pool_5x5", "max_pool_3x3", "avg_pool_5x5", "avg_pool_3x3",
                     "skip_connect", "null"],
    "max_pool_3x3": ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "null"],
    "skip_connect": ["skip_connect", "null"],
    "null": ["skip_connect", "null"],
}
NATPP_COUNTS = [13, 8, 3, 10, 6, 8, 5, 6, 4, 6, 4, 2, 2]

# Spec section 4.3: op -> (params K, MAdds M).
COST_TABLE = {
    "conv_5x5": (409.6, 419.4), "conv_3x3": (147.5, 151.0), "sep_conv_5x5": (39.2, 40.1),
    "sep_conv_3x3": (35.1, 35.9), "dil_conv_5x5": (19.6, 20.1), "dil_conv_3x3": (17.5, 18.0),
    "conv_1x1": (16.4, 16.8), "max_pool_5x5": (0.0, 3.3), "avg_pool_5x5": (0.0, 3.3),
    "max_pool_3x3": (0.0, 1.2), "avg_pool_3x3": (0.0, 1.2), "skip_connect": (0.0, 0.1),
    "null": (0.0, 0.0),
}


def _write(tmp_path, text, name="rule.json"):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def _covered_pairs():
  for rule_name, space_name in itertools.product(rules.registered_rules(),
                                                 spaces.registered_spaces()):
    rule, space = rules.get_rule(rule_name), spaces.get_space(space_name)
    if set(space.ops) <= set(rule.allowed):
      yield rule_name, space_name


# ----------------------------------------------------------------------------- built-in rules


def test_natpp_matches_spec_table_row_by_row():
  rule = rules.get_rule("natpp")
  assert rule.kind == "mask"
  assert list(rule.allowed) == list(NATPP_TABLE)
  for src, dsts in NATPP_TABLE.items():
    assert list(rule.allowed[src]) == dsts, src
  assert [len(v) for v in rule.allowed.values()] == NATPP_COUNTS
  assert rule.declared_increases == frozenset({(N, S)})


def test_natpp_mask_over_darts_pp_indices():
  space = spaces.get_space("darts_pp")
  mask = rules.compile_mask(rules.get_rule("natpp"), space)
  assert mask.shape == (13, 13) and mask.dtype == bool
  for src, dsts in NATPP_TABLE.items():
    expected = np.zeros(13, bool)
    expected[[space.ops.index(d) for d in dsts]] = True
    np.testing.assert_array_equal(mask[space.ops.index(src)], expected, err_msg=src)
  order = rules.allowed_indices(rules.get_rule("natpp"), space)
  for src, dsts in NATPP_TABLE.items():
    assert [space.ops[j] for j in order[space.ops.index(src)]] == dsts


def test_nat_semantics():
  rule = rules.get_rule("nat")
  assert rule.kind == "actions"
  assert set(rule.allowed) == set(ops.registered_ops())
  for op in ops.registered_ops():
    if op not in (S, N):
      assert rule.allowed[op] == (N, op, S)
  assert set(rule.allowed[N]) == {N, S}
  assert set(rule.allowed[S]) == {S, N}
  assert rule.declared_increases == frozenset({(N, S)})


def test_nat_mask_over_darts():
  space = spaces.get_space("darts")
  mask = rules.compile_mask(rules.get_rule("nat"), space)
  assert mask.shape == (9, 9)
  assert mask.diagonal().all()
  assert mask[:, space.null_index].all() and mask[:, space.skip_index].all()
  assert mask.sum(axis=1).tolist() == [3, 3, 2, 3, 3, 3, 3, 3, 2]


@pytest.mark.parametrize("rule_name,space_name", list(_covered_pairs()))
def test_every_registered_rule_validates_and_compiles(rule_name, space_name):
  rule = rules.get_rule(rule_name)
  assert rules.validate_rule(rule) is rule
  space = spaces.get_space(space_name)
  mask = rules.compile_mask(rule, space)
  assert mask.shape == (space.num_ops, space.num_ops)
  assert mask.any(axis=1).all()
  assert mask[space.null_index, space.null_index] or mask[space.null_index, space.skip_index]


def test_every_space_is_covered_by_some_rule():
  assert {s for _, s in _covered_pairs()} == set(spaces.registered_spaces())


# ----------------------------------------------------------------------------- costs


@pytest.mark.parametrize("op_name", sorted(COST_TABLE))
def test_reference_cost_reproduces_figure(op_name):
  params, madds = rules.reference_op_cost(op_name)
  assert (round(params / 1e3, 1), round(madds / 1e6, 1)) == COST_TABLE[op_name]


def test_transition_raises_cost():
  assert rules.transition_raises_cost(N, S)
  assert rules.transition_raises_cost(S, "conv_3x3")
  assert rules.transition_raises_cost("sep_conv_3x3", "conv_1x1") is False
  assert rules.transition_raises_cost("max_pool_3x3", "max_pool_5x5")
  assert not rules.transition_raises_cost("conv_5x5", "avg_pool_3x3")
  assert not rules.transition_raises_cost(S, N)


# ----------------------------------------------------------------------------- errors


def test_unknown_op_suggests_closest():
  rule = rules.Rule("typo", {"conv_3x3": ("conv_3x3", "sep_conv_3x5")})
  with pytest.raises(InputError, match=r"rule 'typo'.*unknown op 'sep_conv_3x5'.*did you mean"):
    rules.register_rule(rule)


def test_empty_row():
  rule = rules.Rule("hollow", {"conv_3x3": ()})
  with pytest.raises(InputError, match=r"rule 'hollow'.*row 'conv_3x3' allows no op"):
    rules.validate_rule(rule)


def test_undeclared_cost_increase_names_transition():
  rule = rules.Rule("grow", {S: (S, "conv_3x3")})
  with pytest.raises(InputError, match=r"rule 'grow'.*skip_connect -> conv_3x3 raises cost"):
    rules.register_rule(rule)
  ok = dataclasses.replace(rule, declared_increases=frozenset({(S, "conv_3x3")}))
  assert rules.validate_rule(ok) is ok


def test_missing_row_for_vocabulary_op():
  natpp = rules.get_rule("natpp")
  rows = {k: v for k, v in natpp.allowed.items() if k != "conv_5x5"}
  rule = dataclasses.replace(natpp, name="x", allowed=rows)
  with pytest.raises(InputError,
                     match=r"^rule 'x' has no row for op 'conv_5x5' of space 'enas_pp'$"):
    rules.compile_mask(rule, spaces.get_space("enas_pp"))
  # The same rule still covers the darts space, which has no conv_5x5.
  assert rules.compile_mask(rule, spaces.get_space("darts")).shape == (9, 9)


def test_row_empty_after_dropping_outputs_outside_space():
  rows = dict(rules.get_rule("natpp").allowed)
  rows["conv_3x3"] = ("conv_1x1",)
  rule = rules.Rule("narrow", rows, frozenset({(N, S)}))
  with pytest.raises(InputError, match=r"row 'conv_3x3' allows no op of space 'darts'"):
    rules.compile_mask(rule, spaces.get_space("darts"))


def test_empty_file(tmp_path):
  path = _write(tmp_path, "  \n")
  with pytest.raises(InputError, match=r"rule.json: file is empty"):
    rules.load_rule_json(path)


def test_malformed_json(tmp_path):
  path = _write(tmp_path, '{"conv_3x3": ["conv_3x3",')
  with pytest.raises(InputError, match=r"rule.json: malformed JSON at line 1"):
    rules.get_rule(path)


@pytest.mark.parametrize("text,pattern", [
    ('["conv_3x3"]', "expected a JSON object, got list"),
    ('{"conv_3x3": "null"}', "row 'conv_3x3' must be a list of op names"),
    ('{"conv_3x3": [1, 2]}', "row 'conv_3x3' must be a list of op names"),
    ('{"allowed": [], "name": "w"}', r"rule 'w'.*'allowed' must be an object"),
    ('{"allowed": {"null": ["null"]}, "declared_increases": ["null"]}',
     "'declared_increases' must be a list"),
    ('{"allowed": {"null": ["null"]}, "name": 3}', "'name' must be a non-empty string"),
])
def test_json_of_wrong_shape(tmp_path, text, pattern):
  path = _write(tmp_path, text)
  with pytest.raises(InputError, match=pattern) as info:
    rules.load_rule_json(path)
  assert "rule.json" in str(info.value) and "\n" not in str(info.value)


def test_file_errors_name_the_file(tmp_path):
  path = _write(tmp_path, json.dumps({"skip_connect": ["skip_connect", "conv_3x3"]}), "mine.json")
  with pytest.raises(InputError, match=r"rule 'mine' \(file .*mine.json\).*skip_connect -> conv_3x3"):
    rules.get_rule(path)


def test_unknown_rule_name():
  with pytest.raises(InputError, match=r"unknown transition rule 'natp'.*did you mean 'nat"):
    rules.get_rule("natp")


# ----------------------------------------------------------------------------- files, format


@pytest.mark.parametrize("rule_name", rules.registered_rules())
def test_json_round_trip(tmp_path, rule_name):
  rule = rules.get_rule(rule_name)
  path = _write(tmp_path, rules.format_rule(rule, as_json=True))
  loaded = rules.get_rule(path)
  assert loaded == rule
  for space_name in spaces.registered_spaces():
    space = spaces.get_space(space_name)
    np.testing.assert_array_equal(rules.compile_mask(loaded, space),
                                  rules.compile_mask(rule, space))


def test_json_round_trip_restricted_to_space(tmp_path):
  rule, space = rules.get_rule("natpp"), spaces.get_space("darts")
  path = _write(tmp_path, rules.format_rule(rule, space, as_json=True))
  loaded = rules.load_rule_json(path)
  assert list(loaded.allowed) == list(space.ops)
  np.testing.assert_array_equal(rules.compile_mask(loaded, space),
                                rules.compile_mask(rule, space))


def test_plain_object_file(tmp_path):
  path = _write(tmp_path, json.dumps(NATPP_TABLE), "plain.json")
  rule = rules.load_rule_json(path)
  assert rule.name == "plain" and rule.declared_increases == frozenset({(N, S)})
  space = spaces.get_space("enas_pp")
  np.testing.assert_array_equal(rules.compile_mask(rule, space),
                                rules.compile_mask(rules.get_rule("natpp"), space))


def test_format_table():
  text = rules.format_rule(rules.get_rule("natpp"))
  lines = text.splitlines()
  assert len(lines) == 13
  assert lines[1] == ("conv_3x3 -> conv_3x3, conv_1x1, sep_conv_3x3, dil_conv_3x3, "
                      "max_pool_3x3, avg_pool_3x3, skip_connect, null")
  darts = rules.format_rule(rules.get_rule("nat"), spaces.get_space("darts"))
  assert darts.splitlines()[0] == "max_pool_3x3 -> null, max_pool_3x3, skip_connect"
  assert len(darts.splitlines()) == 9


def test_register_conflict_and_idempotence():
  nat = rules.get_rule("nat")
  assert rules.register_rule(nat) is nat
  with pytest.raises(InputError, match="already registered"):
    rules.register_rule(dataclasses.replace(nat, kind="mask"))


def test_wrapped_rule_without_declared_increases_names_the_key(tmp_path):
  path = tmp_path / "wrapped.json"
  path.write_text(json.dumps({"name": "wrapped", "allowed": {"null": ["null", "skip_connect"],
                                                             "skip_connect": ["skip_connect"]}}))
  with pytest.raises(InputError, match=r"transition null -> skip_connect raises cost .* not"
                     r" declared in 'declared_increases'; the file has no 'declared_increases'"
                     r" key: add \"declared_increases\": \[\[\"null\", \"skip_connect\"\]\]"):
    rules.load_rule_json(str(path))


def test_rule_with_darts_none_names_null(tmp_path):
  path = tmp_path / "none.json"
  path.write_text(json.dumps({"skip_connect": ["skip_connect", "none"], "null": ["null"]}))
  with pytest.raises(InputError, match=r"rule 'none' \(file .*none.json\), row 'skip_connect': op"
                     r" 'none' is natjax's 'null': write 'null'"):
    rules.load_rule_json(str(path))
