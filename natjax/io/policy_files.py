"""Policy export: the parameters of a transformer policy together with everything needed to rebuild
the policy they belong to, in one directory:

  DIR/policy.json   {"format": 1, "space": "darts_pp", "rule": "natpp" or a full rule object,
                     "head": "mask", "self_loops": false, "released_quirk": false,
                     "param_count": 322750, "imports": []}
  DIR/params/       the Flax parameter tree, an orbax checkpoint

"rule" is a registered rule's name, or, for a rule loaded from a file, the whole rule (the form
`natjax.core.rules.rule_from_dict` reads), so an export does not depend on the file it came from.
"imports" names the modules that register what the policy needs (a research fork's space, ops or
rule); `load_policy` imports them first, so a fork's policy loads in a fresh process. Exports
without the field (older ones) import nothing.
`load_policy` rebuilds the policy from policy.json and checks the stored parameter tree against
it before restoring anything: a missing or corrupt file, an unknown space or rule, or a parameter
whose path or shape does not fit gives one InputError line naming the file and field. A search
work directory keeps its policy export in WORKDIR/policy; `load_policy` accepts either directory.

Public API:
  save_policy(directory, params, *, space, rule, self_loops=False, released_quirk=False,
              imports=None) -> str
  load_policy(directory) -> PolicyCheckpoint(params, policy, rule, space)
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Dict, NamedTuple, Optional, Sequence, Union

import jax
import numpy as np
import orbax.checkpoint as ocp

from natjax import files, registry
from natjax.core import rules, spaces
from natjax.nn import policy
from natjax.errors import InputError, closest, prefixed, quote
from natjax.io import orbax_files

POLICY_FORMAT = 1
POLICY_FILE = "policy.json"
POLICY_PARAMS = "params"
WORKDIR_POLICY = "policy"  # Where a search work directory keeps its policy export.
_POLICY_FIELDS = {"format": int, "space": str, "rule": (str, dict), "head": str,
                  "self_loops": bool, "released_quirk": bool, "param_count": int, "imports": list}
_OPTIONAL_FIELDS = {"imports": []}  # absent from exports written before it existed


class PolicyCheckpoint(NamedTuple):
  """A restored policy export.

  Attributes:
    params: the policy parameters (jax arrays on the default device).
    policy: the `policy.Policy` they belong to (head, mask, numerics).
    rule: the `rules.Rule` the policy was trained under.
    space: the `spaces.SearchSpace` its architectures index.
  """
  params: Any
  policy: policy.Policy
  rule: rules.Rule
  space: spaces.SearchSpace


@contextlib.contextmanager
def _orbax() -> Any:
  """A synchronous orbax checkpointer with its absl warnings muted (a damaged directory is
  reported by the caller in one line)."""
  with orbax_files.quiet_absl(), ocp.Checkpointer(ocp.StandardCheckpointHandler()) as checkpointer:
    yield checkpointer


def _rule_json(rule: Union[str, Dict[str, Any], rules.Rule]) -> Union[str, Dict[str, Any]]:
  """policy.json's "rule": a registered rule's name, else the full rule object."""
  if isinstance(rule, dict):
    rule = rules.rule_from_dict(rule, str(rule.get("name", "rule")))
  elif isinstance(rule, str):
    rule = rules.get_rule(rule)
  elif isinstance(rule, rules.Rule):
    rules.validate_rule(rule)
  else:
    raise InputError(f"rule must be a rule name, a rule object or a dict, got"
                     f" {type(rule).__name__}")
  if rule.name in rules.registered_rules() and rules.get_rule(rule.name) == rule:
    return rule.name
  return json.loads(rules.format_rule(rule, as_json=True))


def _check_params(found: orbax_files.Leaves, wanted: orbax_files.Leaves, where: str) -> None:
  """Raises an InputError naming the first parameter missing, unexpected or of the wrong shape."""
  mismatch = orbax_files.first_mismatch(found, wanted)
  if mismatch is None:
    return
  kind, name = mismatch
  if kind == "missing":
    raise InputError(f"{where}parameter '{name}' is missing{closest(name, found)}")
  if kind == "unexpected":
    raise InputError(f"{where}unexpected parameter '{name}'{closest(name, wanted)}")
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
                rule: Union[str, Dict[str, Any], rules.Rule], self_loops: bool = False,
                released_quirk: bool = False, imports: Optional[Sequence[str]] = None) -> str:
  """Exports policy parameters and the settings that rebuild their policy.

  Args:
    directory: the export directory, relative to the current directory or absolute (created
      with its parents; an earlier export there is replaced; gs:// and other URLs are refused).
    params: parameters of `policy.for_rule(rule, space, released_quirk, self_loops)`.
    space: the search space (name or SearchSpace).
    rule: a registered rule name or JSON rule path, a rule dict, or a `rules.Rule`.
    self_loops: the GCN variant the parameters belong to.
    released_quirk: the released p + 1e-5 numerics.
    imports: modules that register what the policy needs, recorded for `load_policy`; default:
      every module imported through `natjax.registry.import_modules` in this process.

  Returns:
    the absolute path of `directory`.

  Raises:
    InputError: unknown space or rule, parameters that do not fit the policy, or a directory that
      cannot be made (a file there, a URL).
  """
  space = spaces.get_space(space if isinstance(space, str) else space.name)
  rule_entry = _rule_json(rule)
  rule_obj = (rules.get_rule(rule_entry) if isinstance(rule_entry, str)
              else rules.rule_from_dict(rule_entry, rule_entry["name"]))
  pol = policy.for_rule(rule_obj, space, released_quirk, self_loops)
  _check_params(orbax_files.leaf_shapes(params),
                orbax_files.leaf_shapes(_abstract_params(pol)), "save_policy: ")
  directory = files.output_dir(directory, "policy directory")
  with _orbax() as checkpointer:
    checkpointer.save(os.path.join(directory, POLICY_PARAMS), args=ocp.args.StandardSave(params),
                      force=True)
  meta = {"format": POLICY_FORMAT, "space": space.name, "rule": rule_entry,
          "head": pol.module.head, "self_loops": bool(self_loops),
          "released_quirk": bool(released_quirk),
          "param_count": int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params))),
          "imports": list(registry.split_modules(
              registry.imported_modules() if imports is None else imports))}
  if jax.process_index() == 0:
    path = os.path.join(directory, POLICY_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
      json.dump(meta, f, indent=1)
    os.replace(path + ".tmp", path)  # policy.json appears only once the export is complete.
  return directory


def _policy_dir(directory: str) -> str:
  """The export directory: `directory` itself, or its `policy` subdirectory (a work directory)."""
  if not os.path.isdir(files.local_path(directory, "policy directory")):
    raise InputError(f"{directory}: no such policy directory")
  for candidate in (directory, os.path.join(directory, WORKDIR_POLICY)):
    if os.path.isfile(os.path.join(candidate, POLICY_FILE)):
      return candidate
  raise InputError(f"{directory}: no {POLICY_FILE} here or in {WORKDIR_POLICY}/ (not a policy"
                   " export or a search work directory)")


def _read_meta(path: str) -> Dict[str, Any]:
  """policy.json, checked field by field."""
  meta = files.read_json(path)
  if not isinstance(meta, dict):
    raise InputError(f"{path}: expected a JSON object, got {type(meta).__name__}")
  for key in sorted(meta):
    if key not in _POLICY_FIELDS:
      raise InputError(f"{path}: unknown field '{key}'{closest(key, _POLICY_FIELDS)}")
  for key, default in _OPTIONAL_FIELDS.items():
    meta.setdefault(key, default)
  for key, kind in _POLICY_FIELDS.items():
    if key not in meta:
      raise InputError(f"{path}: field '{key}' is missing")
    value = meta[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
      raise InputError(f"{path}: field '{key}' has the wrong type ({quote(json.dumps(value))})")
  if meta["format"] != POLICY_FORMAT:
    raise InputError(f"{path}: field 'format' is {meta['format']}; this natjax reads format"
                     f" {POLICY_FORMAT}")
  return meta


def _meta_rule(meta: Dict[str, Any], path: str) -> rules.Rule:
  entry = meta["rule"]
  if isinstance(entry, dict):
    with prefixed(f"{path}: field 'rule'"):
      return rules.rule_from_dict(entry, str(entry.get("name", "rule")))
  if entry not in rules.registered_rules():
    raise InputError(f"{path}: field 'rule': unknown transition rule '{entry}'"
                     f"{closest(entry, rules.registered_rules())}; registered:"
                     f" {', '.join(rules.registered_rules())}")
  return rules.get_rule(entry)


def load_policy(directory: str) -> PolicyCheckpoint:
  """Restores a policy export written by `save_policy`, after importing the modules it names.

  Args:
    directory: the export directory, or a search work directory holding it in `policy/`;
      relative to the current directory or absolute (a URL is refused).

  Returns:
    PolicyCheckpoint; params are jax arrays on the default device.

  Raises:
    InputError: one line naming the file and field: missing directory or policy.json, corrupt
      JSON, a module that fails to import, unknown space or rule, head or parameter count not
      matching, parameters missing, unexpected or of the wrong shape, unreadable parameter
      checkpoint.
  """
  directory = _policy_dir(directory)
  meta_path = os.path.join(directory, POLICY_FILE)
  meta = _read_meta(meta_path)
  if not all(isinstance(name, str) for name in meta["imports"]):
    raise InputError(f"{meta_path}: field 'imports' must be a list of module names")
  with prefixed(f"{meta_path}: field 'imports'"):
    registry.import_modules(meta["imports"])
  with prefixed(f"{meta_path}: field 'space'"):
    space = spaces.get_space(meta["space"])
  rule = _meta_rule(meta, meta_path)
  with prefixed(f"{meta_path}: fields 'rule' and 'space'"):
    pol = policy.for_rule(rule, space, meta["released_quirk"], meta["self_loops"])
  if meta["head"] != pol.module.head:
    raise InputError(f"{meta_path}: field 'head' is '{meta['head']}' but rule '{rule.name}'"
                     f" gives head '{pol.module.head}'")
  abstract = _abstract_params(pol)
  count = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(abstract))
  if meta["param_count"] != count:
    raise InputError(f"{meta_path}: field 'param_count' is {meta['param_count']}; the policy"
                     f" it describes has {count}")
  params_dir = os.path.join(directory, POLICY_PARAMS)  # as the user wrote it, for messages
  params_path = files.local_path(params_dir)  # orbax needs an absolute path
  if not os.path.isdir(params_path):
    raise InputError(f"{params_dir}: missing (the policy parameters)")
  with _orbax() as checkpointer:
    try:
      stored = checkpointer.metadata(params_path).item_metadata.tree
    except Exception as err:  # pylint: disable=broad-except
      # orbax raises many types for a damaged directory; the user needs the path.
      raise InputError(f"{params_dir}: not a readable orbax checkpoint"
                       f" ({type(err).__name__})") from None
    _check_params(orbax_files.leaf_shapes(stored), orbax_files.leaf_shapes(abstract),
                  f"{params_dir}: ")
    try:
      params = checkpointer.restore(params_path, args=ocp.args.StandardRestore(abstract))
    except Exception as err:  # pylint: disable=broad-except
      raise InputError(f"{params_dir}: cannot restore the parameters"
                       f" ({type(err).__name__})") from None
  return PolicyCheckpoint(params, pol, rule, space)
