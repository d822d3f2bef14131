"""The search's host loop: `run(config, workdir)` feeds batches to the steps
(`natjax.search.steps`), logs, checkpoints, derives (`natjax.search.derive`) and writes the results;
nothing here changes what a step computes.

Each epoch is one pass of w-steps over the w split, then one pass of theta-steps over the theta
split. The whole state is checkpointed every `checkpoint_every` steps, at each epoch end and on
SIGTERM; all randomness derives from (seed, step) and batches from (seed, epoch, step), so a
resumed run ends with the same summary.json and derived.json as an uninterrupted one.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from natjax import data, files, registry
from natjax.core import arch as arch_lib
from natjax.core import spaces
from natjax.errors import InputError, closest
from natjax.io import genotype_files, json_files, notation, policy_files, viz
from natjax.search import derive
from natjax.search.steps import SearchState, Setup, Steps, make_setup, make_steps, init_state
from natjax.train import checkpoints, sharding
from natjax.train.metrics import MetricWriter

SUMMARY_FILE = "summary.json"
DERIVED_FILE = genotype_files.DERIVED_FILE
CONFIG_FILE = json_files.CONFIG_FILE
# Fields that may differ when a run is resumed (they change logging, not results).
_RESUMABLE_CHANGES = frozenset({"log_every", "checkpoint_every", "progress"})


class SearchError(RuntimeError):
  """The search stopped (non-finite values); the message says what happened and how to resume."""


def _fixed_batches(source: data.Source, global_batch: int, num: int, mesh: Any) -> List[Any]:
  """The first `num` consecutive batches of a split (all of them if num <= 0), sharded."""
  total = data.steps_per_epoch(len(source), global_batch)
  num = total if num <= 0 else min(num, total)
  per_host = global_batch // jax.process_count()
  out = []
  for b in range(num):
    start = b * global_batch + jax.process_index() * per_host
    out.append(sharding.global_batch(data.batch(source, np.arange(start, start + per_host)),
                                     mesh))
  return out


def _derive_inputs(config: Any, space: spaces.SearchSpace) -> List[Tuple[str, Any]]:
  inputs = []
  for name_or_file in config.derive_archs:
    name, genotype = genotype_files.resolve_arch(name_or_file)
    arch_lib.genotype_to_arch(genotype, space, f"config.derive_archs: {name}: ")
    inputs.append((name, genotype))
  return inputs


def validate_config(config: Any) -> None:
  """Cross-field checks, one clear line each (fields in configs/default.py)."""
  if config.space not in spaces.registered_spaces():
    raise InputError(f"config.space: unknown space '{config.space}'"
                     f"{closest(config.space, spaces.registered_spaces())}")
  if config.batch_size % jax.device_count():
    raise InputError(f"config.batch_size={config.batch_size} is not divisible by the"
                     f" {jax.device_count()} devices")
  for field in ("epochs", "channels", "num_cells", "derive_samples", "eval_archs"):
    if int(config[field]) < 1:
      raise InputError(f"config.{field} must be >= 1, got {config[field]}")
  if config.cost_measure not in ("madds", "params"):
    raise InputError(f"config.cost_measure must be 'madds' or 'params', got"
                     f" '{config.cost_measure}'")
  if config.log_every < 1 or config.checkpoint_every < 1:
    raise InputError("config.log_every and config.checkpoint_every must be >= 1")


def _batch_for(dataset: data.Dataset, config: Any, epoch: int, position: int, w_steps: int,
               mesh: Any) -> Any:
  """The global batch of step `position` of `epoch` (w split first, then theta)."""
  split, step = (dataset.w, position) if position < w_steps else (dataset.theta,
                                                                  position - w_steps)
  indices = data.batch_indices(len(split), config.batch_size, config.seed, epoch, step,
                               jax.process_index(), jax.process_count())
  return sharding.global_batch(data.batch(split, indices), mesh)


def _print_derived(entries: List[Dict[str, Any]], out: Any) -> None:
  for e in entries:
    before, after = e["input"], e["output"]
    dp = 100.0 * (after["params"] / before["params"] - 1)
    dm = 100.0 * (after["madds"] / before["madds"] - 1)
    print(f"\n{e['name']} -> {after['source']} (shared-weight accuracy {before['accuracy']:.3f}"
          f" -> {after['accuracy']:.3f})", file=out)
    print(f"  params {before['params']:,} -> {after['params']:,} ({dp:+.1f} %),"
          f" MAdds {before['madds'] / 1e6:.2f} M -> {after['madds'] / 1e6:.2f} M ({dm:+.1f} %)"
          " in the CIFAR network", file=out)
    changes = derive.changed_edges(notation.genotype_from_json(before),
                                   derive.output_genotype(e))
    for line in changes or ["(no edge changed)"]:
      print(f"  {line}", file=out)


def run(config: Any, workdir: str, out: Any = None) -> Dict[str, Any]:
  """Runs (or resumes) a search in `workdir`; returns the summary.

  Writes WORKDIR/config.json, checkpoints/, tensorboard event files, derived.json, one SVG per
  derived architecture, policy/ (the policy export for `natjax transform --policy`) and
  summary.json. A run killed at any point resumes from its newest checkpoint when started again
  with the same config and workdir, and ends with the same summary.json and derived.json.

  Raises:
    InputError: a bad config, missing data, or a checkpoint that does not fit the config.
    SearchError: a non-finite loss or reward (the newest checkpoint is the last good state).
  """
  out = sys.stdout if out is None else out
  registry.import_modules(config.imports)
  validate_config(config)
  workdir = files.check_output_dir(workdir, "work directory")  # absolute: orbax needs it
  dataset = data.load(config.dataset, config.data_dir, split_seed=config.split_seed,
                      w_fraction=config.w_fraction)
  smallest = min(len(dataset.w), len(dataset.theta), len(dataset.test))
  if config.batch_size > smallest:
    raise InputError(f"config.batch_size={config.batch_size} is larger than the smallest split of"
                     f" '{config.dataset}' ({smallest} examples: w {len(dataset.w)}, theta"
                     f" {len(dataset.theta)}, test {len(dataset.test)})")
  setup = make_setup(config, dataset)
  derive_inputs = _derive_inputs(config, setup.space)
  mesh = sharding.data_mesh()
  steps = make_steps(setup, mesh)
  w_steps = data.steps_per_epoch(len(dataset.w), config.batch_size)
  theta_steps = data.steps_per_epoch(len(dataset.theta), config.batch_size)
  epoch_steps = w_steps + theta_steps
  total_steps = config.epochs * epoch_steps

  key = jax.random.key(config.seed)
  state = sharding.replicate(init_state(jax.random.fold_in(key, 0), setup, dataset.image_shape),
                             mesh)
  # Input is checked: the work directory is made now, and removed again if the run fails before
  # its first checkpoint.
  with files.removed_if_unused(workdir):
    files.output_dir(workdir, "work directory")
    checkpointer = checkpoints.StateCheckpointer(workdir)
    state, resumed = checkpoints.resume_or_start(checkpointer, state, workdir, config,
                                                _RESUMABLE_CHANGES, out)
    if not resumed:
      checkpointer.save(0, state)
  step, epoch, position = (int(x) for x in jax.device_get((state.step, state.epoch,
                                                            state.position)))
  derive_batches = _fixed_batches(dataset.theta, config.batch_size, config.derive_batches, mesh)
  writer = MetricWriter(os.path.join(workdir, "tensorboard"))
  progress = tqdm.tqdm(total=total_steps, initial=step, unit="step", dynamic_ncols=True,
                       disable=not config.progress, file=sys.stderr)
  print(f"search: {config.dataset}, space {config.space}, rule {config.rule}, {config.epochs}"
        f" epochs of {w_steps} w-steps + {theta_steps} theta-steps, global batch"
        f" {config.batch_size} on {jax.device_count()} device(s); workdir {workdir}", file=out)
  sync_every = min(config.log_every, 10)  # CPU collectives deadlock if too many are in flight
  try:
    with checkpoints.Preemption() as preemption:
      while epoch < config.epochs:
        while position < epoch_steps:
          batch = _batch_for(dataset, config, epoch, position, w_steps, mesh)
          fn = steps.w_step if position < w_steps else steps.theta_step
          state, metrics = fn(state, batch)
          step, position = step + 1, position + 1
          if step % sync_every == 0 or position == epoch_steps:
            values = {k: float(v) for k, v in jax.device_get(metrics).items()}
            bad = [k for k, v in values.items() if not np.isfinite(v)]
            if bad:
              raise SearchError(
                  f"{bad[0]} became {values[bad[0]]} at step {step} (epoch {epoch}); the newest"
                  f" checkpoint in {checkpointer.directory} (step"
                  f" {checkpointer.latest_step()}) is the last good state: lower the learning"
                  " rate in the config and start a new --workdir from it, or rerun to resume")
            if step % config.log_every == 0:
              writer.write_scalars(step, values)
              progress.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
            progress.update(step - progress.n)
          if step % config.checkpoint_every == 0 or preemption.requested:
            checkpointer.save(step, state)
          if preemption.requested:
            print(f"\nSIGTERM: saved step {step} in {checkpointer.directory}; run the same"
                  " command to resume", file=out)
            raise SystemExit(143)
        epoch, position = epoch + 1, 0
        state = state._replace(epoch=jnp.asarray(epoch, jnp.int32),
                               position=jnp.asarray(0, jnp.int32))
        state = sharding.replicate(state, mesh)
        checkpointer.save(step, state)
        if config.derive_every and epoch % config.derive_every == 0 and epoch < config.epochs:
          entries = derive.derive(setup, steps.score, state.w_params, state.theta_params,
                                  derive_inputs, derive_batches,
                                  jax.random.fold_in(key, 1_000_000 + epoch),
                                  config.derive_samples)
          json_files.write_json(os.path.join(workdir, f"derived_epoch{epoch}.json"), entries)
  finally:
    progress.close()
    writer.close()
  return finish(config, workdir, setup, steps, state, dataset, derive_inputs, derive_batches,
                mesh, key, out)


def finish(config: Any, workdir: str, setup: Setup, steps: Steps, state: SearchState,
           dataset: data.Dataset, derive_inputs: List[Tuple[str, Any]],
           derive_batches: List[Any], mesh: Any, key: jax.Array, out: Any) -> Dict[str, Any]:
  """Final derivation, held-out policy check, policy export and summary (from the state only)."""
  entries = derive.derive(setup, steps.score, state.w_params, state.theta_params, derive_inputs,
                          derive_batches, jax.random.fold_in(key, 1), config.derive_samples)
  json_files.write_json(os.path.join(workdir, DERIVED_FILE), entries)
  for e in entries if jax.process_index() == 0 else ():
    viz.draw_transformation(notation.genotype_from_json(e["input"]), derive.output_genotype(e),
                            os.path.join(workdir, f"{e['name']}.svg"),
                            title=f"{e['name']} under {setup.rule.name}")
  eval_batches = _fixed_batches(dataset.test, config.batch_size, config.eval_batches, mesh)
  held_out = derive.evaluate_policy(setup, steps.score, state.w_params, state.theta_params,
                                    eval_batches, jax.random.fold_in(key, 2), config.eval_archs)
  if jax.process_index() == 0:
    policy_files.save_policy(os.path.join(workdir, policy_files.WORKDIR_POLICY),
                           jax.device_get(state.theta_params), space=setup.space,
                           rule=setup.rule, released_quirk=setup.policy.released_quirk,
                           imports=config.imports)
  summary = {"dataset": config.dataset, "space": config.space, "rule": config.rule,
             "epochs": config.epochs, "steps": int(state.step),
             "baseline": float(state.baseline), **held_out,
             "derived": {e["name"]: {"source": e["output"]["source"],
                                     "accuracy_before": e["input"]["accuracy"],
                                     "accuracy_after": e["output"]["accuracy"],
                                     "params_before": e["input"]["params"],
                                     "params_after": e["output"]["params"],
                                     "madds_before": e["input"]["madds"],
                                     "madds_after": e["output"]["madds"]} for e in entries}}
  json_files.write_json(os.path.join(workdir, SUMMARY_FILE), summary)
  _print_derived(entries, out)
  print(f"\nheld-out: mean reward of the policy {held_out['policy_reward']:+.4f} vs random"
        f" rule-valid transitions {held_out['random_reward']:+.4f} over"
        f" {held_out['eval_archs']} random input architectures", file=out)
  print(f"wrote {os.path.join(workdir, DERIVED_FILE)}, {os.path.join(workdir, SUMMARY_FILE)}",
        file=out)
  return summary
