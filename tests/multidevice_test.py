"""The search steps and the scoring of architectures on 8 (fake CPU) devices equal the same on one
device, and a plain `jax.shard_map` of a step means what natjax's wrapper (`sharding.shard_step`)
does.

A subprocess (`drivers.eight_devices`) with XLA_FLAGS=--xla_force_host_platform_device_count=8
(set before jax starts) builds the tiny search (configs/test.py in `drivers.small_space()`, four
ops that hold every computation across devices), runs 20 steps (w and theta steps alternating,
fixed batches from `data.batch_indices`) from the same initial state on an 8-device mesh and on a
1-device mesh with the same global batch, and prints every step's metrics as JSON. It reads a
metric after every step: on a 2-core CPU, collectives dispatched without waiting deadlock. On the
8-device mesh it then runs one w-step through `shard_step` and through a plain `jax.shard_map`
(BatchNorm's axis is part of the step's config, not of the wrapper).
"""

import json
import subprocess

import numpy as np
import pytest

import drivers

NUM_STEPS = 20
GLOBAL_BATCH = 16  # 2 examples per device on 8 devices


@pytest.fixture(scope="module")
def result():
  env = drivers.eight_device_env()
  proc = subprocess.run(drivers.command("eight_devices", str(GLOBAL_BATCH), str(NUM_STEPS)),
                        env=env, capture_output=True, text=True, timeout=1800, check=False)
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
