"""Tests for natjax.nn.policy: the released GCN, the NAT head and the Binary-Masked Softmax."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from natjax.core import arch, genotypes, rules, sampler, spaces
from natjax.core.arch import Cell
from natjax.nn import policy

DARTS = spaces.get_space("darts")
DARTS_PP = spaces.get_space("darts_pp")

# NAT++ transition dictionary, spec section 4.2 (input op -> allowed outputs).
_NATPP_TABLE = {
    "conv_5x5": ("conv_5x5", "conv_3x3", "conv_1x1", "sep_conv_5x5", "sep_conv_3x3",
                 "dil_conv_5x5", "dil_conv_3x3", "max_pool_5x5", "max_pool_3x3", "avg_pool_5x5",
                 "avg_pool_3x3", "skip_connect", "null"),
    "conv_3x3": ("conv_3x3", "conv_1x1", "sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3",
                 "avg_pool_3x3", "skip_connect", "null"),
    "conv_1x1": ("conv_1x1", "skip_connect", "null"),
    "sep_conv_5x5": ("sep_conv_5x5", "sep_conv_3x3", "dil_conv_5x5", "dil_conv_3x3",
                     "max_pool_5x5", "max_pool_3x3", "avg_pool_5x5", "avg_pool_3x3",
                     "skip_connect", "null"),
    "sep_conv_3x3": ("sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3",
                     "skip_connect", "null"),
    "dil_conv_5x5": ("dil_conv_5x5", "dil_conv_3x3", "max_pool_5x5", "max_pool_3x3",
                     "avg_pool_5x5", "avg_pool_3x3", "skip_connect", "null"),
    "dil_conv_3x3": ("dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "null"),
    "avg_pool_5x5": ("avg_pool_5x5", "avg_pool_3x3", "max_pool_5x5", "max_pool_3x3",
                     "skip_connect", "null"),
    "avg_pool_3x3": ("avg_pool_3x3", "max_pool_3x3", "skip_connect", "null"),
    "max_pool_5x5": ("max_pool_5x5", "max_pool_3x3", "avg_pool_5x5", "avg_pool_3x3",
                     "skip_connect", "null"),
    "max_pool_3x3": ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "null"),
    "skip_connect": ("skip_connect", "null"),
    "null": ("skip_connect", "null"),
}


def _literal_natpp_mask(space):
  mask = np.zeros((space.num_ops, space.num_ops), bool)
  for src, outs in _NATPP_TABLE.items():
    mask[space.index(src), [space.index(o) for o in outs]] = True
  return mask


def _natpp_mask(space):
  """The NAT++ mask of natjax.core.rules."""
  return np.asarray(rules.compile_mask(rules.get_rule("natpp"), space), bool)


NATPP_MASK = _natpp_mask(DARTS_PP)


def _policies(**kwargs):
  return {"nat": policy.make_policy(DARTS, "nat", **kwargs),
          "mask": policy.make_policy(DARTS_PP, "mask", NATPP_MASK, **kwargs)}


POLICIES = _policies()
PARAMS = {h: p.init(jax.random.key(0)) for h, p in POLICIES.items()}


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _random_cells(space, num, seed=0):
  """`num` cells: the normal and reduce cells of num // 2 random architectures."""
  a = sampler.sample_archs(jax.random.key(seed), space, num // 2)
  return jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a.normal, a.reduce)


