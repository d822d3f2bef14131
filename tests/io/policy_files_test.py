"""Tests for natjax.io.policy_files, the policy export: round trips and one-line errors."""

import json
import os
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from natjax import cli, registry
from natjax.core import arch, genotypes, rules, spaces
from natjax.errors import InputError
from natjax.io import notation, policy_files
from natjax.nn import policy
from natjax.search import transform

DARTS_PP = spaces.get_space("darts_pp")


def _trained_params(rule, space, self_loops=False, seed=7):
  """Parameters unlike any fresh initialisation (so the CLI cannot pass by re-initialising)."""
  params = policy.init_for_rule(jax.random.key(seed), rule, space, self_loops=self_loops)
  noise = jax.random.split(jax.random.key(seed + 1), len(jax.tree_util.tree_leaves(params)))
  leaves, tree = jax.tree_util.tree_flatten(params)
  leaves = [1.5 * x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, noise)]
  return jax.tree_util.tree_unflatten(tree, leaves)


def _run(capsys, *argv):
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


def _export(tmp_path, name="export", rule="natpp", space="darts_pp", **kwargs):
  directory = str(tmp_path / name)
  params = _trained_params(rules.get_rule(rule) if isinstance(rule, str) else
                           rules.rule_from_dict(rule, rule["name"]),
                           spaces.get_space(space), kwargs.get("self_loops", False))
  policy_files.save_policy(directory, params, space=space, rule=rule, **kwargs)
  return directory, params


def _leaves_equal(a, b):
  la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("rule,space,options", [
    ("natpp", "darts_pp", {}),
    ("nat", "enas", {"self_loops": True, "released_quirk": True}),
])
def test_cli_with_an_export_matches_the_in_memory_params(capsys, tmp_path, rule, space, options):
  directory, params = _export(tmp_path, rule=rule, space=space, **options)
  names = ["DARTS", "NAT_DARTS"] if space == "darts_pp" else ["ENAS", "NAT_ENAS"]
  out_path = tmp_path / "out.json"
  code, out, err = _run(capsys, "transform", *sum((["--arch", n] for n in names), []),
                        "--policy", directory, "--samples", "3", "--seed", "4", "--out",
                        str(out_path))
  assert code == 0, err
  assert f"rule {rule}, space {space}" in out and directory in out
  report = json.loads(out_path.read_text())
  space_obj = spaces.get_space(space)
  archs = arch.stack_archs([arch.genotype_to_arch(genotypes.builtin(n), space_obj) for n in names])
  want = transform.transform(params, archs, jax.random.fold_in(jax.random.key(4), 1), rule=rule,
                             num_samples=3, space=space_obj, **options)
  for b, entry in enumerate(report):
    for k, got in enumerate(entry["outputs"]):
      sample = jax.tree_util.tree_map(lambda x, b=b, k=k: np.asarray(x)[b, k], want.outputs)
      expected = notation.genotype_to_json(arch.arch_to_genotype(sample, space_obj))
      assert {f: got[f] for f in expected} == expected
      assert got["log_prob"] == pytest.approx(float(want.log_prob[b, k]), rel=1e-6)


def test_load_restores_the_policy_and_accepts_a_work_directory(tmp_path, monkeypatch):
  directory, params = _export(tmp_path, name="work/policy", self_loops=True)
  monkeypatch.chdir(tmp_path)
  for where in (directory, str(tmp_path / "work"), "work", os.path.join("work", "policy")):
    ckpt = policy_files.load_policy(where)
    _leaves_equal(ckpt.params, params)
    for leaf in jax.tree_util.tree_leaves(ckpt.params):
      assert isinstance(leaf, jax.Array) and leaf.devices() == {jax.devices()[0]}
    assert ckpt.rule == rules.get_rule("natpp") and ckpt.space == DARTS_PP
    assert ckpt.policy.module.self_loops and not ckpt.policy.released_quirk
    np.testing.assert_array_equal(ckpt.policy.mask,
                                  rules.compile_mask(ckpt.rule, DARTS_PP))
  meta = json.loads((tmp_path / "work" / "policy" / "policy.json").read_text())
  assert meta == {"format": 1, "space": "darts_pp", "rule": "natpp", "head": "mask",
                  "self_loops": True, "released_quirk": False, "param_count": 322_750,
                  "imports": list(registry.imported_modules())}  # this process's forks


def _file_rule(tmp_path):
  """natpp without conv_5x5 -> conv_3x3, as a rule file; returns (path, dict)."""
  data = json.loads(rules.format_rule(rules.get_rule("natpp"), as_json=True))
  data["name"] = "natpp_no53"
  data["allowed"]["conv_5x5"].remove("conv_3x3")
  path = tmp_path / "natpp_no53.json"
  path.write_text(json.dumps(data))
  return str(path), data


def test_a_rule_from_a_file_is_stored_whole(capsys, tmp_path):
  path, data = _file_rule(tmp_path)
  directory, _ = _export(tmp_path, rule=data)
  os.remove(path)  # The export must not need the file.
  meta = json.loads((tmp_path / "export" / "policy.json").read_text())
  assert meta["rule"]["name"] == "natpp_no53"
  ckpt = policy_files.load_policy(directory)
  assert ckpt.rule == rules.rule_from_dict(data, "natpp_no53")
  assert not ckpt.policy.mask[DARTS_PP.index("conv_5x5"), DARTS_PP.index("conv_3x3")]
  # The same rule named by a file agrees with the export; another rule does not.
  path, _ = _file_rule(tmp_path)
  code, _, err = _run(capsys, "transform", "--arch", "DARTS", "--policy", directory, "--rule",
                      path)
  assert code == 0, err
  code, _, err = _run(capsys, "transform", "--arch", "DARTS", "--policy", directory, "--rule",
                      "natpp")
  assert code == 2 and "disagrees" in err and "natpp_no53" in err


