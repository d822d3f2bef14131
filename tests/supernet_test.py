"""Tests for natjax.supernet and natjax.networks (parameter layout and counts).

Counts use `jax.eval_shape`: nothing is allocated.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from natjax import arch, networks, spaces
from natjax import supernet as sn


def _param_shapes(config):
  return jax.eval_shape(lambda k: sn.init_supernet(k, config, (1, 32, 32, 3)), jax.random.key(0))


@pytest.mark.parametrize("space, expected", [("darts", 6.00e6), ("darts_pp", 15.02e6),
                                             ("enas", 20.16e6), ("enas_pp", 21.42e6)])
def test_search_supernet_parameter_counts_match_spec(space, expected):
  count = sn.count_params(_param_shapes(sn.SupernetConfig(space=space)))
  assert abs(count - expected) / expected < 0.005, count


def test_channel_plan_doubles_at_reductions():
  layouts = sn.cell_layouts(sn.SupernetConfig())
  assert [l.c for l in layouts] == [20, 20, 40, 40, 40, 80, 80, 80]
  assert [i for i, l in enumerate(layouts) if l.reduction] == [2, 5]
  assert [i for i, l in enumerate(layouts) if l.reduction_prev] == [3, 6]
  assert layouts[3].c_p == 4 * 40


@pytest.mark.parametrize("space_name", ["darts", "enas"])
def test_one_parameter_set_per_slot_and_op(space_name):
  space = spaces.get_space(space_name)
  shapes = _param_shapes(sn.SupernetConfig(space=space_name, num_cells=3, channels=4))
  nodes = shapes["cells"][0]["nodes"]
  assert len(nodes) == space.num_nodes
  slots = sum(2 + (n["inner"]["sep_conv_3x3"]["pw1"].shape[0] if "inner" in n else 0)
              for n in nodes)
  assert slots == arch.num_slots(space.num_nodes)
  for node in nodes:
    assert set(node["inputs"]) == set(space.ops)
  # Reduction cell (index 1): skip from the inputs is a FactorizedReduce, from inner nodes none.
  reduce_node = shapes["cells"][1]["nodes"][1]
  assert reduce_node["inputs"]["skip_connect"]["w1"].shape == (2, 8, 4)
  assert reduce_node["inner"]["skip_connect"] == {}


# ----------------------------------------------------------------------------------------------
# One compiled train step for every architecture (tiny config; compiled once for the module).

_TINY = sn.SupernetConfig(space="darts", channels=4, num_cells=3, num_classes=10)
_TRACES = []


def _train_step(params, x, y, arch_arrays):
  """Loss, gradients and one SGD update; counts its own traces."""
  _TRACES.append(1)
  loss, grads = jax.value_and_grad(sn.cross_entropy_loss)(params, x, y, arch_arrays, _TINY)
  new_params = jax.tree.map(lambda p, g: p - 0.01 * g, params, grads)
  return loss, grads, new_params


# Not at xla_backend_optimization_level 0: the supernet step compiled that way returned a wrong
# loss in a trial run (the static network at level 0 is right).
_STEP = jax.jit(_train_step)
_JIT_O0 = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


@pytest.fixture(scope="module")
def tiny():
  params = sn.init_supernet(jax.random.key(0), _TINY, (4, 8, 8, 3))
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
  y = jnp.arange(4, dtype=jnp.int32)
  space = spaces.get_space(_TINY.space)
  archs = jax.jit(lambda k: spaces.sample_archs(k, space, 200))(jax.random.key(2))
  return params, x, y, archs


def _nth(archs, i):
  return jax.tree.map(lambda a: a[i], archs)


def test_supernet_equals_static_network_logits_and_grads(tiny):
  params, x, y, archs = tiny
  for i in range(1):  # The static network compiles once per architecture.
    a = _nth(archs, i)
    a_np = jax.tree.map(np.asarray, a)
    loss, grads, _ = _STEP(params, x, y, a)
    ref_loss, ref_grads = _JIT_O0(jax.value_and_grad(
        lambda p: networks.static_loss(p, x, y, a_np, _TINY)))(params)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads)):
      scale = max(float(np.max(np.abs(r))), 1e-12) if r.size else 1.0
      np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5 * scale)


def test_one_trace_for_200_architectures(tiny):
  params, x, y, archs = tiny
  before = len(_TRACES)
  for i in range(200):
    loss, _, params = _STEP(params, x, y, _nth(archs, i))
    if i % 10 == 0:
      assert np.isfinite(float(loss))
  assert len(_TRACES) - before <= 1
  assert len(_TRACES) == 1
