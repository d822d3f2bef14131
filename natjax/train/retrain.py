"""Retraining an architecture from scratch: the final evaluation protocol (spec section 9).

`run(config, workdir)` trains the stand-alone network of one genotype (`natjax.nn.evalnet`) on the
whole training set and evaluates it on the test split after every epoch:

  step        uint8 batch -> crop + flip (+ cutout on CIFAR) -> `evalnet.train_step` (SGD with
              momentum, coupled weight decay, gradient clipping, per-epoch cosine learning rate,
              drop-path ramped with the epoch, auxiliary loss, label smoothing on ImageNet).
  evaluation  the whole test split in fixed batches; the last partial batch is padded and masked.

Everything the run needs to continue lives in one `RetrainState` that orbax saves whole: the
`TrainState`, the data position (epoch, step within the epoch), the raw PRNG key and the best and
latest test accuracy. Batches are a pure function of (seed, epoch, step) (`data.batch_indices`)
and every random draw is `fold_in(key, global step)`, so a run killed at any point and started
again with the same command ends with the same numbers as one that was never interrupted.

Outputs in WORKDIR: config.json, checkpoints/ (every `checkpoint_every_steps` steps, at every
epoch end and on SIGTERM or Ctrl-C), TensorBoard event files, and retrain.json (see `run`).

Architectures (`config.arch`): anything `natjax.io.genotype_files.resolve_arch` reads: a built-in
name (`natjax archs`), a genotype file (FILE:NAME picks an entry), or a search's derived.json (or
its work directory), optionally followed by `:NAME` to pick an entry (default: the first).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Dict, List, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from natjax import data, files, registry
from natjax.core import costs
from natjax.core.arch import Genotype
from natjax.errors import InputError, closest, prefixed, require_fields
from natjax.io import genotype_files, json_files, notation, reports
from natjax.nn import evalnet
from natjax.train import checkpoints, host_loop, sharding

RESULT_FILE = reports.RESULT_FILE
CHECKPOINT_DIR = checkpoints.STATE_DIR
CONFIG_FILE = json_files.CONFIG_FILE
DATASET_NETWORKS = {"cifar10": "cifar", "digits": "cifar", "imagenet2012": "imagenet"}
# Every field a retraining reads (documented in configs/retrain_cifar10.py, which sets each).
CONFIG_FIELDS = (
    "arch", "aux_weight", "auxiliary", "batch_size", "channels", "checkpoint_every_steps",
    "cutout_size", "data_dir", "dataset", "drop_path_prob", "epochs", "eval_batch_size",
    "grad_clip", "image_size", "impl", "imports", "label_smoothing", "learning_rate",
    "log_every_steps", "lr_min", "max_steps_per_epoch", "momentum", "network", "num_cells",
    "progress", "seed", "split_seed", "weight_decay")
# Config fields that may change when a run is resumed (they change logging, not results).
_RESUMABLE_CHANGES = frozenset({"checkpoint_every_steps", "log_every_steps", "progress",
                                "data_dir"})


# The run stopped (a non-finite loss); the message says what was saved and what to do.
RetrainError = host_loop.NonFiniteError
Preempted = host_loop.Preempted


class RetrainState(NamedTuple):
  """Everything a retraining run needs to continue exactly where it stopped.

  Attributes:
    train: the network's `evalnet.TrainState` (its `step` is the global step).
    epoch: int32[] the current epoch.
    position: int32[] steps taken in the current epoch.
    rng: uint32[2] raw data of the run's PRNG key (step keys are fold_in(rng, step)).
    best_accuracy: f32[] best test accuracy of a finished epoch (0 before the first).
    last_accuracy: f32[] test accuracy after the latest finished epoch.
  """
  train: evalnet.TrainState
  epoch: Any
  position: Any
  rng: Any
  best_accuracy: Any
  last_accuracy: Any


# ----------------------------------------------------------------------------------------------
# Setup.


def network_for(config: Any, num_classes: int) -> evalnet.EvalNetConfig:
  """The stand-alone network the config describes."""
  return evalnet.config_for(config.network, channels=config.channels,
                            num_cells=config.num_cells, num_classes=num_classes,
                            auxiliary=config.auxiliary, drop_path_prob=config.drop_path_prob,
                            impl=config.impl)


def validate_config(config: Any) -> None:
  """Checks a config before a retraining reads it, one line for the first problem (InputError):
  the fields of CONFIG_FIELDS (documented in configs/retrain_cifar10.py), then, with
  `config.imports` imported (a fork's ops), cross-field checks."""
  require_fields(config, CONFIG_FIELDS, "configs/retrain_cifar10.py")
  registry.import_modules(config.imports)
  with prefixed("config.dataset"):
    data.DATASETS.get(config.dataset)
  if config.network not in evalnet.NETWORKS:
    raise InputError(f"config.network: unknown network '{config.network}'"
                     f"{closest(config.network, evalnet.NETWORKS)}")
  for field in ("epochs", "batch_size", "eval_batch_size", "checkpoint_every_steps",
                "log_every_steps"):
    if int(config[field]) < 1:
      raise InputError(f"config.{field} must be >= 1, got {config[field]}")
  if config.max_steps_per_epoch < 0:
    raise InputError(f"config.max_steps_per_epoch must be >= 0, got {config.max_steps_per_epoch}")
  for field in ("batch_size", "eval_batch_size"):
    if config[field] % jax.device_count():
      raise InputError(f"config.{field}={config[field]} is not divisible by the"
                       f" {jax.device_count()} devices")
  if not 0.0 <= config.label_smoothing < 1.0:
    raise InputError(f"config.label_smoothing must be in [0, 1), got {config.label_smoothing}")
  if config.lr_min > config.learning_rate:
    raise InputError(f"config.lr_min={config.lr_min} exceeds config.learning_rate="
                     f"{config.learning_rate}")


class Steps(NamedTuple):
  """The compiled steps: train(state, batch, rng, drop_path_prob) and evaluate(state, batch)."""
  train: Callable
  evaluate: Callable


def make_steps(config: Any, network: evalnet.EvalNetConfig, genotype: Genotype,
               dataset: data.Dataset, optimizer: Any) -> Steps:
  """Jitted training and evaluation steps that take uint8 batches.

  train(state: TrainState, batch {'image': uint8[B, H, W, C], 'label': int32[B]}, rng: uint32[2],
  drop_path_prob: f32[]) -> (TrainState, metrics): augmentation draws come from
  fold_in(rng, state.step), drop-path draws from the train step's own fold-in of the step.
  evaluate(state, batch with 'mask': bool[B]) -> {'correct', 'loss', 'count'} sums.
  With a batch sharded over the devices (`sharding.global_batch`), XLA partitions both steps;
  BatchNorm statistics remain those of the global batch.
  """
  mean, std = np.asarray(dataset.mean), np.asarray(dataset.std)

  def train(state, batch, rng, drop_path_prob):
    key = jax.random.fold_in(jax.random.wrap_key_data(rng), state.step)
    aug_key, net_key = jax.random.split(key)
    images = data.train_transform(aug_key, batch["image"], mean, std, dataset.crop_padding,
                                  dataset.flip, config.cutout_size)
    return evalnet.train_step(state, {"image": images, "label": batch["label"]}, net_key,
                              drop_path_prob, genotype=genotype, config=network,
                              optimizer=optimizer, aux_weight=config.aux_weight,
                              label_smoothing=config.label_smoothing)

  def evaluate(state, batch):
    images = data.eval_transform(batch["image"], mean, std)
    return evalnet.eval_step(state, {**batch, "image": images}, genotype=genotype,
                             config=network)

  return Steps(jax.jit(train), jax.jit(evaluate))


def eval_batches(num_examples: int, batch_size: int) -> List[Tuple[np.ndarray, np.ndarray]]:
  """Fixed evaluation batches over a whole split: (indices int64[B], mask bool[B]) each.

  The last batch is padded with index 0 and masked, so every batch has the same shape.
  """
  out = []
  for start in range(0, num_examples, batch_size):
    idx = np.arange(start, min(start + batch_size, num_examples), dtype=np.int64)
    mask = np.zeros((batch_size,), bool)
    mask[:idx.size] = True
    out.append((np.pad(idx, (0, batch_size - idx.size)), mask))
  return out


def evaluate(eval_step: Callable, state: RetrainState, source: data.Source, batch_size: int,
             mesh: Any) -> Dict[str, float]:
  """Test accuracy and mean loss over the whole split ({'accuracy', 'loss'}), with `eval_step`
  (`Steps.evaluate`)."""
  per_process = batch_size // jax.process_count()
  start = jax.process_index() * per_process
  totals = {"correct": 0, "loss": 0.0, "count": 0}
  pending = []
  batches = eval_batches(len(source), batch_size)
  reads = data.prefetch(source, [indices[start:start + per_process] for indices, _ in batches])
  for (_, mask), local in zip(batches, reads):
    local["mask"] = mask[start:start + per_process]
    pending.append(eval_step(state.train, sharding.global_batch(local, mesh)))
    if len(pending) >= host_loop.MAX_IN_FLIGHT:
      for m in jax.device_get(pending):
        totals = {k: totals[k] + m[k] for k in totals}
      pending = []
  for m in jax.device_get(pending):
    totals = {k: totals[k] + m[k] for k in totals}
  count = max(int(totals["count"]), 1)
  return {"accuracy": float(totals["correct"]) / count, "loss": float(totals["loss"]) / count}


# ----------------------------------------------------------------------------------------------
# The host loop.


def initial_state(config: Any, network: evalnet.EvalNetConfig, genotype: Genotype,
                  optimizer: Any, image_shape: Tuple[int, ...]) -> RetrainState:
  """The state at step 0: weights from fold_in(key(seed), 0), the run key's raw data."""
  key = jax.random.key(config.seed)
  train = evalnet.create_train_state(jax.random.fold_in(key, 0), network, genotype, optimizer,
                                     (1,) + tuple(image_shape))
  zero = jnp.zeros((), jnp.int32)
  return RetrainState(train, zero, zero, jax.random.key_data(jax.random.fold_in(key, 1)),
                      jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32))


