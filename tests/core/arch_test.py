"""Tests for natjax.core.arch: array form, conversions, validation messages."""

import chex
import numpy as np
import pytest

from natjax.core import arch, genotypes, spaces
from natjax.errors import InputError

BUILTINS = genotypes.builtin_names()


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_round_trips(name):
  genotype = genotypes.builtin(name)
  space = arch.infer_space(genotype)
  a = arch.genotype_to_arch(genotype, space)
  chex.assert_shape([a.normal.op, a.normal.src, a.reduce.op], (space.num_edges,))
  chex.assert_shape(a.normal.concat, (space.num_nodes,))
  assert arch.arch_to_genotype(a, space) == genotype
  # The larger NAT++ vocabulary holds every op too.
  pp = spaces.get_space("darts_pp" if space.num_nodes == 4 else "enas_pp")
  assert arch.arch_to_genotype(arch.genotype_to_arch(genotype, pp), pp) == genotype


def test_builtin_library_covers_the_papers():
  for name in ("DARTS", "ENAS", "ResBlock", "VGG", "MobileNetV2", "NAT_DARTS", "NATv2_DARTS",
               "NAT_ENAS", "NATv2_ENAS", "R1", "R5", "NAT_R3"):
    assert name in BUILTINS
  assert genotypes.builtin("darts") == genotypes.DARTS


def test_darts_arrays_by_hand():
  space = spaces.get_space("darts")
  a = arch.genotype_to_arch(genotypes.DARTS, space)
  # sep_conv_3x3 is index 3, skip_connect 2, dil_conv_3x3 5, max_pool_3x3 0 in the NAT list.
  np.testing.assert_array_equal(a.normal.op, [3, 3, 3, 3, 3, 2, 2, 5])
  np.testing.assert_array_equal(a.normal.src, [0, 1, 0, 1, 1, 0, 0, 2])
  np.testing.assert_array_equal(a.reduce.op, [0, 0, 2, 0, 0, 2, 2, 0])
  np.testing.assert_array_equal(a.reduce.src, [0, 1, 2, 1, 0, 2, 2, 1])
  assert a.normal.concat.all()


def test_destinations():
  np.testing.assert_array_equal(arch.destinations(4), [2, 2, 3, 3, 4, 4, 5, 5])


def test_loose_end_output_sets():
  enas = spaces.get_space("enas")
  a = arch.genotype_to_arch(genotypes.ENAS, enas)
  out = enas.output_mask(a.reduce.src)
  assert [n + 2 for n in np.flatnonzero(out)] == [2, 3, 6]
  assert [n + 2 for n in np.flatnonzero(enas.output_mask(a.normal.src))] == [2, 3, 4, 5, 6]
  # Nulling an edge never changes the set: it only reads src.
  assert spaces.get_space("darts").output_mask(a.reduce.src[:8]).all()


def test_stack_archs_adds_leading_axis():
  space = spaces.get_space("darts")
  batch = arch.stack_archs([arch.genotype_to_arch(genotypes.builtin(n), space) for n in ("DARTS", "R1")])
  chex.assert_shape(batch.normal.op, (2, 8))
  chex.assert_shape(batch.reduce.concat, (2, 4))


# ---------------------------------------------------------------- one test per bad input


def _bad(normal=None, normal_concat=(2, 3, 4, 5), reduce=None, reduce_concat=(2, 3, 4, 5)):
  return arch.make_genotype(list(normal or genotypes.DARTS.normal), list(normal_concat),
                            list(reduce or genotypes.DARTS.reduce), list(reduce_concat))


def _edit(cell, e, edge):
  edges = list(cell)
  edges[e] = edge
  return edges


def test_error_unknown_op_suggests_closest():
  with pytest.raises(InputError, match=r"cell normal, edge 3: unknown op 'sep_conv_3x4' "
                     r"\(did you mean 'sep_conv_3x3'\?\)"):
    _bad(normal=_edit(genotypes.DARTS.normal, 3, ("sep_conv_3x4", 1, 3)))


