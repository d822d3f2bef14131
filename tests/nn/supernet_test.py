"""Tests for natjax.nn.supernet and natjax.nn.networks (parameter layout and counts).

Counts use `jax.eval_shape`: nothing is allocated.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from natjax.core import arch, extend, ops, plan, sampler, spaces
from natjax.nn import networks
from natjax.nn import supernet as sn


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
  slots = sum(2 + (n["inner"]["sep_conv_3x3"]["block1"]["pw"].shape[0] if "inner" in n else 0)
              for n in nodes)
  assert slots == plan.num_slots(space.num_nodes)
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


_STEP = jax.jit(_train_step)


@pytest.fixture(scope="module")
def tiny():
  params = sn.init_supernet(jax.random.key(0), _TINY, (4, 8, 8, 3))
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
  y = jnp.arange(4, dtype=jnp.int32)
  space = spaces.get_space(_TINY.space)
  archs = jax.jit(lambda k: sampler.sample_archs(k, space, 200))(jax.random.key(2))
  return params, x, y, archs


def _nth(archs, i):
  return jax.tree.map(lambda a: a[i], archs)


@pytest.mark.slow
def test_one_trace_for_200_architectures(tiny):
  params, x, y, archs = tiny
  before = len(_TRACES)
  for i in range(200):
    loss, _, params = _STEP(params, x, y, _nth(archs, i))
    if i % 10 == 0:
      assert np.isfinite(float(loss))
  assert len(_TRACES) - before <= 1
  assert len(_TRACES) == 1


# ----------------------------------------------------------------------------------------------
# Supernet == static network, logits and gradients, over many random architectures.


def _assert_tree_close(got, want, rtol):
  """Per parameter tensor, ||got - want|| <= rtol * ||want|| (relative in the L2 norm)."""
  for (path, g), w in zip(jax.tree_util.tree_flatten_with_path(got)[0], jax.tree.leaves(want)):
    err, norm = float(np.linalg.norm(g - w)), float(np.linalg.norm(w))
    assert err <= rtol * max(norm, 1e-30), (jax.tree_util.keystr(path), err, norm)


def _loss_and_logits(apply_fn):
  def loss(params, x, y):
    logits = apply_fn(params, x)
    return sn.softmax_cross_entropy(logits, y), logits
  return jax.value_and_grad(loss, has_aux=True)


# The registered ops no built-in space holds (NASNet's and AmoebaNet's), in a space of their own.
WIDE = spaces.SearchSpace("wide_kernels", ("sep_conv_7x7", "conv_7x1_1x7", "avg_pool_3x3",
                                           "skip_connect", "null"), 4, "fully_concat")
assert set(WIDE.ops) | set(spaces.NATPP_OPS) == set(ops.registered_ops())


@pytest.mark.slow
def test_wide_kernel_space_equals_static_network():
  with extend.temporary(spaces=[WIDE]):
    test_supernet_equals_static_network(WIDE.name, num_random=3)


def _covering_archs(key, space, num_random):
  """`space.num_ops` architectures in which every edge of both cells takes every op once (edge e
  of architecture i takes op (i + e) mod num_ops), with random sources, then `num_random` random
  architectures: Arch with leaves [num_ops + num_random, E]."""
  archs = sampler.sample_archs(key, space, space.num_ops + num_random)

  def cover(cell):
    i, e = np.meshgrid(np.arange(space.num_ops), np.arange(cell.op.shape[1]), indexing="ij")
    op = np.array(cell.op)
    op[:space.num_ops] = (i + e) % space.num_ops
    return cell._replace(op=jnp.asarray(op, cell.op.dtype))

  return arch.Arch(*(cover(c) for c in archs))


def test_covering_archs_put_every_op_on_every_edge():
  space = spaces.get_space("darts_pp")
  archs = _covering_archs(jax.random.key(0), space, 2)
  for cell in archs:
    assert cell.op.shape == (space.num_ops + 2, cell.src.shape[1])
    for e in range(cell.op.shape[1]):
      assert sorted(np.asarray(cell.op[:space.num_ops, e]).tolist()) == list(range(space.num_ops))


@pytest.mark.slow
@pytest.mark.parametrize("space_name", ["darts", "enas", "darts_pp", "enas_pp"])
def test_supernet_equals_static_network(space_name, impl="lax", num_random=12):
  """Logits and every gradient, in float64 so that only a real difference (not rounding) can
  exceed the tolerance; measured differences are ~1e-15. On architectures that put every op on
  every edge (`_covering_archs`) and `num_random` random ones. The static oracle runs eagerly (no
  compile per architecture; each edge is one compiled program per op, stride and shape, shared by
  every architecture); the supernet step is compiled once. The 'lax' kernels keep the eager
  oracle fast; that 'shift' equals 'lax' op by op (values and gradients, inside lax.switch too)
  is tests/kernels_test.py's job."""
  with jax.enable_x64(True):
    config = sn.SupernetConfig(space=space_name, channels=4, num_cells=3, impl=impl)
    space = spaces.get_space(space_name)
    params = jax.tree.map(lambda a: a.astype(jnp.float64),
                          sn.init_supernet(jax.random.key(0), config, (4, 8, 8, 3)))
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3), jnp.float64)
    y = jnp.array([3, 7, 0, 9], jnp.int32)
    archs = _covering_archs(jax.random.key(len(space_name)), space, num_random)
    def supernet_step(p, x, y, a):
      return _loss_and_logits(lambda p, x: sn.apply_supernet(p, x, a, config))(p, x, y)

    step = jax.jit(supernet_step)
    for i in range(archs.normal.op.shape[0]):
      a = _nth(archs, i)
      a_np = jax.tree.map(np.asarray, a)
      (loss, logits), grads = step(params, x, y, a)
      (ref_loss, ref_logits), ref_grads = _loss_and_logits(
          lambda p, x: networks.apply_static(p, x, a_np, config))(params, x, y)
      assert logits.dtype == jnp.float64
      np.testing.assert_allclose(logits, ref_logits, rtol=1e-5,
                                 atol=1e-5 * np.abs(ref_logits).max())
      np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
      _assert_tree_close(grads, ref_grads, 1e-5)


