"""Tests for examples/fork, the research fork kept in the repository: its grouped conv computes a
grouped convolution, and the commands of its README run as written, each in a fresh process that
imports the fork with `--imports examples.fork` from the repository root (cost, rules, draw,
transform with a fresh policy, a test-config search, transform with the search's saved policy,
also without naming the fork).

The README's commands are read from its first bash block, so the README and this test cannot drift
apart; they write under a temporary directory instead of runs/fork."""

import json
import os
import re
import shlex
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax import lax

import drivers
import toy_extension
from natjax.core import costs, extend, rules, spaces
from natjax.errors import InputError
from natjax.io import genotype_files
from natjax.nn import evalnet

REPO = toy_extension.REPO
FORK = toy_extension.fork
README = os.path.join(REPO, "examples", "fork", "README.md")
ARCH_FILE = os.path.join("examples", "fork", "grouped_darts.json")
RUNS = "runs/fork"  # where the README's commands write; replaced by a temporary directory


def _readme_commands():
  """The lines of the README's first ```bash block, as argument lists."""
  with open(README, encoding="utf-8") as f:
    text = f.read()
  block = re.search(r"```bash\n(.*?)```", text, re.S)
  assert block, f"{README}: no bash block"
  return [shlex.split(line) for line in block.group(1).splitlines()
          if line.strip() and not line.lstrip().startswith("#")]


def _natjax(args, runs):
  """Runs a `natjax ...` command line in a fresh process from the repository root."""
  assert args[0] == "natjax", args
  args = [a.replace(RUNS, runs) for a in args[1:]]
  # The suite's flags and compilation cache (tests/conftest.py): programs the other tests'
  # processes compiled, such as the test config's, are loaded from it. These commands are also in
  # the main README, whose test leaves them to this one.
  env = drivers.fresh_env(JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
  return subprocess.run([sys.executable, "-m", "natjax", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=900, check=False)


# --------------------------------------------------------------------------- the op


@pytest.mark.parametrize("impl", ["lax", "shift"])
@pytest.mark.parametrize("k,stride", [(3, 1), (3, 2), (5, 2)])
def test_grouped_conv_is_lax_grouped_convolution(impl, k, stride):
  """Against `lax.conv_general_dilated(feature_group_count=G)` with the block weights stacked on
  the output axis, and so are its gradients (the shift form's hand-written VJP, vmapped)."""
  g, c = FORK.GROUPS, 8
  x = jax.random.normal(jax.random.key(0), (2, 7, 7, c))
  w = jax.random.normal(jax.random.key(1), (g, k, k, c // g, c // g))
  cot = jax.random.normal(jax.random.key(2), (2, -(-7 // stride), -(-7 // stride), c))

  def reference(x, w):
    hwio = w.transpose(1, 2, 3, 0, 4).reshape(k, k, c // g, c)  # output channel = group-major
    return lax.conv_general_dilated(x, hwio, (stride, stride), [(k // 2, k // 2)] * 2,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    feature_group_count=g)

  def ours(x, w):
    return FORK.grouped_conv(x, w, stride, impl)

  np.testing.assert_allclose(ours(x, w), reference(x, w), rtol=1e-5, atol=1e-5)
  for got, want in zip(jax.vjp(ours, x, w)[1](cot), jax.vjp(reference, x, w)[1](cot)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_channels_that_do_not_split_into_groups_are_one_line():
  spec = FORK.OPS[0]
  norm = evalnet.normalizer(evalnet.config_for("cifar"), True)
  with pytest.raises(InputError, match=r"^op 'group_conv_3x3': 6 channels do not split into 4"
                     r" groups$"):
    FORK.GROUP_CONV.init(spec, 6, 1, norm)


# --------------------------------------------------------------------------- the README


@pytest.mark.slow
def test_the_readme_commands_run_in_fresh_processes(tmp_path):
  commands = _readme_commands()
  assert [c[:3] for c in commands] == [["natjax", "--imports", "examples.fork"]] * 6 + [
      ["natjax", "transform", "--arch"]]
  with open(README, encoding="utf-8") as f:
    readme = f.read()
  runs = str(tmp_path)
  procs = [_natjax(c, runs) for c in commands]
  for command, proc in zip(commands, procs):
    assert proc.returncode == 0, (command, proc.stderr[-3000:])
  rules_out, cost_out, draw_out, init_out, search_out, trained_out, unnamed_out = (
      p.stdout for p in procs)

  # rules and cost print what the README shows, the new ops included.
  assert rules_out in readme and "group_conv_5x5 -> group_conv_5x5, group_conv_3x3" in rules_out
  assert cost_out in readme
  with extend.temporary(**toy_extension.ENTRIES):
    _, genotype = genotype_files.read_archs(os.path.join(REPO, ARCH_FILE)).popitem()
    config = evalnet.config_for("cifar", auxiliary=False)
    shapes = jax.eval_shape(lambda key: evalnet.init(key, config, genotype)[0],
                            jax.random.key(0))
    params = evalnet.count_params(shapes)  # the weights of the built network, counted
    assert int(costs.genotype_cost(genotype)["params"]) == params
    space = spaces.get_space("grouped")
    mask = rules.compile_mask(rules.get_rule("grouping"), space)
  assert f": {params:,} params" in cost_out

  # draw: both cells, the new ops labelled.
  assert draw_out == f"wrote {runs}/grouped_darts.svg\n"
  with open(os.path.join(runs, "grouped_darts.svg"), encoding="utf-8") as f:
    drawing = f.read()
  assert "group_conv_3x3" in drawing and "group_conv_5x5" in drawing

  # transform with a fresh policy: every output edge keeps its source and moves as the rule says.
  assert init_out.startswith("rule grouping, space grouped, mode sample, 4 sample(s), policy init")
  with open(os.path.join(runs, "init.json"), encoding="utf-8") as f:
    report = json.load(f)
  for entry in report:
    assert len(entry["outputs"]) == 4
    for out in entry["outputs"]:
      for cell in ("normal", "reduce"):
        assert {"group_conv_3x3", "group_conv_5x5"} <= {e[0] for e in entry["input"][cell]}
        for (op_in, *ends_in), (op_out, *ends_out) in zip(entry["input"][cell], out[cell]):
          assert ends_out == ends_in
          assert mask[space.index(op_in), space.index(op_out)], (cell, op_in, op_out)

  # search: the fork's space and rule, recorded imports, a policy export.
  assert "space grouped, rule grouping" in search_out
  assert "grouped_darts -> sample" in search_out
  work = os.path.join(runs, "search")
  with open(os.path.join(work, "config.json"), encoding="utf-8") as f:
    assert "examples.fork" in json.load(f)["imports"]
  with open(os.path.join(work, "policy", "policy.json"), encoding="utf-8") as f:
    meta = json.load(f)
  assert (meta["space"], meta["rule"]) == ("grouped", "grouping")
  assert meta["imports"] == ["examples.fork"]

  # transform with the saved policy: with --imports, and in a process not told about the fork.
  header = f"rule grouping, space grouped, mode greedy, 1 sample(s), policy {work};"
  assert trained_out.startswith(header)
  assert trained_out.endswith(f"wrote {runs}/transformed/grouped_darts.svg\n")
  assert unnamed_out.startswith(header) and trained_out.startswith(unnamed_out)

  # Without the fork, its genotype is bad input: one line, exit code 2.
  proc = _natjax(["natjax", "cost", "--arch", ARCH_FILE], runs)
  assert proc.returncode == 2
  assert proc.stderr.count("\n") == 1 and "unknown op 'group_conv_3x3'" in proc.stderr