def test_error_op_outside_vocabulary():
  with pytest.raises(InputError, match=r"cell normal, edge 1: op 'conv_1x1' is not in the "
                     r"vocabulary of space 'darts'"):
    arch.genotype_to_arch(genotypes.MobileNetV2, spaces.get_space("darts"))


def test_error_source_not_below_destination():
  with pytest.raises(InputError, match=r"cell reduce, edge 2 .*source node 3 must be below "
                     r"destination node 3"):
    _bad(reduce=_edit(genotypes.DARTS.reduce, 2, ("skip_connect", 3, 3)))


def test_error_negative_index():
  with pytest.raises(InputError, match=r"cell normal, edge 0 .*source node is negative"):
    _bad(normal=_edit(genotypes.DARTS.normal, 0, ("sep_conv_3x3", -1, 2)))


def test_error_non_integer_index():
  with pytest.raises(InputError, match=r"cell normal, edge 4 .*source node must be an integer"):
    _bad(normal=_edit(genotypes.DARTS.normal, 4, ("sep_conv_3x3", 1.5, 4)))


def test_error_string_index_is_quoted_as_a_string():
  with pytest.raises(InputError, match=r"cell normal, edge 4 .*source node must be an integer, got"
                     r" '0'$"):
    _bad(normal=_edit(genotypes.DARTS.normal, 4, ("sep_conv_3x3", "0", 4)))


def test_error_odd_number_of_edges():
  with pytest.raises(InputError, match=r"cell normal: has 7 edges"):
    _bad(normal=[edge[:2] for edge in genotypes.DARTS.normal[:7]])  # (op, from): no destinations


def test_error_wrong_destination_order():
  e = genotypes.DARTS.normal
  with pytest.raises(InputError, match=r"cell normal, edge 2 .*expected destination node 3"):
    _bad(normal=[e[0], e[1], e[4], e[5], e[2], e[3], e[6], e[7]])


def test_error_cells_with_different_node_counts():
  with pytest.raises(InputError, match=r"normal cell has 3 intermediate nodes but reduce cell has 4"):
    _bad(normal=genotypes.DARTS.normal[:6], normal_concat=(2, 3, 4))


def test_error_wrong_node_count_for_space():
  with pytest.raises(InputError, match=r"cell normal: has 4 intermediate nodes but space 'enas' has 5"):
    arch.genotype_to_arch(genotypes.DARTS, spaces.get_space("enas"))


def test_error_concat_names_missing_node():
  with pytest.raises(InputError, match=r"cell reduce: concat names node 6, which does not exist"):
    _bad(reduce_concat=(2, 3, 6))


def test_error_output_independent_of_inputs():
  dead = [("null", 0, 2), ("null", 1, 2), ("skip_connect", 2, 3), ("null", 1, 3),
          ("null", 0, 4), ("skip_connect", 3, 4), ("null", 0, 5), ("skip_connect", 4, 5)]
  with pytest.raises(InputError, match=r"cell normal: output does not depend on the cell inputs"):
    _bad(normal=dead)


# ---------------------------------------------------------------- genotypes as other code writes them


def _two_tuples(edges):
  return [(op, src) for op, src, _ in edges]


@pytest.mark.parametrize("name", BUILTINS)
def test_darts_two_tuples_equal_three_tuples(name):
  """DARTS's (op, from), destination by position, is the same genotype; so is AutoDL's per-node
  pairs, and 'none' is 'null'."""
  g = genotypes.builtin(name)
  two = arch.make_genotype(_two_tuples(g.normal), range(g.normal_concat[0], g.normal_concat[-1] + 1)
                           if len(g.normal_concat) == g.normal_concat[-1] - g.normal_concat[0] + 1
                           else list(g.normal_concat), _two_tuples(g.reduce), list(g.reduce_concat))
  assert two == g
  pairs = [tuple(_two_tuples(g.normal)[i:i + 2]) for i in range(0, len(g.normal), 2)]
  assert arch.make_genotype(pairs, g.normal_concat, g.reduce, g.reduce_concat) == g
  renamed = [("none" if op == "null" else op, src) for op, src, _ in g.reduce]
  assert arch.make_genotype(g.normal, g.normal_concat, renamed, g.reduce_concat) == g


