"""Tests for natjax.search.transform: the jitted, vmapped batch transform."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from natjax.core import arch, costs, genotypes, rules, sampler, spaces
from natjax.core.arch import Arch, Cell
from natjax.errors import InputError
from natjax.nn import policy
from natjax.search import transform

BATCH = 64
SAMPLES = 4
DARTS_PP = spaces.get_space("darts_pp")


@functools.lru_cache(maxsize=None)
def _params(rule, space):
  return policy.init_for_rule(jax.random.key(0), rule, space)


def _random_cell(rng, space, batch):
  """Uniform input cells like sampler.sample_cell, drawn with numpy (no compile)."""
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


def test_folded_logits_equal_the_policy_logits():
  pol = policy.for_rule("natpp", DARTS_PP)
  params = pol.init(jax.random.key(3))
  folded = transform.fold_params(params)
  cells = _cells(_archs(DARTS_PP, batch=4), "reduce", range(4))
  got = jax.vmap(lambda c: transform.folded_logits(folded, c, DARTS_PP.num_nodes))(cells)
  want = jax.vmap(lambda c: pol.logits(params, c))(cells)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("self_loops,quirk", [(False, False), (True, True)])
def test_log_prob_is_the_sum_of_both_cells_policy_log_probs(self_loops, quirk):
  pol = policy.for_rule("natpp", DARTS_PP, released_quirk=quirk,
                                   self_loops=self_loops)
  params = _params("natpp", DARTS_PP)
  archs = _archs(DARTS_PP)
  res = transform.transform(params, archs, jax.random.key(2), rule="natpp", num_samples=SAMPLES,
                            space=DARTS_PP, released_quirk=quirk, self_loops=self_loops)
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
  in_p, in_m = costs.exact_costs(archs, DARTS_PP)
  out_p, out_m = costs.exact_costs(res.outputs, DARTS_PP)
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
  pol = policy.for_rule("natpp", DARTS_PP)
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


def test_one_trace_for_many_calls_of_one_batch_size(monkeypatch):
  space = spaces.get_space("darts_pp")
  params = _params("natpp", space)
  traces = []  # fold_params runs once per trace of the batch function, never per call
  fold = transform.fold_params
  monkeypatch.setattr(transform, "fold_params", lambda p: traces.append(1) or fold(p))
  for seed in range(6):
    # A sample count no other test uses, so the first call traces afresh.
    transform.transform(params, _archs(space, seed=seed, batch=8), jax.random.key(seed),
                        rule="natpp", num_samples=3, space=space)
  assert len(traces) == 1


def test_default_space_follows_the_rule_kind():
  assert rules.default_space(4, "nat").name == "darts"
  assert rules.default_space(5, "nat").name == "enas"
  assert rules.default_space(4, "natpp").name == "darts_pp"
  assert rules.default_space(5, "natpp").name == "enas_pp"


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
  rule = rules.Rule("only_null", {op: ("null",) for op in spaces.NATPP_OPS},
                          frozenset(), "actions")
  with pytest.raises(InputError, match="NAT head"):
    policy.compile_rule(rule, DARTS_PP)


def test_unbatched_archs_are_refused():
  single = jax.tree_util.tree_map(lambda x: x[0], _archs(DARTS_PP, batch=2))
  with pytest.raises(InputError, match="batch"):
    transform.transform(None, single, jax.random.key(0), rule="natpp", space=DARTS_PP)


# --------------------------------------------------------------------------- connected outputs


def _host_connected(cell, space):
  """The host validator's verdict (natjax.core.arch.make_genotype) on one unbatched cell."""
  edges, concat = arch.cell_to_edges(cell, space)
  try:
    arch.make_genotype(edges, concat, edges, concat)
  except InputError as err:
    assert "does not depend on the cell inputs" in str(err)
    return False
  return True


@functools.lru_cache(maxsize=None)
def _connected_fn(null_index):
  return jax.jit(jax.vmap(lambda c: transform.depends_on_inputs(c.op, c.src, c.concat,
                                                                null_index)))


@pytest.mark.parametrize("space_name", ["darts_pp", "enas"])
def test_connected_check_agrees_with_the_host_validator(space_name):
  space = spaces.get_space(space_name)
  rng = np.random.default_rng(21)
  cells = _random_cell(rng, space, 1200)
  # A per-cell null rate from 0 to 1, so that both verdicts are common.
  nulls = rng.random(cells.op.shape) < rng.random((1200, 1))
  cells = cells._replace(op=np.where(nulls, space.null_index, cells.op).astype(np.int32))
  got = np.asarray(_connected_fn(space.null_index)(cells))
  want = np.array([_host_connected(jax.tree_util.tree_map(lambda x, i=i: x[i], cells), space)
                   for i in range(1200)])
  np.testing.assert_array_equal(got, want)
  assert 0.1 < want.mean() < 0.9


