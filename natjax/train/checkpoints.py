"""The state of a run on disk: orbax checkpoints of a whole state pytree (and orbax's agreement
across hosts on the step to save at a preemption), and the check that a run directory may be
resumed with a config.

A run directory (`--workdir`) holds checkpoints/ (`StateCheckpointer`) and config.json
(`natjax.io.json_files`); `resume_or_start` restores the newest state when the stored config agrees
with the current one, naming the first field that does not.
"""

from __future__ import annotations

import os
from typing import Any, Tuple

import jax
import orbax.checkpoint as ocp

from natjax import files
from natjax.errors import InputError, closest, quote
from natjax.io import orbax_files
from natjax.io.json_files import CONFIG_FILE, config_json, write_json

STATE_DIR = "checkpoints"


class StateCheckpointer:
  """Saves and restores a whole state pytree (e.g. `search.SearchState`) under DIR/checkpoints.

  Each save is one orbax step directory, written synchronously and renamed into place, so a
  process killed at any moment leaves the previous checkpoint intact. The newest `max_to_keep`
  are kept. `restore` checks the stored tree against the state the current config builds and
  names the first field that differs (a checkpoint from another config, or a damaged one).
  """

  def __init__(self, workdir: str, max_to_keep: int = 2):
    self.directory = os.path.join(os.path.abspath(workdir), STATE_DIR)
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                           enable_async_checkpointing=False)
    with orbax_files.quiet_absl():
      self._manager = ocp.CheckpointManager(self.directory, options=options,
                                            item_handlers=ocp.StandardCheckpointHandler())

  def latest_step(self) -> Any:
    """The newest saved step, or None."""
    return self._manager.latest_step()

  def reached_preemption(self, step: int) -> bool:
    """Whether every host has reached the step to save at after a preemption notice (orbax's
    `CheckpointManager.reached_preemption`; always False in a single process). Every host must
    call it after every step."""
    return self._manager.reached_preemption(step)

  def save(self, step: int, state: Any) -> None:
    """Writes `state` as step `step` (replacing an existing save of that step)."""
    with orbax_files.quiet_absl():
      if step in self._manager.all_steps():
        self._manager.delete(step)
      self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
      self._manager.wait_until_finished()

  def restore(self, template: Any, step: Any = None) -> Any:
    """The saved state at `step` (default: newest), with the structure of `template`.

    Args:
      template: a state of the wanted structure (arrays or ShapeDtypeStructs, with shardings);
        the restored arrays take their shapes, dtypes and shardings.
      step: which save; None for the newest.

    Raises:
      InputError: naming the checkpoint and the first field missing, unexpected or of another
        shape, or saying the checkpoint cannot be read.
    """
    step = self.latest_step() if step is None else step
    where = f"checkpoint {os.path.join(self.directory, str(step))}: "
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
      with orbax_files.quiet_absl():
        stored = self._manager.item_metadata(step)
    except Exception as e:  # orbax raises many kinds on damaged files.
      raise InputError(f"{where}cannot be read ({type(e).__name__}: {_first_line(e)}); delete"
                       " it to resume from an older one, or use a new --workdir") from None
    if stored is None:
      raise InputError(f"{where}holds no state metadata; delete it or use a new --workdir")
    _check_state(orbax_files.leaf_shapes(_as_tree(stored)), orbax_files.leaf_shapes(abstract),
                 where)
    try:
      with orbax_files.quiet_absl():
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:
      raise InputError(f"{where}cannot be restored ({type(e).__name__}: {_first_line(e)});"
                       " delete it to resume from an older one, or use a new --workdir") from None

  def close(self) -> None:
    self._manager.close()


def _first_line(error: Exception) -> str:
  text = str(error).strip()
  return text.splitlines()[0][:200] if text else ""


def _as_tree(metadata: Any) -> Any:
  """orbax's stored-tree metadata as a plain pytree of objects with .shape and .dtype."""
  tree = getattr(metadata, "tree", metadata)
  return jax.tree.map(lambda m: m, tree)


def _check_state(found: orbax_files.Leaves, wanted: orbax_files.Leaves, where: str) -> None:
  """Raises an InputError naming the first state field missing, unexpected or reshaped."""
  mismatch = orbax_files.first_mismatch(found, wanted)
  if mismatch is None:
    return
  kind, name = mismatch
  if kind == "missing":
    raise InputError(f"{where}field '{name}' is missing{closest(name, found)}: it was written"
                     " by another configuration; use a new --workdir")
  if kind == "unexpected":
    raise InputError(f"{where}has a field '{name}' this configuration does not have; it was"
                     " written by another configuration; use a new --workdir")
  (shape, dtype), (want_shape, want_dtype) = found[name], wanted[name]
  raise InputError(f"{where}field '{name}' is {dtype}{list(shape)} but this configuration"
                   f" needs {want_dtype}{list(want_shape)}; use a new --workdir")


def check_resumable(workdir: str, config: Any, may_change: Any) -> None:
  """Refuses to resume a run whose stored WORKDIR/config.json differs from `config` in a field
  outside `may_change` (fields that change logging, not results), naming the field."""
  path = os.path.join(workdir, CONFIG_FILE)
  stored = files.read_json(path)
  if not isinstance(stored, dict):
    raise InputError(f"{path}: expected a JSON object (the config of the run being resumed)")
  current = config_json(config)
  for field in sorted(set(stored) | set(current)):
    if field not in may_change and stored.get(field) != current.get(field):
      was, now = quote(repr(stored.get(field))), quote(repr(current.get(field)))
      raise InputError(f"{path}: field '{field}' was {was} in the run being resumed and is {now}"
                       " now; resume with the same config"
                       " or use a new --workdir")


def resume_or_start(checkpointer: StateCheckpointer, state: Any, workdir: str, config: Any,
                    may_change: Any, out: Any) -> Tuple[Any, bool]:
  """The newest saved state if the work directory holds one (after `check_resumable`), else
  `state`, with the config recorded in WORKDIR/config.json for a later resume.

  Returns:
    (state, whether it was restored).
  """
  if checkpointer.latest_step() is None:
    write_json(os.path.join(workdir, CONFIG_FILE), config_json(config))
    return state, False
  check_resumable(workdir, config, may_change)
  state = checkpointer.restore(state)
  print(f"resumed from {checkpointer.directory}/{checkpointer.latest_step()}", file=out)
  return state, True
