"""Tests for natjax.kernels.initializers and its use: every layer kind of the supernet, the
retraining network and the policy starts as the released code (PyTorch's defaults) starts it.

Each leaf's expected law comes from its name and shape here, independently of natjax: a conv or
Linear parameter is U(-b, b) with b = 1/sqrt(fan_in) (fan_in = k*k*C_in for a dense conv, k*k for
a depthwise one, C_in for 1x1 and Linear), pygcn layers U(+-1/sqrt(out_features)), embeddings
N(0, 1), BN scale 1 and bias 0. The draws are checked with statistical bounds: the mean and the
standard deviation within 5 standard errors of the law's, the support, and, pooled over the
leaves of a kind, a Kolmogorov-Smirnov test of the shape (uniform, not normal).
"""

import collections

import jax
import numpy as np
import pytest
from scipy import stats

from natjax.core import arch, ops, rules, sampler, spaces
from natjax.kernels import initializers
from natjax.nn import evalnet as ev
from natjax.nn import policy
from natjax.nn import supernet as sn

SIGMAS = 5.0


def _check_uniform(values, bound, where):
  """values ~ U(-bound, bound): support, mean and std within SIGMAS standard errors."""
  x = np.asarray(values, np.float64).ravel()
  n = x.size
  assert np.abs(x).max() <= bound * (1 + 1e-6), f"{where}: |x| up to {np.abs(x).max()} > {bound}"
  std = bound / np.sqrt(3)
  assert abs(x.mean()) <= SIGMAS * std / np.sqrt(n), f"{where}: mean {x.mean()}"
  # Var of the sample variance of U(-b, b): (mu4 - sigma^4) / n = (b^4/5 - b^4/9) / n.
  var_se = np.sqrt((1 / 5 - 1 / 9) / n) * bound ** 2
  assert abs(x.var() - std ** 2) <= SIGMAS * var_se + 1e-12, (
      f"{where}: std {x.std()} vs {std} (n={n})")


def _check_normal(values, std, where):
  x = np.asarray(values, np.float64).ravel()
  n = x.size
  assert abs(x.mean()) <= SIGMAS * std / np.sqrt(n), f"{where}: mean {x.mean()}"
  var_se = np.sqrt(2.0 / n) * std ** 2  # (mu4 - sigma^4) / n = 2 sigma^4 / n
  assert abs(x.var() - std ** 2) <= SIGMAS * var_se, f"{where}: std {x.std()} vs {std}"


def _path_names(path):
  return [str(getattr(p, "key", getattr(p, "idx", p))) for p in path]


def _conv_law(names, shape, slot_axis):
  """(kind, bound) of a conv / Linear leaf from its name and shape, or None for BN leaves."""
  shape = shape[1:] if slot_axis else shape
  leaf = names[-1]
  if leaf in ("scale", "bias") and names[0] != "head":
    return None
  if leaf.startswith("dw"):  # depthwise [k, k, C]: groups = C, fan_in = k*k
    return "depthwise conv", 1 / np.sqrt(shape[0] * shape[1])
  if leaf.startswith("pw"):
    return "pointwise conv", 1 / np.sqrt(shape[0])
  if leaf in ("w1", "w2"):
    return "FactorizedReduce 1x1 conv", 1 / np.sqrt(shape[0])
  if leaf == "w" and len(shape) == 4:  # HWIO
    return "dense conv", 1 / np.sqrt(shape[0] * shape[1] * shape[2])
  if leaf == "w" and names[0] in ("head",) or names[-2:] == ["fc", "w"]:
    return "linear weight", 1 / np.sqrt(shape[0])
  if leaf == "w":
    return "1x1 preprocessing conv", 1 / np.sqrt(shape[0])
  raise AssertionError(f"unexpected leaf {'/'.join(names)}")