def _hand_cell(space, edges, concat):
  """Cell arrays from (op, src) pairs in edge order; concat lists node numbers."""
  num_nodes = len(edges) // 2
  mask = np.zeros(num_nodes, bool)
  mask[np.asarray(concat) - 2] = True
  return Cell(op=np.array([space.index(o) for o, _ in edges], np.int32),
              src=np.array([s for _, s in edges], np.int32), concat=mask)


@pytest.mark.parametrize("edges,concat,expected", [
    # Every edge null: the output is zero.
    ([("null", 0), ("null", 1)] * 4, [2, 3, 4, 5], False),
    # Node 2 is dead and every later node reads only node 2 and its descendants.
    ([("null", 0), ("null", 1), ("sep_conv_3x3", 2), ("sep_conv_3x3", 2), ("skip_connect", 3),
      ("sep_conv_3x3", 2), ("max_pool_3x3", 4), ("max_pool_3x3", 3)], [2, 3, 4, 5], False),
    # Same, but node 5 also reads input 1 through a skip: live.
    ([("null", 0), ("null", 1), ("sep_conv_3x3", 2), ("sep_conv_3x3", 2), ("skip_connect", 3),
      ("sep_conv_3x3", 2), ("null", 0), ("skip_connect", 1)], [2, 3, 4, 5], True),
    # A live node that is not an output does not help (loose-end concat).
    ([("sep_conv_3x3", 0), ("conv_3x3", 1), ("null", 2), ("null", 0), ("null", 3), ("null", 2),
      ("null", 4), ("null", 0)], [5], False),
    ([("sep_conv_3x3", 0), ("conv_3x3", 1), ("null", 2), ("null", 0), ("null", 3), ("null", 2),
      ("null", 4), ("null", 0)], [2, 5], True),
    # A null edge from a live node next to a live edge keeps the node live.
    ([("null", 0), ("avg_pool_3x3", 1), ("null", 2), ("null", 1), ("null", 3), ("null", 2),
      ("dil_conv_5x5", 2), ("null", 1)], [5], True),
])
def test_connected_check_on_hand_made_cells(edges, concat, expected):
  cell = _hand_cell(DARTS_PP, edges, concat)
  got = transform.depends_on_inputs(*(jnp.asarray(x) for x in cell), DARTS_PP.null_index)
  assert bool(got) is expected
  assert _host_connected(cell, DARTS_PP) is expected


def test_darts_cells_are_connected():
  space = spaces.get_space("darts")
  for g in (genotypes.DARTS, genotypes.NAT_DARTS):
    a = arch.genotype_to_arch(g, space)
    for cell in a:
      assert bool(transform.depends_on_inputs(*cell, space.null_index))


def test_transform_flags_outputs_whose_cells_are_dead():
  # Under 'nat' at the released initialisation about a third of the edges become null, so dead
  # outputs are common.
  space = spaces.get_space("darts")
  archs = _archs(space, seed=13)
  res = _run("nat", space, archs)
  outputs = jax.tree_util.tree_map(np.asarray, res.outputs)
  want = np.zeros((BATCH, SAMPLES), bool)
  for b in range(BATCH):
    for k in range(SAMPLES):
      cells = [jax.tree_util.tree_map(lambda x, b=b, k=k: x[b, k], getattr(outputs, name))
               for name in arch.CELL_TYPES]
      want[b, k] = all(_host_connected(c, space) for c in cells)
  np.testing.assert_array_equal(np.asarray(res.connected), want)
  assert want.any() and (~want).any()


# --------------------------------------------------------------------------- rule compilation


def test_registered_rules_are_compiled_once(monkeypatch):
  calls = []
  original = rules.compile_mask
  monkeypatch.setattr(rules, "compile_mask",
                      lambda *a, **k: calls.append(a) or original(*a, **k))
  space = spaces.get_space("enas_pp")
  archs = _archs(space, batch=2)
  params = _params("natpp", space)
  for seed in range(3):
    for rule in ("natpp", rules.get_rule("natpp")):
      transform.transform(params, archs, jax.random.key(seed), rule=rule, space=space)
  assert len(calls) <= 1  # Zero if an earlier test compiled the pair.
  head, mask = policy.compile_rule("natpp", space)
  assert head == "mask" and not mask.flags.writeable
  # An unregistered Rule object is compiled on every call.
  custom = dataclasses.replace(rules.get_rule("natpp"), name="natpp_copy")
  before = len(calls)
  for seed in range(2):
    transform.transform(params, archs, jax.random.key(seed), rule=custom, space=space)
  assert len(calls) - before == 2


# --------------------------------------------------------------------------- acceptance


