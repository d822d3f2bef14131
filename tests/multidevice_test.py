"""The search steps and the scoring of architectures on 8 (fake CPU) devices equal the same on one
device.

A subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=8 (set before jax starts)
builds the tiny search (configs/test.py), runs 20 steps (w and theta steps alternating, fixed
batches from `data.batch_indices`) from the same initial state on an 8-device mesh and on a
1-device mesh with the same global batch, and prints every step's metrics as JSON. It reads a
metric after every step: on a 2-core CPU, collectives dispatched without waiting deadlock.
"""

import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_STEPS = 20
GLOBAL_BATCH = 16  # 2 examples per device on 8 devices

_SCRIPT = """\
import importlib.util, json, sys
sys.path.insert(0, {repo!r})
import jax
import numpy as np
from natjax import data, derive, search, sharding, spaces

assert jax.device_count() == 8, jax.devices()
spec = importlib.util.spec_from_file_location("natjax_test_config", {config!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
config = module.get_config()
config.batch_size = {batch}
dataset = data.load(config.dataset, split_seed=config.split_seed, w_fraction=config.w_fraction)
setup = search.make_setup(config, dataset)
init = jax.jit(search.init_state, static_argnums=(1, 2))
host_state = jax.device_get(init(jax.random.key(config.seed), setup, dataset.image_shape))


def run(mesh):
  steps = search.make_steps(setup, mesh)
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


def scores(mesh):  # the whole test split in batches of 16, 2 rows per device on 8 devices
  steps = search.make_steps(setup, mesh)
  held_out = search.scoring_sets(config, dataset, mesh)["held_out"]
  archs = jax.tree.map(np.asarray, spaces.sample_archs(jax.random.key(1), setup.space, 3))
  return derive.Scorer(steps.score_archs, host_state.w_params, held_out)(archs).tolist()


many, many_leaves = run(sharding.data_mesh())
one, one_leaves = run(sharding.data_mesh(jax.devices()[:1]))
scores_many = scores(sharding.data_mesh())
scores_one = scores(sharding.data_mesh(jax.devices()[:1]))
worst = max(float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12))
            for a, b in zip(many_leaves, one_leaves))
print("RESULT", json.dumps({{"eight": many, "one": one, "state_rel_diff": worst,
                           "scores_eight": scores_many, "scores_one": scores_one}}))
"""


def test_eight_devices_match_one_device():
  script = _SCRIPT.format(repo=REPO, config=os.path.join(REPO, "configs", "test.py"),
                          batch=GLOBAL_BATCH, num_steps=NUM_STEPS)
  env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_", "JAX_"))}
  env.update(XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                        timeout=1800, check=False)
  assert proc.returncode == 0, proc.stderr[-4000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  result = json.loads(line[len("RESULT "):])
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