@pytest.mark.slow
def test_step_memory_does_not_grow_with_the_number_of_ops():
  """Temporary memory of the compiled supernet step stays below the static network of the most
  memory-hungry single-op architecture (all sep_conv_5x5): residuals of the ops that a switch did
  not take are not kept side by side."""
  config = sn.SupernetConfig(space="darts", channels=4, num_cells=3, impl="shift")
  space = spaces.get_space("darts")
  # A batch whose activations outweigh the (tiny) parameters, since gradient buffers of
  # parameter size are expected; compile only, nothing runs.
  shapes = jax.eval_shape(lambda k: sn.init_supernet(k, config, (64, 16, 16, 3)),
                          jax.random.key(0))
  x = jax.ShapeDtypeStruct((64, 16, 16, 3), jnp.float32)
  y = jax.ShapeDtypeStruct((64,), jnp.int32)
  a = jax.tree.map(np.asarray, sampler.sample_arch(jax.random.key(3), space))
  heavy = space.index("sep_conv_5x5")
  a_heavy = arch.Arch(*(c._replace(op=np.full_like(c.op, heavy)) for c in a))

  def temp_bytes(fn, *args):
    return jax.jit(jax.grad(fn)).lower(*args).compile().memory_analysis().temp_size_in_bytes

  supernet_bytes = temp_bytes(lambda p, x, y, a: sn.cross_entropy_loss(p, x, y, a, config),
                              shapes, x, y, jax.tree.map(jnp.asarray, a))
  static_bytes = temp_bytes(lambda p, x, y: networks.static_loss(p, x, y, a_heavy, config),
                            shapes, x, y)
  assert supernet_bytes <= 1.1 * static_bytes, (supernet_bytes, static_bytes)
