"""The search's host loop: `run(config, workdir)` feeds batches to the steps
(`natjax.search.steps`), logs, checkpoints, derives (`natjax.search.derive`) and writes the results;
nothing here changes what a step computes.

Each epoch is one pass of w-steps over the w split, then one pass of theta-steps over the theta
split (none before `theta_start_epoch`: supernet-only warm-up), fed by the host loop shared with
retraining (`natjax.train.host_loop`: sync, finiteness check, interval-mean metrics under `w/...`
and `theta/...` tags, preemption). The whole state is checkpointed every `checkpoint_every` steps,
at each epoch end (unless `checkpoint_epoch_end` is off, for many short epochs; the last epoch
always) and on SIGTERM or Ctrl-C; all randomness derives from (seed, step) and batches from (seed,
epoch, step), so a resumed run ends with the same summary.json and derived.json as an
uninterrupted one.
Derivation and the held-out check score architectures on whole splits, the theta split and the test
split (`scoring_sets`); `restore(workdir)` rebuilds a finished search for analyses after the run.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, List, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from natjax import data, files, registry
from natjax.core import arch as arch_lib
from natjax.core import rules, spaces
from natjax.errors import InputError, closest, prefixed, require_fields
from natjax.io import genotype_files, json_files, notation, plots, policy_files, viz
from natjax.nn import supernet
from natjax.search import derive
from natjax.search.steps import SearchState, Setup, Steps, make_setup, make_steps, init_state
from natjax.train import checkpoints, host_loop, sharding

SUMMARY_FILE = "summary.json"
DERIVED_FILE = genotype_files.DERIVED_FILE
CONFIG_FILE = json_files.CONFIG_FILE
# Every field a search reads (documented in configs/default.py, which sets each).
CONFIG_FIELDS = (
    "baseline_decay", "batch_size", "channels", "checkpoint_epoch_end", "checkpoint_every",
    "compute_dtype", "cost_measure", "cost_penalty", "data_dir", "dataset", "derive_archs",
    "derive_batches", "derive_every", "derive_samples", "entropy_coef", "epochs", "eval_archs",
    "eval_batch_size", "eval_batches", "impl", "imports", "log_every", "num_cells", "progress",
    "released_baseline", "released_quirk", "rule", "seed", "space", "split_seed",
    "stem_multiplier", "theta_b1", "theta_b2", "theta_lr", "theta_start_epoch",
    "theta_weight_decay", "w_fraction", "w_lr", "w_momentum", "w_weight_decay")
# Fields that may differ when a run is resumed (they change logging, not results).
_RESUMABLE_CHANGES = frozenset({"log_every", "checkpoint_every", "checkpoint_epoch_end",
                                "progress"})


# The search stopped (non-finite values); the message says what happened and how to resume.
SearchError = host_loop.NonFiniteError
Preempted = host_loop.Preempted


def num_eval_batches(num_examples: int, batch_size: int, num_batches: int = 0) -> int:
  """Batches `eval_indices` makes: ceil(n / B), or `num_batches` if positive and fewer."""
  needed = -(-num_examples // batch_size)
  return needed if num_batches <= 0 else min(num_batches, needed)


def eval_indices(num_examples: int, batch_size: int, num_batches: int = 0
                 ) -> Tuple[np.ndarray, np.ndarray]:
  """The fixed scoring batches of a split: every example exactly once, every batch full.

  Batch b holds examples b*B .. b*B + B - 1; the last one is topped up with the first examples of
  the split again (real images, so BatchNorm's batch statistics stay those of real data) at weight
  0, so that no example counts twice.

  Args:
    num_examples: n, the split's size.
    batch_size: B.
    num_batches: how many batches; 0 (or more than needed): ceil(n / B), the whole split.

  Returns:
    (indices int64[nb, B], weight f32[nb, B]); weight is 1 on the first min(n, nb*B) slots.
  """
  nb = num_eval_batches(num_examples, batch_size, num_batches)
  slots = np.arange(nb * batch_size).reshape(nb, batch_size)
  return slots % num_examples, (slots < num_examples).astype(np.float32)


class EvalSet(NamedTuple):
  """Fixed scoring batches of one split, sharded for `natjax.search.steps.score_archs`.

  Attributes:
    arrays: {'image': uint8[B, nb, H, W, C], 'label': int32[B, nb], 'weight': f32[B, nb]}, rows
      first, rows split over the mesh; batches beyond `num_batches` are padding (weight 0).
    num_batches: batches that hold examples.
    num_examples: examples in the set (each counted once).
  """
  arrays: Dict[str, jax.Array]
  num_batches: int
  num_examples: int


def eval_set(source: data.Source, batch_size: int, num_batches: int, mesh: Any,
             capacity: int = 0) -> EvalSet:
  """The batches of `eval_indices` as one sharded set, allocated for `capacity` batches (at least
  as many as it holds) so that sets of different splits can share one compiled `score_archs`."""
  indices, weight = eval_indices(len(source), batch_size, num_batches)
  held = indices.shape[0]
  pad = max(capacity - held, 0)
  indices = np.concatenate([indices, np.zeros((pad, batch_size), indices.dtype)])
  weight = np.concatenate([weight, np.zeros((pad, batch_size), weight.dtype)])
  per_host = batch_size // jax.process_count()
  rows = slice(jax.process_index() * per_host, (jax.process_index() + 1) * per_host)
  local_indices, local_weight = indices[:, rows].T, weight[:, rows].T  # [B_local, nb]
  local = data.read(source, local_indices.reshape(-1))
  local = {k: v.reshape(local_indices.shape + v.shape[1:]) for k, v in local.items()}
  local["weight"] = local_weight
  return EvalSet(sharding.global_batch(local, mesh), held, int(weight.sum()))


def scoring_sets(config: Any, dataset: data.Dataset, mesh: Any) -> Dict[str, EvalSet]:
  """The derivation set (theta split) and the held-out set (test split), allocated to one shape
  so that both are scored by one compiled `score_archs`."""
  batch = config.eval_batch_size or config.batch_size
  plan = {"derive": (dataset.theta, config.derive_batches),
          "held_out": (dataset.test, config.eval_batches)}
  capacity = max(num_eval_batches(len(source), batch, num) for source, num in plan.values())
  return {name: eval_set(source, batch, num, mesh, capacity)
          for name, (source, num) in plan.items()}


def epoch_length(config: Any, epoch: int, w_steps: int, theta_steps: int) -> int:
  """Steps of `epoch`: its w-steps, then its theta-steps unless it is a warm-up epoch.

  Epochs before `config.theta_start_epoch` (the released `--controller_start_training`) train
  only the supernet: their theta split is not visited at all, so the policy, its optimiser and
  the baseline stay exactly as initialised.
  """
  return w_steps + (theta_steps if epoch >= config.theta_start_epoch else 0)


def _derive_inputs(config: Any, space: spaces.SearchSpace) -> List[Tuple[str, Any]]:
  inputs = []
  for name_or_file in config.derive_archs:
    with prefixed("config.derive_archs"):
      name, genotype = genotype_files.resolve_arch(name_or_file)
    arch_lib.genotype_to_arch(genotype, space, f"config.derive_archs: {name}: ")
    inputs.append((name, genotype))
  return inputs


def validate_config(config: Any) -> None:
  """Checks a config before a run reads it: every field of CONFIG_FIELDS present (the first
  missing one named), then `config.imports` imported (the spaces, rules and ops they register are
  what the checks accept), then cross-field checks, one clear line each (fields documented in
  configs/default.py).

  Raises:
    InputError: the first problem found.
  """
  require_fields(config, CONFIG_FIELDS, "configs/default.py")
  registry.import_modules(config.imports)
  with prefixed("config.dataset"):
    data.DATASETS.get(config.dataset)
  if config.space not in spaces.registered_spaces():
    raise InputError(f"config.space: unknown space '{config.space}'"
                     f"{closest(config.space, spaces.registered_spaces())}")
  with prefixed("config.rule"):
    rules.get_rule(config.rule)
  for field in ("epochs", "batch_size", "channels", "num_cells", "derive_samples"):
    if int(config[field]) < 1:
      raise InputError(f"config.{field} must be >= 1, got {config[field]}")
  for field in ("batch_size", "eval_batch_size"):
    if config[field] % jax.device_count():
      raise InputError(f"config.{field}={config[field]} is not divisible by the"
                       f" {jax.device_count()} devices")
  if int(config.eval_archs) < 2:
    raise InputError(f"config.eval_archs must be >= 2 (a standard error needs two), got"
                     f" {config.eval_archs}")
  if not 0 <= int(config.theta_start_epoch) <= int(config.epochs):
    raise InputError(f"config.theta_start_epoch must be in [0, epochs={config.epochs}], got"
                     f" {config.theta_start_epoch}")
  if int(config.eval_batch_size) < 0:
    raise InputError(f"config.eval_batch_size must be >= 0 (0: batch_size), got"
                     f" {config.eval_batch_size}")
  if config.cost_measure not in ("madds", "params"):
    raise InputError(f"config.cost_measure must be 'madds' or 'params', got"
                     f" '{config.cost_measure}'")
  if config.log_every < 1 or config.checkpoint_every < 1:
    raise InputError("config.log_every and config.checkpoint_every must be >= 1")
  for name in config.derive_archs:
    if "," in name and not os.path.exists(name.rpartition(":")[0] or name):
      several = ", ".join(repr(n.strip()) for n in name.split(","))
      raise InputError(f"config.derive_archs: '{name}' is one name; give several as a tuple:"
                       f" --config.derive_archs=\"({several})\"")


def _batch_for(batches: Tuple[data.HostBatches, data.HostBatches], epoch: int, position: int,
               w_steps: int, mesh: Any) -> Any:
  """The global batch of step `position` of `epoch` (w split first, then theta), from the w and
  theta splits' `data.HostBatches` (the same examples as `data.batch_indices` names)."""
  w_batches, theta_batches = batches
  if position < w_steps:
    return sharding.global_batch(w_batches(epoch, position), mesh)
  return sharding.global_batch(theta_batches(epoch, position - w_steps), mesh)


def _print_derived(entries: List[Dict[str, Any]], num_examples: int, out: Any) -> None:
  for e in entries:
    before, after = e["input"], e["output"]
    dp = 100.0 * (after["params"] / before["params"] - 1)
    dm = 100.0 * (after["madds"] / before["madds"] - 1)
    print(f"\n{e['name']} -> {after['source']} (shared-weight accuracy {before['accuracy']:.3f}"
          f" -> {after['accuracy']:.3f} on {num_examples:,} theta-split images)", file=out)
    print(f"  params {before['params']:,} -> {after['params']:,} ({dp:+.1f} %),"
          f" MAdds {before['madds'] / 1e6:.2f} M -> {after['madds'] / 1e6:.2f} M ({dm:+.1f} %)"
          " in the CIFAR network", file=out)
    changes = derive.changed_edges(notation.genotype_from_json(before),
                                   derive.output_genotype(e))
    for line in changes or ["(no edge changed)"]:
      print(f"  {line}", file=out)


# The progress bar's postfix: the newest w- and theta-figures side by side.
_POSTFIX = ((("w_loss", "w/loss"), ("w_acc", "w/accuracy")),
            (("reward", "theta/reward"), ("baseline", "theta/baseline")))
# Step metrics (natjax.search.steps) -> TensorBoard tags (natjax.train.metrics).
_W_TAGS = {"w_loss": "w/loss", "w_accuracy": "w/accuracy"}
_THETA_TAGS = {"theta_loss": "theta/loss", "reward": "theta/reward",
               "baseline": "theta/baseline", "entropy": "theta/entropy",
               "acc_alpha": "theta/acc_alpha", "acc_beta": "theta/acc_beta"}


def run(config: Any, workdir: str, out: Any = None) -> Dict[str, Any]:
  """Runs (or resumes) a search in `workdir`; returns the summary.

  Writes WORKDIR/config.json, checkpoints/, tensorboard/ (event files, tags in
  `natjax.train.metrics`), derived.json, one SVG per derived architecture, policy/ (the policy
  export for `natjax transform --policy`) and summary.json. A run killed at any point resumes
  from its newest checkpoint when started again with the same config and workdir, and ends with
  the same summary.json and derived.json. Prints one line per phase with its duration (data,
  supernet, each step's compilation, derivation, held-out check).

  Raises:
    InputError: a bad config, missing data, or a checkpoint that does not fit the config.
    SearchError: a non-finite loss or reward (the newest checkpoint is the last good state).
    Preempted: SIGTERM or a first Ctrl-C (`natjax.train.host_loop.Preempted`, a SystemExit with
      code 143 or 130); the current step was saved.
    Interrupted: a second Ctrl-C (`natjax.train.host_loop.Interrupted`, a KeyboardInterrupt
      naming the newest checkpoint).
  """
  out = sys.stdout if out is None else out
  validate_config(config)
  derive_inputs = _derive_inputs(config, spaces.get_space(config.space))
  workdir = files.check_output_dir(workdir, "work directory")  # absolute: orbax needs it
  start = time.perf_counter()
  dataset = data.load(config.dataset, config.data_dir, split_seed=config.split_seed,
                      w_fraction=config.w_fraction)
  smallest = min(len(dataset.w), len(dataset.theta), len(dataset.test))
  if config.batch_size > smallest:
    raise InputError(f"config.batch_size={config.batch_size} is larger than the smallest split of"
                     f" '{config.dataset}' ({smallest} examples: w {len(dataset.w)}, theta"
                     f" {len(dataset.theta)}, test {len(dataset.test)})")
  print(f"data loaded: {config.dataset}, w {len(dataset.w):,} / theta {len(dataset.theta):,} /"
        f" test {len(dataset.test):,} examples ({host_loop.since(start)})", file=out)
  setup = make_setup(config, dataset)
  mesh = sharding.data_mesh()
  steps = make_steps(setup, mesh)
  w_steps = data.steps_per_epoch(len(dataset.w), config.batch_size)
  theta_steps = data.steps_per_epoch(len(dataset.theta), config.batch_size)
  total_steps = sum(epoch_length(config, e, w_steps, theta_steps) for e in range(config.epochs))

  key = jax.random.key(config.seed)
  start = time.perf_counter()
  state = sharding.replicate(init_state(jax.random.fold_in(key, 0), setup, dataset.image_shape),
                             mesh)
  print(f"supernet built: {config.num_cells} cells, C={config.channels},"
        f" {supernet.count_params(state.w_params):,} weights; policy"
        f" {supernet.count_params(state.theta_params):,} params ({host_loop.since(start)})",
        file=out)
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
  sets = scoring_sets(config, dataset, mesh)
  print(f"search: {config.dataset}, space {config.space}, rule {config.rule}, {config.epochs}"
        f" epochs of {w_steps} w-steps + {theta_steps} theta-steps, global batch"
        f" {config.batch_size} on {jax.device_count()} device(s); workdir {workdir}", file=out)
  loop = host_loop.Loop(checkpointer, workdir, step=step, total_steps=total_steps,
                        log_every=config.log_every, checkpoint_every=config.checkpoint_every,
                        postfix=_POSTFIX, progress=config.progress, out=out)
  w_step = host_loop.compile_on_first_call(steps.w_step, "w-step", loop.say)
  theta_step = host_loop.compile_on_first_call(steps.theta_step, "theta-step", loop.say)

  batches = (data.HostBatches(dataset.w, config.batch_size, config.seed, steps=w_steps),
             data.HostBatches(dataset.theta, config.batch_size, config.seed, steps=theta_steps))

  def step_fn(state, epoch, position):
    batch = _batch_for(batches, epoch, position, w_steps, mesh)
    if position < w_steps:
      state, metrics = w_step(state, batch)
      return state, {tag: metrics[name] for name, tag in _W_TAGS.items()}
    state, metrics = theta_step(state, batch)
    return state, {tag: metrics[name] for name, tag in _THETA_TAGS.items()}

  with loop, batches[0], batches[1]:
    while epoch < config.epochs:
      state = loop.run_epoch(state, epoch, position,
                             epoch_length(config, epoch, w_steps, theta_steps), step_fn)
      epoch, position = epoch + 1, 0
      state = state._replace(epoch=jnp.asarray(epoch, jnp.int32),
                             position=jnp.asarray(0, jnp.int32))
      state = sharding.replicate(state, mesh)
      if config.checkpoint_epoch_end or epoch == config.epochs:
        loop.save(state)
      if config.derive_every and epoch % config.derive_every == 0 and epoch < config.epochs:
        start = time.perf_counter()
        scorer = derive.Scorer(steps.score_archs, state.w_params, sets["derive"])
        entries = derive.derive(setup, scorer, state.theta_params, derive_inputs,
                                jax.random.fold_in(key, 1_000_000 + epoch),
                                config.derive_samples)
        path = os.path.join(workdir, f"derived_epoch{epoch}.json")
        json_files.write_json(path, entries)
        loop.say(f"epoch {epoch}: derived {_derivation(config, derive_inputs, sets)}"
                 f" ({host_loop.since(start)}): {path}")
  return finish(config, workdir, setup, steps, state, derive_inputs, sets, key, out)


def _derivation(config: Any, derive_inputs: List[Tuple[str, Any]],
                sets: Dict[str, EvalSet]) -> str:
  """'K candidates x N input(s) on M theta-split images', for the phase lines."""
  return (f"{config.derive_samples + 1} candidates x {len(derive_inputs)} input(s) on"
          f" {sets['derive'].num_examples:,} theta-split images")


class Restored(NamedTuple):
  """A search restored from its work directory (`restore`).

  Attributes:
    config: the run's config (from WORKDIR/config.json).
    setup: its static `Setup`.
    state: the newest saved `SearchState` (after a finished run: the final one).
    scorers: {'derive': theta split, 'held_out': test split} `derive.Scorer`s of its supernet.
  """
  config: Any
  setup: Setup
  state: SearchState
  scorers: Dict[str, derive.Scorer]


def restore(workdir: str) -> Restored:
  """Rebuilds a search from WORKDIR/config.json and its newest checkpoint (for analyses after
  the run, e.g. bench/nat_claim.py); the config's `imports` are imported first.

  Raises:
    InputError: no config.json or checkpoint in `workdir`, or a checkpoint that does not fit.
  """
  workdir = files.local_path(workdir, "search directory")
  config = ml_collections.ConfigDict(
      files.read_json(os.path.join(workdir, CONFIG_FILE), "config of a natjax search"))
  registry.import_modules(config.imports)
  dataset = data.load(config.dataset, config.data_dir, split_seed=config.split_seed,
                      w_fraction=config.w_fraction)
  setup = make_setup(config, dataset)
  mesh = sharding.data_mesh()
  steps = make_steps(setup, mesh)
  checkpointer = checkpoints.StateCheckpointer(workdir)
  if checkpointer.latest_step() is None:
    raise InputError(f"{checkpointer.directory}: no checkpoint to restore")
  template = sharding.replicate(init_state(jax.random.key(0), setup, dataset.image_shape), mesh)
  state = checkpointer.restore(template)
  scorers = {name: derive.Scorer(steps.score_archs, state.w_params, eval_set)
             for name, eval_set in scoring_sets(config, dataset, mesh).items()}
  return Restored(config, setup, state, scorers)


def finish(config: Any, workdir: str, setup: Setup, steps: Steps, state: SearchState,
           derive_inputs: List[Tuple[str, Any]], sets: Dict[str, EvalSet], key: jax.Array,
           out: Any) -> Dict[str, Any]:
  """Final derivation, held-out policy check, policy export and summary (from the state only)."""
  start = time.perf_counter()
  derive_scorer = derive.Scorer(steps.score_archs, state.w_params, sets["derive"])
  entries = derive.derive(setup, derive_scorer, state.theta_params, derive_inputs,
                          jax.random.fold_in(key, 1), config.derive_samples)
  print(f"derived: {_derivation(config, derive_inputs, sets)} ({host_loop.since(start)})",
        file=out)
  json_files.write_json(os.path.join(workdir, DERIVED_FILE), entries)
  for e in entries if jax.process_index() == 0 else ():
    viz.draw_transformation(notation.genotype_from_json(e["input"]), derive.output_genotype(e),
                            os.path.join(workdir, f"{e['name']}.svg"),
                            title=f"{e['name']} under {setup.rule.name}",
                            costs=(e["input"], e["output"]),
                            accuracy=(e["input"]["accuracy"], e["output"]["accuracy"]))
  start = time.perf_counter()
  held_out_scorer = derive.Scorer(steps.score_archs, state.w_params, sets["held_out"])
  held_out, _ = derive.evaluate_policy(setup, held_out_scorer, state.theta_params,
                                       jax.random.fold_in(key, 2), config.eval_archs)
  print(f"held-out check scored: {config.eval_archs} random architectures x"
        f" {len(derive.VARIANTS)} transformations on {sets['held_out'].num_examples:,} test"
        f" images ({host_loop.since(start)})", file=out)
  if jax.process_index() == 0:
    policy_files.save_policy(os.path.join(workdir, policy_files.WORKDIR_POLICY),
                           jax.device_get(state.theta_params), space=setup.space,
                           rule=setup.rule, released_quirk=setup.policy.released_quirk,
                           imports=config.imports)
  timing = {k: held_out.pop(k) for k in ("scored_archs", "scored_archs_per_s")}
  summary = {"dataset": config.dataset, "space": config.space, "rule": config.rule,
             "epochs": config.epochs, "theta_start_epoch": config.theta_start_epoch,
             "steps": int(state.step), "baseline": float(state.baseline), **held_out,
             "derive_examples": sets["derive"].num_examples,
             "derived": {e["name"]: {"source": e["output"]["source"],
                                     "accuracy_before": e["input"]["accuracy"],
                                     "accuracy_after": e["output"]["accuracy"],
                                     "params_before": e["input"]["params"],
                                     "params_after": e["output"]["params"],
                                     "madds_before": e["input"]["madds"],
                                     "madds_after": e["output"]["madds"]} for e in entries}}
  json_files.write_json(os.path.join(workdir, SUMMARY_FILE), summary)
  _print_derived(entries, sets["derive"].num_examples, out)
  print("\n" + derive.format_held_out({**held_out, **timing}), file=out)
  if jax.process_index() == 0:
    try:
      plots.draw_run(workdir)  # curves.png, candidates.png
    except InputError as err:  # e.g. log_every longer than the run: no scalars were logged
      print(f"plots not drawn: {err}", file=out)
  print(_written_line(workdir), file=out)
  return summary


def _written_line(workdir: str) -> str:
  """'wrote N files and folders to WORKDIR: a.json, b/, ...': everything the work directory holds
  (config.json, checkpoints/, tensorboard/, derived.json, NAME.svg, policy/, summary.json, the
  plots), folders marked with '/'."""
  names = sorted(n + ("/" if os.path.isdir(os.path.join(workdir, n)) else "")
                 for n in os.listdir(workdir))
  return f"wrote {len(names)} files and folders to {workdir}: {', '.join(names)}"
