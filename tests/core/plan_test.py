"""Tests for natjax.core.plan: the macro plan (reductions, channels, resolutions) against the
published figures and hand arithmetic, and the slot formulas."""

import jax.numpy as jnp
import numpy as np
import pytest

from natjax.core import plan


def test_darts_cifar_plan_by_hand():
  """DARTS' CIFAR network: C=36, 20 cells, stem 3C, reductions at 6 and 13, N=4 outputs."""
  layouts = plan.cell_layouts(20, 36, 108, lambda reduction: 4, size=32)
  assert plan.reduction_cells(20) == (6, 13)
  assert [l.c for l in layouts] == [36] * 6 + [72] * 7 + [144] * 7
  assert [i for i, l in enumerate(layouts) if l.reduction] == [6, 13]
  assert [i for i, l in enumerate(layouts) if l.reduction_prev] == [7, 14]
  assert (layouts[0].c_pp, layouts[0].c_p, layouts[1].c_pp, layouts[1].c_p) == (108, 108, 108, 144)
  assert layouts[7].c_pp == 4 * 36 and layouts[7].c_p == 4 * 72
  assert layouts[-1].c_out == 4 * 144
  assert [layouts[i].size for i in (0, 6, 7, 13, 14, 19)] == [32, 32, 16, 16, 8, 8]


def test_outputs_per_cell_kind_and_a_reduced_stem():
  layouts = plan.cell_layouts(5, 8, 8, lambda reduction: 1 if reduction else 3,
                              reduction_prev=True, size=7)
  assert layouts[0].reduction_prev and not layouts[1].reduction_prev
  assert [l.c_out for l in layouts] == [24, 16, 48, 32, 96]
  assert [l.size for l in layouts] == [7, 7, 4, 4, 2]


def test_traced_output_counts():
  counts = jnp.asarray([[1, 2], [3, 4]], jnp.int32)
  layouts = plan.cell_layouts(3, 4, 12, lambda reduction: counts[:, int(reduction)])
  np.testing.assert_array_equal(layouts[0].c_out, [4, 12])
  np.testing.assert_array_equal(layouts[1].c_out, [16, 32])  # cell 1 reduces: C = 8
  np.testing.assert_array_equal(layouts[2].c_p, [16, 32])


def test_edge_slots_are_dense_and_in_order():
  slots = [plan.edge_slot(f, t) for t in range(2, 7) for f in range(t)]
  assert slots == list(range(20))  # node 2 -> 0-1, node 3 -> 2-4, ...
  assert plan.edge_slot(0, 5) == 9 and plan.edge_slot(4, 5) == 13 and plan.edge_slot(0, 6) == 14
  assert plan.num_slots(4) == 14 and plan.num_slots(5) == 20


@pytest.mark.parametrize("num_nodes", [4, 5])
def test_reduction_tables_split_the_slots(num_nodes):
  inputs = [plan.input_slot(f, t) for t in range(2, num_nodes + 2) for f in range(2)]
  inner = [plan.inner_slot(f, t) for t in range(2, num_nodes + 2) for f in range(2, t)]
  assert inputs == list(range(2 * num_nodes))
  assert inner == list(range(num_nodes * (num_nodes - 1) // 2))
