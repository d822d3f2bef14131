"""Tests for natjax.search.loop: single steps, and the host
loop end to end (determinism, resume after SIGKILL, SIGTERM and Ctrl-C, bad input).

Everything that compiles a supernet runs in subprocesses (tests/drivers.py) on the same shrunken
config, in a small space (E2E_OVERRIDES), and shares the run's compilation cache
(tests/conftest.py), so only the first run pays the full compile; the bad-config tests fail before
anything is compiled. Each
process still traces the steps and each checkpoint save takes about a second, so the tests share
runs: one reference run, one run interrupted by SIGTERM, SIGINT and SIGKILL (whose results must
equal the reference's byte for byte), and two warm-up runs.
"""

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import time
import types

import chex
import jax
import ml_collections
import numpy as np
import pytest

import drivers
import event_files
from natjax import data, registry, search
from natjax.core import arch, costs, extend, genotypes
from natjax.search import loop
from natjax.train import checkpoints
from natjax.errors import InputError
from natjax.io import genotype_files, notation, policy_files

# Shrinks configs/test.py further: one epoch of 18 w-steps + 28 theta-steps on digits, a
# checkpoint every 8 steps.
W_STEPS, THETA_STEPS = 18, 28
SHRUNK = {"epochs": 1, "batch_size": 32, "eval_archs": 2, "derive_samples": 1,
          "checkpoint_every": 8, "log_every": 3}
# The runs search the four-op space of tests/small_space.py (imported as a fork's module is: by
# the config's `imports`), whose steps trace and compile in half the darts space's time; what these
# tests check (the loop, checkpoints, resume, warm-up, derivation's records) is the same in any
# space. The cell transformed at the end is tests/small_cell.json. The bad-config tests below stay
# in the darts space: they fail before anything is compiled.
SMALL_CELL = os.path.join(os.path.dirname(os.path.dirname(__file__)), "small_cell.json")
E2E_OVERRIDES = {**SHRUNK, "space": "small", "imports": ["small_space"],
                 "derive_archs": [SMALL_CELL]}
RUN_TIMEOUT_S = 900


# ----------------------------------------------------------------------------------------------
# Single steps on the end-to-end config, in a subprocess (`drivers.search_steps`) that shares the
# end-to-end runs' XLA cache (same config, same programs): it runs each step twice from the same
# state and batch.

STEP_BATCH = E2E_OVERRIDES["batch_size"]