_POSTFIX = ((("loss", "train/loss"), ("acc", "train/accuracy")),)


def run(config: Any, workdir: str, out: Any = None) -> Dict[str, Any]:
  """Retrains `config.arch` from scratch in `workdir` (resuming a run found there).

  Returns (and writes to WORKDIR/retrain.json): {'arch': display name, 'genotype': genotype JSON,
  'network': 'cifar' | 'imagenet', 'dataset', 'params' and 'madds': the cost model's figures for
  the genotype in the full-size `network` (`costs.genotype_cost`; the configured channels and
  cells may be smaller), 'trained_params': parameters of the network actually trained (aux head
  excluded), 'epochs', 'final_test_accuracy' (after the last epoch), 'best_test_accuracy' (best
  epoch), 'wall_time_s' (this invocation only: the one field that differs in a resumed run)}.
  Event files go to WORKDIR/tensorboard (tags in `natjax.train.metrics`). Prints one line per
  phase with its duration (data, network, the steps' compilation, each epoch's evaluation).

  Raises:
    InputError: a bad config, architecture or dataset, or a checkpoint that does not fit.
    RetrainError: a non-finite loss; the last good state was saved.
    Preempted: SIGTERM or a first Ctrl-C (`natjax.train.host_loop.Preempted`, a SystemExit with
      code 143 or 130); the current step was saved.
    Interrupted: a second Ctrl-C (`natjax.train.host_loop.Interrupted`, a KeyboardInterrupt
      naming the newest checkpoint).
  """
  started = time.time()
  out = sys.stdout if out is None else out
  validate_config(config)
  arch_name, genotype = genotype_files.resolve_arch(config.arch, "config.arch")
  workdir = files.check_output_dir(workdir, "work directory")  # absolute: orbax needs it
  start = time.perf_counter()
  dataset = data.load(config.dataset, config.data_dir, split_seed=config.split_seed,
                      image_size=config.image_size)
  print(f"data loaded: {config.dataset}, train {len(dataset.train):,} / test"
        f" {len(dataset.test):,} examples ({host_loop.since(start)})", file=out)
  network = network_for(config, dataset.num_classes)
  epoch_steps = data.steps_per_epoch(len(dataset.train), config.batch_size)
  if config.max_steps_per_epoch:
    epoch_steps = min(epoch_steps, config.max_steps_per_epoch)
  if epoch_steps < 1:
    raise InputError(f"config.batch_size={config.batch_size} exceeds the {len(dataset.train)}"
                     f" training examples of {config.dataset}")
  total_steps = config.epochs * epoch_steps
  optimizer = evalnet.make_optimizer(config.learning_rate, config.lr_min, config.epochs,
                                     epoch_steps, config.momentum, config.weight_decay,
                                     config.grad_clip)
  # The learning rate of each epoch (constant within one), for the metrics.
  epoch_rates = np.asarray(evalnet.make_schedule(config.learning_rate, config.lr_min,
                                                 config.epochs)(jnp.arange(config.epochs)))
  mesh = sharding.data_mesh()
  steps = make_steps(config, network, genotype, dataset, optimizer)
  start = time.perf_counter()
  state = sharding.replicate(
      initial_state(config, network, genotype, optimizer, dataset.image_shape), mesh)
  cost = costs.genotype_cost(genotype, config.network)
  trained_params = evalnet.count_params(state.train.params)
  print(f"network built: {arch_name}, {config.network} network C={network.channels},"
        f" {network.num_cells} cells, {trained_params:,} params ({host_loop.since(start)})",
        file=out)
  # Input is checked: the work directory is made now, and removed again if the run fails before
  # its first checkpoint.
  with files.removed_if_unused(workdir):
    files.output_dir(workdir, "work directory")
    checkpointer = checkpoints.StateCheckpointer(workdir)
    state, _ = checkpoints.resume_or_start(checkpointer, state, workdir, config,
                                          _RESUMABLE_CHANGES, out)
  step, epoch, position = (int(x) for x in jax.device_get(
      (state.train.step, state.epoch, state.position)))
  print(f"retrain: {arch_name} on {config.dataset} (the full-size {config.network} network:"
        f" {cost['params']:,} params, {cost['madds'] / 1e6:.1f} M MAdds), {config.epochs} epochs"
        f" of {epoch_steps} steps at batch {config.batch_size} on {jax.device_count()}"
        f" device(s); workdir {workdir}", file=out)
  loop = host_loop.Loop(checkpointer, workdir, step=step, total_steps=total_steps,
                        log_every=config.log_every_steps,
                        checkpoint_every=config.checkpoint_every_steps, postfix=_POSTFIX,
                        progress=config.progress, out=out)
  train_step = host_loop.compile_on_first_call(steps.train, "train step", loop.say)
  eval_step = host_loop.compile_on_first_call(steps.evaluate, "eval step", loop.say)

  train_batches = data.HostBatches(dataset.train, config.batch_size, config.seed,
                                   steps=epoch_steps)

  def step_fn(state, epoch, position):
    batch = sharding.global_batch(train_batches(epoch, position), mesh)
    drop_path = evalnet.drop_path_at(network, epoch, config.epochs)
    train, metrics = train_step(state.train, batch, state.rng,
                                jnp.asarray(drop_path, jnp.float32))
    state = state._replace(train=train, position=jnp.asarray(position + 1, jnp.int32))
    return state, {"train/loss": metrics["loss"],
                   "train/accuracy": metrics["correct"] / config.batch_size,
                   "train/grad_norm": metrics["grad_norm"],
                   "train/learning_rate": float(epoch_rates[epoch]),
                   "train/drop_path_prob": float(drop_path)}

  with loop, train_batches:
    try:
      while epoch < config.epochs:
        state = loop.run_epoch(state, epoch, position, epoch_steps, step_fn)
        start = time.perf_counter()
        result = evaluate(eval_step, state, dataset.test, config.eval_batch_size, mesh)
        best = max(float(state.best_accuracy), result["accuracy"])
        epoch, position = epoch + 1, 0
        state = sharding.replicate(state._replace(
            epoch=jnp.asarray(epoch, jnp.int32), position=jnp.asarray(0, jnp.int32),
            best_accuracy=jnp.asarray(best, jnp.float32),
            last_accuracy=jnp.asarray(result["accuracy"], jnp.float32)), mesh)
        loop.save(state)
        loop.writer.write_scalars(loop.step, {"test/accuracy": result["accuracy"],
                                              "test/loss": result["loss"]})
        loop.say(f"epoch {epoch}/{config.epochs}: test accuracy {result['accuracy']:.4f}"
                 f" (best {best:.4f}), test loss {result['loss']:.4f}"
                 f" ({len(dataset.test):,} images in {host_loop.since(start)})")
    finally:
      checkpointer.close()
  summary = {"arch": arch_name, "genotype": notation.genotype_to_json(genotype),
             "network": config.network, "dataset": config.dataset, "params": cost["params"],
             "madds": cost["madds"], "trained_params": trained_params, "epochs": config.epochs,
             "final_test_accuracy": float(state.last_accuracy),
             "best_test_accuracy": float(state.best_accuracy),
             "wall_time_s": round(time.time() - started, 1)}
  json_files.write_json(os.path.join(workdir, RESULT_FILE), summary)
  print(f"final test accuracy {summary['final_test_accuracy']:.4f} (best"
        f" {summary['best_test_accuracy']:.4f}); wrote {os.path.join(workdir, RESULT_FILE)}",
        file=out)
  return summary