def test_mixed_edge_forms_in_one_cell():
  edges = list(genotypes.DARTS.normal)
  edges[3] = edges[3][:2]
  assert _bad(normal=edges) == genotypes.DARTS


def test_error_swapped_order_says_so():
  swapped = [(op, dst, src) for op, src, dst in genotypes.DARTS.normal]
  with pytest.raises(InputError, match=r"cell normal, edge 0 \('sep_conv_3x3', 2, 0\): the nodes"
                     r" look swapped: natjax reads \(op, from, to\) and this reads as \(op, to,"
                     r" from\), FairDARTS's order; write \('sep_conv_3x3', 0, 2\)"):
    _bad(normal=swapped)


def test_error_out_of_range_node_is_not_said_to_be_swapped():
  with pytest.raises(InputError, match=r"^cell normal, edge 7 \('dil_conv_3x3', 7, 5\): node 7 is"
                     r" out of range; a cell of 8 edges has nodes 0..5$"):
    _bad(normal=_edit(genotypes.DARTS.normal, 7, ("dil_conv_3x3", 7, 5)))


@pytest.mark.parametrize("drop,add,needle", [
    (3, None, r"node 3 has 1 input\(s\) \[\('sep_conv_3x3', 0\)\]; every intermediate node takes"
              r" exactly 2 \(pad with \('null', 0, 3\)\)"),
    (None, ("skip_connect", 1, 5), r"node 5 has 3 inputs .*; every intermediate node takes exactly"
                                   r" 2 \(a cell whose nodes sum more inputs is not representable\)"),
])
def test_error_wrong_in_degree_names_the_node(drop, add, needle):
  edges = list(genotypes.DARTS.normal)
  if drop is not None:
    del edges[drop]
  if add is not None:
    edges.append(add)
  with pytest.raises(InputError, match=r"cell normal: " + needle):
    _bad(normal=edges)


@pytest.mark.parametrize("op,what", [("conv_1x3_3x1", "NAONet"), ("conv_3x1_1x3", "SETN"),
                                     ("max_pool_2x2", "NAONet"), ("noise", "R-DARTS")])
def test_error_known_foreign_op_is_named_not_misread(op, what):
  with pytest.raises(InputError) as err:
    _bad(normal=_edit(genotypes.DARTS.normal, 3, (op, 1, 3)))
  message = str(err.value)
  assert f"op '{op}'" in message and what in message and "outside natjax's vocabulary" in message
  assert "did you mean" not in message


def test_foreign_ops_of_the_nasnet_family_are_registered():
  """sep_conv_7x7 and conv_7x1_1x7 (NASNet, AmoebaNet) are natjax ops; conv_1x7_7x1 is NAT++'s
  name for the latter."""
  g = _bad(normal=_edit(genotypes.DARTS.normal, 3, ("conv_1x7_7x1", 1, 3)),
           reduce=_edit(genotypes.DARTS.reduce, 0, ("sep_conv_7x7", 0, 2)))
  assert g.normal[3] == ("conv_7x1_1x7", 1, 3) and g.reduce[0] == ("sep_conv_7x7", 0, 2)


def test_error_messages_quote_at_most_80_characters():
  long_edge = ("sep_conv_3x3", 0, 2, "x" * 400)
  with pytest.raises(InputError) as err:
    _bad(normal=_edit(genotypes.DARTS.normal, 0, long_edge))
  assert len(str(err.value)) < 200 and str(err.value).endswith("... (426 characters)")