def _check_tree(params, slot_axis_of, fan_in_of_bias):
  """Checks every leaf; returns {kind: values normalised to U(-1, 1)}."""
  pooled = collections.defaultdict(list)
  for path, value in jax.tree_util.tree_flatten_with_path(params)[0]:
    names, value = _path_names(path), np.asarray(value)
    where = "/".join(names)
    if names[-1] == "b":  # Linear bias: U(+-1/sqrt(in_features))
      bound = 1 / np.sqrt(fan_in_of_bias(names))
      _check_uniform(value, bound, where)
      pooled["linear bias"].append(value.ravel() / bound)
      continue
    law = _conv_law(names, value.shape, slot_axis_of(names))
    if law is None:
      want = 1.0 if names[-1] == "scale" else 0.0
      np.testing.assert_array_equal(value, np.full(value.shape, want, np.float32), err_msg=where)
      continue
    kind, bound = law
    _check_uniform(value, bound, where)
    pooled[kind].append(value.ravel() / bound)
  for kind, parts in pooled.items():
    x = np.concatenate(parts)
    _check_uniform(x, 1.0, kind)
    assert stats.kstest(x, stats.uniform(-1, 2).cdf).pvalue > 1e-4, kind
  return pooled


def test_bounds_and_fan_in_follow_pytorch():
  assert initializers.conv_fan_in(3, 16) == 144
  assert initializers.conv_fan_in(5, 16, groups=16) == 25  # depthwise
  assert initializers.torch_bound(144) == pytest.approx(1 / 12)
  # kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in).
  assert initializers.torch_bound(50) == pytest.approx(np.sqrt(2 / 6) * np.sqrt(3 / 50))
  assert initializers.gcn_bound(100) == pytest.approx(0.1)
  with pytest.raises(ValueError):
    initializers.torch_bound(0)


@pytest.mark.parametrize("bound", [0.05, 1.0])
def test_uniform_and_normal_draws_match_their_laws(bound):
  key = jax.random.key(3)
  _check_uniform(initializers.uniform(bound)(key, (200, 50)), bound, "uniform")
  _check_normal(initializers.normal(bound)(key, (200, 50)), bound, "normal")
  # He-normal (std sqrt(2 / fan_in)) must fail the PyTorch-default check.
  he = jax.random.normal(key, (200, 50)) * np.sqrt(2 / 50)
  with pytest.raises(AssertionError):
    _check_uniform(he, initializers.torch_bound(50), "he")


@pytest.mark.parametrize("space_name", ["darts", "darts_pp"])
def test_supernet_parameters_start_as_pytorch_defaults(space_name):
  config = sn.SupernetConfig(space=space_name, channels=8, num_cells=3, num_classes=10)
  params = sn.init_supernet(jax.random.key(0), config, (1, 8, 8, 3))
  c_last = params["head"]["w"].shape[0]
  slot_axis = lambda names: "nodes" in names  # edge weights are stacked over slots
  pooled = _check_tree(params, slot_axis, lambda names: c_last)
  want = {"dense conv", "depthwise conv", "pointwise conv", "FactorizedReduce 1x1 conv",
          "1x1 preprocessing conv", "linear weight", "linear bias"}
  assert set(pooled) == want


@pytest.mark.parametrize("network, side", [("cifar", 32), ("imagenet", 224)])
def test_evalnet_parameters_start_as_pytorch_defaults(network, side):
  space = spaces.get_space("darts_pp")
  genotype = arch.arch_to_genotype(
      jax.tree.map(np.asarray, sampler.sample_arch(jax.random.key(1), space)), space)
  config = ev.EvalNetConfig(network=network, channels=8, num_cells=5, auxiliary=True)
  params, batch_stats = ev.init(jax.random.key(2), config, genotype, (1, side, side, 3))

  def bias_fan_in(names):
    return params["aux"]["fc"]["w"].shape[0] if "aux" in names else params["head"]["w"].shape[0]

  pooled = _check_tree(params, lambda names: False, bias_fan_in)
  assert {"dense conv", "depthwise conv", "pointwise conv", "linear weight",
          "linear bias"} <= set(pooled)
  for path, value in jax.tree_util.tree_flatten_with_path(batch_stats)[0]:
    want = 0.0 if _path_names(path)[-1] == "mean" else 1.0
    np.testing.assert_array_equal(value, np.full(value.shape, want, np.float32))