def test_save_refuses_params_of_another_policy(tmp_path):
  params = _trained_params("nat", DARTS_PP)
  with pytest.raises(InputError, match="params/head/bias"):
    policy_files.save_policy(str(tmp_path / "x"), params, space="darts_pp", rule="natpp")


def _edit_meta(directory, **fields):
  path = os.path.join(directory, "policy.json")
  with open(path) as f:
    meta = json.load(f)
  for key, value in fields.items():
    if value is _DELETE:
      del meta[key]
    else:
      meta[key] = value
  with open(path, "w") as f:
    json.dump(meta, f)


_DELETE = object()


def _natpp_darts_count():
  pol = policy.for_rule("natpp", spaces.get_space("darts"))
  return sum(int(np.prod(x.shape))
             for x in jax.tree_util.tree_leaves(jax.eval_shape(pol.init, jax.random.key(0))))


def _corrupt(case, directory):
  """Damages the export in `directory`; returns the --policy argument to pass."""
  if case == "missing_dir":
    return directory + "_nowhere"
  if case == "no_policy_json":
    os.remove(os.path.join(directory, "policy.json"))
  elif case == "bad_json":
    with open(os.path.join(directory, "policy.json"), "w") as f:
      f.write('{"format": 1,')
  elif case == "not_an_object":
    with open(os.path.join(directory, "policy.json"), "w") as f:
      f.write("[1]")
  elif case == "unknown_space":
    _edit_meta(directory, space="darts_ppp")
  elif case == "unknown_rule":
    _edit_meta(directory, rule="natqq")
  elif case == "bad_rule_dict":
    _edit_meta(directory, rule={"name": "r", "allowed": {"conv_1x1": ["conv_5x5"]}})
  elif case == "missing_field":
    _edit_meta(directory, head=_DELETE)
  elif case == "unknown_field":
    _edit_meta(directory, epochs=3)
  elif case == "wrong_type":
    _edit_meta(directory, self_loops="yes")
  elif case == "newer_format":
    _edit_meta(directory, format=2)
  elif case == "wrong_head":
    _edit_meta(directory, head="nat")
  elif case == "wrong_count":
    _edit_meta(directory, param_count=5)
  elif case == "wrong_shape":
    # A 9-op space: op_embed and head shrink; policy.json is otherwise consistent.
    _edit_meta(directory, space="darts", param_count=_natpp_darts_count())
  elif case == "missing_param":
    params = policy.init_for_rule(jax.random.key(0), "natpp", DARTS_PP)
    del params["params"]["gcn2"]
    with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as checkpointer:
      checkpointer.save(os.path.join(directory, "params"), args=ocp.args.StandardSave(params),
                        force=True)
  elif case == "no_params":
    shutil.rmtree(os.path.join(directory, "params"))
  elif case == "empty_params":
    shutil.rmtree(os.path.join(directory, "params"))
    os.makedirs(os.path.join(directory, "params"))
  else:
    raise ValueError(case)
  return directory


@pytest.mark.parametrize("case,needles", [
    ("missing_dir", ["_nowhere", "no such policy directory"]),
    ("no_policy_json", ["export", "no policy.json"]),
    ("bad_json", ["policy.json", "malformed JSON at line 1"]),
    ("not_an_object", ["policy.json", "expected a JSON object"]),
    ("unknown_space", ["policy.json", "field 'space'", "did you mean 'darts_pp'"]),
    ("unknown_rule", ["policy.json", "field 'rule'", "natqq", "registered: nat, natpp"]),
    ("bad_rule_dict", ["policy.json", "field 'rule'", "conv_1x1 -> conv_5x5"]),
    ("missing_field", ["policy.json", "field 'head' is missing"]),
    ("unknown_field", ["policy.json", "unknown field 'epochs'"]),
    ("wrong_type", ["policy.json", "field 'self_loops' has the wrong type"]),
    ("newer_format", ["policy.json", "field 'format' is 2"]),
    ("wrong_head", ["policy.json", "field 'head' is 'nat'"]),
    ("wrong_count", ["policy.json", "field 'param_count' is 5"]),
    ("wrong_shape", ["params", "parameter 'params/head/bias' is float32[26]",
                     "needs float32[18]"]),
    ("missing_param", ["params", "parameter 'params/gcn2/bias' is missing"]),
    ("no_params", ["params", "missing"]),
    ("empty_params", ["params", "not a readable orbax checkpoint"]),
])
def test_a_damaged_export_gives_one_line_and_exit_2(capsys, tmp_path, case, needles):
  directory, _ = _export(tmp_path)
  policy_arg = _corrupt(case, directory)
  with pytest.raises(InputError):
    policy_files.load_policy(policy_arg)
  code, out, err = _run(capsys, "transform", "--arch", "DARTS", "--policy", policy_arg)
  assert code == 2 and out == ""
  assert len(err.strip().splitlines()) == 1 and err.startswith("natjax transform: error:")
  for needle in needles:
    assert needle in err


def test_space_flag_that_disagrees_with_the_export_is_an_error(capsys, tmp_path):
  directory, _ = _export(tmp_path)
  code, out, err = _run(capsys, "transform", "--arch", "DARTS", "--policy", directory, "--space",
                        "darts")
  assert code == 2 and out == "" and "--space darts disagrees" in err