def _cell(op, src):
  op, src = np.asarray(op, np.int32), np.asarray(src, np.int32)
  return Cell(op=op, src=src, concat=np.ones(len(op) // 2, bool))


def _log_softmax(z):
  z = np.asarray(z, np.float64)
  return z - np.log(np.exp(z - z.max()).sum()) - z.max()


# --------------------------------------------------------------------------- network


@pytest.mark.parametrize("head,expected", [("nat", 320_330), ("mask", 322_750)])
def test_parameter_count_matches_released_code(head, expected):
  assert sum(x.size for x in jax.tree.leaves(PARAMS[head])) == expected


@pytest.mark.parametrize("space_name,self_loops", [("darts", False), ("enas_pp", True)])
def test_init_equals_the_module_init_for_every_cell_size(space_name, self_loops):
  # Policy.init shares one compiled initialiser across cell sizes; the values must not change.
  space = spaces.get_space(space_name)
  pol = policy.make_policy(space, "nat", self_loops=self_loops)
  zeros = np.zeros(space.num_edges, np.int32)
  want = pol.module.init(jax.random.key(4), zeros, zeros)
  got = pol.init(jax.random.key(4))
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_array_equal(x, y)


def test_logits_shape_and_initialisation_ranges():
  params = PARAMS["mask"]["params"]
  assert np.abs(params["embed_linear"]["kernel"]).max() <= 1 / np.sqrt(200)
  assert np.abs(params["head"]["bias"]).max() <= 1 / np.sqrt(100)
  assert np.abs(params["gcn1"]["weight"]).max() <= 1 / np.sqrt(100)
  assert np.asarray(params["op_embed"]["embedding"]).std() == pytest.approx(1.0, abs=0.1)
  cell = _cell([11, 0, 4, 12, 7, 5, 9, 2], [0, 1, 2, 0, 3, 1, 4, 2])
  assert POLICIES["mask"].logits(PARAMS["mask"], cell).shape == (8, 13)
  assert POLICIES["nat"].logits(PARAMS["nat"], _cell([0] * 8, [0, 1] * 4)).shape == (8, 3)


def test_adjacency_counts_duplicates_and_normalises_with_self_loops():
  src = jnp.array([0, 0, 1, 2, 2, 3], jnp.int32)  # Node 2 reads node 0 twice.
  adj = np.asarray(policy.adjacency(src, 3))
  expected = np.zeros((5, 5))
  for e, s in enumerate(np.asarray(src)):
    expected[e // 2 + 2, s] += 1
  np.testing.assert_array_equal(adj, expected)
  a_hat = expected + np.eye(5)
  d = 1 / np.sqrt(a_hat.sum(1))
  np.testing.assert_allclose(policy.adjacency(src, 3, self_loops=True),
                             d[:, None] * a_hat * d[None, :], rtol=1e-6)


@pytest.mark.parametrize("head", ["nat", "mask"])
def test_released_gcn_node2_logits_do_not_depend_on_the_architecture(head):
  pol, params = POLICIES[head], PARAMS[head]
  space = DARTS if head == "nat" else DARTS_PP
  cells = jax.tree.map(lambda x: x[:64], _random_cells(space, 10_000))
  logits = np.asarray(jax.jit(jax.vmap(lambda c: pol.logits(params, c)))(cells))
  np.testing.assert_allclose(logits[:, :2], np.broadcast_to(logits[:1, :2], logits[:, :2].shape),
                             rtol=1e-5, atol=1e-5)
  assert np.ptp(logits[:, 2:], axis=0).max() > 1e-3  # Later nodes do depend on it.
  # With self-loops (Kipf GCN) node 2 sees its own ops.
  loops = policy.make_policy(space, head, pol.mask, self_loops=True)
  logits = np.asarray(jax.jit(jax.vmap(lambda c: loops.logits(params, c)))(cells))
  assert np.ptp(logits[:, :2], axis=0).max() > 1e-3


def test_op_embedding_reaches_only_nodes_two_hops_downstream():
  pol, params = POLICIES["nat"], PARAMS["nat"]
  chain = [0, 1, 2, 2, 3, 3, 4, 4]  # 0,1 -> 2 -> 3 -> 4 -> 5
  ops = np.random.default_rng(0).integers(0, DARTS.null_index, size=(20, 8))
  base = np.asarray(pol.logits(params, _cell(ops[0], chain)))
  for op in ops[1:]:
    changed = ops[0].copy()
    changed[:2] = op[:2]  # Only node 2's ops change.
    logits = np.asarray(pol.logits(params, _cell(changed, chain)))
    np.testing.assert_allclose(np.delete(logits, [4, 5], axis=0),
                               np.delete(base, [4, 5], axis=0), rtol=1e-5, atol=1e-5)
    if (op[:2] != ops[0, :2]).any():
      assert np.abs(logits[4:6] - base[4:6]).max() > 1e-4
  # DARTS normal cell: no two-hop path between intermediate nodes, so ops never matter.
  darts = arch.genotype_to_arch(genotypes.DARTS, DARTS).normal
  base = np.asarray(pol.logits(params, darts))
  for op in ops:
    np.testing.assert_allclose(pol.logits(params, darts._replace(op=op)), base,
                               rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- sampling


@functools.partial(jax.jit, static_argnums=(0,))
def _sample_batch(head, params, cells, key):
  pol = POLICIES[head]
  keys = jax.random.split(key, cells.op.shape[0])
  return jax.vmap(lambda c, k: pol.distribution(params, c).sample(k))(cells, keys)


def test_masked_samples_stay_in_the_natpp_mask():
  cells = _random_cells(DARTS_PP, 10_000)
  action, new_op = (np.asarray(x) for x in _sample_batch("mask", PARAMS["mask"], cells,
                                                           jax.random.key(1)))
  np.testing.assert_array_equal(action, new_op)
  assert NATPP_MASK[np.asarray(cells.op), new_op].all()
  assert len(np.unique(new_op)) == DARTS_PP.num_ops  # Every op is reachable somewhere.


def test_nat_samples_are_null_keep_or_skip():
  cells = _random_cells(DARTS, 10_000)
  action, new_op = (np.asarray(x) for x in _sample_batch("nat", PARAMS["nat"], cells,
                                                           jax.random.key(1)))
  op = np.asarray(cells.op)
  expected = np.choose(action, [np.full_like(op, DARTS.null_index), op,
                                np.full_like(op, DARTS.skip_index)])
  np.testing.assert_array_equal(new_op, expected)
  assert set(np.unique(action)) == {0, 1, 2}


@pytest.mark.parametrize("head", ["nat", "mask"])
@pytest.mark.parametrize("quirk", [False, True])
def test_sample_frequencies_match_probabilities(head, quirk):
  pol, params = POLICIES[head], PARAMS[head]
  space = DARTS if head == "nat" else DARTS_PP
  # Input ops cover conv_5x5 (13 allowed outputs), skip and null (2 each) under 'mask'.
  cell = _cell([11, 4, 12, 5, 0, 1, 10, 2], [0, 1, 2, 0, 3, 1, 4, 2])
  cell = cell._replace(op=np.minimum(cell.op, space.null_index))
  dist = policy.CellDistribution(pol.logits(params, cell), cell.op, pol.mask, head,
                                 space.null_index, space.skip_index, quirk)
  num = 20_000
  actions, _ = jax.jit(jax.vmap(dist.sample))(jax.random.split(jax.random.key(5), num))
  actions = np.asarray(actions)
  weights = np.exp(np.asarray(dist.edge_log_probs(), np.float64))
  for e in range(actions.shape[1]):
    allowed = weights[e] > 0
    expected = num * weights[e][allowed] / weights[e].sum()
    observed = np.bincount(actions[:, e], minlength=weights.shape[1])
    assert observed[~allowed].sum() == 0
    assert stats.chisquare(observed[allowed], expected).pvalue > 1e-3


def test_same_key_same_sample_and_greedy_is_deterministic():
  pol, params = POLICIES["mask"], PARAMS["mask"]
  dist = pol.distribution(params, _cell([11, 0, 4, 12, 7, 5, 9, 2], [0, 1, 2, 0, 3, 1, 4, 2]))
  a1, a2, b = dist.sample(jax.random.key(3)), dist.sample(jax.random.key(3)), [
      dist.sample(jax.random.key(k))[0] for k in range(4, 8)]
  np.testing.assert_array_equal(a1[0], a2[0])
  assert any((np.asarray(x) != np.asarray(a1[0])).any() for x in b)
  np.testing.assert_array_equal(dist.greedy()[0], dist.greedy()[0])


# --------------------------------------------------------------------------- hand examples

# A 4-op toy vocabulary: op 3 is null, op 2 skip. Edge 0 has input op 0 (may become 0, 2, 3);
# edge 1 has input op 2 (may become 2, 3). Masked logits are the largest on purpose.
TOY_MASK = np.array([[1, 0, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]], bool)
TOY_OP = jnp.array([0, 2], jnp.int32)
TOY_LOGITS = jnp.array([[0.5, 9.0, -1.0, 2.0], [7.0, 8.0, 0.25, -0.5]], jnp.float32)


def test_masked_log_prob_matches_numpy():
  log_p = np.asarray(policy.edge_log_probs(TOY_LOGITS, TOY_OP, TOY_MASK, "mask"))
  for e, allowed in enumerate(TOY_MASK[np.asarray(TOY_OP)]):
    np.testing.assert_allclose(log_p[e, allowed],
                               _log_softmax(np.asarray(TOY_LOGITS)[e, allowed]), rtol=1e-6)
    assert np.isneginf(log_p[e, ~allowed]).all()
  action = jnp.array([3, 2])
  expected = (_log_softmax([0.5, -1.0, 2.0])[2] + _log_softmax([0.25, -0.5])[0])
  assert float(policy.log_prob(TOY_LOGITS, TOY_OP, TOY_MASK, "mask", action)) == pytest.approx(
      expected, rel=1e-6)
  p = np.exp(_log_softmax([0.5, -1.0, 2.0]))
  q = np.exp(_log_softmax([0.25, -0.5]))
  np.testing.assert_allclose(policy.edge_entropy(TOY_LOGITS, TOY_OP, TOY_MASK, "mask"),
                             [-(p * np.log(p)).sum(), -(q * np.log(q)).sum()], rtol=1e-6)


def test_nat_log_prob_is_per_action_and_op_log_prob_marginalises():
  logits = jnp.array([[0.1, 1.2, -0.3], [2.0, 0.5, 1.0]])
  op = jnp.array([5, 2], jnp.int32)  # Edge 1's input is skip: keep and skip both give skip.
  kw = dict(null_index=8, skip_index=2)
  action = jnp.array([1, 2])
  ls = [_log_softmax(row) for row in np.asarray(logits)]
  assert float(policy.log_prob(logits, op, None, "nat", action)) == pytest.approx(
      ls[0][1] + ls[1][2], rel=1e-6)
  np.testing.assert_array_equal(policy.action_to_op(action, op, "nat", **kw), [5, 2])
  marginal = policy.op_log_prob(logits, op, None, "nat", jnp.array([5, 2]), **kw)
  np.testing.assert_allclose(marginal, [ls[0][1], np.logaddexp(ls[1][1], ls[1][2])], rtol=1e-6)
  # Under 'mask' the marginal is the action's own log-probability.
  np.testing.assert_allclose(
      policy.op_log_prob(TOY_LOGITS, TOY_OP, TOY_MASK, "mask", jnp.array([3, 2])),
      policy.edge_log_prob(TOY_LOGITS, TOY_OP, TOY_MASK, "mask", jnp.array([3, 2])), rtol=1e-6)


def test_released_quirk_adds_1e5_to_allowed_probabilities():
  action = jnp.array([0, 3])
  p0 = np.exp(_log_softmax([0.5, -1.0, 2.0]))  # Edge 0 allowed ops 0, 2, 3.
  p1 = np.exp(_log_softmax([0.25, -0.5]))  # Edge 1 allowed ops 2, 3.
  got = policy.edge_log_prob(TOY_LOGITS, TOY_OP, TOY_MASK, "mask", action, released_quirk=True)
  np.testing.assert_allclose(got, np.log([p0[0] + 1e-5, p1[1] + 1e-5]), rtol=1e-6)
  exact = policy.edge_log_prob(TOY_LOGITS, TOY_OP, TOY_MASK, "mask", action)
  np.testing.assert_allclose(got - exact, np.log1p(1e-5 / np.array([p0[0], p1[1]])), rtol=1e-2)
  log_p = policy.edge_log_probs(TOY_LOGITS, TOY_OP, TOY_MASK, "mask", released_quirk=True)
  assert np.isneginf(np.asarray(log_p)[~TOY_MASK[np.asarray(TOY_OP)]]).all()  # Masked stay 0.
  q = p1 + 1e-5
  assert float(policy.edge_entropy(TOY_LOGITS, TOY_OP, TOY_MASK, "mask", True)[1]) == (
      pytest.approx(-(q * np.log(q)).sum(), rel=1e-6))
  # NAT adds 1e-5 to all three entries.
  logits = jnp.array([[0.1, 1.2, -30.0]])
  p = np.exp(_log_softmax([0.1, 1.2, -30.0])) + 1e-5
  np.testing.assert_allclose(
      policy.edge_log_probs(logits, jnp.array([0]), None, "nat", released_quirk=True)[0],
      np.log(p), rtol=1e-5)
  assert float(policy.entropy(logits, jnp.array([0]), None, "nat", True)) == pytest.approx(
      -(p * np.log(p)).sum(), rel=1e-6)


@pytest.mark.parametrize("quirk", [False, True])
def test_masked_logits_get_exactly_zero_gradient(quirk):
  action, _ = policy.sample(jax.random.key(0), TOY_LOGITS, TOY_OP, TOY_MASK, "mask",
                            released_quirk=quirk)

  def objective(logits):
    return (policy.log_prob(logits, TOY_OP, TOY_MASK, "mask", action, quirk)
            + policy.entropy(logits, TOY_OP, TOY_MASK, "mask", quirk))

  grad = np.asarray(jax.grad(objective)(TOY_LOGITS))
  allowed = TOY_MASK[np.asarray(TOY_OP)]
  assert np.isfinite(grad).all()
  assert (grad[~allowed] == 0).all()
  assert (grad[allowed] != 0).any()


def test_greedy_picks_the_allowed_argmax():
  action, new_op = policy.greedy(TOY_LOGITS, TOY_OP, TOY_MASK, "mask")
  np.testing.assert_array_equal(action, [3, 2])  # Not op 1 or op 0, the masked maxima.
  np.testing.assert_array_equal(new_op, [3, 2])
  action, new_op = policy.greedy(jnp.array([[0.0, 1.0, 3.0]]), jnp.array([5]), None, "nat",
                                 null_index=8, skip_index=2)
  np.testing.assert_array_equal(action, [2])
  np.testing.assert_array_equal(new_op, [2])


def test_make_policy_rejects_bad_heads_and_masks():
  with pytest.raises(ValueError, match="head"):
    policy.make_policy(DARTS, "gumbel")
  with pytest.raises(ValueError, match="mask"):
    policy.make_policy(DARTS_PP, "mask")
  with pytest.raises(ValueError, match="shape"):
    policy.make_policy(DARTS_PP, "mask", np.ones((9, 9), bool))