@pytest.mark.parametrize("rule, space_name", [("nat", "darts"), ("natpp", "darts_pp")])
def test_policy_parameters_start_as_released(rule, space_name):
  # spec section 5 item 6: embeddings N(0, 1); Linear U(+-1/sqrt(fan_in)); GCN U(+-1/sqrt(out)).
  space = spaces.get_space(space_name)
  head = "nat" if rule == "nat" else "mask"
  mask = rules.compile_mask(rules.get_rule(rule), space) if head == "mask" else None
  params = policy.make_policy(space, head, mask).init(jax.random.key(5))["params"]
  _check_normal(params["op_embed"]["embedding"], 1.0, "op_embed")
  _check_normal(params["input_embed"], 1.0, "input_embed")
  for layer, fan_in in (("embed_linear", 200), ("head", 100)):
    for leaf in ("kernel", "bias"):
      _check_uniform(params[layer][leaf], 1 / np.sqrt(fan_in), f"{layer}/{leaf}")
  for layer in ("gcn1", "gcn2"):
    for leaf in ("weight", "bias"):
      _check_uniform(params[layer][leaf], 1 / np.sqrt(100), f"{layer}/{leaf}")


def test_described_weights_draw_the_pytorch_default_from_their_keys():
  # A description drawn from its own key is U(+-1/sqrt(fan_in)) from that key, whatever path the
  # draw takes (keyed, vmapped over slot keys as a supernet slot group, or pooled for evalnet).
  shape, fan_in = (3, 3, 8), initializers.conv_fan_in(3, 8, groups=8)
  bound = 1 / np.sqrt(9)
  key = jax.random.key(11)
  want = jax.random.uniform(key, shape, np.float32, -bound, bound)
  np.testing.assert_array_equal(initializers.torch_default(key, shape, fan_in), want)
  tree = {"dw": initializers.conv_weight(shape, fan_in), "pw": initializers.conv_weight((8, 8), 8)}
  keyed = initializers.materialize_keyed(tree, key)
  np.testing.assert_array_equal(keyed["dw"], jax.random.uniform(
      jax.random.split(key, 4)[0], shape, np.float32, -bound, bound))
  slot_keys = jax.random.split(key, 3)
  vmapped = jax.vmap(lambda k: initializers.materialize_keyed(tree, k))(slot_keys)
  for i, k in enumerate(slot_keys):
    one = initializers.materialize_keyed(tree, k)
    for name in tree:
      np.testing.assert_array_equal(vmapped[name][i], one[name])
  pooled = initializers.materialize_pooled(tree, key)
  _check_uniform(pooled["pw"], 1 / np.sqrt(8), "pooled pw")
  assert np.abs(np.asarray(pooled["dw"])).max() <= bound


def _key_at(key, path):
  for n, i in path:
    key = jax.random.split(key, n)[i]
  return key


def _random_at_paths_tree(rng):
  """A tree of `AtPaths` leaves of every kind, stacked or not, at paths of depth 0 to 4."""
  tree = {}
  for j in range(24):
    shape = tuple(int(d) for d in rng.integers(1, 6, rng.integers(0, 4)))
    kind = initializers.KINDS[rng.integers(0, 3)]
    d = initializers.Draw(shape, kind, float(rng.uniform(0.1, 2.0)))
    paths = []
    for _ in range(rng.integers(1, 4)):
      depth = int(rng.integers(0, 5))
      counts = rng.integers(1, 9, depth)
      paths.append(tuple((int(n), int(rng.integers(0, n))) for n in counts))
    tree[f"leaf{j}"] = (initializers.at_path(d, paths[0]) if rng.random() < 0.3
                        else initializers.AtPaths(d, tuple(paths)))
  tree["plain"] = np.arange(3.0)
  return tree


@pytest.mark.parametrize("seed", [0, 1])
def test_draws_at_paths_equal_drawing_each_key_split_by_split(seed):
  tree = _random_at_paths_tree(np.random.default_rng(seed))
  key = jax.random.key(seed)
  want = {}
  for name, leaf in tree.items():
    if name == "plain":
      continue
    one = [initializers.draw(leaf.draw, _key_at(key, p)) for p in leaf.paths]
    want[name] = np.stack(one) if leaf.stacked else one[0]
  got = initializers.draw_at_paths(tree, key)
  traced = jax.jit(lambda k: initializers.draw_at_paths(tree, k))(key)
  raw = initializers.draw_at_paths(tree, jax.random.key_data(key))
  for name, value in want.items():
    for out in (got, traced, raw):
      assert out[name].shape == value.shape and out[name].dtype == np.float32, name
      # The same random bits; the float maps (erf_inv for normal, the affine map of uniform)
      # may round differently once XLA fuses them (jax 0.12: 1-2 ulp).
      np.testing.assert_allclose(out[name], value, rtol=1e-6, atol=1e-6, err_msg=name)
  np.testing.assert_array_equal(got["plain"], tree["plain"])
  # A key of another kind is drawn leaf by leaf, with the same definition.
  rbg = jax.random.key(seed, impl="rbg")
  d = initializers.conv_weight((3, 4), 5)
  leaf = initializers.AtPaths(d, (((3, 1), (2, 0)), ((4, 2),)))
  np.testing.assert_array_equal(
      initializers.draw_at_paths(leaf, rbg),
      np.stack([initializers.draw(d, _key_at(rbg, p)) for p in leaf.paths]))


