"""Tests for natjax.train.retrain: a tiny end-to-end retraining, resuming after SIGKILL, architectures."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import event_files
from natjax import data
from natjax.cli import configs
from natjax.core import costs, genotypes
from natjax.errors import InputError
from natjax.io import notation
from natjax.nn import evalnet
from natjax.train import checkpoints, retrain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "retrain_digits.py")
# digits, DARTS, C=4, 2 cells (both are reduction cells: the cheapest compile), 2 epochs of 12
# steps at batch 8; test batches of 64 over the 297 test images (the last one holds 41 and is
# masked); a checkpoint every 5 steps.
TINY = ["--config.channels=4", "--config.num_cells=2", "--config.epochs=2",
        "--config.max_steps_per_epoch=12", "--config.batch_size=8",
        "--config.eval_batch_size=64", "--config.checkpoint_every_steps=5",
        "--config.drop_path_prob=0.2", "--config.progress=false"]
TIMING_FIELD = "wall_time_s"


def _tiny_config():
  return configs.load_config(CONFIG, TINY)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """An uninterrupted tiny run: (workdir, retrain.json contents)."""
  workdir = str(tmp_path_factory.mktemp("uninterrupted"))
  with open(os.devnull, "w") as out:
    retrain.run(_tiny_config(), workdir, out=out)
  with open(os.path.join(workdir, retrain.RESULT_FILE), encoding="utf-8") as f:
    return workdir, json.load(f)


def test_result_fields_match_the_cost_model_and_the_network(finished):
  _, result = finished
  cost = costs.genotype_cost(genotypes.DARTS, "cifar")
  assert result["params"] == cost["params"] == 3_349_342  # `natjax cost --arch DARTS`
  assert result["madds"] == cost["madds"]
  network = evalnet.config_for("cifar", channels=4, num_cells=2, auxiliary=False)
  params, _ = evalnet.init(jax.random.key(0), network, genotypes.DARTS, (1, 8, 8, 1))
  assert result["trained_params"] == evalnet.count_params(params)
  assert result["arch"] == "DARTS" and result["network"] == "cifar"
  assert result["dataset"] == "digits" and result["epochs"] == 2
  assert notation.genotype_from_json(result["genotype"]) == genotypes.DARTS
  assert 0.0 <= result["final_test_accuracy"] <= result["best_test_accuracy"] <= 1.0
  assert set(result) >= {"genotype", TIMING_FIELD}


def test_final_accuracy_is_the_unbatched_accuracy_of_the_saved_network(finished):
  """Padded, masked test batches of 64 give what one pass over all 297 images gives."""
  workdir, result = finished
  config = _tiny_config()
  dataset = data.load("digits")
  network = retrain.network_for(config, dataset.num_classes)
  optimizer = evalnet.make_optimizer(epochs=2, steps_per_epoch=12)
  template = retrain.initial_state(config, network, genotypes.DARTS, optimizer, (8, 8, 1))
  state = checkpoints.StateCheckpointer(workdir).restore(template)
  assert int(state.train.step) == 24 and int(state.epoch) == 2 and int(state.position) == 0
  images, labels = dataset.test.get(np.arange(len(dataset.test)))
  x = (images.astype(np.float32) / 255.0 - dataset.mean) / dataset.std
  logits, _, _ = evalnet.apply(state.train.params, state.train.batch_stats, jnp.asarray(x),
                               genotype=genotypes.DARTS, config=network, train=False)
  hits = int(np.sum(np.argmax(np.asarray(logits), -1) == labels))
  assert result["final_test_accuracy"] == pytest.approx(hits / 297, abs=1e-6)
  assert float(state.last_accuracy) == pytest.approx(hits / 297, abs=1e-6)


def test_event_files_hold_interval_means_under_namespaced_tags(finished):
  """Log steps 10, 12 (epoch end), 20, 24; the learning rate and drop-path probability are
  constant within an epoch, so their interval means are the epoch's values."""
  workdir, result = finished
  scalars = event_files.read_scalars(workdir)
  assert set(scalars) == {"train/loss", "train/accuracy", "train/grad_norm",
                          "train/learning_rate", "train/drop_path_prob", "test/accuracy",
                          "test/loss"}
  for tag in ("train/loss", "train/accuracy", "train/grad_norm"):
    assert [s for s, _ in scalars[tag]] == [10, 12, 20, 24], tag
  assert [v for _, v in scalars["train/drop_path_prob"]] == pytest.approx([0, 0, 0.1, 0.1])
  # Cosine from 0.05 to 0.001 over 2 epochs, one value per epoch: 0.05, then
  # 0.001 + 0.049 * (1 + cos(pi / 2)) / 2 = 0.0255.
  assert [v for _, v in scalars["train/learning_rate"]] == pytest.approx(
      [0.05, 0.05, 0.0255, 0.0255])
  assert [s for s, _ in scalars["test/accuracy"]] == [12, 24]
  assert scalars["test/accuracy"][-1][1] == pytest.approx(result["final_test_accuracy"])
  assert all(0.0 <= v <= 1.0 for _, v in scalars["train/accuracy"])


def _finalized_steps(directory):
  """Checkpoint steps that orbax has finished writing (temporary directories excluded)."""
  if not os.path.isdir(directory):
    return []
  return [int(n) for n in os.listdir(directory) if n.isdigit()]


def test_resume_after_sigkill_ends_with_identical_numbers(finished, tmp_path):
  _, expected = finished
  workdir = str(tmp_path / "killed")
  command = [sys.executable, "-m", "natjax", "retrain", "--config", CONFIG, "--workdir",
             workdir, *TINY]
  env = {**os.environ, "PYTHONPATH": ROOT}
  proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
  directory = os.path.join(workdir, retrain.CHECKPOINT_DIR)
  deadline = time.time() + 120
  while not _finalized_steps(directory) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  _, err = proc.communicate()
  assert proc.returncode == -signal.SIGKILL, err.decode()
  assert not os.path.exists(os.path.join(workdir, retrain.RESULT_FILE))
  assert max(_finalized_steps(directory)) < 24  # killed before the end
  resumed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                           check=False)
  assert resumed.returncode == 0, resumed.stderr
  assert "resumed from" in resumed.stdout
  with open(os.path.join(workdir, retrain.RESULT_FILE), encoding="utf-8") as f:
    result = json.load(f)
  result.pop(TIMING_FIELD)
  assert result == {k: v for k, v in expected.items() if k != TIMING_FIELD}


def test_resume_refuses_a_changed_config(finished):
  workdir, _ = finished
  config = configs.load_config(CONFIG, TINY + ["--config.learning_rate=0.5"])
  with pytest.raises(InputError, match="learning_rate"):
    retrain.run(config, workdir)


def test_a_config_missing_a_field_is_named_before_anything_is_read(tmp_path):
  """Through the Python API too (the command line adds the file and whose config it is)."""
  config = _tiny_config().to_dict()
  del config["network"]
  with pytest.raises(InputError, match=r"^config has no field 'network' \(every field is set in"
                     r" configs/retrain_cifar10.py\)$"):
    retrain.run(ml_collections.ConfigDict(config), str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_eval_batches_cover_every_example_once():
  for n, b in [(297, 64), (64, 64), (1, 8), (100, 7)]:
    batches = retrain.eval_batches(n, b)
    assert all(i.shape == (b,) and m.shape == (b,) for i, m in batches)
    seen = np.concatenate([i[m] for i, m in batches])
    np.testing.assert_array_equal(seen, np.arange(n))
    assert len(batches) == -(-n // b)
