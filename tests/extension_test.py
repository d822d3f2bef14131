"""Extension by registration, end to end: a fork (toy_extension.py: examples/fork's op family
'group_conv' with its ops, space and rule, a new op of an existing family and a small loose-end
space) is registered for this module's tests, and every invariant runs over every registered
entry: a family must supply its costs, an op its family; the cost model counts the parameters of
the built stand-alone network; the supernet computes the static network of the same
architecture; every rule's mask over every space allows something from every op and never raises
cost undeclared (`nat` also covers ops registered after it); the batch transform respects the
mask and flags cost; a saved policy loads in a fresh process, which imports the fork from the
policy's own record, and transforms as the saving process does. examples_fork_test.py runs the
fork's own commands."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import drivers
import toy_extension
from natjax.core import arch, costs, extend, families, ops, rules, sampler, spaces
from natjax.core.families import OpFamily
from natjax.core.ops import OpSpec
from natjax.errors import InputError
from natjax.io import genotype_files, notation, policy_files
from natjax.nn import evalnet, networks, policy, supernet
from natjax.search import transform

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
FORK = toy_extension.fork
TOY = toy_extension.SPACE.name
GROUPED = FORK.SPACE.name
SPACES = spaces.registered_spaces() + (GROUPED, TOY)
RULES = rules.registered_rules() + (FORK.RULE.name,)
# A space each rule covers, for the transform test.
RULE_SPACES = {"nat": TOY, "natpp": "darts_pp", FORK.RULE.name: GROUPED}


@pytest.fixture(scope="module", autouse=True)
def toy_fork():
  with extend.temporary(**toy_extension.ENTRIES):
    yield


def _genotypes(space_name, num, seed=0):
  space = spaces.get_space(space_name)
  archs = sampler.sample_archs(jax.random.key(seed), space, num)
  return [arch.arch_to_genotype(jax.tree.map(lambda x, i=i: np.asarray(x[i]), archs), space)
          for i in range(num)]


# --------------------------------------------------------------------------- registration


def test_a_family_needs_every_function_and_an_op_needs_its_family():
  family = FORK.GROUP_CONV
  with pytest.raises(InputError, match="op family 'costless': missing cost, a function"):
    families.register_op_family(OpFamily("costless", family.init, family.apply, None,
                                         family.reference_cost))
  with pytest.raises(InputError, match=r"op 'orphan': unknown op family 'grop_conv' \(did you"
                     r" mean 'group_conv'\?\); register it with register_op_family first"):
    ops.register_op(OpSpec("orphan", "grop_conv", 3))
  assert "orphan" not in ops.registered_ops()


def test_temporary_registration_is_undone():
  extra = OpSpec("sep_conv_9x9", "sep_conv", 9)
  with extend.temporary(ops=[extra]):
    assert "sep_conv_9x9" in rules.get_rule("nat").allowed
  assert "sep_conv_9x9" not in ops.registered_ops()
  assert "sep_conv_9x9" not in rules.get_rule("nat").allowed


# --------------------------------------------------------------------------- costs


@pytest.mark.parametrize("space_name", SPACES)
def test_costs_count_the_parameters_of_the_built_network(space_name):
  config = evalnet.config_for("cifar", auxiliary=False)
  for genotype in _genotypes(space_name, 2):
    shapes = jax.eval_shape(lambda k, g=genotype: evalnet.init(k, config, g)[0],
                            jax.random.key(0))
    assert evalnet.count_params(shapes) == costs.genotype_cost(genotype)["params"]


def test_every_op_has_a_nonzero_cost_where_it_holds_weights():
  for name in ops.registered_ops():
    spec = ops.get_op(name)
    params, madds = costs.op_cost(spec, 16, 8, 8, 1)
    weights = ops.family_of(spec).init(spec, 16, 1, evalnet.normalizer(
        evalnet.config_for("cifar"), True))[0]
    held = sum(int(np.prod(d.shape)) for d in jax.tree.leaves(weights))
    assert params == held, name  # BN affine included on both sides
    assert (madds > 0) == (params > 0), name


# --------------------------------------------------------------------------- networks


@pytest.mark.slow
def test_supernet_equals_the_static_network_with_the_new_ops():
  """The toy space's new ops beside built-in ones (whose supernet = static network supernet_test.py
  checks in the built-in spaces): a cell with every new op at stride 1, one with each at stride 2
  (reduction-cell edges from the cell inputs), and a random architecture."""
  config = supernet.SupernetConfig(space=TOY, channels=4, num_cells=3, num_classes=5)
  params = supernet.init_supernet(jax.random.key(0), config, (1, 8, 8, 3))
  x = jax.random.normal(jax.random.key(1), (2, 8, 8, 3))
  space = spaces.get_space(TOY)
  every_new_op = arch.make_genotype(
      (("group_conv_3x3", 0, 2), ("sep_conv_1x1", 1, 2), ("group_conv_5x5", 2, 3),
       ("max_pool_3x3", 1, 3)), (3,),
      (("group_conv_5x5", 0, 2), ("group_conv_3x3", 1, 2), ("sep_conv_1x1", 0, 3),
       ("skip_connect", 1, 3)), (2, 3))
  dynamic = jax.jit(lambda a: supernet.apply_supernet(params, x, a, config))
  for i, genotype in enumerate([every_new_op] + _genotypes(TOY, 1, seed=2)):
    a = arch.genotype_to_arch(genotype, space)
    static = jax.jit(lambda: networks.apply_static(params, x, a, config))()
    np.testing.assert_allclose(dynamic(a), static, rtol=2e-4, atol=2e-5, err_msg=str(i))


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("rule_name", RULES)
def test_rule_masks(rule_name, space_name):
  rule, space = rules.get_rule(rule_name), spaces.get_space(space_name)
  missing = [op for op in space.ops if op not in rule.allowed]
  if missing:
    with pytest.raises(InputError, match=f"rule '{rule_name}' has no row for op '{missing[0]}'"):
      rules.compile_mask(rule, space)
    return
  mask = rules.compile_mask(rule, space)
  assert mask.any(axis=1).all()
  for i, j in zip(*np.nonzero(mask)):
    src, dst = space.ops[i], space.ops[j]
    assert (not rules.transition_raises_cost(src, dst)
            or (src, dst) in rule.declared_increases), (src, dst)


def test_nat_covers_ops_registered_after_it():
  space = spaces.get_space(TOY)
  head, mask = policy.compile_rule("nat", space)
  assert head == "nat"
  for name in toy_extension.NEW_OPS:
    i = space.index(name)
    assert {space.ops[j] for j in np.flatnonzero(mask[i])} == {"null", name, "skip_connect"}


# --------------------------------------------------------------------------- transform


@pytest.mark.parametrize("rule_name", RULES)
def test_transform_respects_the_mask_and_flags_cost(rule_name):
  space = spaces.get_space(RULE_SPACES[rule_name])
  head, mask = policy.compile_rule(rule_name, space)
  params = policy.init_for_rule(jax.random.key(0), rule_name, space)
  archs = sampler.sample_archs(jax.random.key(1), space, 4)
  res = transform.transform(params, archs, jax.random.key(2), rule=rule_name, space=space,
                            num_samples=2)
  for cell in ("normal", "reduce"):
    before = np.asarray(getattr(archs, cell).op)[:, None, :]
    after = np.asarray(getattr(res.outputs, cell).op)
    assert mask[before, after].all()
  in_p, in_m = costs.exact_costs(archs, space)
  out_p, out_m = costs.exact_costs(res.outputs, space)
  np.testing.assert_array_equal(np.asarray(res.cost_ok),
                                (out_p <= in_p[:, None]) & (out_m <= in_m[:, None]))


# --------------------------------------------------------------------------- files


def _natjax(*args, cwd):
  env = drivers.fresh_env(JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
  return subprocess.run([sys.executable, "-m", "natjax", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=600, check=False)


def test_policy_loads_in_a_fresh_process_and_transforms_the_same(tmp_path):
  """A policy of the fork's space and rule, saved here, loads in a fresh process that is not told
  about the fork (policy.json names it) and transforms a genotype as this process does."""
  space = spaces.get_space(GROUPED)
  genotype = _genotypes(GROUPED, 1, seed=3)[0]
  arch_file = str(tmp_path / "grouped_arch.json")
  genotype_files.write_archs({"grouped_arch": genotype}, arch_file)
  params = policy.init_for_rule(jax.random.key(0), FORK.RULE.name, space)
  export = policy_files.save_policy(str(tmp_path / "policy"), params, space=GROUPED,
                                    rule=FORK.RULE.name, imports=("examples.fork",))
  with open(os.path.join(export, policy_files.POLICY_FILE), encoding="utf-8") as f:
    assert json.load(f)["imports"] == ["examples.fork"]
  out = str(tmp_path / "out.json")
  proc = _natjax("transform", "--arch", arch_file, "--policy", export, "--mode", "greedy",
                 "--out", out, cwd=REPO)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"rule {FORK.RULE.name}, space {GROUPED}" in proc.stdout
  with open(out, encoding="utf-8") as f:
    fresh = json.load(f)[0]["outputs"][0]
  res = transform.transform(params, arch.stack_archs([arch.genotype_to_arch(genotype, space)]),
                            jax.random.key(0), rule=FORK.RULE.name, space=space, mode="greedy")
  here = arch.arch_to_genotype(jax.tree.map(lambda v: np.asarray(v[0, 0]), res.outputs), space)
  expected = notation.genotype_to_json(here)
  assert {k: fresh[k] for k in expected} == json.loads(json.dumps(expected))
  np.testing.assert_allclose(fresh["log_prob"], float(res.log_prob[0, 0]), rtol=1e-5)