def _supernet_split_by_split(key, config, c_in):
  """The supernet's initial values drawn weight by weight, from the key scheme documented in
  natjax.nn.supernet (written out here independently of its batched draw)."""
  space = spaces.get_space(config.space)
  layouts = sn.cell_layouts(config)
  n = space.num_nodes
  stem_key, head_key, *cell_keys = jax.random.split(key, 2 + len(layouts))
  c_stem = config.stem_multiplier * config.channels
  uniform = lambda k, shape, fan_in: jax.random.uniform(k, shape, np.float32, -1 / np.sqrt(fan_in),
                                                        1 / np.sqrt(fan_in))
  w_key, b_key = jax.random.split(head_key)
  c_last = layouts[-1].c_out
  out = {"stem": {"w": uniform(stem_key, (3, 3, c_in, c_stem), 9 * c_in),
                  "scale": np.ones(c_stem, np.float32), "bias": np.zeros(c_stem, np.float32)},
         "head": {"w": uniform(w_key, (c_last, config.num_classes), c_last),
                  "b": uniform(b_key, (config.num_classes,), c_last)}, "cells": []}

  def group(k, c, stride, slots):
    ops_out = {}
    for name, op_key in zip(space.ops, jax.random.split(k, space.num_ops)):
      spec = ops.get_op(name)
      weights, _ = ops.family_of(spec).init(spec, c, stride, config.normalizer())
      drawn = [initializers.materialize_keyed(weights, s) for s in jax.random.split(op_key, slots)]
      ops_out[name] = jax.tree.map(lambda *a: np.stack(a), *drawn)
    return ops_out

  for ck, layout in zip(cell_keys, layouts):
    keys, c = jax.random.split(ck, 2 * n + 3), layout.c
    if layout.reduction_prev:
      pre0 = {"w1": uniform(keys[0], (layout.c_pp, c // 2), layout.c_pp),
              "w2": uniform(keys[1], (layout.c_pp, c // 2), layout.c_pp)}
    else:
      pre0 = {"w": uniform(keys[0], (layout.c_pp, c), layout.c_pp)}
    nodes = []
    for k in range(n):
      node = {"inputs": group(keys[3 + 2 * k], c, 2 if layout.reduction else 1, 2)}
      if k:
        node["inner"] = group(keys[4 + 2 * k], c, 1, k)
      nodes.append(node)
    out["cells"].append({"pre0": pre0, "pre1": {"w": uniform(keys[2], (layout.c_p, c), layout.c_p)},
                         "nodes": tuple(nodes)})
  out["cells"] = tuple(out["cells"])
  return out


def test_supernet_values_are_a_function_of_the_key_alone():
  config = sn.SupernetConfig(space="darts", channels=4, num_cells=3, num_classes=10)
  key = jax.random.key(7)
  got = sn.init_supernet(key, config, (1, 8, 8, 3))
  want = _supernet_split_by_split(key, config, 3)
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(got)[0], jax.tree.leaves(want)):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
  again = sn.init_supernet(key, config, (1, 8, 8, 3))
  other = sn.init_supernet(jax.random.key(8), config, (1, 8, 8, 3))
  for a, b, c in zip(jax.tree.leaves(got), jax.tree.leaves(again), jax.tree.leaves(other)):
    np.testing.assert_array_equal(a, b)
    if np.ptp(np.asarray(a)) > 0:  # drawn, not constant
      assert not np.array_equal(a, c)
