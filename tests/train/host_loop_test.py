"""Tests for natjax.train.host_loop and natjax.train.metrics: interval means and tags read back
from the event files, sync and checkpoint cadence, the finiteness check, preemption by SIGTERM,
by an injected agreement, and across two real processes (jax.distributed on localhost)."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import drivers
from event_files import read_scalars
from natjax.train import checkpoints, host_loop, metrics, sharding

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FakeCheckpointer:
  """Records saves: {step: host copy of the state}; no agreement across hosts."""

  def __init__(self, directory="/ckpt"):
    self.directory, self.saved = directory, {}

  def save(self, step, state):
    self.saved[step] = jax.device_get(state)

  def latest_step(self):
    return max(self.saved) if self.saved else None


def make_loop(tmp_path, checkpointer=None, *, step=0, log_every=4, checkpoint_every=100,
              out=None):
  return host_loop.Loop(checkpointer or FakeCheckpointer(), str(tmp_path), step=step,
                        total_steps=100, log_every=log_every, checkpoint_every=checkpoint_every,
                        postfix=((("l", "a/loss"),),), progress=False,
                        out=out or open(os.devnull, "w"))


def counting_step(values):
  """A step that adds 1 to the state and reports values[step] under 'a/loss' (device array)
  and position under 'a/position' (float) on even positions, 'b/x' on odd ones."""

  def step_fn(state, epoch, position):
    step = int(state)
    scalars = {"a/loss": jnp.float32(values[step])}
    scalars["a/position" if position % 2 == 0 else "b/x"] = float(position + 10 * epoch)
    return state + 1, scalars

  return step_fn


def test_interval_means_and_tags_read_back(tmp_path):
  """Two epochs of 6 steps, logging every 4 steps and at each epoch's end: the logged values
  are the means over each interval, computed by hand below."""
  values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
  loop = make_loop(tmp_path)
  state = jnp.int32(0)
  with loop:
    for epoch in range(2):
      state = loop.run_epoch(state, epoch, 0, 6, counting_step(values))
    loop.writer.write_scalars(loop.step, {"test/accuracy": 0.5})
  assert int(state) == 12 and loop.step == 12
  found = read_scalars(str(tmp_path))
  # Intervals end at steps 4, 6 (epoch end), 8, 12 (a log step and the epoch end).
  assert found["a/loss"] == [(4, 2.5), (6, 5.5), (8, 7.5), (12, 10.5)]
  # Positions 0, 2 | 4 | 0 (epoch 1: 10) | 2, 4 (12, 14); odd positions 1, 3 | 5 | 1 | 3, 5.
  assert found["a/position"] == [(4, 1.0), (6, 4.0), (8, 10.0), (12, 13.0)]
  assert found["b/x"] == [(4, 2.0), (6, 5.0), (8, 11.0), (12, 14.0)]
  assert found["test/accuracy"] == [(12, 0.5)]


def test_writer_means_per_tag():
  writer = metrics.MetricWriter.__new__(metrics.MetricWriter)
  writer._writer, writer._sums, writer._counts = None, {}, {}
  writer.add({"w/loss": 1.0})
  writer.add({"w/loss": 4.0, "theta/reward": -0.5})
  writer.add({"theta/reward": 0.25})
  assert writer.flush(3) == {"w/loss": 2.5, "theta/reward": -0.125}
  assert writer.flush(4) == {}


def test_sync_keeps_at_most_max_in_flight(tmp_path):
  """No more than MAX_IN_FLIGHT steps are dispatched before the host reads their metrics."""
  in_flight = []
  loop = make_loop(tmp_path, log_every=1000)
  real_check = loop._check

  def check(pending, state, epoch):
    in_flight.append(len(pending))
    real_check(pending, state, epoch)

  loop._check = check
  with loop:
    loop.run_epoch(jnp.int32(0), 0, 0, 25, counting_step([0.0] * 25))
  assert in_flight == [10, 10, 5]


def test_checkpoint_cadence_and_resume_position(tmp_path):
  checkpointer = FakeCheckpointer()
  loop = make_loop(tmp_path, checkpointer, step=3, checkpoint_every=4)
  with loop:
    state = loop.run_epoch(jnp.int32(3), 0, 3, 11, counting_step([0.0] * 20))
    loop.save(state)
  assert sorted(checkpointer.saved) == [4, 8, 11]
  assert {s: int(v) for s, v in checkpointer.saved.items()} == {4: 4, 8: 8, 11: 11}


@pytest.mark.parametrize("donated", [False, True])
def test_non_finite_names_tag_step_and_epoch_and_keeps_the_last_good_state(tmp_path, donated):
  """NaN at step 7 (epoch 1, position 1), found at the save of step 8. Checks passed at steps
  3 (log), 4 (save), 5 (epoch end) and 6 (log): the state of step 6 is saved when it is still in
  memory; a step that donates its input leaves the newest checkpoint (step 4) as the good one."""
  values = [0.0] * 6 + [float("nan")] + [0.0] * 5
  checkpointer = FakeCheckpointer()
  loop = make_loop(tmp_path, checkpointer, log_every=3, checkpoint_every=4)
  step_fn = counting_step(values)

  def donating(state, epoch, position):
    new, scalars = step_fn(state, epoch, position)
    state.delete()
    return new, scalars

  with loop, pytest.raises(host_loop.NonFiniteError) as error:
    state = loop.run_epoch(jnp.int32(0), 0, 0, 5, donating if donated else step_fn)
    loop.run_epoch(state, 1, 0, 5, donating if donated else step_fn)
  message = str(error.value)
  assert message.startswith("a/loss became nan at step 7 (epoch 1); ")
  good = 4 if donated else 6
  assert f"the last good state (step {good}) is saved in /ckpt" in message
  assert sorted(checkpointer.saved) == sorted({4, good})
  assert int(checkpointer.saved[good]) == good


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_the_current_step_and_exits_128_plus_it(tmp_path, signum, code):
  """SIGTERM and a first Ctrl-C save the step they arrive in and stop, exit code 128 + signal."""
  checkpointer = FakeCheckpointer()
  step_fn = counting_step([0.0] * 20)

  def signalling(state, epoch, position):
    if position == 5:
      os.kill(os.getpid(), signum)
    return step_fn(state, epoch, position)

  previous = {s: signal.getsignal(s) for s in host_loop.SIGNALS}
  with open(tmp_path / "out.txt", "w") as out:
    loop = make_loop(tmp_path, checkpointer, out=out)
    with loop, pytest.raises(host_loop.Preempted) as stop:
      loop.run_epoch(jnp.int32(0), 0, 0, 20, step_fn=signalling)
  assert stop.value.code == code and stop.value.step == 6
  assert isinstance(stop.value, SystemExit) and not isinstance(stop.value, Exception)
  assert sorted(checkpointer.saved) == [6] and int(checkpointer.saved[6]) == 6
  line = f"{signal.Signals(signum).name}: saved step 6 in /ckpt; run the same command to resume"
  assert str(stop.value) == line
  assert (tmp_path / "out.txt").read_text().splitlines() == [line]
  assert {s: signal.getsignal(s) for s in host_loop.SIGNALS} == previous


@pytest.mark.parametrize("saved,line", [
    ({4: 4}, "interrupted; the same command resumes from step 4, the newest checkpoint in /ckpt"),
    ({}, "interrupted before the first checkpoint; the same command starts the run afresh")])
def test_second_ctrl_c_stops_at_once_naming_the_newest_checkpoint(tmp_path, saved, line):
  """Two SIGINTs within one step: the second interrupts that step, nothing more is saved."""
  checkpointer = FakeCheckpointer()
  checkpointer.saved.update(saved)
  step_fn = counting_step([0.0] * 20)

  def signalling(state, epoch, position):
    if position == 5:
      os.kill(os.getpid(), signal.SIGINT)
      os.kill(os.getpid(), signal.SIGINT)
    return step_fn(state, epoch, position)

  previous = signal.getsignal(signal.SIGINT)
  loop = make_loop(tmp_path, checkpointer)
  with pytest.raises(host_loop.Interrupted) as stop:
    with loop:
      loop.run_epoch(jnp.int32(0), 0, 0, 20, step_fn=signalling)
  assert str(stop.value) == line and isinstance(stop.value, KeyboardInterrupt)
  assert checkpointer.saved == saved
  assert signal.getsignal(signal.SIGINT) is previous


def test_agreement_stops_every_host_at_the_agreed_step(tmp_path):
  """With the agreement injected (as orbax's reached_preemption answers on every host), the loop
  asks after every step and stops at the first step it says True."""
  asked = []
  checkpointer = FakeCheckpointer()
  checkpointer.reached_preemption = lambda step: asked.append(step) or step == 7
  loop = make_loop(tmp_path, checkpointer)
  with loop, pytest.raises(host_loop.Preempted) as stop:
    loop.run_epoch(jnp.int32(0), 0, 0, 20, counting_step([0.0] * 20))
  assert asked == list(range(1, 8)) and stop.value.step == 7
  assert sorted(checkpointer.saved) == [7]


def test_compile_on_first_call_compiles_once_and_keeps_results():
  """A sharded step with a donated state, as the search's: one backend compilation (the explicit
  one; the jitted call finds it in jit's cache), one report, the jitted function's results."""
  mesh = sharding.data_mesh()
  fn = sharding.shard_step(lambda s, b: s + jax.lax.psum(b.sum(), sharding.AXIS), mesh,
                           donate_argnums=(0,))
  state = sharding.replicate(jnp.zeros((), jnp.float32), mesh)
  batches = [sharding.global_batch(np.full((4,), i, np.float32), mesh) for i in range(3)]
  said, compiles = [], []

  def listener(name, secs, **kwargs):
    del secs, kwargs
    if name == "/jax/core/compile/backend_compile_duration":
      compiles.append(name)

  call = host_loop.compile_on_first_call(fn, "toy step", said.append)
  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    for batch in batches:
      state = call(state, batch)
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  assert float(state) == 4 * (0 + 1 + 2) and len(compiles) == 1
  assert len(said) == 1 and said[0].startswith("toy step compiled in ") and said[0].endswith(" s")


_WORKER = textwrap.dedent("""\
    import os, sys
    sys.path.insert(0, {root!r})
    import jax
    process, port, workdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    jax.distributed.initialize(f"localhost:{{port}}", num_processes=2, process_id=process)
    import numpy as np
    from natjax.train import checkpoints, host_loop
    checkpointer = checkpoints.StateCheckpointer(workdir)
    loop = host_loop.Loop(checkpointer, workdir, step=0, total_steps=10**6, log_every=50,
                          checkpoint_every=10**6, postfix=(), progress=False, out=sys.stdout)

    def step_fn(state, epoch, position):
      if position == 20:
        open(os.path.join(workdir, f"running{{process}}"), "w").close()
      return {{"count": state["count"] + 1}}, {{"a/loss": 0.0}}

    try:
      with loop:
        loop.run_epoch({{"count": np.zeros((), np.int64)}}, 0, 0, 10**6, step_fn)
    except host_loop.Preempted as stop:
      print("STOPPED", stop.step, flush=True)
      raise
    """)


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_agree_on_the_preemption_step(tmp_path):
  """SIGTERM to one of two jax.distributed processes: both stop at the same step (orbax's
  reached_preemption), save it once, and exit with code 143."""
  worker = tmp_path / "worker.py"
  worker.write_text(_WORKER.format(root=ROOT))
  workdir = tmp_path / "run"
  workdir.mkdir()
  env = drivers.fresh_env(JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  port = str(_free_port())
  procs = [subprocess.Popen([sys.executable, str(worker), str(i), port, str(workdir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  try:
    while not all((workdir / f"running{i}").exists() for i in range(2)):
      time.sleep(0.05)
      assert all(p.poll() is None for p in procs), procs[0].communicate()[1][-2000:]
    procs[1].send_signal(signal.SIGTERM)
    results = [p.communicate(timeout=120) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  codes = [p.returncode for p in procs]
  assert codes == [143, 143], [r[1][-2000:] for r in results]
  stopped = [int(line.split()[1]) for out, _ in results for line in out.splitlines()
             if line.startswith("STOPPED")]
  assert len(stopped) == 2 and stopped[0] == stopped[1] > 20
  assert checkpoints.StateCheckpointer(str(workdir)).latest_step() == stopped[0]
