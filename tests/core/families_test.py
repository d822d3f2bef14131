"""Tests for natjax.core.families: every registered op of every built-in family, in both kernel forms
('shift' equals 'lax', forward and gradients, also as a taken `lax.switch` branch), its output
shapes and its weight count against the cost convention."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numeric_checks import assert_close as _assert_close
from numeric_checks import random_normal as _random

from natjax.core import costs, families, ops
from natjax.kernels import windows
from natjax.kernels.initializers import Draw
from natjax.kernels.norm import BatchStats

OPS = ops.registered_ops()  # The 13 NAT++ ops, sep_conv_7x7 and conv_7x1_1x7.
B, C = 2, 4
_NORM = BatchStats()


def _op(params, x, spec, stride, impl):
  """One op as the supernet's normaliser runs it (batch statistics, nothing kept)."""
  _, stats = ops.family_of(spec).init(spec, x.shape[-1], stride, _NORM)
  return families.apply_op(params, stats, x, spec, stride, impl, _NORM)[0]


def _weights(spec, channels, stride):
  return ops.family_of(spec).init(spec, channels, stride, _NORM)[0]


def _assert_trees_close(actual, expected):
  assert jax.tree.structure(actual) == jax.tree.structure(expected)
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
    _assert_close(a, e)


@functools.lru_cache(maxsize=None)
def _params(name, stride, channels=C):
  """Random op weights of the family's shapes, drawn by numpy (jax.random compiles per shape)."""
  rng = np.random.default_rng(len(name) + stride)
  return jax.tree.map(lambda d: jnp.asarray(rng.standard_normal(d.shape).astype(np.float32) / 2),
                      _weights(ops.get_op(name), channels, stride),
                      is_leaf=lambda d: isinstance(d, Draw))

@functools.partial(jax.jit, static_argnums=(3, 4))
def _values_and_grads(params, x, probe, spec, stride):
  """Per impl: op output y and the gradient of sum(y * probe) wrt (params, x)."""
  out = {}
  for impl in windows.IMPLS:
    y, vjp = jax.vjp(lambda p, x: _op(p, x, spec, stride, impl), params, x)
    out[impl] = (y, vjp(probe))
  return out

