"""Tests for natjax.transform: the jitted, vmapped batch transform."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from natjax import arch, genotypes, spaces, transform, transitions
from natjax.arch import Arch, Cell
from natjax.errors import InputError

BATCH = 64
SAMPLES = 4
DARTS_PP = spaces.get_space("darts_pp")


@functools.lru_cache(maxsize=None)
def _params(rule, space):
  return transform.init_params(jax.random.key(0), rule, space)


def _random_cell(rng, space, batch):
  """Uniform input cells like spaces.sample_cell, drawn with numpy (no compile)."""
  num_choices = np.arange(space.num_edges) // 2 + 2
  src = (rng.random((batch, space.num_edges)) * num_choices).astype(np.int32)
  op = rng.integers(0, space.num_ops - 1, (batch, space.num_edges)).astype(np.int32)
  return Cell(op=op, src=src, concat=space.output_mask(src))


def _archs(space, seed=1, batch=BATCH):
  rng = np.random.default_rng(seed)
  return Arch(_random_cell(rng, space, batch), _random_cell(rng, space, batch))


def _cells(archs, name, index):
  """Unbatched cells of `archs` at the given batch positions, stacked."""
  return jax.tree_util.tree_map(lambda x: np.asarray(x)[list(index)], getattr(archs, name))


def _run(rule, space, archs, seed=2, mode="sample"):
  return transform.transform(_params(rule, space), archs, jax.random.key(seed), rule=rule,
                             mode=mode, num_samples=SAMPLES, space=space)


@pytest.mark.parametrize("space_name,rule", [
    ("darts", "nat"), ("enas", "nat"), ("darts_pp", "natpp"), ("enas_pp", "natpp"),
    ("darts", "natpp")])
def test_outputs_stay_inside_the_rule_mask(space_name, rule):
  space = spaces.get_space(space_name)
  archs = _archs(space)
  res = _run(rule, space, archs)
  mask = transitions.compile_mask(transitions.get_rule(rule), space)
  for name in arch.CELL_TYPES:
    before = np.asarray(getattr(archs, name).op)[:, None, :]
    after = np.asarray(getattr(res.outputs, name).op)
    assert after.shape == (BATCH, SAMPLES, space.num_edges)
    assert mask[np.broadcast_to(before, after.shape), after].all()
    # Wiring and concat are the input's (NAT keeps the genotype's concat lists).
    for field in ("src", "concat"):
      got = np.asarray(getattr(getattr(res.outputs, name), field))
      want = np.asarray(getattr(getattr(archs, name), field))[:, None]
      np.testing.assert_array_equal(got, np.broadcast_to(want, got.shape))
  assert res.log_prob.shape == res.cost_ok.shape == (BATCH, SAMPLES)
  assert np.isfinite(np.asarray(res.log_prob)).all() and (np.asarray(res.log_prob) <= 0).all()


def test_nat_rule_only_keeps_nulls_or_skips():
  space = spaces.get_space("darts")
  archs = _archs(space)
  res = _run("nat", space, archs)
  before = np.asarray(archs.normal.op)[:, None, :]
  after = np.asarray(res.outputs.normal.op)
  assert ((after == before) | (after == space.null_index) | (after == space.skip_index)).all()


def test_folded_logits_equal_the_policy_logits():
  pol = transform.transform_policy("natpp", DARTS_PP)
  params = pol.init(jax.random.key(3))
  folded = transform.fold_params(params)
  cells = _cells(_archs(DARTS_PP, batch=4), "reduce", range(4))
  got = jax.vmap(lambda c: transform.folded_logits(folded, c, DARTS_PP.num_nodes))(cells)
  want = jax.vmap(lambda c: pol.logits(params, c))(cells)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_log_prob_is_the_sum_of_both_cells_policy_log_probs():
  pol = transform.transform_policy("natpp", DARTS_PP)
  params = _params("natpp", DARTS_PP)
  archs = _archs(DARTS_PP)
  res = _run("natpp", DARTS_PP, archs)
  index, sample = [0, 5, 17], [0, 3, 1]
  total = 0.0
  for name in arch.CELL_TYPES:
    # Under the mask head the action is the output op index.
    actions = np.asarray(getattr(res.outputs, name).op)[index, sample]
    total += jax.vmap(lambda c, a: pol.distribution(params, c).log_prob(a))(
        _cells(archs, name, index), actions)
  np.testing.assert_allclose(np.asarray(res.log_prob)[index, sample], total, rtol=1e-4,
                             atol=1e-4)


def _null_reduce_batch(space, batch=BATCH):
  """Random archs whose reduce cells hold only null edges (null -> skip raises the cost)."""
  archs = _archs(space, seed=7, batch=batch)
  reduce = archs.reduce._replace(op=np.full_like(archs.reduce.op, space.null_index))
  return Arch(archs.normal, reduce)


def test_cost_flag_matches_exact_costs_and_catches_increases():
  archs = _null_reduce_batch(DARTS_PP)
  res = _run("natpp", DARTS_PP, archs)
  in_p, in_m = transform.exact_costs(archs, DARTS_PP)
  out_p, out_m = transform.exact_costs(res.outputs, DARTS_PP)
  more = (out_p > in_p[:, None]) | (out_m > in_m[:, None])
  np.testing.assert_array_equal(np.asarray(res.cost_ok), ~more)
  assert more.any() and (~more).any()
  np.testing.assert_array_equal(np.asarray(res.in_params), in_p)
  np.testing.assert_array_equal(np.asarray(res.out_params), out_p)
  np.testing.assert_allclose(np.asarray(res.out_madds), out_m, rtol=1e-6)


def test_cost_flag_on_random_batch_agrees_with_float_costs():
  res = _run("natpp", DARTS_PP, _archs(DARTS_PP, seed=11))
  more = ((np.asarray(res.out_params) > np.asarray(res.in_params)[:, None])
          | (np.asarray(res.out_madds) > np.asarray(res.in_madds)[:, None]))
  np.testing.assert_array_equal(np.asarray(res.cost_ok), ~more)


def test_positive_sum_is_exact_beyond_int32():
  # Plain int32 sums of the first two rows wrap around to the wrong sign.
  diff = jnp.array([[2**30, 2**30, 0, 0], [-2**30, -2**30, -1, 0], [-5, 3, 1, 0], [-5, 3, 3, 0]],
                   jnp.int32)
  np.testing.assert_array_equal(transform._positive_sum(diff), [True, False, False, True])


def test_greedy_is_deterministic_and_matches_the_policy():
  pol = transform.transform_policy("natpp", DARTS_PP)
  params = _params("natpp", DARTS_PP)
  archs = _archs(DARTS_PP)
  a = _run("natpp", DARTS_PP, archs, seed=2, mode="greedy")
  b = _run("natpp", DARTS_PP, archs, seed=99, mode="greedy")
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(x, y)
  ops = np.asarray(a.outputs.normal.op)
  assert (ops == ops[:, :1]).all()
  _, new_op = jax.vmap(lambda c: pol.distribution(params, c).greedy())(
      _cells(archs, "normal", range(BATCH)))
  np.testing.assert_array_equal(ops[:, 0], new_op)


def test_same_seed_same_result_other_seed_other_result():
  archs = _archs(DARTS_PP)
  a, b, c = (_run("natpp", DARTS_PP, archs, seed=s) for s in (5, 5, 6))
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(x, y)
  assert (np.asarray(a.outputs.normal.op) != np.asarray(c.outputs.normal.op)).any()


def test_one_trace_for_many_calls_of_one_batch_size():
  space = spaces.get_space("darts_pp")
  params = _params("natpp", space)
  before = transform.trace_count()
  for seed in range(6):
    # A sample count no other test uses, so the first call traces afresh.
    transform.transform(params, _archs(space, seed=seed, batch=8), jax.random.key(seed),
                        rule="natpp", num_samples=3, space=space)
  assert transform.trace_count() - before == 1


def test_default_space_follows_the_rule_kind():
  assert transform.default_space(4, "nat").name == "darts"
  assert transform.default_space(5, "nat").name == "enas"
  assert transform.default_space(4, "natpp").name == "darts_pp"
  assert transform.default_space(5, "natpp").name == "enas_pp"


def test_builtin_genotype_round_trip():
  space = spaces.get_space("darts")
  batch = arch.stack_archs([arch.genotype_to_arch(genotypes.DARTS, space)] * 2)
  res = _run("nat", space, batch)
  out = jax.tree_util.tree_map(lambda x: np.asarray(x)[0, 0], res.outputs)
  g = arch.arch_to_genotype(out, space)
  assert g.normal_concat == genotypes.DARTS.normal_concat
  assert [e[1:] for e in g.reduce] == [e[1:] for e in genotypes.DARTS.reduce]


@pytest.mark.parametrize("kwargs,match", [
    ({"mode": "beam"}, "unknown mode"),
    ({"num_samples": 0}, ">= 1"),
    ({"rule": "natq"}, "natpp"),
    ({"space": "enas_pp"}, "edges"),
])
def test_bad_arguments_raise_input_error(kwargs, match):
  archs = _archs(DARTS_PP, batch=2)
  call = {"rule": "natpp", "space": DARTS_PP, **kwargs}
  with pytest.raises(InputError, match=match):
    transform.transform(None, archs, jax.random.key(0), **call)


def test_actions_rule_without_the_nat_outcomes_is_refused(tmp_path):
  rule = transitions.Rule("only_null", {op: ("null",) for op in spaces.NATPP_OPS},
                          frozenset(), "actions")
  with pytest.raises(InputError, match="NAT head"):
    transform.compile_rule(rule, DARTS_PP)


def test_unbatched_archs_are_refused():
  single = jax.tree_util.tree_map(lambda x: x[0], _archs(DARTS_PP, batch=2))
  with pytest.raises(InputError, match="batch"):
    transform.transform(None, single, jax.random.key(0), rule="natpp", space=DARTS_PP)


def test_sample_frequencies_follow_the_policy_probabilities():
  pol = transform.transform_policy("natpp", DARTS_PP)
  params = _params("natpp", DARTS_PP)
  archs = _archs(DARTS_PP, seed=3, batch=1)
  res = transform.transform(params, archs, jax.random.key(8), rule="natpp", num_samples=4000,
                            space=DARTS_PP)
  cell = _cells(archs, "normal", [0])
  probs = np.exp(np.asarray(jax.vmap(lambda c: pol.distribution(params, c).edge_log_probs())(
      cell)[0]))  # [E, V]
  ops = np.asarray(res.outputs.normal.op)[0]  # [K, E]
  freq = np.stack([np.bincount(ops[:, e], minlength=DARTS_PP.num_ops) for e in range(8)]) / 4000
  np.testing.assert_allclose(freq, probs, atol=0.03)