def _pairs():
  """(space, rule) for every registered space and both built-in rules where the rule compiles."""
  pairs = []
  for space_name in spaces.registered_spaces():
    for rule_name in ("nat", "natpp"):
      try:
        policy.compile_rule(rule_name, spaces.get_space(space_name))
      except InputError:
        continue
      pairs.append((space_name, rule_name))
  return pairs


NUM_ARCHS = 10_000


@functools.lru_cache(maxsize=None)
def _sample_archs_fn(space):
  return jax.jit(lambda key: sampler.sample_archs(key, space, NUM_ARCHS))


def _fixed_cell(space, head):
  """A fixed example: sampled wiring, every non-null op of the space in turn (no skip under
  'nat', so each output op names its action)."""
  ops = [i for i in range(space.num_ops)
         if i != space.null_index and (head == "mask" or i != space.skip_index)]
  src = np.asarray(sampler.sample_cell(jax.random.key(5), space).src)
  op = np.array([ops[e % len(ops)] for e in range(space.num_edges)], np.int32)
  return Cell(op=op, src=src, concat=np.asarray(space.output_mask(src)))


def _outcome_probs(pol, logits, op, space):
  """float64[E, V]: probability of each output op, computed by hand from the logits."""
  logits = np.asarray(logits, np.float64)
  probs = np.zeros((len(op), space.num_ops))
  for e, o in enumerate(op):
    if pol.module.head == "nat":
      outcomes, z = [space.null_index, o, space.skip_index], logits[e]
    else:
      outcomes = list(np.flatnonzero(pol.mask[o]))
      z = logits[e, outcomes]
    p = np.exp(z - z.max())
    np.add.at(probs[e], outcomes, p / p.sum())
  return probs


def _chi_square_p(counts, probs):
  """p-value of one chi-square test over all edges (outcomes with probability > 0)."""
  stat, dof = 0.0, 0
  for c, p in zip(counts, probs):
    assert c[p == 0].sum() == 0  # Nothing outside the support.
    expected = p[p > 0] * c.sum()
    stat += ((c[p > 0] - expected) ** 2 / expected).sum()
    dof += (p > 0).sum() - 1
  return stats.chi2.sf(stat, dof)


def _counts(new_op, num_ops):
  return np.stack([np.bincount(new_op[:, e], minlength=num_ops) for e in range(new_op.shape[1])])


def _keys(seed):
  """2 * NUM_ARCHS keys; 'rbg' keys make the sampler compile in a fraction of threefry's time."""
  return jax.random.split(jax.random.key(seed, impl="rbg"), 2 * NUM_ARCHS)


@functools.lru_cache(maxsize=None)
def _policy_fns(pol):
  """Jitted functions of one policy.

  draws(folded, cells, keys): one CellDistribution.sample per (cell, key) over a batch, on the
    folded logits (equal to the GCN's; see test_folded_logits_equal_the_policy_logits).
  one_cell(params, cell, action, keys): for one cell, its logits, log_prob of `action`,
    d(log_prob + entropy)/d(logits) for both numerics, and one CellDistribution.sample per key.
  """
  num_nodes = pol.module.num_nodes

  def dist(z, op, quirk=False):
    return policy.CellDistribution(z, op, pol.mask, pol.module.head, pol.null_index,
                                   pol.skip_index, quirk)

  draws = jax.jit(jax.vmap(
      lambda folded, c, k: dist(transform.folded_logits(folded, c, num_nodes), c.op).sample(k)[1],
      in_axes=(None, 0, 0)))

  @jax.jit
  def one_cell(params, cell, action, keys):
    logits = pol.logits(params, cell)
    grads = [jax.grad(lambda z, q=q: dist(z, cell.op, q).log_prob(action)
                      + dist(z, cell.op, q).entropy())(logits) for q in (False, True)]
    samples = jax.vmap(lambda k: pol.distribution(params, cell).sample(k)[1])(keys)
    return logits, dist(logits, cell.op).log_prob(action), grads, samples

  return draws, one_cell


