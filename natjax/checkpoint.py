"""Checkpoints on disk, written and read with orbax.

Policy export: the parameters of a transformer policy together with everything needed to rebuild
the policy they belong to, in one directory:

  DIR/policy.json   {"format": 1, "space": "darts_pp", "rule": "natpp" or a full rule object,
                     "head": "mask", "self_loops": false, "released_quirk": false,
                     "param_count": 322750}
  DIR/params/       the Flax parameter tree, an orbax checkpoint

"rule" is a registered rule's name, or, for a rule loaded from a file, the whole rule (the form
`transitions.rule_from_dict` reads), so an export does not depend on the file it came from.
`load_policy` rebuilds the policy from policy.json and checks the stored parameter tree against
it before restoring anything: a missing or corrupt file, an unknown space or rule, or a parameter
whose path or shape does not fit gives one InputError line naming the file and field. A search
work directory keeps its policy export in WORKDIR/policy; `load_policy` accepts either directory.

Public API:
  save_policy(directory, params, *, space, rule, self_loops=False, released_quirk=False) -> str
  load_policy(directory) -> PolicyCheckpoint(params, policy, rule, space)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from typing import Any, Dict, NamedTuple, Tuple, Union

import jax
import numpy as np
import orbax.checkpoint as ocp

from natjax import policy, spaces, transform, transitions
from natjax.errors import InputError, closest

# --------------------------------------------------------------------------- policy export

POLICY_FORMAT = 1
POLICY_FILE = "policy.json"
POLICY_PARAMS = "params"
WORKDIR_POLICY = "policy"  # Where a search work directory keeps its policy export.
_POLICY_FIELDS = {"format": int, "space": str, "rule": (str, dict), "head": str,
                  "self_loops": bool, "released_quirk": bool, "param_count": int}


class PolicyCheckpoint(NamedTuple):
  """A restored policy export.

  Attributes:
    params: the policy parameters (jax arrays on the default device).
    policy: the `policy.Policy` they belong to (head, mask, numerics).
    rule: the `transitions.Rule` the policy was trained under.
    space: the `spaces.SearchSpace` its architectures index.
  """
  params: Any
  policy: policy.Policy
  rule: transitions.Rule
  space: spaces.SearchSpace


@contextlib.contextmanager
def _orbax() -> Any:
  """A synchronous orbax checkpointer with its absl warnings muted (a damaged directory is
  reported by the caller in one line)."""
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)
  try:
    with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as checkpointer:
      yield checkpointer
  finally:
    absl_logger.setLevel(level)


def _rule_json(rule: Union[str, Dict[str, Any], transitions.Rule]) -> Union[str, Dict[str, Any]]:
  """policy.json's "rule": a registered rule's name, else the full rule object."""
  if isinstance(rule, dict):
    rule = transitions.rule_from_dict(rule, str(rule.get("name", "rule")))
  elif isinstance(rule, str):
    rule = transitions.get_rule(rule)
  elif isinstance(rule, transitions.Rule):
    transitions.validate_rule(rule)
  else:
    raise InputError(f"rule must be a rule name, a rule object or a dict, got"
                     f" {type(rule).__name__}")
  if rule.name in transitions.registered_rules() and transitions.get_rule(rule.name) == rule:
    return rule.name
  return json.loads(transitions.format_rule(rule, as_json=True))


def _path_name(path: Tuple[Any, ...]) -> str:
  """'params/gcn1/weight' for a tree path of dict keys (indices for sequences)."""
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def _leaf_shapes(tree: Any) -> Dict[str, Tuple[Tuple[int, ...], str]]:
  """path name -> (shape, dtype name) of every array leaf of a tree (arrays or metadata)."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {_path_name(p): (tuple(x.shape), np.dtype(x.dtype).name) for p, x in leaves}


