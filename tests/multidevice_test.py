"""The search steps and the scoring of architectures on 8 (fake CPU) devices equal the same on one
device, and a plain `jax.shard_map` of a step means what natjax's wrapper (`sharding.shard_step`)
does.

A subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=8 (set before jax starts)
builds the tiny search (configs/test.py), runs 20 steps (w and theta steps alternating, fixed
batches from `data.batch_indices`) from the same initial state on an 8-device mesh and on a
1-device mesh with the same global batch, and prints every step's metrics as JSON. It reads a
metric after every step: on a 2-core CPU, collectives dispatched without waiting deadlock. On the
8-device mesh it then runs one w-step through `shard_step` and through a plain `jax.shard_map`
(BatchNorm's axis is part of the step's config, not of the wrapper).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_STEPS = 20
GLOBAL_BATCH = 16  # 2 examples per device on 8 devices

_SCRIPT = """\
import importlib.util, json, sys
sys.path.insert(0, {repo!r})
import jax
import numpy as np
from jax.sharding import PartitionSpec as P
from natjax import data
from natjax.core import sampler
from natjax.search import derive, loop
from natjax.search import steps as search_steps
from natjax.train import sharding

assert jax.device_count() == 8, jax.devices()
spec = importlib.util.spec_from_file_location("natjax_test_config", {config!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
config = module.get_config()
config.batch_size = {batch}
dataset = data.load(config.dataset, split_seed=config.split_seed, w_fraction=config.w_fraction)
setup = search_steps.make_setup(config, dataset)
init = jax.jit(search_steps.init_state, static_argnums=(1, 2))
host_state = jax.device_get(init(jax.random.key(config.seed), setup, dataset.image_shape))


def run(mesh, steps):
  state = sharding.replicate(host_state, mesh)
  out = []
  for i in range({num_steps}):
    theta = i % 2 == 1
    split = dataset.theta if theta else dataset.w
    indices = data.batch_indices(len(split), config.batch_size, config.seed, 0, i // 2)
    batch = sharding.global_batch(data.batch(split, indices), mesh)
    state, metrics = (steps.theta_step if theta else steps.w_step)(state, batch)
    out.append({{k: float(v) for k, v in jax.device_get(metrics).items()}})  # syncs every step
  leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(jax.device_get(
      (state.w_params, state.theta_params, state.baseline)))]
  return out, leaves


def wrapper_vs_plain(mesh, wrapped):
  # Largest difference between a w-step through natjax's wrapper (`wrapped`, compiled already by
  # `run`) and through a plain shard_map of the same step.
  indices = data.batch_indices(len(dataset.w), config.batch_size, config.seed, 0, 0)
  batch = sharding.global_batch(data.batch(dataset.w, indices), mesh)
  plain = jax.jit(jax.shard_map(lambda state, batch: search_steps.w_step(setup, state, batch),
                                mesh=mesh, in_specs=(P(), P(sharding.AXIS)), out_specs=P()))
  outs = [jax.device_get(step(sharding.replicate(host_state, mesh), batch))
          for step in (wrapped, plain)]
  return max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
             for a, b in zip(*(jax.tree.leaves(o) for o in outs)))


def scores(mesh, steps):  # the whole test split in batches of 16, 2 rows per device on 8 devices
  held_out = loop.scoring_sets(config, dataset, mesh)["held_out"]
  archs = jax.tree.map(np.asarray, sampler.sample_archs(jax.random.key(1), setup.space, 3))
  return derive.Scorer(steps.score_archs, host_state.w_params, held_out)(archs).tolist()


eight_mesh, one_mesh = sharding.data_mesh(), sharding.data_mesh(jax.devices()[:1])
eight_steps, one_steps = (search_steps.make_steps(setup, m) for m in (eight_mesh, one_mesh))
many, many_leaves = run(eight_mesh, eight_steps)
one, one_leaves = run(one_mesh, one_steps)
scores_many, scores_one = scores(eight_mesh, eight_steps), scores(one_mesh, one_steps)
worst = max(float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12))
            for a, b in zip(many_leaves, one_leaves))
print("RESULT", json.dumps({{"eight": many, "one": one, "state_rel_diff": worst,
                             "scores_eight": scores_many, "scores_one": scores_one,
                             "plain_vs_wrapper": wrapper_vs_plain(eight_mesh,
                                                                  eight_steps.w_step)}}))
"""


@pytest.fixture(scope="module")
def result():
  script = _SCRIPT.format(repo=REPO, config=os.path.join(REPO, "configs", "test.py"),
                          batch=GLOBAL_BATCH, num_steps=NUM_STEPS)
  env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_", "JAX_"))}
  env.update(XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                        timeout=1800, check=False)
  assert proc.returncode == 0, proc.stderr[-4000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  return json.loads(line[len("RESULT "):])


def test_eight_devices_match_one_device(result):
  eight, one = result["eight"], result["one"]
  assert len(eight) == len(one) == NUM_STEPS
  for i, (a, b) in enumerate(zip(eight, one)):
    assert sorted(a) == sorted(b)
    expected = {"theta_loss", "reward", "acc_alpha", "acc_beta"} if i % 2 else {"w_loss"}
    assert expected <= set(a)
    for name in a:
      np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-7,
                                 err_msg=f"step {i} {name}")
  assert all(np.isfinite(m["w_loss"]) for m in eight[::2])
  assert result["state_rel_diff"] < 1e-4
  # Shared-weight accuracies on 297 test images: equal up to one prediction flipped by rounding.
  np.testing.assert_allclose(result["scores_eight"], result["scores_one"], atol=1.5 / 297)


def test_a_plain_shard_map_of_a_step_equals_natjax_wrapper(result):
  assert result["plain_vs_wrapper"] < 1e-6  # per-device BN statistics move the loss by ~3e-2