@pytest.mark.parametrize("h", [8, 7])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", OPS)
def test_shift_equals_lax_forward_and_gradients(name, stride, h):
  spec = ops.get_op(name)
  params = _params(name, stride)
  x = jnp.asarray(_random(1, (B, h, h, C)))
  expected_hw = -(-h // stride)
  probe = jnp.asarray(_random(2, (B, expected_hw, expected_hw, C)))  # A random linear functional.
  out = _values_and_grads(params, x, probe, spec, stride)
  y_lax, (gp_lax, gx_lax) = out["lax"]
  y_shift, (gp_shift, gx_shift) = out["shift"]
  chex.assert_shape([y_lax, y_shift], (B, expected_hw, expected_hw, C))
  _assert_close(y_shift, y_lax)
  _assert_close(gx_shift, gx_lax)
  assert jax.tree.structure(gp_lax) == jax.tree.structure(params)
  _assert_trees_close(gp_shift, gp_lax)

@pytest.mark.parametrize("hw", [(7, 7), (8, 8), (7, 8), (9, 6)])
def test_all_ops_agree_on_stride2_output_shape(hw):
  x = jnp.asarray(_random(2, (B,) + hw + (C,)))
  for name in OPS:
    spec = ops.get_op(name)
    params = _params(name, 2)
    for impl in windows.IMPLS:
      y = jax.eval_shape(functools.partial(_op, spec=spec, stride=2, impl=impl), params, x)
      assert y.shape == (B, -(-hw[0] // 2), -(-hw[1] // 2), C), (name, impl)

def _expected_param_count(spec, c, stride):
  """Cost-model convention (BN without affine holds nothing)."""
  k = spec.kernel
  return {
      "conv": k * k * c * c,
      "sep_conv": 2 * (k * k * c + c * c),
      "dil_conv": k * k * c + c * c,
      "skip": 2 * c * (c // 2) if stride == 2 else 0,
      "factorized_conv": 2 * k * c * c,
  }.get(spec.family, 0)

@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", OPS)
def test_param_count_matches_cost_convention(name, stride):
  spec = ops.get_op(name)
  for c in (4, 8):
    weights = jax.tree.leaves(_weights(spec, c, stride), is_leaf=lambda d: isinstance(d, Draw))
    assert sum(int(np.prod(d.shape)) for d in weights) == _expected_param_count(spec, c, stride)

@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("h", [8, 7])
def test_null_is_zeros_of_output_shape(stride, h):
  spec = ops.get_op("null")
  x = jnp.asarray(_random(9, (B, h, h, C)))
  for impl in windows.IMPLS:
    y = _op({}, x, spec, stride, impl)
    chex.assert_shape(y, (B, -(-h // stride), -(-h // stride), C))
    np.testing.assert_array_equal(np.asarray(y), 0.0)

def test_skip_at_stride1_is_identity():
  x = jnp.asarray(_random(10, (B, 7, 7, C)))
  for impl in windows.IMPLS:
    np.testing.assert_array_equal(
        np.asarray(_op({}, x, ops.get_op("skip_connect"), 1, impl)), np.asarray(x))

@pytest.mark.parametrize("stride,h", [(2, 7), (1, 8)])
@pytest.mark.parametrize("impl", windows.IMPLS)
def test_apply_op_inside_switch_equals_direct_call(impl, stride, h):
  """Forward and gradients of the switch's taken branch equal the op called on its own, and
  equal autodiff of the 'lax' op (so the hand-written VJPs hold inside `lax.switch` too)."""
  specs = [ops.get_op(name) for name in OPS]
  params = [_params(name, stride) for name in OPS]
  x = jnp.asarray(_random(1, (B, h, h, C)))
  out_hw = -(-h // stride)
  probe = jnp.asarray(_random(2, (B, out_hw, out_hw, C)))
  branches = [
      functools.partial(lambda i, operand: _op(operand[0][i], operand[1], specs[i], stride, impl),
                        i)
      for i in range(len(specs))
  ]

  @jax.jit
  def switched(index, params, x):
    y, vjp = jax.vjp(lambda p, x: jax.lax.switch(index, branches, (p, x)), params, x)
    return y, vjp(probe)

  for index, name in enumerate(OPS):
    y, (gp, gx) = switched(index, params, x)
    direct = _values_and_grads(params[index], x, probe, specs[index], stride)
    for reference in (impl, "lax"):
      y_direct, (gp_direct, gx_direct) = direct[reference]
      _assert_close(y, y_direct)
      _assert_close(gx, gx_direct)
      _assert_trees_close(gp[index], gp_direct)
    for other, grads in enumerate(gp):
      for g in jax.tree.leaves(grads):
        if other != index:  # Untaken branches get zero gradient.
          np.testing.assert_array_equal(np.asarray(g), 0.0, err_msg=f"{name} -> {OPS[other]}")


def test_new_ops_cost_by_hand():
  """sep_conv_7x7: 2(49C + C^2 + 2C) params, 2(49C + C^2) Ho Wo MAdds; conv_7x1_1x7 (1x7 conv at
  H x Wo, then 7x1 at Ho x Wo, one BN): 14C^2 + 2C params, 7C^2 H Wo + 7C^2 Ho Wo MAdds."""
  c = 36
  assert costs.op_cost(ops.get_op("sep_conv_7x7"), c, 32, 32, 1) == (
      2 * (49 * c + c * c + 2 * c), 2 * (49 * c + c * c) * 32 * 32)
  assert costs.op_cost(ops.get_op("conv_7x1_1x7"), c, 32, 32, 1) == (
      14 * c * c + 2 * c, 14 * c * c * 32 * 32)
  assert costs.op_cost(ops.get_op("conv_7x1_1x7"), c, 16, 16, 2) == (
      14 * c * c + 2 * c, 7 * c * c * 16 * 8 + 7 * c * c * 8 * 8)
  # ptflops adds the ReLU on the input (C H W) and the BN (2 C Ho Wo).
  _, madds = costs.op_cost(ops.get_op("conv_7x1_1x7"), c, 16, 16, 2, "ptflops")
  assert madds == 7 * c * c * 16 * 8 + 7 * c * c * 8 * 8 + c * 16 * 16 + 2 * c * 8 * 8
