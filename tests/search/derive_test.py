"""Tests for natjax.search.derive: the scorer, the held-out check's figures and the random
baselines.

The check runs on a tiny config (C=4, 3 cells, freshly initialised weights, digits) and every figure
is recomputed independently: each architecture's accuracy by a plain jitted supernet forward per
batch (no shard_map, no loop over architectures), the statistics with numpy.
"""

import dataclasses
import functools
import statistics

import jax
import numpy as np
import pytest

from natjax import data
from natjax.core import arch, costs, sampler, spaces
from natjax.nn import policy, supernet
from natjax.search import derive, loop
from natjax.search import steps as search_steps
from natjax.train import sharding

import search_configs


# ----------------------------------------------------------------------------------------------
# Pure pieces.


@pytest.mark.parametrize("n, b, num", [(297, 64, 0), (297, 99, 0), (10, 4, 0), (10, 4, 2),
                                       (3, 8, 0), (900, 100, 0)])
def test_eval_indices_count_every_example_once(n, b, num):
  indices, weight = loop.eval_indices(n, b, num)
  nb = -(-n // b) if num == 0 else min(num, -(-n // b))
  assert indices.shape == weight.shape == (nb, b)
  assert loop.num_eval_batches(n, b, num) == nb
  counted = indices[weight == 1]
  assert sorted(counted.tolist()) == list(range(min(n, nb * b)))  # each once
  assert indices.min() >= 0 and indices.max() < n  # padding rows are real examples
  assert weight.sum() == min(n, nb * b)


def test_held_out_statistics_match_hand_computation():
  acc_alpha = np.array([0.5, 0.25, 0.75, 0.5])
  acc_beta = {"policy": np.array([0.75, 0.25, 0.5, 0.625]),
              "random": np.array([0.25, 0.125, 0.75, 0.5])}
  change = {"policy": np.array([-0.5, 0.0, -0.25, -0.25]), "random": np.zeros(4)}
  got = derive.held_out_statistics(acc_alpha, acc_beta, change, change)
  # policy rewards 0.25, 0, -0.25, 0.125; random -0.25, -0.125, 0, 0.
  assert got["supernet_accuracy"] == pytest.approx(0.5)
  assert got["supernet_accuracy_se"] == pytest.approx(statistics.stdev(acc_alpha) / 2)
  assert got["policy_reward"] == pytest.approx(0.03125)
  assert got["policy_reward_se"] == pytest.approx(statistics.stdev([0.25, 0, -0.25, 0.125]) / 2)
  assert got["policy_win_rate"] == 0.5  # ties (0.25 == 0.25) are not wins
  assert got["random_reward"] == pytest.approx(-0.09375)
  assert got["random_win_rate"] == 0.0
  assert got["policy_params_change"] == pytest.approx(-0.25)
  assert got["random_madds_change"] == 0.0
  assert got["policy_minus_random"] == pytest.approx(0.125)
  assert got["policy_minus_random_se"] == pytest.approx(
      statistics.stdev([0.5, 0.125, -0.25, 0.125]) / 2)


@pytest.mark.parametrize("rule, space_name", [("nat", "darts"), ("natpp", "darts_pp")])
def test_constant_policies_are_uniform_with_and_without_null(rule, space_name):
  space = spaces.get_space(space_name)
  pol = policy.for_rule(rule, space)
  params = pol.init(jax.random.key(0))
  cells = sampler.sample_archs(jax.random.key(1), space, 20).normal
  for allow_null in (True, False):
    constant = derive.constant_policy_params(params, pol, allow_null)
    for i in range(20):
      cell = jax.tree.map(lambda a: a[i], cells)
      probs = np.exp(np.asarray(pol.distribution(constant, cell).edge_log_probs()))
      for e in range(space.num_edges):
        allowed = np.isfinite(np.asarray(pol.distribution(params, cell).edge_log_probs())[e])
        if pol.module.head == "nat":  # actions (null, keep, skip)
          allowed[0] = allowed[0] and allow_null
        else:
          allowed[space.null_index] = allowed[space.null_index] and allow_null
        want = np.where(allowed, 1.0 / allowed.sum(), 0.0)
        np.testing.assert_allclose(probs[e], want, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# The scorer and the whole check on a tiny config.


@pytest.fixture(scope="module")
def tiny():
  config = search_configs.tiny_search_config(eval_batch_size=64)
  dataset = data.load(config.dataset, split_seed=config.split_seed, w_fraction=config.w_fraction)
  setup = search_steps.make_setup(config, dataset)
  mesh = sharding.data_mesh()
  steps = search_steps.make_steps(setup, mesh)
  state = search_steps.init_state(jax.random.key(3), setup, dataset.image_shape)
  sets = loop.scoring_sets(config, dataset, mesh)
  return setup, steps, state, dataset, sets


def _independent_accuracy(setup, w_params, source, batch_size, archs):
  """Accuracy of each architecture: a plain supernet forward per batch, weights from numpy."""
  indices, weight = loop.eval_indices(len(source), batch_size)
  local = dataclasses.replace(setup.supernet, axis_name=None)  # one device, no shard_map
  forward = jax.jit(functools.partial(supernet.apply_supernet, config=local))
  batches = [data.batch(source, idx) for idx in indices]
  out = []
  for i in range(archs.normal.op.shape[0]):
    one = jax.tree.map(lambda a: a[i], archs)
    correct = 0.0
    for batch, w in zip(batches, weight):
      x = (batch["image"].astype(np.float32) / 255.0 - setup.mean) / setup.std
      pred = np.argmax(np.asarray(forward(w_params, x, one)), -1)
      correct += float(np.sum((pred == batch["label"]) * w))
    out.append(correct / weight.sum())
  return np.array(out)


@pytest.mark.slow
def test_scorer_matches_an_independent_forward_and_scores_duplicates_once(tiny):
  setup, steps, state, dataset, sets = tiny
  archs = jax.tree.map(np.asarray, sampler.sample_archs(jax.random.key(4), setup.space, 3))
  doubled = jax.tree.map(lambda a: np.concatenate([a, a[::-1]]), archs)
  scorer = derive.Scorer(steps.score_archs, state.w_params, sets["held_out"], chunk=2)
  got = scorer(doubled)
  assert scorer.scored == 3
  want = _independent_accuracy(setup, state.w_params, dataset.test, 64, archs)
  np.testing.assert_allclose(got[:3], want, atol=1e-6)
  np.testing.assert_array_equal(got[3:], got[:3][::-1])
  assert sets["held_out"].num_examples == len(dataset.test) == 297


@pytest.mark.slow
def test_held_out_check_matches_independent_computation(tiny):
  setup, steps, state, dataset, sets = tiny
  scorer = derive.Scorer(steps.score_archs, state.w_params, sets["held_out"])
  n = 6
  summary, per_arch = derive.evaluate_policy(setup, scorer, state.theta_params,
                                             jax.random.key(5), n)
  assert summary["eval_archs"] == n and summary["eval_examples"] == 297
  acc_alpha = _independent_accuracy(setup, state.w_params, dataset.test, 64, per_arch["alphas"])
  np.testing.assert_allclose(per_arch["acc_alpha"], acc_alpha, atol=1e-6)
  assert summary["supernet_accuracy"] == pytest.approx(acc_alpha.mean(), abs=1e-6)
  null = setup.space.null_index
  for name in derive.VARIANTS:
    rec = per_arch[name]
    acc = _independent_accuracy(setup, state.w_params, dataset.test, 64, rec["betas"])
    np.testing.assert_allclose(rec["acc"], acc, atol=1e-6)
    reward = acc - acc_alpha
    assert summary[f"{name}_reward"] == pytest.approx(reward.mean(), abs=1e-6)
    assert summary[f"{name}_reward_se"] == pytest.approx(
        reward.std(ddof=1) / np.sqrt(n), abs=1e-6)
    assert summary[f"{name}_win_rate"] == pytest.approx(np.mean(acc > acc_alpha))
    # Costs against the cost model, on genotypes.
    for i in range(n):
      alpha = arch.arch_to_genotype(jax.tree.map(lambda a: a[i], per_arch["alphas"]), setup.space)
      beta = arch.arch_to_genotype(jax.tree.map(lambda a: a[i], rec["betas"]), setup.space)
      ca, cb = costs.genotype_cost(alpha), costs.genotype_cost(beta)
      assert rec["params_change"][i] == pytest.approx(cb["params"] / ca["params"] - 1, abs=1e-9)
      assert cb["params"] <= ca["params"] and cb["madds"] <= ca["madds"]
      if rec["fallback"][i]:
        assert beta == alpha
    assert summary[f"{name}_params_change"] == pytest.approx(rec["params_change"].mean())
  betas = per_arch["random_nonull"]["betas"]
  assert not (np.asarray(betas.normal.op) == null).any()
  assert not (np.asarray(betas.reduce.op) == null).any()
  d = (per_arch["policy"]["acc"] - per_arch["random"]["acc"])
  assert summary["policy_minus_random"] == pytest.approx(d.mean(), abs=1e-6)
