"""Tests for natjax.nn.evalnet: stand-alone networks, drop-path, batch norm and the training pieces.

Full-size networks are only traced (`jax.eval_shape`); real computation runs on small configs
(C=4, 3 cells, 16x16 CIFAR / 64x64 ImageNet inputs), each compiled once for the module.
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from natjax.core import arch, costs, genotypes, zoo
from natjax.errors import InputError
from natjax.nn import evalnet as ev

DARTS_FAMILY = ("DARTS", "NAT_DARTS", "NATv2_DARTS")
SIDES = {"cifar": 32, "imagenet": 224}
SMALL_SIDES = {"cifar": 16, "imagenet": 64}
BATCH = 4

# Normal cell of identity edges only; the reduce cell is DARTS's.
ALL_SKIP = arch.make_genotype(
    [("skip_connect", src, dst) for dst, pair in zip((2, 3, 4, 5), ((0, 1), (2, 1), (0, 3), (2, 4)))
     for src in pair],
    [2, 3, 4, 5], genotypes.builtin("DARTS").reduce, [2, 3, 4, 5])


def _small(network, **overrides):
  fields = dict(network=network, channels=4, num_cells=3, num_classes=10, auxiliary=False)
  return ev.EvalNetConfig(**{**fields, **overrides})


def _shapes(config, genotype, side):
  return jax.eval_shape(lambda k: ev.init(k, config, genotype, (2, side, side, 3)),
                        jax.random.key(0))


def _images(side, batch=BATCH, seed=0):
  return np.random.default_rng(seed).normal(size=(batch, side, side, 3)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Parameter counts against the cost model (traced only).


@pytest.mark.parametrize("name", genotypes.builtin_names())
def test_cifar_param_count_equals_cost_model(name):
  g = genotypes.builtin(name)
  params, _ = _shapes(ev.config_for("cifar"), g, 32)
  assert ev.count_params(params) == costs.genotype_cost(g, "cifar")["params"]


@pytest.mark.parametrize("network", ["cifar", "imagenet"])
@pytest.mark.parametrize("name", ["NASNET", "AMOEBANET", "FAIRDARTS_A"])
def test_published_cells_param_count_equals_cost_model(name, network):
  """Cells with sep_conv_7x7 and conv_7x1_1x7 (NASNet, AmoebaNet) and with null pads and a
  3-node concat (FairDARTS-a)."""
  g = zoo.genotype(name)
  params, _ = _shapes(ev.config_for(network), g, SIDES[network])
  assert ev.count_params(params) == costs.genotype_cost(g, network)["params"]


def test_amoebanet_small_forward_runs():
  g, config = zoo.genotype("AMOEBANET"), _small("cifar")
  params, stats = ev.init(jax.random.key(0), config, g, (BATCH, 16, 16, 3))
  logits, _, _ = jax.jit(lambda p, s, x: ev.apply(p, s, x, genotype=g, config=config,
                                                  train=False))(params, stats, _images(16))
  chex.assert_shape(logits, (BATCH, 10))
  chex.assert_tree_all_finite(logits)


@pytest.mark.parametrize("name", DARTS_FAMILY)
def test_imagenet_param_count_equals_cost_model(name):
  g = genotypes.builtin(name)
  params, _ = _shapes(ev.config_for("imagenet"), g, 224)
  assert ev.count_params(params) == costs.genotype_cost(g, "imagenet")["params"]


def test_darts_published_count_and_aux_heads_by_hand():
  g = genotypes.builtin("DARTS")
  params, stats = _shapes(ev.config_for("cifar"), g, 32)
  assert ev.count_params(params) == 3_349_342
  # Aux input: the second reduction cell, 4 nodes x 144 channels; 10 classes.
  aux_cifar = 576 * 128 + 2 * 128 + 4 * 128 * 768 + 2 * 768 + 768 * 10 + 10
  assert ev.count_params(params, include_aux=True) - ev.count_params(params) == aux_cifar
  assert set(stats["aux"]) == {"conv1", "conv2"}
  params, stats = _shapes(ev.config_for("imagenet"), g, 224)
  # ImageNet: 4 x 192 channels in, no BN after the 768-channel conv, 1000 classes.
  aux_imagenet = 768 * 128 + 2 * 128 + 4 * 128 * 768 + 768 * 1000 + 1000
  assert ev.count_params(params, include_aux=True) - ev.count_params(params) == aux_imagenet
  assert set(stats["aux"]) == {"conv1"}


def test_shorter_concat_gives_proportionally_fewer_channels():
  darts = genotypes.builtin("DARTS")
  short = darts._replace(normal_concat=(2, 5))  # 2 of the 4 nodes
  short = arch.make_genotype(*short)
  config = ev.config_for("cifar")
  full_params, _ = _shapes(config, darts, 32)
  short_params, _ = _shapes(config, short, 32)
  plans = ev.cell_plans(config, short)
  for i in range(1, config.num_cells):
    if not plans[i - 1].reduction:  # The cell after a normal cell reads 2*C, not 4*C, channels.
      c = plans[i - 1].c
      assert short_params["cells"][i]["pre1"]["w"].shape[2] == 2 * c
      assert full_params["cells"][i]["pre1"]["w"].shape[2] == 4 * c
  assert short_params["head"]["w"].shape[0] == 2 * plans[-1].c
  assert ev.count_params(short_params) == costs.genotype_cost(short, "cifar")["params"]
  assert ev.count_params(short_params) < ev.count_params(full_params)


# ----------------------------------------------------------------------------------------------
# Forward shapes.


@pytest.mark.parametrize("network", ["cifar", "imagenet"])
@pytest.mark.parametrize("name", DARTS_FAMILY)
def test_full_size_forward_shapes(network, name):
  g, config, side = genotypes.builtin(name), ev.config_for(network), SIDES[network]
  params, stats = _shapes(config, g, side)
  run = functools.partial(ev.apply, genotype=g, config=config, train=True, drop_path_prob=0.2)
  x = jax.ShapeDtypeStruct((2, side, side, 3), jnp.float32)
  logits, aux, new_stats = jax.eval_shape(lambda p, s, x, k: run(p, s, x, key=k), params, stats,
                                          x, jax.random.key(0))
  chex.assert_shape([logits, aux], (2, config.num_classes))
  chex.assert_trees_all_equal_shapes_and_dtypes(new_stats, stats)


@functools.lru_cache(maxsize=None)
def _small_forward(network, name):
  """Real small-config forward in evaluation mode (training mode runs in the train-step test)."""
  g, config, side = genotypes.builtin(name), _small(network), SMALL_SIDES[network]
  params, stats = ev.init(jax.random.key(0), config, g, (BATCH, side, side, 3))
  fn = jax.jit(lambda p, s, x: ev.apply(p, s, x, genotype=g, config=config, train=False))
  return fn, params, stats


@pytest.mark.parametrize("network", ["cifar", "imagenet"])
@pytest.mark.parametrize("name", DARTS_FAMILY)
def test_small_forward_runs(network, name):
  fn, params, stats = _small_forward(network, name)
  logits, aux, new_stats = fn(params, stats, _images(SMALL_SIDES[network]))
  chex.assert_shape(logits, (BATCH, 10))
  chex.assert_tree_all_finite(logits)
  assert aux is None
  chex.assert_trees_all_equal(new_stats, stats)


def test_aux_head_matches_numpy():
  config = _small("cifar", auxiliary=True)
  g = genotypes.builtin("DARTS")
  params, stats = _shapes(config, g, 32)  # Needs a 32x32 input: 8x8 maps at the aux head.
  c_in = params["aux"]["conv1"]["w"].shape[2]
  rng = np.random.default_rng(0)
  p = jax.tree.map(lambda s: rng.normal(size=s.shape).astype(np.float32), params["aux"])
  st = jax.tree.map(lambda s: np.zeros(s.shape, np.float32), stats["aux"])
  x = rng.normal(size=(3, 8, 8, c_in)).astype(np.float32)
  logits, _ = ev.aux_head(p, st, jnp.asarray(x), config, train=True)

  def bn(y, q):
    mean, var = y.mean((0, 1, 2)), y.var((0, 1, 2))
    return (y - mean) / np.sqrt(var + 1e-5) * q["scale"] + q["bias"]

  y = np.maximum(x, 0)
  pooled = np.stack([np.stack([y[:, 3 * i:3 * i + 5, 3 * j:3 * j + 5].mean((1, 2))
                               for j in range(2)], 1) for i in range(2)], 1)  # [3, 2, 2, C]
  y = np.maximum(bn(pooled @ p["conv1"]["w"][0, 0], p["conv1"]), 0)
  y = np.einsum("nijc,ijco->no", y, p["conv2"]["w"])[:, None, None]
  y = np.maximum(bn(y, p["conv2"]), 0)[:, 0, 0]
  expected = y @ p["fc"]["w"] + p["fc"]["b"]
  np.testing.assert_allclose(logits, expected, rtol=2e-4, atol=2e-4)


def test_aux_head_imagenet_shape():
  config = _small("imagenet", auxiliary=True)
  params, stats = _shapes(config, genotypes.builtin("DARTS"), 224)
  x = jax.ShapeDtypeStruct((2, 7, 7, params["aux"]["conv1"]["w"].shape[2]), jnp.float32)
  logits, _ = jax.eval_shape(lambda p, s, x: ev.aux_head(p, s, x, config), params["aux"],
                             stats["aux"], x)
  chex.assert_shape(logits, (2, 10))


def test_aux_head_too_small_input_is_an_input_error():
  with pytest.raises(InputError, match="auxiliary"):
    ev.init(jax.random.key(0), _small("cifar", auxiliary=True), genotypes.builtin("DARTS"),
            (1, 16, 16, 3))


def test_config_errors_name_the_field():
  with pytest.raises(InputError, match="did you mean 'imagenet'"):
    ev.EvalNetConfig(network="imagnet")
  with pytest.raises(InputError, match="channels"):
    ev.EvalNetConfig(channels=5)
  with pytest.raises(InputError, match="did you mean 'num_cells'"):
    ev.config_for("cifar", num_cell=3)


def test_eval_mode_uses_running_statistics():
  fn, params, stats = _small_forward("cifar", "DARTS")
  x = _images(16, seed=1)
  logits, _, new_stats = fn(params, stats, x)
  chex.assert_trees_all_equal(new_stats, stats)
  # Per-example: other examples in the batch do not matter (no batch statistics).
  other = x.copy()
  other[1:] = _images(16, seed=2)[1:]
  logits_other, _, _ = fn(params, stats, other)
  np.testing.assert_allclose(logits_other[0], logits[0], rtol=1e-5, atol=1e-5)
  # ...but the running statistics do.
  shifted = jax.tree.map(lambda a: a, stats)
  shifted["stem"] = {"mean": stats["stem"]["mean"] + 1.0, "var": stats["stem"]["var"] * 4.0}
  logits_shifted, _, _ = fn(params, shifted, x)
  assert np.max(np.abs(logits_shifted - logits)) > 1e-3


# ----------------------------------------------------------------------------------------------
# Drop-path.


def test_drop_path_keeps_a_fraction_one_minus_p_and_rescales():
  n, p = 20_000, 0.3
  y = np.asarray(ev.drop_path(jnp.ones((n, 2, 2, 1)), p, jax.random.key(0)))
  per_example = y[:, 0, 0, 0]
  assert np.all(y == per_example[:, None, None, None])  # whole examples
  kept = per_example != 0
  np.testing.assert_allclose(per_example[kept], 1 / (1 - p), rtol=1e-6)
  sigma = np.sqrt(p * (1 - p) / n)
  assert abs(kept.mean() - (1 - p)) < 5 * sigma


def _cell_runner(genotype):
  """Cell 0 (normal) of the small CIFAR network in training mode, jitted: (run, plain, s0, s1).

  run(s0, s1, key, prob) applies drop-path with a traced probability; plain(s0, s1) has no key.
  """
  config = _small("cifar")
  params, stats = ev.init(jax.random.key(0), config, genotype, (BATCH, 8, 8, 3))
  layout = ev.cell_plans(config, genotype)[0]
  assert not layout.reduction
  cell = functools.partial(ev.apply_cell, params["cells"][0], stats["cells"][0],
                           genotype=genotype, layout=layout, config=config, train=True)
  run = jax.jit(lambda a, b, key, prob: cell(a, b, key=key, drop_path_prob=prob)[0])
  plain = jax.jit(lambda a, b: cell(a, b)[0])
  rng = np.random.default_rng(3)
  s0, s1 = (jnp.asarray(rng.normal(size=(BATCH, 8, 8, layout.c_p)), jnp.float32) for _ in range(2))
  return run, plain, s0, s1


def test_drop_path_zero_equals_no_drop_path_and_positive_drops():
  run, plain, s0, s1 = _cell_runner(genotypes.builtin("DARTS"))
  reference = plain(s0, s1)
  # Equal up to XLA's fusion of two different programs (x / 1 * 1 is exact).
  np.testing.assert_allclose(run(s0, s1, jax.random.key(5), 0.0), reference, rtol=0, atol=1e-6)
  dropped = run(s0, s1, jax.random.key(5), 0.5)
  assert np.max(np.abs(dropped - reference)) > 1e-3


def test_identity_edges_are_never_dropped():
  run, plain, s0, s1 = _cell_runner(ALL_SKIP)
  reference = plain(s0, s1)
  for seed in range(5):
    np.testing.assert_array_equal(run(s0, s1, jax.random.key(seed), 0.9), reference)


def test_training_without_a_key_but_with_drop_path_is_an_error():
  config = _small("cifar")
  g = genotypes.builtin("DARTS")
  params, stats = _shapes(config, g, 16)
  with pytest.raises(InputError, match="key"):
    jax.eval_shape(lambda p, s: ev.apply(p, s, jnp.zeros((2, 16, 16, 3)), genotype=g,
                                         config=config, train=True, drop_path_prob=0.2),
                   params, stats)


# ----------------------------------------------------------------------------------------------
# Training pieces.


def test_classification_loss_matches_numpy():
  rng = np.random.default_rng(0)
  logits, aux = rng.normal(size=(2, 5, 7)).astype(np.float32)
  labels = np.array([0, 3, 6, 2, 2])

  def ce(z, eps):
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    target = np.eye(7)[labels] * (1 - eps) + eps / 7
    return -(target * logp).sum(-1).mean()

  got = ev.classification_loss(jnp.asarray(logits), jnp.asarray(aux), labels, 0.4, 0.1)
  np.testing.assert_allclose(got, ce(logits, 0.1) + 0.4 * ce(aux, 0.1), rtol=1e-5)
  got = ev.classification_loss(jnp.asarray(logits), None, labels)
  np.testing.assert_allclose(got, ce(logits, 0.0), rtol=1e-5)


def test_optimizer_clips_then_decays_then_momentum_with_epoch_cosine():
  lr, lr_min, epochs, spe, wd = 0.1, 0.001, 4, 3, 3e-4
  schedule = ev.make_schedule(lr, lr_min, epochs, spe)
  cos = lambda e: lr_min + (lr - lr_min) * (1 + np.cos(np.pi * e / epochs)) / 2
  for step in range(0, 15):
    np.testing.assert_allclose(schedule(step), cos(min(step // spe, epochs)), rtol=1e-6)
  tx = ev.make_optimizer(lr, lr_min, epochs, spe, momentum=0.9, weight_decay=wd, grad_clip=5.0)
  p = {"w": jnp.array([1.0, -2.0]), "b": jnp.array([0.5])}
  g = {"w": jnp.array([30.0, 40.0]), "b": jnp.array([0.0])}  # global norm 50 -> scaled by 0.1
  state = tx.init(p)
  u1, state = tx.update(g, state, p)
  d1 = {k: np.asarray(g[k]) * 0.1 + wd * np.asarray(p[k]) for k in p}
  for k in p:
    np.testing.assert_allclose(u1[k], -lr * d1[k], rtol=1e-6)
  small = {"w": jnp.array([0.3, 0.0]), "b": jnp.array([0.4])}  # norm 0.5: not clipped
  u2, _ = tx.update(small, state, p)
  for k in p:
    d2 = np.asarray(small[k]) + wd * np.asarray(p[k])
    np.testing.assert_allclose(u2[k], -lr * (0.9 * d1[k] + d2), rtol=1e-6)  # step 1: epoch 0


def _numpy_conv3x3(x, w):
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  h, wd = x.shape[1:3]
  return sum(np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + wd], w[i, j])
             for i in range(3) for j in range(3))


@functools.lru_cache(maxsize=None)
def _train_run():
  config = _small("cifar")
  g = genotypes.builtin("DARTS")
  tx = ev.make_optimizer(learning_rate=0.05, lr_min=0.001, epochs=10, steps_per_epoch=1)
  state0 = ev.create_train_state(jax.random.key(0), config, g, tx, (8, 16, 16, 3))
  batch = {"image": jnp.asarray(_images(16, batch=8, seed=7)), "label": jnp.arange(8) % 10}
  step = jax.jit(functools.partial(ev.train_step, genotype=g, config=config, optimizer=tx))
  state1, m1 = step(state0, batch, jax.random.key(1), jnp.float32(0.0))
  state2, m2 = step(state1, batch, jax.random.key(1), jnp.float32(0.0))
  evaluate = jax.jit(functools.partial(ev.eval_step, genotype=g, config=config))
  return config, g, batch, state0, (state1, m1), (state2, m2), evaluate


def test_train_step_decreases_the_loss():
  _, _, _, state0, (state1, m1), (state2, m2), _ = _train_run()
  assert int(state1.step) == 1 and int(state2.step) == 2
  assert float(m2["loss"]) < float(m1["loss"])
  assert float(m1["grad_norm"]) > 0
  chex.assert_trees_all_equal_structs(state2.params, state0.params)


def test_train_step_moves_running_stats_by_momentum_0_1():
  _, _, batch, state0, (state1, _), _, _ = _train_run()
  stem = state0.params["stem"]
  y = _numpy_conv3x3(np.asarray(batch["image"], np.float64), np.asarray(stem["w"], np.float64))
  mean, var = y.mean((0, 1, 2)), y.var((0, 1, 2), ddof=1)
  new = state1.batch_stats["stem"]
  np.testing.assert_allclose(new["mean"], 0.1 * mean, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(new["var"], 0.9 * 1.0 + 0.1 * var, rtol=1e-4)


def test_eval_step_sums_split_over_a_mask():
  _, _, batch, _, (state1, _), _, evaluate = _train_run()
  mask = np.array([True] * 5 + [False] * 3)
  full = evaluate(state1, batch)
  kept = evaluate(state1, {**batch, "mask": jnp.asarray(mask)})
  rest = evaluate(state1, {**batch, "mask": jnp.asarray(~mask)})
  assert (int(full["count"]), int(kept["count"]), int(rest["count"])) == (8, 5, 3)
  assert int(kept["correct"]) + int(rest["correct"]) == int(full["correct"])
  np.testing.assert_allclose(kept["loss"] + rest["loss"], full["loss"], rtol=1e-5)
  assert float(kept["loss"]) > 0 and float(rest["loss"]) > 0


def test_drop_path_ramps_linearly_with_the_epoch():
  config = ev.config_for("cifar", drop_path_prob=0.2)
  assert [ev.drop_path_at(config, e, 600) for e in (0, 300, 600)] == [0.0, 0.1, 0.2]