def _check_params(found: Dict[str, Tuple[Tuple[int, ...], str]],
                  wanted: Dict[str, Tuple[Tuple[int, ...], str]], where: str) -> None:
  """Raises an InputError naming the first parameter missing, unexpected or of the wrong shape."""
  for name in sorted(wanted):
    if name not in found:
      raise InputError(f"{where}parameter '{name}' is missing{closest(name, found)}")
  for name in sorted(found):
    if name not in wanted:
      raise InputError(f"{where}unexpected parameter '{name}'{closest(name, wanted)}")
  for name in sorted(wanted):
    if found[name] != wanted[name]:
      (shape, dtype), (want_shape, want_dtype) = found[name], wanted[name]
      raise InputError(f"{where}parameter '{name}' is {dtype}{list(shape)}; the policy needs"
                       f" {want_dtype}{list(want_shape)}")


def _abstract_params(pol: policy.Policy) -> Any:
  """The policy's parameter tree as ShapeDtypeStructs on the default device."""
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  shapes = jax.eval_shape(pol.init, jax.random.key(0))
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), shapes)


def save_policy(directory: str, params: Any, *, space: Union[str, spaces.SearchSpace],
                rule: Union[str, Dict[str, Any], transitions.Rule], self_loops: bool = False,
                released_quirk: bool = False) -> str:
  """Exports policy parameters and the settings that rebuild their policy.

  Args:
    directory: the export directory (created; an earlier export there is replaced).
    params: parameters of `transform.transform_policy(rule, space, released_quirk, self_loops)`.
    space: the search space (name or SearchSpace).
    rule: a registered rule name or JSON rule path, a rule dict, or a `transitions.Rule`.
    self_loops: the GCN variant the parameters belong to.
    released_quirk: the released p + 1e-5 numerics.

  Returns:
    `directory`.

  Raises:
    InputError: unknown space or rule, or parameters that do not fit the policy.
  """
  space = spaces.get_space(space if isinstance(space, str) else space.name)
  rule_entry = _rule_json(rule)
  rule_obj = (transitions.get_rule(rule_entry) if isinstance(rule_entry, str)
              else transitions.rule_from_dict(rule_entry, rule_entry["name"]))
  pol = transform.transform_policy(rule_obj, space, released_quirk, self_loops)
  _check_params(_leaf_shapes(params), _leaf_shapes(_abstract_params(pol)), "save_policy: ")
  directory = os.path.abspath(directory)
  os.makedirs(directory, exist_ok=True)
  with _orbax() as checkpointer:
    checkpointer.save(os.path.join(directory, POLICY_PARAMS), args=ocp.args.StandardSave(params),
                      force=True)
  meta = {"format": POLICY_FORMAT, "space": space.name, "rule": rule_entry,
          "head": pol.module.head, "self_loops": bool(self_loops),
          "released_quirk": bool(released_quirk),
          "param_count": int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))}
  if jax.process_index() == 0:
    path = os.path.join(directory, POLICY_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
      json.dump(meta, f, indent=1)
    os.replace(path + ".tmp", path)  # policy.json appears only once the export is complete.
  return directory


def _policy_dir(directory: str) -> str:
  """The export directory: `directory` itself, or its `policy` subdirectory (a work directory)."""
  if not os.path.isdir(directory):
    raise InputError(f"{directory}: no such policy directory")
  for candidate in (directory, os.path.join(directory, WORKDIR_POLICY)):
    if os.path.isfile(os.path.join(candidate, POLICY_FILE)):
      return candidate
  raise InputError(f"{directory}: no {POLICY_FILE} here or in {WORKDIR_POLICY}/ (not a policy"
                   " export or a search work directory)")


def _read_meta(path: str) -> Dict[str, Any]:
  """policy.json, checked field by field."""
  try:
    with open(path, encoding="utf-8") as f:
      meta = json.load(f)
  except OSError as err:
    raise InputError(f"{path}: cannot read ({err.strerror})") from None
  except UnicodeDecodeError:
    raise InputError(f"{path}: not a text file") from None
  except json.JSONDecodeError as err:
    raise InputError(f"{path}: malformed JSON at line {err.lineno}, column {err.colno}:"
                     f" {err.msg}") from None
  if not isinstance(meta, dict):
    raise InputError(f"{path}: expected a JSON object, got {type(meta).__name__}")
  for key in sorted(meta):
    if key not in _POLICY_FIELDS:
      raise InputError(f"{path}: unknown field '{key}'{closest(key, _POLICY_FIELDS)}")
  for key, kind in _POLICY_FIELDS.items():
    if key not in meta:
      raise InputError(f"{path}: field '{key}' is missing")
    value = meta[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
      raise InputError(f"{path}: field '{key}' has the wrong type ({json.dumps(value)})")
  if meta["format"] != POLICY_FORMAT:
    raise InputError(f"{path}: field 'format' is {meta['format']}; this natjax reads format"
                     f" {POLICY_FORMAT}")
  return meta


def _meta_rule(meta: Dict[str, Any], path: str) -> transitions.Rule:
  entry = meta["rule"]
  if isinstance(entry, dict):
    try:
      return transitions.rule_from_dict(entry, str(entry.get("name", "rule")))
    except InputError as err:
      raise InputError(f"{path}: field 'rule': {err}") from None
  if entry not in transitions.registered_rules():
    raise InputError(f"{path}: field 'rule': unknown transition rule '{entry}'"
                     f"{closest(entry, transitions.registered_rules())}; registered:"
                     f" {', '.join(transitions.registered_rules())}")
  return transitions.get_rule(entry)


def load_policy(directory: str) -> PolicyCheckpoint:
  """Restores a policy export written by `save_policy`.

  Args:
    directory: the export directory, or a search work directory holding it in `policy/`.

  Returns:
    PolicyCheckpoint; params are jax arrays on the default device.

  Raises:
    InputError: one line naming the file and field: missing directory or policy.json, corrupt
      JSON, unknown space or rule, head or parameter count not matching, parameters missing,
      unexpected or of the wrong shape, unreadable parameter checkpoint.
  """
  directory = _policy_dir(directory)
  meta_path = os.path.join(directory, POLICY_FILE)
  meta = _read_meta(meta_path)
  try:
    space = spaces.get_space(meta["space"])
  except InputError as err:
    raise InputError(f"{meta_path}: field 'space': {err}") from None
  rule = _meta_rule(meta, meta_path)
  try:
    pol = transform.transform_policy(rule, space, meta["released_quirk"], meta["self_loops"])
  except InputError as err:
    raise InputError(f"{meta_path}: fields 'rule' and 'space': {err}") from None
  if meta["head"] != pol.module.head:
    raise InputError(f"{meta_path}: field 'head' is '{meta['head']}' but rule '{rule.name}'"
                     f" gives head '{pol.module.head}'")
  abstract = _abstract_params(pol)
  count = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(abstract))
  if meta["param_count"] != count:
    raise InputError(f"{meta_path}: field 'param_count' is {meta['param_count']}; the policy"
                     f" it describes has {count}")
  params_dir = os.path.join(directory, POLICY_PARAMS)
  if not os.path.isdir(params_dir):
    raise InputError(f"{params_dir}: missing (the policy parameters)")
  with _orbax() as checkpointer:
    try:
      stored = checkpointer.metadata(params_dir).item_metadata.tree
    except Exception as err:  # pylint: disable=broad-except
      # orbax raises many types for a damaged directory; the user needs the path.
      raise InputError(f"{params_dir}: not a readable orbax checkpoint"
                       f" ({type(err).__name__})") from None
    _check_params(_leaf_shapes(stored), _leaf_shapes(abstract), f"{params_dir}: ")
    try:
      params = checkpointer.restore(params_dir, args=ocp.args.StandardRestore(abstract))
    except Exception as err:  # pylint: disable=broad-except
      raise InputError(f"{params_dir}: cannot restore the parameters"
                       f" ({type(err).__name__})") from None
  return PolicyCheckpoint(params, pol, rule, space)


# --------------------------------------------------------------------------- search state

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
    with _quiet_absl():
      self._manager = ocp.CheckpointManager(self.directory, options=options,
                                            item_handlers=ocp.StandardCheckpointHandler())

  def latest_step(self) -> Any:
    """The newest saved step, or None."""
    return self._manager.latest_step()

  def save(self, step: int, state: Any) -> None:
    """Writes `state` as step `step` (replacing an existing save of that step)."""
    with _quiet_absl():
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
      with _quiet_absl():
        stored = self._manager.item_metadata(step)
    except Exception as e:  # orbax raises many kinds on damaged files.
      raise InputError(f"{where}cannot be read ({type(e).__name__}: {_first_line(e)}); delete"
                       " it to resume from an older one, or use a new --workdir") from None
    if stored is None:
      raise InputError(f"{where}holds no state metadata; delete it or use a new --workdir")
    _check_state(_state_fields(_as_tree(stored)), _state_fields(abstract), where)
    try:
      with _quiet_absl():
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


def _state_fields(tree: Any) -> Dict[str, Tuple[Tuple[int, ...], str]]:
  """'w_params/cells/0/pre0/w' -> (shape, dtype) for every leaf (NamedTuple fields by name)."""
  def name(path):
    return "/".join(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path)
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {name(p): (tuple(x.shape), np.dtype(x.dtype).name) for p, x in leaves}


def _check_state(found: Dict[str, Tuple[Tuple[int, ...], str]],
                 wanted: Dict[str, Tuple[Tuple[int, ...], str]], where: str) -> None:
  """Raises an InputError naming the first state field missing, unexpected or reshaped."""
  for name in sorted(wanted):
    if name not in found:
      raise InputError(f"{where}field '{name}' is missing{closest(name, found)}: it was written"
                       " by another configuration; use a new --workdir")
  for name in sorted(found):
    if name not in wanted:
      raise InputError(f"{where}has a field '{name}' this configuration does not have; it was"
                       " written by another configuration; use a new --workdir")
  for name in sorted(wanted):
    if found[name] != wanted[name]:
      (shape, dtype), (want_shape, want_dtype) = found[name], wanted[name]
      raise InputError(f"{where}field '{name}' is {dtype}{list(shape)} but this configuration"
                       f" needs {want_dtype}{list(want_shape)}; use a new --workdir")


@contextlib.contextmanager
def _quiet_absl() -> Any:
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    absl_logger.setLevel(level)


class Preemption:
  """Turns SIGTERM (a preempted VM, a cluster's time limit) into a flag that a training loop reads
  after every step: it then saves its state and exits, so no work is lost.

  Use as a context manager around the loop; the previous handler comes back on exit. Outside the
  main thread (where signals cannot be handled) the flag simply never rises.
  """

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self) -> "Preemption":
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def _handle(self, signum: int, frame: Any) -> None:
    del signum, frame
    self.requested = True

  def __exit__(self, *exc: Any) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


