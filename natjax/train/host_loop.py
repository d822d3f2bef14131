"""The host loop shared by the search (`natjax.search.loop`) and retraining
(`natjax.train.retrain`): it feeds steps, syncs, checks, logs, checkpoints and stops on
preemption; what a step computes is the caller's.

  steps        `Loop.run_epoch` calls `step_fn(state, epoch, position)` for each remaining
               position of an epoch; a step returns (state, {tag: scalar}) (tags:
               `natjax.train.metrics`).
  sync         at most `MAX_IN_FLIGHT` steps are dispatched before the host reads their
               metrics (CPU collectives deadlock with too many in flight), and always at a log
               point, before a save and at the epoch's end.
  finiteness   every metric of every step is checked at each sync; the first non-finite one
               stops the run with `NonFiniteError` naming the tag, step and epoch, after saving
               the last checked state if it is still in memory (steps that donate their input
               keep it only on disk: every checkpoint is written after a passing check, so the
               newest one is then the last good state).
  metrics      each step's scalars go to the shared `metrics.MetricWriter`, which writes their
               interval means every `log_every` steps and at each epoch's end.
  checkpoints  every `checkpoint_every` steps, on preemption, and where the caller calls `save`
               (epoch ends).
  preemption   `Preemption`: SIGTERM or a first Ctrl-C (SIGINT) in a single process; across
               processes the agreement of orbax's `CheckpointManager.reached_preemption(step)`,
               so that every host saves the same step. The loop then saves at the next step
               boundary, prints one line and raises `Preempted` (exit code 128 + the signal's
               number: 143, or 130 after Ctrl-C). A second Ctrl-C stops at once: `Interrupted`
               names the newest checkpoint, where the same command resumes.

Phase lines (what the run is doing and how long it took) go through `Loop.say`, which keeps the
progress bar intact; `compile_on_first_call` compiles a jitted step explicitly
(`.lower(...).compile()`) and reports its compile time.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jax
import numpy as np
import tqdm

from natjax.train import metrics as metrics_lib

MAX_IN_FLIGHT = 10  # steps dispatched before the host waits (CPU collectives deadlock beyond ~60)
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM  # 143, what a scheduler expects of a preempted job
SIGNALS = (signal.SIGTERM, signal.SIGINT)  # a preemption notice; Ctrl-C

# A progress-bar postfix: groups of (label, tag), e.g. [[('loss', 'train/loss')]]; groups are
# separated by ' | ' and each keeps its newest values.
Postfix = Sequence[Sequence[Tuple[str, str]]]


class Preempted(SystemExit):
  """A preemption notice arrived (SIGTERM here or on another host, or a first Ctrl-C); the state
  was saved and the same command resumes the run.

  A SystemExit with code 128 + the signal's number (143 for SIGTERM, 130 for SIGINT): a script
  that calls `run` exits as a preempted or interrupted job should, and `except Exception` does
  not swallow it. `str(error)` is the one-line message.

  Attributes:
    step: the saved step.
  """

  def __init__(self, message: str, step: int, code: int = SIGTERM_EXIT_CODE):
    super().__init__(code)
    self.message, self.step = message, step

  def __str__(self) -> str:
    return self.message


class Interrupted(KeyboardInterrupt):
  """A second Ctrl-C stopped the run at once; `str(error)` names the newest checkpoint, the step
  the same command resumes from."""


class NonFiniteError(RuntimeError):
  """A step's metric became NaN or infinite; the message names it, the step and the epoch, and
  where the last good state was saved."""


def since(start: float) -> str:
  """Seconds since `start` (a `time.perf_counter()` reading) as '12.3 s', for phase lines."""
  return f"{time.perf_counter() - start:.1f} s"


class Preemption:
  """Whether the run must stop and save at a step: a context manager around the loop.

  In a single process, SIGTERM (a preempted VM, a cluster's time limit) or a first Ctrl-C
  (SIGINT) sets a flag that the loop reads after every step, `signal` naming which; a second
  Ctrl-C raises KeyboardInterrupt at once. The previous handlers come back on exit (outside the
  main thread, where signals cannot be handled, the flag never rises). With several processes each
  host's SIGTERM goes to JAX's preemption service instead (started by `jax.distributed.
  initialize`), and `agreed(step)` (orbax's `CheckpointManager.reached_preemption`) is True on
  every host at the same step, the first one all of them reach after the notice; no Python
  handler is installed then, as it would displace the service's.

  Args:
    agreed: step -> bool, called after every step on every host (all must call it at the same
      steps); None: the flag alone.
  """

  def __init__(self, agreed: Optional[Callable[[int], bool]] = None):
    self.requested = False
    self.signal = signal.SIGTERM  # the notice that raised the flag (an agreement: SIGTERM's)
    self._agreed = agreed
    self._previous = {}

  def __enter__(self) -> "Preemption":
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      self._previous = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
    return self

  def _handle(self, signum: int, frame: Any) -> None:
    del frame
    if self.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt  # the second Ctrl-C: stop now
    self.requested, self.signal = True, signal.Signals(signum)
    if signum == signal.SIGINT:  # os.write: a handler must not re-enter sys.stderr's buffer
      _notify("\nSIGINT: saving at the next step, then stopping (Ctrl-C again: stop at once)\n")

  def reached(self, step: int) -> bool:
    """True when the run must save `step` and stop."""
    if self._agreed is not None and self._agreed(step):
      self.requested = True
    return self.requested

  def __exit__(self, *exc: Any) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    self._previous = {}


def _notify(line: str) -> None:
  """Writes `line` to stderr's file descriptor unbuffered (safe in a signal handler)."""
  try:
    os.write(sys.stderr.fileno(), line.encode())
  except (AttributeError, OSError, ValueError):  # stderr replaced by an object without a file
    pass


def _resumes_from(checkpointer: Any) -> str:
  """The line after a second Ctrl-C: which step the same command resumes from."""
  step = checkpointer.latest_step()
  if step is None:
    return "interrupted before the first checkpoint; the same command starts the run afresh"
  return (f"interrupted; the same command resumes from step {step}, the newest checkpoint in"
          f" {checkpointer.directory}")


def compile_on_first_call(fn: Any, name: str, say: Callable[[str], None]) -> Callable:
  """`fn` (a jitted function) that on its first call compiles explicitly for those arguments
  (`fn.lower(*args).compile()`), reports '<name> compiled in X s' through `say`, then calls
  `fn`, which finds the compiled program in jit's cache; later calls go straight to `fn`."""
  compiled = []

  def call(*args: Any) -> Any:
    if not compiled:
      start = time.perf_counter()
      compiled.append(fn.lower(*args).compile())
      say(f"{name} compiled in {since(start)}")
    return fn(*args)

  return call


def _alive(state: Any) -> bool:
  """Whether every array of `state` still holds its buffers (a donated one does not)."""
  return not any(leaf.is_deleted() for leaf in jax.tree.leaves(state)
                 if isinstance(leaf, jax.Array))


class Loop:
  """The shared host loop of one run: progress bar, metric writer, checkpoint cadence and
  preemption, from step `step` on. Use as a context manager around the epochs:

      with Loop(checkpointer, workdir, ...) as loop:
        while epoch < epochs:
          state = loop.run_epoch(state, epoch, position, length, step_fn)
          ...                      # the caller's epoch end: evaluate, derive, `loop.save(state)`

  Args:
    checkpointer: a `checkpoints.StateCheckpointer` (save, latest_step, directory,
      reached_preemption).
    workdir: the run directory (event files go to WORKDIR/tensorboard).
    step: the global step the run starts (or resumes) at.
    total_steps: the run's steps, for the progress bar.
    log_every: steps between metric writes (also at each epoch's end).
    checkpoint_every: steps between checkpoints.
    postfix: which interval means the progress bar shows (`Postfix`).
    progress: whether to show the progress bar (on stderr).
    out: where phase lines and the preemption line go.
  """

  def __init__(self, checkpointer: Any, workdir: str, *, step: int, total_steps: int,
               log_every: int, checkpoint_every: int, postfix: Postfix, progress: bool,
               out: Any):
    self.checkpointer = checkpointer
    self.step = step
    self._log_every, self._checkpoint_every = log_every, checkpoint_every
    self._postfix, self._shown = postfix, {}
    self._out = out
    self.writer = metrics_lib.MetricWriter(workdir)
    self._progress = tqdm.tqdm(total=total_steps, initial=step, unit="step", dynamic_ncols=True,
                               disable=not progress, file=sys.stderr)
    self.preemption = Preemption(getattr(checkpointer, "reached_preemption", None))
    self._good: Tuple[int, Any] = (step, None)  # the newest state whose metrics were all finite

  def __enter__(self) -> "Loop":
    self.preemption.__enter__()
    return self

  def __exit__(self, exc_type: Any, *exc: Any) -> None:
    self.preemption.__exit__(exc_type, *exc)
    self._progress.close()
    self.writer.close()
    if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
      raise Interrupted(_resumes_from(self.checkpointer)) from None

  def say(self, line: str) -> None:
    """Prints a line to `out` without breaking the progress bar."""
    self._progress.write(line, file=self._out)

  def save(self, state: Any) -> None:
    """Checkpoints `state` as the current step (the caller's epoch ends); it counts as good."""
    self.checkpointer.save(self.step, state)
    self._good = (self.step, state)

  def run_epoch(self, state: Any, epoch: int, position: int, length: int,
                step_fn: Callable[[Any, int, int], Tuple[Any, Dict[str, Any]]]) -> Any:
    """Runs positions `position` .. `length` - 1 of `epoch`; returns the state after the last.

    Args:
      state: the run's state (the caller's pytree).
      epoch: the epoch (0-based), for messages and `step_fn`.
      position: the first position to run (after a resume: where the run stopped).
      length: the epoch's steps.
      step_fn: (state, epoch, position) -> (state, {tag: scalar}), scalars as device arrays or
        floats; called once per position, in order.

    Raises:
      NonFiniteError: a scalar became NaN or infinite.
      Preempted: a preemption notice; the state was saved first.
    """
    if self._good[1] is None:
      self._good = (self.step, state)  # the state a run starts or resumes from
    pending: List[Dict[str, Any]] = []
    self._progress.set_description(f"epoch {epoch + 1}", refresh=False)
    while position < length:
      state, scalars = step_fn(state, epoch, position)
      self.step, position = self.step + 1, position + 1
      pending.append(scalars)
      preempted = self.preemption.reached(self.step)
      save = preempted or self.step % self._checkpoint_every == 0
      log = self.step % self._log_every == 0 or position == length
      if save or log or len(pending) >= MAX_IN_FLIGHT:
        self._check(pending, state, epoch)
        pending = []
        if log:
          self._show(self.writer.flush(self.step))
        self._progress.update(self.step - self._progress.n)
      if save:
        self.save(state)
      if preempted:
        notice = self.preemption.signal
        message = (f"{notice.name}: saved step {self.step} in {self.checkpointer.directory}; run"
                   " the same command to resume")
        self.say(message)
        raise Preempted(message, self.step, 128 + notice)
    return state

  def _check(self, pending: List[Dict[str, Any]], state: Any, epoch: int) -> None:
    """Adds the pending steps' scalars to the writer's interval after checking them; on the
    first non-finite one, saves the last good state if still held and raises."""
    values = jax.device_get(pending)
    first = self.step - len(values) + 1
    for offset, scalars in enumerate(values):
      bad = [tag for tag, value in scalars.items() if not np.isfinite(value)]
      if bad:
        self._stop(bad[0], float(scalars[bad[0]]), first + offset, epoch)
      self.writer.add(scalars)
    self._good = (self.step, state)

  def _stop(self, tag: str, value: float, step: int, epoch: int) -> None:
    good_step, good = self._good
    if good is not None and _alive(good):
      self.checkpointer.save(good_step, good)
    else:  # donated: every save followed a passing check, so the newest one is good
      good_step = self.checkpointer.latest_step()
    raise NonFiniteError(
        f"{tag} became {value} at step {step} (epoch {epoch}); the last good state (step"
        f" {good_step}) is saved in {self.checkpointer.directory}: lower the learning rate in the"
        " config and start a new --workdir, or rerun to resume from it")

  def _show(self, means: Dict[str, float]) -> None:
    """Keeps the newest value of each shown tag and sets the postfix from them."""
    self._shown.update(means)
    groups = [" ".join(f"{label} {self._shown[tag]:.3g}" for label, tag in group
                       if tag in self._shown) for group in self._postfix]
    self._progress.set_postfix_str(" | ".join(g for g in groups if g), refresh=False)