@pytest.mark.parametrize("space_name,rule_name", _pairs())
def test_acceptance_on_every_registered_space_and_rule(space_name, rule_name):
  space = spaces.get_space(space_name)
  rule = rules.get_rule(rule_name)
  pol = policy.for_rule(rule, space)
  params = _params(rule_name, space)
  mask = rules.compile_mask(rule, space)
  draws, one_cell = _policy_fns(pol)
  run = functools.partial(transform.transform, params, rule=rule, space=space)

  # 1. No transition outside the rule's mask over 10,000 random architectures (20,000 cells),
  #    through the batch transform and through the policy's own sampler.
  archs = _sample_archs_fn(space)(jax.random.key(17))
  res = run(archs, jax.random.key(18))
  cells = jax.tree_util.tree_map(lambda x, y: jnp.concatenate([x, y]), archs.normal, archs.reduce)
  drawn = np.asarray(draws(transform.fold_params(params), cells, _keys(19)))
  before = np.asarray(cells.op)
  after = np.concatenate([np.asarray(res.outputs.normal.op)[:, 0],
                          np.asarray(res.outputs.reduce.op)[:, 0]])
  assert mask[before, after].all() and mask[before, drawn].all()
  assert (after != before).any() and (drawn != before).any()
  for name in arch.CELL_TYPES:  # Wiring and concat are the input's.
    for field in ("src", "concat"):
      got = np.asarray(getattr(getattr(res.outputs, name), field))[:, 0]
      np.testing.assert_array_equal(got, np.asarray(getattr(getattr(archs, name), field)))
  assert res.log_prob.shape == res.cost_ok.shape == res.connected.shape == (NUM_ARCHS, 1)
  assert np.isfinite(np.asarray(res.log_prob)).all() and (np.asarray(res.log_prob) <= 0).all()

  # 2. On a fixed example, empirical frequencies match the policy's probabilities: 20,000 draws
  #    from the transform (both cells of 10,000 copies, the shapes of step 1, so nothing
  #    recompiles) and 20,000 from the policy's CellDistribution.sample.
  cell = _fixed_cell(space, pol.module.head)
  tile = lambda n: jax.tree_util.tree_map(lambda x: np.broadcast_to(x, (n,) + x.shape), cell)
  fixed = run(Arch(tile(NUM_ARCHS), tile(NUM_ARCHS)), jax.random.key(20))
  out = np.concatenate([np.asarray(fixed.outputs.normal.op)[:, 0],
                        np.asarray(fixed.outputs.reduce.op)[:, 0]])
  # Under 'nat' no input op of the example is skip or null, so an output op names its action.
  first = out[0]
  action = (first if pol.module.head == "mask" else
            np.where(first == space.null_index, 0, np.where(first == space.skip_index, 2, 1)))
  logits, log_prob, grads, drawn = one_cell(params, cell, jnp.asarray(action, jnp.int32),
                                            _keys(21))
  probs = _outcome_probs(pol, logits, cell.op, space)
  for new_op in (out, np.asarray(drawn)):
    assert _chi_square_p(_counts(new_op, space.num_ops), probs) > 1e-3

  # 3. log_prob equals the hand-computed value: the transform's (normal plus reduce cell) and the
  #    distribution's for one cell.
  edges = np.arange(space.num_edges)
  for b in range(3):
    hand = (np.log(probs[edges, out[b]]).sum()
            + np.log(probs[edges, out[NUM_ARCHS + b]]).sum())
    np.testing.assert_allclose(float(fixed.log_prob[b, 0]), hand, rtol=1e-5)
  np.testing.assert_allclose(float(log_prob), np.log(probs[edges, first]).sum(), rtol=1e-5)

  # 4. Masked logits get exactly zero gradient (log_prob plus entropy, both numerics).
  allowed = mask[cell.op] if pol.module.head == "mask" else np.ones((space.num_edges, 3), bool)
  for grad in map(np.asarray, grads):
    assert np.isfinite(grad).all() and (grad[~allowed] == 0).all()
    assert (grad[allowed] != 0).any()


def test_transform_genotypes_groups_by_space_and_keeps_the_order():
  named = [("DARTS", genotypes.DARTS), ("ENAS", genotypes.ENAS), ("R1", genotypes.R1)]
  in_spaces = [spaces.get_space(s) for s in ("darts", "enas", "darts")]
  key = jax.random.key(7)
  res = transform.transform_genotypes(named, in_spaces, key, rule="nat", num_samples=2)
  assert [(r.name, r.space.name, len(r.outputs)) for r in res] == [
      ("DARTS", "darts", 2), ("ENAS", "enas", 2), ("R1", "darts", 2)]
  # The darts group equals a direct batched call with the same keys.
  space = in_spaces[0]
  params = policy.init_for_rule(jax.random.fold_in(key, 0), "nat", space)
  archs = arch.stack_archs([arch.genotype_to_arch(g, space) for g in (genotypes.DARTS, genotypes.R1)])
  direct = transform.transform(params, archs, jax.random.fold_in(key, 1), rule="nat",
                               num_samples=2, space=space)
  for b, r in zip((0, 1), (res[0], res[2])):
    for k in range(2):
      out = arch.arch_to_genotype(jax.tree.map(lambda x: np.asarray(x)[b, k], direct.outputs),
                                  space)
      assert r.outputs[k] == out
      assert r.report["outputs"][k]["log_prob"] == pytest.approx(float(direct.log_prob[b, k]))
  with pytest.raises(InputError, match=r"a trained policy serves one space; the inputs need"
                     r" darts, enas"):
    transform.transform_genotypes(named, in_spaces, key, rule="nat", policy_params=params)