# --------------------------------------------------------------------------- run directories

CONFIG_FILE = "config.json"


def config_json(config: Any) -> Dict[str, Any]:
  """A ConfigDict as plain JSON values (tuples as lists), keys sorted."""
  return json.loads(config.to_json_best_effort(sort_keys=True))


def write_json(path: str, obj: Any) -> None:
  """Writes JSON atomically (temp file + rename), from the first host only."""
  if jax.process_index() != 0:
    return
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(obj, f, indent=1)
    f.write("\n")
  os.replace(tmp, path)


def check_resumable(workdir: str, config: Any, may_change: Any) -> None:
  """Refuses to resume a run whose stored WORKDIR/config.json differs from `config` in a field
  outside `may_change` (fields that change logging, not results), naming the field."""
  path = os.path.join(workdir, CONFIG_FILE)
  try:
    with open(path, encoding="utf-8") as f:
      stored = json.load(f)
  except (OSError, ValueError) as e:
    raise InputError(f"{path}: cannot read the config of the run being resumed ({e})") from None
  current = config_json(config)
  for field in sorted(set(stored) | set(current)):
    if field not in may_change and stored.get(field) != current.get(field):
      raise InputError(f"{path}: field '{field}' was {stored.get(field)!r} in the run being"
                       f" resumed and is {current.get(field)!r} now; resume with the same config"
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
