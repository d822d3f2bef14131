"""The state of a run on disk: orbax checkpoints of a whole state pytree (and orbax's agreement
across hosts on the step to save at a preemption), and the check that a run directory may be
resumed with a config.

A run directory (`--workdir`) holds checkpoints/ (`StateCheckpointer`) and config.json
(`natjax.io.json_files`); `resume_or_start` restores the newest state when the stored config agrees
with the current one, naming the first field that does not.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

import jax
from jax.experimental import multihost_utils
import numpy as np
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

  A step directory holds two orbax items: `arrays`, one uint8 array of the state's leaves' bytes
  in tree order (`pack`), and `layout`, a JSON list of each leaf's name, shape and dtype in tree
  order. orbax writes each array of a tree with its own asynchronous tasks (about 0.8 ms per
  array on a 2-core CPU), and a search state has hundreds of small arrays (794 at the test
  config: each op's weights in each slot, and their optimiser traces), so one array per leaf
  made each save take about a second whatever the state's size. One array is also one read: when
  a damaged checkpoint fails it, no other read is left in flight (whose completion, reported to
  orbax's closed event loop, printed a traceback after the error line). Checkpoints of the
  earlier form (one orbax array per leaf, item `default`) still restore.
  """

  def __init__(self, workdir: str, max_to_keep: int = 2):
    self.directory = os.path.join(os.path.abspath(workdir), STATE_DIR)
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                           enable_async_checkpointing=False)
    handlers = {_ARRAYS: ocp.StandardCheckpointHandler(), _LAYOUT: ocp.JsonCheckpointHandler(),
                _PER_LEAF: ocp.StandardCheckpointHandler()}
    with orbax_files.quiet_absl():
      self._manager = ocp.CheckpointManager(self.directory, options=options,
                                            item_handlers=handlers)

  def latest_step(self) -> Any:
    """The newest saved step, or None."""
    return self._manager.latest_step()

  def reached_preemption(self, step: int) -> bool:
    """Whether every host has reached the step to save at after a preemption notice (orbax's
    `CheckpointManager.reached_preemption`; always False in a single process). Every host must
    call it after every step."""
    return self._manager.reached_preemption(step)

  def save(self, step: int, state: Any) -> None:
    """Writes `state` as step `step` (replacing an existing save of that step). Every process
    calls it (orbax writes host arrays from the primary process)."""
    data, layout = pack(state)
    args = ocp.args.Composite(**{_ARRAYS: ocp.args.StandardSave({_BYTES: data}),
                                 _LAYOUT: ocp.args.JsonSave(layout)})
    with orbax_files.quiet_absl():
      if step in self._manager.all_steps():
        self._manager.delete(step)
      self._manager.save(step, args=args, force=True)
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
    wanted = orbax_files.leaf_shapes(abstract)
    step_dir = os.path.join(self.directory, str(step))
    if not os.path.isdir(os.path.join(step_dir, _LAYOUT)):
      if not os.path.isdir(os.path.join(step_dir, _PER_LEAF)):
        raise InputError(f"{where}holds no layout/ (an unfinished or damaged save); delete it to"
                         " resume from an older one, or use a new --workdir")
      return self._restore_per_leaf(step, abstract, wanted, where)
    try:
      with orbax_files.quiet_absl():
        layout = self._manager.restore(
            step, args=ocp.args.Composite(**{_LAYOUT: ocp.args.JsonRestore()}))[_LAYOUT]
      found = layout_shapes(layout)
    except Exception as e:  # orbax raises many kinds on damaged files.
      raise _unreadable(where, "cannot be read", e) from None
    _check_state(found, wanted, where)
    try:
      with orbax_files.quiet_absl():
        stored = self._manager.restore(step, args=ocp.args.Composite(**{
            _ARRAYS: ocp.args.StandardRestore(
                {_BYTES: np.zeros((_num_bytes(layout),), np.uint8)})}))
      leaves = unpack(stored[_ARRAYS][_BYTES], layout)
    except Exception as e:
      raise _unreadable(where, "cannot be restored", e) from None
    paths, treedef = jax.tree_util.tree_flatten_with_path(abstract)
    return jax.tree_util.tree_unflatten(
        treedef, [_place(leaves[orbax_files.path_name(path)], like) for path, like in paths])

  def _restore_per_leaf(self, step: int, abstract: Any, wanted: orbax_files.Leaves,
                        where: str) -> Any:
    """Restores a checkpoint of the earlier form (one orbax array per leaf)."""
    try:
      with orbax_files.quiet_absl():
        stored = self._manager.item_metadata(step)
      stored = stored[_PER_LEAF] if stored is not None else None
    except Exception as e:  # orbax raises many kinds on damaged files.
      raise _unreadable(where, "cannot be read", e) from None
    if stored is None:
      raise InputError(f"{where}holds no state metadata; delete it or use a new --workdir")
    _check_state(orbax_files.leaf_shapes(_as_tree(stored)), wanted, where)
    try:
      with orbax_files.quiet_absl():
        return self._manager.restore(step, args=ocp.args.Composite(
            **{_PER_LEAF: ocp.args.StandardRestore(abstract)}))[_PER_LEAF]
    except Exception as e:
      raise _unreadable(where, "cannot be restored", e) from None

  def close(self) -> None:
    self._manager.close()


