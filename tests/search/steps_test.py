"""Tests for natjax.search.steps against hand arithmetic: the baseline, the cost-aware reward, both
optimisers and the step keys; the kernel form a config resolves to, and bfloat16 steps against
float32 ones. Other whole steps run in loop_test.py (they share its compiled programs)."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from natjax import data
from natjax.core import arch, costs, extend, genotypes, spaces
from natjax.io import json_files
from natjax.search import steps
from natjax.train import sharding

import drivers
import search_configs


# ----------------------------------------------------------------------------------------------
# Baseline, reward and optimisers against hand arithmetic.


def _baseline_setup(released):
  return types.SimpleNamespace(baseline_decay=0.99, released_baseline=released)


def _run_baseline(setup, rewards):
  b = jnp.zeros((), jnp.float32)
  advantages, baselines = [], []
  for r in rewards:
    adv, b = steps.advantage_and_baseline(setup, jnp.float32(r), b)
    advantages.append(float(adv))
    baselines.append(float(b))
  return np.array(advantages), np.array(baselines)


REWARDS = [0.5, 0.25, -0.125, 0.0625, 0.0, -0.5, 0.375]


def test_released_baseline_matches_hand_sequence():
  advantages, baselines = _run_baseline(_baseline_setup(True), REWARDS)
  # spec 2.3 item 7: first A = r (b == 0), then A = r - b and b' = 0.98 b + 0.01 r.
  b, want_adv, want_b = 0.0, [], []
  for t, r in enumerate(REWARDS):
    want_adv.append(r if t == 0 else r - b)
    b = 0.01 * r if t == 0 else 0.98 * b + 0.01 * r
    want_b.append(b)
  np.testing.assert_allclose(advantages, want_adv, rtol=1e-5, atol=1e-8)
  np.testing.assert_allclose(baselines, want_b, rtol=1e-5, atol=1e-9)
  assert advantages[0] == REWARDS[0]
  np.testing.assert_allclose(baselines[:2], [0.005, 0.0074], rtol=1e-5)


def test_textbook_baseline_matches_hand_sequence():
  advantages, baselines = _run_baseline(_baseline_setup(False), REWARDS)
  b, want_adv, want_b = 0.0, [], []
  for r in REWARDS:
    want_adv.append(r - b)
    b = 0.99 * b + 0.01 * r
    want_b.append(b)
  np.testing.assert_allclose(advantages, want_adv, rtol=1e-5, atol=1e-8)
  np.testing.assert_allclose(baselines, want_b, rtol=1e-5, atol=1e-9)
  np.testing.assert_allclose(baselines[:2], [0.005, 0.00745], rtol=1e-5)


def test_released_baseline_settles_near_half_the_mean_reward():
  rewards = np.full(3000, 0.2)
  _, released = _run_baseline(_baseline_setup(True), rewards)
  _, textbook = _run_baseline(_baseline_setup(False), rewards)
  np.testing.assert_allclose(released[-1], 0.1, rtol=1e-3)  # 0.01 r / (1 - 0.98)
  np.testing.assert_allclose(textbook[-1], 0.2, rtol=1e-3)


@pytest.mark.parametrize("measure", ["madds", "params"])
@pytest.mark.parametrize("penalty", [0.0, 0.5])
def test_cost_aware_reward(measure, penalty):
  space = spaces.get_space("darts")
  alpha_g, beta_g = genotypes.builtin("DARTS"), genotypes.builtin("NAT_DARTS")
  alpha, beta = (arch.genotype_to_arch(g, space) for g in (alpha_g, beta_g))
  setup = types.SimpleNamespace(space=space, cost_penalty=penalty, cost_measure=measure)
  acc_alpha, acc_beta = jnp.float32(0.625), jnp.float32(0.6875)
  got = float(steps.reward(setup, acc_alpha, acc_beta, alpha, beta))
  cost_a = costs.genotype_cost(alpha_g)[measure]
  cost_b = costs.genotype_cost(beta_g)[measure]
  assert cost_b < cost_a  # NAT's DARTS is cheaper, so the penalty is a bonus here
  want = 0.0625 - penalty * (cost_b / cost_a - 1.0)
  np.testing.assert_allclose(got, want, rtol=1e-5)


def _tree(seed):
  rng = np.random.default_rng(seed)
  return {"a": rng.normal(size=(3, 2)).astype(np.float32),
          "b": rng.normal(size=(4,)).astype(np.float32)}


def test_w_optimizer_first_updates_use_coupled_decay():
  lr, momentum, wd = 0.01, 0.9, 3e-4
  opt = steps.w_optimizer(lr, momentum, wd)
  params, g1, g2 = _tree(0), _tree(1), _tree(2)
  state = opt.init(params)
  u1, state = opt.update(g1, state, params)
  p1 = {k: params[k] + np.asarray(u1[k]) for k in params}
  u2, _ = opt.update(g2, state, p1)
  for k in params:
    v1 = g1[k] + wd * params[k]                 # decay added to the gradient (PyTorch SGD)
    np.testing.assert_allclose(u1[k], -lr * v1, rtol=1e-6)
    v2 = momentum * v1 + g2[k] + wd * p1[k]     # momentum buffer, dampening 0
    np.testing.assert_allclose(u2[k], -lr * v2, rtol=1e-5)


def test_theta_optimizer_first_updates_are_adam_on_decayed_gradient():
  lr, b1, b2, wd, eps = 3e-4, 0.5, 0.999, 5e-4, 1e-8
  opt = steps.theta_optimizer(lr, b1, b2, wd)
  params, g1, g2 = _tree(3), _tree(4), _tree(5)
  state = opt.init(params)
  u1, state = opt.update(g1, state, params)
  p1 = {k: params[k] + np.asarray(u1[k]) for k in params}
  u2, _ = opt.update(g2, state, p1)
  for k in params:
    d1 = g1[k].astype(np.float64) + wd * params[k]
    np.testing.assert_allclose(u1[k], -lr * d1 / (np.abs(d1) + eps), rtol=1e-5)
    d2 = g2[k].astype(np.float64) + wd * p1[k]
    m = b1 * (1 - b1) * d1 + (1 - b1) * d2
    v = b2 * (1 - b2) * d1 ** 2 + (1 - b2) * d2 ** 2
    m_hat, v_hat = m / (1 - b1 ** 2), v / (1 - b2 ** 2)
    np.testing.assert_allclose(u2[k], -lr * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-4)


def test_step_keys_depend_on_step():
  rng = jax.random.key_data(jax.random.key(0))
  keys = lambda step: jax.random.key_data(steps.step_keys(
      types.SimpleNamespace(rng=rng, step=jnp.int32(step)), 2))
  assert not np.array_equal(keys(4), keys(5))
  np.testing.assert_array_equal(keys(4), keys(4))


# ----------------------------------------------------------------------------------------------
# The kernel form and the compute dtype a config asks for.


@pytest.mark.parametrize("backend, want", [("cpu", "shift"), ("gpu", "lax"), ("tpu", "lax")])
def test_auto_kernel_form_is_resolved_once_and_recorded(monkeypatch, backend, want):
  monkeypatch.setattr(jax, "default_backend", lambda: backend)
  config = search_configs.tiny_search_config()
  assert config.impl == "auto"  # the default
  dataset = types.SimpleNamespace(num_classes=10, mean=(0.5,), std=(0.25,), crop_padding=0,
                                  flip=False)
  assert steps.make_setup(config, dataset).supernet.impl == want
  assert json_files.config_json(config)["impl"] == want
  for explicit in ("shift", "lax"):  # an explicit form is kept on every backend
    config.impl = explicit
    assert steps.make_setup(config, dataset).supernet.impl == explicit
    assert json_files.config_json(config)["impl"] == explicit


def _short_search(config, dataset, state, num_steps):
  """Metrics of `num_steps` steps, two w-steps then a theta-step, on the first batches."""
  setup = steps.make_setup(config, dataset)
  mesh = sharding.data_mesh(jax.devices()[:1])
  fns = steps.make_steps(setup, mesh)
  state = sharding.replicate(state, mesh)
  out = []
  for i in range(num_steps):
    theta = i % 3 == 2
    split = dataset.theta if theta else dataset.w
    batch = sharding.global_batch(
        data.batch(split, data.batch_indices(len(split), config.batch_size, 0, 0, i)), mesh)
    state, metrics = (fns.theta_step if theta else fns.w_step)(state, batch)
    out.append({k: float(v) for k, v in jax.device_get(metrics).items()})
  return out, state


# bfloat16 keeps 8 significant bits (relative rounding 2^-9 = 0.2 %): measured, the supernet's
# losses of these steps differ by 0.05-0.35 % and an accuracy by one image of 64. Stated tolerance:
# 2 % on a loss, 4 images of 64 on an accuracy (argmax flips between near-equal logits). The policy
# runs in float32 either way: on the same input architecture, key and policy weights its entropy is
# the same to float32 rounding. Its loss -log_prob * advantage - c * entropy moves with the reward
# (a difference of two accuracies: one image of 64 moves the first step's loss by a third), so what
# is compared is the loss per unit of advantage, -log_prob, within 2 %, where both rewards are
# nonzero. One image can also make a reward 0 (measured on jax 0.12: 1/64 in float32, 0 in
# bfloat16); that run's loss is then the entropy term alone.
LOSS_RTOL, ACC_ATOL = 0.02, 4 / 64


def _neg_log_prob(metrics, entropy_coef):
  """-log_prob of the first theta-step (baseline 0 before it, so the advantage is the reward)."""
  return (metrics["theta_loss"] + entropy_coef * metrics["entropy"]) / metrics["reward"]


@pytest.mark.slow
def test_bfloat16_compute_follows_float32_and_keeps_float32_state():
  """In `drivers.small_space()`: its convolutions, pool and BatchNorms are what bfloat16 changes."""
  config = search_configs.tiny_search_config(space="small")
  dataset = data.load(config.dataset, split_seed=config.split_seed, w_fraction=config.w_fraction)
  with extend.temporary(spaces=[drivers.small_space()]):
    setup = steps.make_setup(config, dataset)
    fresh = lambda: steps.init_state(jax.random.key(0), setup, dataset.image_shape)
    f32, _ = _short_search(config, dataset, fresh(), 3)
    config.compute_dtype = "bfloat16"
    bf16, state = _short_search(config, dataset, fresh(), 3)
  assert [set(m) for m in f32] == [set(m) for m in bf16]
  for a, b in zip(f32, bf16):
    for name in a:
      if name == "w_loss":
        assert abs(b[name] - a[name]) <= LOSS_RTOL * abs(a[name]), (name, a[name], b[name])
      elif name.startswith("acc"):
        assert abs(b[name] - a[name]) <= ACC_ATOL, (name, a[name], b[name])
  (a, b), = [(a, b) for a, b in zip(f32, bf16) if "theta_loss" in a]
  assert abs(b["reward"] - a["reward"]) <= 2 * ACC_ATOL, (a["reward"], b["reward"])
  assert abs(b["entropy"] - a["entropy"]) <= 1e-5 * abs(a["entropy"]), (a["entropy"], b["entropy"])
  for m in (a, b):
    if m["reward"] == 0:
      assert abs(m["theta_loss"] + setup.entropy_coef * m["entropy"]) <= 1e-6, m
  if a["reward"] != 0 != b["reward"]:
    want, got = (_neg_log_prob(m, setup.entropy_coef) for m in (a, b))
    assert want > 0 and abs(got - want) <= LOSS_RTOL * want, (want, got)
  assert any(a["w_loss"] != b["w_loss"] for a, b in zip(f32, bf16) if "w_loss" in a)  # it ran bf16
  for part in (state.w_params, state.w_opt_state, state.theta_params, state.theta_opt_state):
    floats = {leaf.dtype for leaf in jax.tree.leaves(part) if jnp.issubdtype(leaf.dtype, jnp.floating)}
    assert floats == {jnp.dtype(jnp.float32)}