@pytest.fixture(scope="module")
def step_runs(e2e):
  path = e2e.root / "steps.pkl"
  proc = subprocess.run(drivers.command("search_steps", str(path), json.dumps(E2E_OVERRIDES)),
                        env=e2e.env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                        check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(path, "rb") as f:
    return types.SimpleNamespace(**pickle.load(f))


@pytest.fixture(scope="module")
def w_results(step_runs):
  return step_runs.w


@pytest.fixture(scope="module")
def theta_results(step_runs):
  return step_runs.theta


def _same(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _check_counters(before, after):
  assert int(after.step) == int(before.step) + 1
  assert int(after.position) == int(before.position) + 1
  assert int(after.epoch) == int(before.epoch)
  np.testing.assert_array_equal(after.rng, before.rng)


def _is_batch_fraction(value):
  return 0.0 <= value <= 1.0 and abs(value * STEP_BATCH - round(value * STEP_BATCH)) < 1e-4


def test_w_step_changes_only_supernet_weights(step_runs, w_results):
  (state, metrics), _ = w_results
  before = step_runs.host_state
  chex.assert_trees_all_equal_shapes_and_dtypes(state, before)
  chex.assert_shape([metrics["w_loss"], metrics["w_accuracy"]], ())
  _check_counters(before, state)
  assert np.isfinite(metrics["w_loss"]) and metrics["w_loss"] > 0
  assert _is_batch_fraction(float(metrics["w_accuracy"]))
  for field in ("theta_params", "theta_opt_state", "baseline"):
    assert _same(getattr(state, field), getattr(before, field)), field
  assert not _same(state.w_params, before.w_params)
  assert not _same(state.w_opt_state, before.w_opt_state)


def test_theta_step_changes_only_policy_and_baseline(step_runs, theta_results):
  (state, metrics), _ = theta_results
  before = step_runs.host_state
  chex.assert_trees_all_equal_shapes_and_dtypes(state, before)
  for name in ("theta_loss", "reward", "acc_alpha", "acc_beta", "baseline", "entropy"):
    chex.assert_shape(metrics[name], ())
  _check_counters(before, state)
  for field in ("w_params", "w_opt_state"):
    assert _same(getattr(state, field), getattr(before, field)), field
  assert not _same(state.theta_params, before.theta_params)
  acc_alpha, acc_beta = float(metrics["acc_alpha"]), float(metrics["acc_beta"])
  assert _is_batch_fraction(acc_alpha) and _is_batch_fraction(acc_beta)
  np.testing.assert_allclose(metrics["reward"], acc_beta - acc_alpha, atol=1e-7)
  # Textbook baseline from b = 0: b' = 0.01 r.
  np.testing.assert_allclose(state.baseline, 0.01 * metrics["reward"], rtol=1e-6, atol=1e-12)
  assert float(metrics["baseline"]) == float(state.baseline)
  assert metrics["entropy"] > 0


@pytest.mark.parametrize("results", ["w_results", "theta_results"])
def test_steps_are_deterministic(request, results):
  (state_a, metrics_a), (state_b, metrics_b) = request.getfixturevalue(results)
  assert _same(state_a, state_b)
  assert _same(metrics_a, metrics_b)


# ----------------------------------------------------------------------------------------------
# End to end: search.run in subprocesses.


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
  """The subprocess environment and the reference (uninterrupted) run."""
  root = tmp_path_factory.mktemp("search_e2e")
  env = drivers.fresh_env(JAX_PLATFORMS="cpu", PYTHONPATH=drivers.REPO)
  ctx = types.SimpleNamespace(root=root, env=env)
  ctx.reference = str(root / "reference")
  proc = _run(ctx, ctx.reference)
  assert proc.returncode == 0, proc.stderr[-3000:]
  ctx.reference_stdout = proc.stdout
  return ctx


def _popen(ctx, workdir, **overrides):
  args = drivers.command("search", workdir, json.dumps({**E2E_OVERRIDES, **overrides}))
  return subprocess.Popen(args, env=ctx.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def _run(ctx, workdir, **overrides):
  proc = _popen(ctx, workdir, **overrides)
  stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
  return types.SimpleNamespace(returncode=proc.returncode, stdout=stdout, stderr=stderr)


def _read(workdir, name):
  with open(os.path.join(workdir, name), "rb") as f:
    return f.read()


def _assert_same_results(workdir, reference):
  for name in (search.SUMMARY_FILE, search.DERIVED_FILE):
    assert _read(workdir, name) == _read(reference, name), name


def _checkpoint_steps(workdir):
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return []
  return sorted(int(n) for n in os.listdir(directory) if n.isdigit())


def _wait_for_checkpoint(proc, workdir, after=0, timeout_s=RUN_TIMEOUT_S):
  """Polls until a checkpoint of a step > `after` exists; returns its step."""
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    steps = [s for s in _checkpoint_steps(workdir) if s > after]
    if steps:
      return steps[-1]
    if proc.poll() is not None:
      raise AssertionError(f"run ended (code {proc.returncode}) before its first checkpoint:"
                           f" {proc.stderr.read()[-3000:]}")
    time.sleep(0.05)
  proc.kill()
  raise AssertionError("no checkpoint within the timeout")


def test_summary_and_derived_contents(e2e):
  summary = json.loads(_read(e2e.reference, search.SUMMARY_FILE))
  per_epoch = (data.steps_per_epoch(600, 32) + data.steps_per_epoch(900, 32))
  assert summary["steps"] == per_epoch == W_STEPS + THETA_STEPS
  for variant in ("policy", "greedy", "random", "random_nonull"):
    for key in ("reward", "reward_se", "win_rate", "params_change", "madds_change"):
      value = summary[f"{variant}_{key}"]
      assert isinstance(value, float) and -1.0 <= value <= 1.0, (variant, key)
    assert summary[f"{variant}_params_change"] <= 0 and summary[f"{variant}_madds_change"] <= 0
  assert 0.0 <= summary["supernet_accuracy"] <= 1.0
  assert summary["eval_archs"] == 2 and summary["eval_examples"] == 297  # the whole test split
  assert summary["derive_examples"] == 900  # the whole theta split
  entries = json.loads(_read(e2e.reference, search.DERIVED_FILE))
  (name, small_cell), = genotype_files.read_archs(SMALL_CELL).items()
  assert [e["name"] for e in entries] == [name]
  for entry in entries:
    before = notation.genotype_from_json(entry["input"])
    assert before == small_cell
    after = notation.genotype_from_json(entry["output"])
    for cell in arch.CELL_TYPES:  # the policy changes ops, never the wiring
      assert [e[1:] for e in getattr(after, cell)] == [e[1:] for e in getattr(before, cell)]
    cost_before, cost_after = costs.genotype_cost(before), costs.genotype_cost(after)
    assert entry["input"]["params"] == cost_before["params"]
    assert entry["output"]["madds"] == cost_after["madds"]
    assert cost_after["params"] <= cost_before["params"]
    assert cost_after["madds"] <= cost_before["madds"]
    assert len(entry["candidates"]) == 2  # one sample plus the greedy one
    for candidate in entry["candidates"]:
      notation.genotype_from_json(candidate)
      assert (candidate["accuracy"] is None) == (not (candidate["cost_ok"]
                                                      and candidate["connected"]))
    scored = [c["accuracy"] for c in entry["candidates"] if c["accuracy"] is not None]
    if scored:
      assert entry["output"]["accuracy"] == max(scored)
    assert summary["derived"][entry["name"]]["accuracy_after"] == entry["output"]["accuracy"]
  assert _checkpoint_steps(e2e.reference)[-1] == 46


# The phase lines of a fresh search on E2E_OVERRIDES, each printed once (durations vary).
PHASES = [r"data loaded: digits, w 600 / theta 900 / test 297 examples \(\d+\.\d s\)",
          r"supernet built: 3 cells, C=4, [\d,]+ weights; policy [\d,]+ params \(\d+\.\d s\)",
          r"w-step compiled in \d+\.\d s",
          r"theta-step compiled in \d+\.\d s",
          r"derived: 2 candidates x 1 input\(s\) on 900 theta-split images \(\d+\.\d s\)",
          r"held-out check scored: 2 random architectures x 4 transformations on 297 test images"
          r" \(\d+\.\d s\)"]


def test_search_prints_each_phase_once_in_order(e2e):
  lines = e2e.reference_stdout.splitlines()
  found = []
  for pattern in PHASES:
    matches = [i for i, line in enumerate(lines) if re.fullmatch(pattern, line)]
    assert len(matches) == 1, (pattern, e2e.reference_stdout)
    found.append(matches[0])
  assert found == sorted(found)


def test_final_line_names_everything_the_run_wrote(e2e):
  """The last line lists the work directory: the drawings and policy/ included."""
  names = sorted(n + ("/" if os.path.isdir(os.path.join(e2e.reference, n)) else "")
                 for n in os.listdir(e2e.reference))
  assert {"policy/", "checkpoints/", "tensorboard/", search.DERIVED_FILE, search.SUMMARY_FILE,
          "config.json"} <= set(names)
  assert any(n.endswith(".svg") for n in names), names
  assert e2e.reference_stdout.splitlines()[-1] == (
      f"wrote {len(names)} files and folders to {e2e.reference}: {', '.join(names)}")


def test_event_file_tags(e2e):
  """Namespaced tags at every log step (3) and the epoch's end (46); w-steps are 1-18."""
  scalars = event_files.read_scalars(e2e.reference)
  assert set(scalars) == {"w/loss", "w/accuracy", "theta/loss", "theta/reward", "theta/baseline",
                          "theta/entropy", "theta/acc_alpha", "theta/acc_beta"}
  assert [s for s, _ in scalars["w/loss"]] == list(range(3, 19, 3))
  assert [s for s, _ in scalars["theta/reward"]] == list(range(21, 46, 3)) + [46]
  assert all(0.0 <= v <= 1.0 for _, v in scalars["w/accuracy"])


@pytest.fixture(scope="module")
def interrupted(e2e):
  """One run interrupted three times and finished: SIGTERM at its first checkpoint; resumed,
  SIGINT (Ctrl-C) at its next checkpoint; resumed, then SIGKILLed at a checkpoint among the
  theta-steps; resumed again to the end. Its results equal the
  reference run's, so a run of the same seed in other processes, resumed twice, gives the same
  bytes. Returns what each process left: (returncode, stdout, stderr, checkpoint steps, whether
  summary.json existed)."""
  workdir = str(e2e.root / "interrupted")

  def left(proc, stdout, stderr):
    return types.SimpleNamespace(
        returncode=proc.returncode, stdout=stdout, stderr=stderr,
        checkpoints=_checkpoint_steps(workdir),
        summary=os.path.exists(os.path.join(workdir, search.SUMMARY_FILE)))

  stopped = {}
  for signum in (signal.SIGTERM, signal.SIGINT):  # each resumes from the step the last saved
    proc = _popen(e2e, workdir)
    _wait_for_checkpoint(proc, workdir, after=max(_checkpoint_steps(workdir) + [0]))
    proc.send_signal(signum)
    stopped[signum] = left(proc, *proc.communicate(timeout=RUN_TIMEOUT_S))
  proc = _popen(e2e, workdir)
  killed_at = _wait_for_checkpoint(proc, workdir,
                                   after=max(_checkpoint_steps(workdir) + [W_STEPS]))
  proc.send_signal(signal.SIGKILL)
  killed = left(proc, *proc.communicate())
  finished = _run(e2e, workdir)
  return types.SimpleNamespace(workdir=workdir, stopped=stopped, killed=killed,
                               killed_at=killed_at, finished=finished)


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_the_current_step_and_exits(interrupted, signum, code):
  """SIGTERM, and a first Ctrl-C (SIGINT), save the step they arrive in and exit 128 + signal."""
  stopped = interrupted.stopped[signum]
  assert stopped.returncode == code, stopped.stderr[-3000:]
  saved = re.search(rf"{signal.Signals(signum).name}: saved step (\d+)", stopped.stdout)
  assert saved, stopped.stdout
  step = int(saved.group(1))
  assert 0 < step < W_STEPS + THETA_STEPS
  assert stopped.checkpoints[-1] == step
  assert not stopped.summary


def test_resume_after_sigkill(interrupted, e2e):
  killed = interrupted.killed
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
  assert not killed.summary
  assert W_STEPS < interrupted.killed_at <= killed.checkpoints[-1] < W_STEPS + THETA_STEPS
  finished = interrupted.finished
  assert finished.returncode == 0, finished.stderr[-3000:]
  assert "resumed from" in finished.stdout
  _assert_same_results(interrupted.workdir, e2e.reference)


def _input_error(proc):
  assert proc.returncode == 2, proc.stderr[-3000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("INPUT_ERROR:")]
  assert len(lines) == 1, proc.stderr[-3000:]
  return lines[0]


def test_restore_reproduces_the_held_out_check(e2e):
  """`search.restore` in a fresh process (`drivers.restored_held_out`, which shares the runs'
  compilation cache) rebuilds the final state and scorers: the held-out check repeated on them
  gives the summary's figures."""
  proc = subprocess.run(drivers.command("restored_held_out", e2e.reference), env=e2e.env,
                        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  restored = json.loads(proc.stdout.splitlines()[-1])
  summary = json.loads(_read(e2e.reference, search.SUMMARY_FILE))
  assert restored["step"] == summary["steps"]
  held_out = restored["held_out"]
  for name in ("supernet_accuracy", "policy_reward", "random_reward", "greedy_win_rate",
               "random_nonull_reward_se", "policy_minus_random"):
    assert held_out[name] == pytest.approx(summary[name], abs=1e-7), name


def test_restore_without_a_search_names_the_file(tmp_path):
  with pytest.raises(InputError, match="config.json"):
    search.restore(str(tmp_path))


# Warm-up: epochs before theta_start_epoch run only w-steps (18 per epoch here).
WARMUP = {"epochs": 2, "theta_start_epoch": 1}


def test_epoch_length_skips_theta_steps_before_theta_start_epoch():
  config = drivers.load_config(theta_start_epoch=2)
  assert [loop.epoch_length(config, e, 18, 28) for e in range(4)] == [18, 18, 46, 46]
  config = drivers.load_config()  # released: no warm-up
  assert config.theta_start_epoch == 0 and loop.epoch_length(config, 0, 18, 28) == 46


def test_warmup_only_run_never_touches_the_policy(e2e, step_runs):
  """The exported policy is the initial one: `step_runs.host_state`, made (in a process with the
  runs' XLA flags) from the same seed and shapes; epochs and theta_start_epoch only schedule the
  steps."""
  workdir = str(e2e.root / "warmup_only")
  proc = _run(e2e, workdir, epochs=1, theta_start_epoch=1)
  assert proc.returncode == 0, proc.stderr[-3000:]
  summary = json.loads(_read(workdir, search.SUMMARY_FILE))
  assert summary["steps"] == W_STEPS and summary["baseline"] == 0.0
  initial = step_runs.host_state
  # 'small' registered for the load only: load_policy imports small_space, which finds it there.
  with extend.temporary(spaces=[drivers.small_space()]):
    exported = jax.device_get(policy_files.load_policy(workdir).params)
  assert _same(exported, initial.theta_params)


@pytest.fixture(scope="module")
def warmup_reference(e2e):
  workdir = str(e2e.root / "warmup_reference")
  proc = _run(e2e, workdir, **WARMUP)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


def test_warmup_then_policy_steps(warmup_reference):
  summary = json.loads(_read(warmup_reference, search.SUMMARY_FILE))
  assert summary["steps"] == 2 * W_STEPS + THETA_STEPS and summary["theta_start_epoch"] == 1
  assert summary["baseline"] != 0.0  # the policy trained in the last epoch


def test_resume_in_the_middle_of_the_warmup_replays_exactly(e2e, step_runs, warmup_reference):
  workdir = str(e2e.root / "warmup_killed")
  proc = _popen(e2e, workdir, **WARMUP)
  step = _wait_for_checkpoint(proc, workdir)
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  latest = _checkpoint_steps(workdir)[-1]
  assert 0 < step <= latest < W_STEPS, "killed after the warm-up; the test needs it inside"
  initial = step_runs.host_state  # as in test_warmup_only_run_never_touches_the_policy
  saved = jax.device_get(checkpoints.StateCheckpointer(workdir).restore(initial, latest))
  assert int(saved.step) == latest
  for field in ("theta_params", "theta_opt_state", "baseline"):  # no policy update so far
    assert _same(getattr(saved, field), getattr(initial, field)), field
  assert not _same(saved.w_params, initial.w_params)
  resumed = _run(e2e, workdir, **WARMUP)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "resumed from" in resumed.stdout
  _assert_same_results(workdir, warmup_reference)


def test_resume_with_changed_config_field_names_it(e2e):
  workdir = str(e2e.root / "changed_field")
  shutil.copytree(e2e.reference, workdir)
  message = _input_error(_run(e2e, workdir, w_lr=0.02))
  assert "'w_lr'" in message and "config.json" in message


def test_resume_with_checkpoint_of_other_shape_names_field(e2e):
  workdir = str(e2e.root / "other_channels")
  shutil.copytree(e2e.reference, workdir)
  # Make config.json agree with the new config so that the checkpoint check is reached.
  path = os.path.join(workdir, search.CONFIG_FILE)
  with open(path, encoding="utf-8") as f:
    stored = json.load(f)
  stored["channels"] = 6
  with open(path, "w", encoding="utf-8") as f:
    json.dump(stored, f)
  message = _input_error(_run(e2e, workdir, channels=6))
  assert "checkpoint" in message
  # The first differing field in sorted order: a supernet weight or its optimiser trace.
  assert re.search(r"field '(w_params|w_opt_state)/[^']+' is float32\[[\d, ]*4\] but this"
                   r" configuration needs float32\[[\d, ]*6\]", message), message


def test_resume_from_a_damaged_checkpoint_is_one_line(e2e):
  """The newest checkpoint's array data deleted: one line naming it, and nothing after it (orbax
  left no read in flight to report to its closed event loop)."""
  workdir = str(e2e.root / "damaged")
  shutil.copytree(e2e.reference, workdir)
  newest = _checkpoint_steps(workdir)[-1]
  shutil.rmtree(os.path.join(workdir, "checkpoints", str(newest), "arrays", "d"))
  proc = _run(e2e, workdir)
  message = _input_error(proc)
  assert f"checkpoints/{newest}: cannot be restored" in message and "delete it" in message
  assert "Traceback" not in proc.stderr and "Event loop" not in proc.stderr, proc.stderr[-3000:]


# ----------------------------------------------------------------------------------------------
# Bad config input (rejected before anything is compiled).


def _run_error(tmp_path, **overrides):
  config = drivers.load_config(**{**SHRUNK, **overrides})
  with pytest.raises(InputError) as error:
    search.run(config, str(tmp_path / "workdir"))
  return str(error.value)


def test_derive_arch_outside_space(tmp_path):
  message = _run_error(tmp_path, derive_archs=["DARTS", "MobileNetV2"])
  assert "derive_archs" in message and "MobileNetV2" in message


def test_derive_archs_use_the_one_resolver(tmp_path):
  """A genotypes.py entry in DARTS's (op, from) form and a published cell by name resolve as on
  the command line; the published NASNet cell is refused for the space, by name."""
  path = tmp_path / "genotypes.py"
  path.write_text("from collections import namedtuple\n"
                  f"MINE = {notation.format_notation(genotypes.R2, 'darts')}\n")
  message = _run_error(tmp_path, derive_archs=[f"{path}:MINE", "PDARTS", "NASNET"])
  assert message.startswith("config.derive_archs: NASNET: ") and "space 'darts'" in message


@pytest.mark.parametrize("overrides, start, hint", [
    ({"rule": "natt"}, "config.rule: unknown transition rule 'natt'", "(did you mean"),
    ({"derive_archs": ["DART"]}, "config.derive_archs: 'DART' is neither a built-in",
     "(did you mean"),
    ({"dataset": "cifar11"}, "config.dataset: unknown dataset 'cifar11'", "(did you mean"),
    ({"derive_archs": ["gs://bucket/g.json"]}, "config.derive_archs: architecture"
     " 'gs://bucket/g.json': gs:// paths are not supported", ""),
    ({"batch_size": -5}, "config.batch_size must be >= 1, got -5", "")])
def test_bad_config_fields_named_before_the_data_loads(tmp_path, monkeypatch, overrides, start,
                                                       hint):
  monkeypatch.setattr(loop.data, "load", lambda *args, **kwargs: pytest.fail("data loaded"))
  message = _run_error(tmp_path, **overrides)
  assert message.startswith(start) and hint in message, message


def test_a_config_missing_a_field_is_named_before_anything_is_read(tmp_path, monkeypatch):
  """Through the Python API too (the command line adds the file and whose config it is)."""
  monkeypatch.setattr(registry, "import_modules",
                      lambda *args: pytest.fail("imported before the fields were checked"))
  config = drivers.load_config(**SHRUNK).to_dict()
  del config["theta_lr"], config["imports"]
  with pytest.raises(InputError, match=r"^config has no field 'imports' \(every field is set in"
                     r" configs/default.py\)$"):
    search.run(ml_collections.ConfigDict(config), str(tmp_path / "workdir"))
  assert not (tmp_path / "workdir").exists()


def test_unknown_space(tmp_path):
  message = _run_error(tmp_path, space="dart")
  assert "config.space" in message and "'darts'" in message


def test_batch_not_divisible_by_devices(tmp_path, monkeypatch):
  monkeypatch.setattr(jax, "device_count", lambda: 3)
  message = _run_error(tmp_path, batch_size=32)
  assert "batch_size" in message


@pytest.mark.parametrize("field", ["epochs", "channels", "derive_samples"])
def test_nonpositive_fields(tmp_path, field):
  assert f"config.{field}" in _run_error(tmp_path, **{field: 0})


@pytest.mark.parametrize("overrides, field", [({"theta_start_epoch": 3}, "theta_start_epoch"),
                                              ({"theta_start_epoch": -1}, "theta_start_epoch"),
                                              ({"eval_archs": 1}, "eval_archs"),
                                              ({"eval_batch_size": -4}, "eval_batch_size")])
def test_bad_warmup_and_check_fields(tmp_path, overrides, field):
  assert f"config.{field}" in _run_error(tmp_path, **overrides)
