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
epoch end and on SIGTERM), TensorBoard event files, and retrain.json (see `run`).

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
import tensorboardX
import tqdm

from natjax import data, files, registry
from natjax.core import costs
from natjax.core.arch import Genotype
from natjax.errors import InputError, closest
from natjax.io import genotype_files, json_files, notation, reports
from natjax.nn import evalnet
from natjax.train import checkpoints, sharding

RESULT_FILE = reports.RESULT_FILE
CHECKPOINT_DIR = checkpoints.STATE_DIR
CONFIG_FILE = json_files.CONFIG_FILE
DATASET_NETWORKS = {"cifar10": "cifar", "digits": "cifar", "imagenet2012": "imagenet"}
# Config fields that may change when a run is resumed (they change logging, not results).
_RESUMABLE_CHANGES = frozenset({"checkpoint_every_steps", "log_every_steps", "progress",
                                "data_dir"})
_SYNC_EVERY = 10  # at most this many steps in flight (CPU collectives deadlock beyond ~60)


class RetrainError(RuntimeError):
  """The run stopped (a non-finite loss); the message says what was saved and what to do."""


class Preempted(RuntimeError):
  """SIGTERM arrived; the state was saved and the same command resumes the run."""


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
  """Cross-field checks, one clear line each (fields documented in configs/retrain_cifar10.py)."""
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


def evaluate(steps: Steps, state: RetrainState, source: data.Source, batch_size: int,
             mesh: Any) -> Dict[str, float]:
  """Test accuracy and mean loss over the whole split ({'accuracy', 'loss'})."""
  per_process = batch_size // jax.process_count()
  start = jax.process_index() * per_process
  totals = {"correct": 0, "loss": 0.0, "count": 0}
  pending = []
  for indices, mask in eval_batches(len(source), batch_size):
    local = data.batch(source, indices[start:start + per_process])
    local["mask"] = mask[start:start + per_process]
    pending.append(steps.evaluate(state.train, sharding.global_batch(local, mesh)))
    if len(pending) >= _SYNC_EVERY:
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


