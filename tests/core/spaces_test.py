"""Tests for natjax.core.spaces: the registered spaces and their validation."""

import pytest

from natjax.core import spaces
from natjax.errors import InputError

SPACES = spaces.registered_spaces()


def test_builtin_spaces_match_the_spec():
  darts, enas, darts_pp = (spaces.get_space(n) for n in ("darts", "enas", "darts_pp"))
  assert (darts.num_nodes, darts.num_ops, darts.output) == (4, 9, "fully_concat")
  assert (enas.num_nodes, enas.num_ops, enas.output) == (5, 9, "loose_end")
  assert darts.ops[7] == "conv_3x3" and enas.ops[5] == "conv_1x1"
  assert darts_pp.num_ops == 13 and darts_pp.ops[4] == "skip_connect"
  assert spaces.get_space("enas_pp").ops == darts_pp.ops


def test_unknown_space_suggests_closest():
  with pytest.raises(InputError, match=r"unknown search space 'dart' \(did you mean 'darts'\?\)"):
    spaces.get_space("dart")


def test_register_space_rejects_bad_output_rule():
  with pytest.raises(InputError, match=r"output rule 'loose' is not one of"):
    spaces.register_space(spaces.SearchSpace("bad", spaces.NATPP_OPS, 4, "loose"))