_ARRAYS, _BYTES, _LAYOUT, _PER_LEAF = "arrays", "bytes", "layout", "default"
Layout = List[List[Any]]  # [[leaf name, shape, dtype name], ...] in tree order


def _dtype(name: str) -> np.dtype:
  return np.dtype(jax.numpy.dtype(name))


def _host_value(leaf: Any) -> np.ndarray:
  """A leaf's whole value on this host: a local copy of a replicated array (the state of a
  data-parallel run), or the array gathered from every process if it is sharded across them."""
  if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
    if leaf.is_fully_replicated:
      return np.asarray(leaf.addressable_data(0))
    return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
  return np.asarray(leaf)


def pack(state: Any) -> Tuple[np.ndarray, Layout]:
  """A state pytree as host bytes: uint8[N], every leaf's bytes (C order, native byte order) one
  after another in tree order, and its layout ([[leaf name, shape, dtype name], ...] in tree
  order; names as `natjax.io.orbax_files.leaf_shapes` gives them). Values are kept bit for
  bit."""
  paths = jax.tree_util.tree_flatten_with_path(state)[0]
  values = [np.asarray(_host_value(leaf), order="C") for _, leaf in paths]
  layout = [[orbax_files.path_name(path), list(value.shape), value.dtype.name]
            for (path, _), value in zip(paths, values)]
  data = np.concatenate([value.reshape(-1).view(np.uint8) for value in values] or
                        [np.zeros((0,), np.uint8)])
  return data, layout


def layout_shapes(layout: Layout) -> orbax_files.Leaves:
  """A layout as `orbax_files.leaf_shapes` gives a tree: name -> (shape, dtype name)."""
  return {name: (tuple(shape), dtype) for name, shape, dtype in layout}


def _leaf_bytes(shape: List[int], dtype: str) -> int:
  return int(np.prod(shape, dtype=np.int64)) * _dtype(dtype).itemsize


def _num_bytes(layout: Layout) -> int:
  """The length of `pack`'s bytes for a state of this layout."""
  return sum(_leaf_bytes(shape, dtype) for _, shape, dtype in layout)


def unpack(data: np.ndarray, layout: Layout) -> Dict[str, np.ndarray]:
  """`pack`'s inverse: leaf name -> host array of its shape and dtype.

  Raises:
    ValueError: bytes of another length than the layout's leaves add up to.
  """
  data = np.asarray(data, np.uint8)
  if data.size != _num_bytes(layout):
    raise ValueError(f"the checkpoint holds {data.size} bytes, its layout {_num_bytes(layout)}")
  leaves, offset = {}, 0
  for name, shape, dtype in layout:
    size = _leaf_bytes(shape, dtype)
    leaves[name] = data[offset:offset + size].copy().view(_dtype(dtype)).reshape(shape)
    offset += size
  return leaves


def _place(value: np.ndarray, like: Any) -> Any:
  """A host array as a jax.Array with `like`'s sharding (every process holds the whole value)."""
  sharding = getattr(like, "sharding", None)
  if sharding is None:
    return jax.numpy.asarray(value)
  return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def _unreadable(where: str, what: str, error: Exception) -> InputError:
  return InputError(f"{where}{what} ({type(error).__name__}: {_first_line(error)}); delete it to"
                    " resume from an older one, or use a new --workdir")


def _first_line(error: Exception, limit: int = 200) -> str:
  """The error's first line, cut at a word boundary with '...' when over `limit` characters."""
  text = str(error).strip()
  line = text.splitlines()[0] if text else ""
  if len(line) <= limit:
    return line
  return line[:limit].rsplit(" ", 1)[0] + " ..."


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