def run(config: Any, workdir: str, out: Any = None) -> Dict[str, Any]:
  """Retrains `config.arch` from scratch in `workdir` (resuming a run found there).

  Returns (and writes to WORKDIR/retrain.json): {'arch': display name, 'genotype': genotype JSON,
  'network': 'cifar' | 'imagenet', 'dataset', 'params' and 'madds': the cost model's figures for
  the genotype in the full-size `network` (`costs.genotype_cost`; the configured channels and
  cells may be smaller), 'trained_params': parameters of the network actually trained (aux head
  excluded), 'epochs', 'final_test_accuracy' (after the last epoch), 'best_test_accuracy' (best
  epoch), 'wall_time_s' (this invocation only: the one field that differs in a resumed run)}.

  Raises:
    InputError: a bad config, architecture or dataset, or a checkpoint that does not fit.
    RetrainError: a non-finite loss; the last good state was saved.
    Preempted: SIGTERM; the state was saved.
  """
  started = time.time()
  out = sys.stdout if out is None else out
  registry.import_modules(config.imports)
  validate_config(config)
  arch_name, genotype = genotype_files.resolve_arch(config.arch)
  workdir = files.check_output_dir(workdir, "work directory")  # absolute: orbax needs it
  dataset = data.load(config.dataset, config.data_dir, split_seed=config.split_seed,
                      image_size=config.image_size)
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
  mesh = sharding.data_mesh()
  steps = make_steps(config, network, genotype, dataset, optimizer)
  state = sharding.replicate(
      initial_state(config, network, genotype, optimizer, dataset.image_shape), mesh)
  # Input is checked: the work directory is made now, and removed again if the run fails before
  # its first checkpoint.
  with files.removed_if_unused(workdir):
    files.output_dir(workdir, "work directory")
    checkpointer = checkpoints.StateCheckpointer(workdir)
    state, _ = checkpoints.resume_or_start(checkpointer, state, workdir, config,
                                          _RESUMABLE_CHANGES, out)
  step, epoch, position = (int(x) for x in jax.device_get(
      (state.train.step, state.epoch, state.position)))
  cost = costs.genotype_cost(genotype, config.network)
  trained_params = evalnet.count_params(state.train.params)
  print(f"retrain: {arch_name} on {config.dataset}, {config.network} network C="
        f"{network.channels}, {network.num_cells} cells ({trained_params:,} params; the"
        f" full-size network: {cost['params']:,} params, {cost['madds'] / 1e6:.1f} M MAdds),"
        f" {config.epochs} epochs of {epoch_steps} steps at batch {config.batch_size} on"
        f" {jax.device_count()} device(s); workdir {workdir}", file=out)
  writer = tensorboardX.SummaryWriter(workdir) if jax.process_index() == 0 else None
  progress = tqdm.tqdm(total=total_steps, initial=step, unit="step", dynamic_ncols=True,
                       disable=not config.progress, file=sys.stderr)
  good = state  # The newest state whose every loss so far was finite.
  pending: List[Dict[str, jax.Array]] = []
  try:
    with checkpoints.Preemption() as preemption:
      while epoch < config.epochs:
        drop_path = jnp.asarray(evalnet.drop_path_at(network, epoch, config.epochs), jnp.float32)
        while position < epoch_steps:
          indices = data.batch_indices(len(dataset.train), config.batch_size, config.seed, epoch,
                                       position, jax.process_index(), jax.process_count())
          batch = sharding.global_batch(data.batch(dataset.train, indices, epoch), mesh)
          train, metrics = steps.train(state.train, batch, state.rng, drop_path)
          step, position = step + 1, position + 1
          state = state._replace(train=train, position=jnp.asarray(position, jnp.int32))
          pending.append(metrics)
          save = step % config.checkpoint_every_steps == 0 or preemption.requested
          log = step % config.log_every_steps == 0 or position == epoch_steps
          if len(pending) >= _SYNC_EVERY or save or log:
            good = _check_finite(pending, good, state, step, epoch, checkpointer)
            if log:
              last = jax.device_get(pending[-1])
              _log_train(writer, progress, last, step, epoch, epoch_steps, config, drop_path)
            pending = []
            progress.update(step - progress.n)
          if save:
            checkpointer.save(step, state)
          if preemption.requested:
            raise Preempted(f"SIGTERM: saved step {step} in {checkpointer.directory}; run the"
                            " same command to resume")
        result = evaluate(steps, state, dataset.test, config.eval_batch_size, mesh)
        best = max(float(state.best_accuracy), result["accuracy"])
        epoch, position = epoch + 1, 0
        state = sharding.replicate(state._replace(
            epoch=jnp.asarray(epoch, jnp.int32), position=jnp.asarray(0, jnp.int32),
            best_accuracy=jnp.asarray(best, jnp.float32),
            last_accuracy=jnp.asarray(result["accuracy"], jnp.float32)), mesh)
        good = state
        checkpointer.save(step, state)
        if writer is not None:
          writer.add_scalar("test/accuracy", result["accuracy"], step)
          writer.add_scalar("test/loss", result["loss"], step)
          writer.flush()
        progress.write(f"epoch {epoch}/{config.epochs}: test accuracy {result['accuracy']:.4f}"
                       f" (best {best:.4f}), test loss {result['loss']:.4f}", file=out)
  finally:
    progress.close()
    checkpointer.close()
    if writer is not None:
      writer.close()
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


def _check_finite(pending: List[Dict[str, jax.Array]], good: RetrainState, state: RetrainState,
                  step: int, epoch: int, checkpointer: Any) -> RetrainState:
  """Returns `state` when every pending loss and gradient norm is finite; otherwise saves `good`
  (the state after the previous check) and raises RetrainError."""
  values = jax.device_get([(m["loss"], m["grad_norm"]) for m in pending])
  for offset, (loss, grad_norm) in enumerate(values):
    if not (np.isfinite(loss) and np.isfinite(grad_norm)):
      bad_step = step - len(values) + offset + 1
      good_step = int(jax.device_get(good.train.step))
      checkpointer.save(good_step, good)
      what = "loss" if not np.isfinite(loss) else "gradient norm"
      raise RetrainError(
          f"the {what} became {loss if what == 'loss' else grad_norm} at step {bad_step} (epoch"
          f" {epoch}); saved the last good state (step {good_step}) in"
          f" {checkpointer.directory}: lower config.learning_rate and start a new --workdir, or"
          " rerun to resume from it")
  return state


def _log_train(writer: Any, progress: Any, metrics: Dict[str, Any], step: int, epoch: int,
               epoch_steps: int, config: Any, drop_path: jax.Array) -> None:
  """Training scalars of the newest step to TensorBoard and the progress bar."""
  batch = config.batch_size
  values = {"train/loss": float(metrics["loss"]),
            "train/accuracy": float(metrics["correct"]) / batch,
            "train/grad_norm": float(metrics["grad_norm"]),
            "train/learning_rate": float(evalnet.make_schedule(
                config.learning_rate, config.lr_min, config.epochs, epoch_steps)(step - 1)),
            "train/drop_path_prob": float(drop_path)}
  if writer is not None:
    for k, v in values.items():
      writer.add_scalar(k, v, step)
  progress.set_postfix({"epoch": epoch, "loss": f"{values['train/loss']:.3g}",
                        "acc": f"{values['train/accuracy']:.3f}"}, refresh=False)
