"""The search: alternating supernet (w) and policy (theta) training (spec sections 2.3, 7, 8).

Each epoch is one pass of w-steps over the w split (40 % of the training set), then one pass of
theta-steps over the theta split (60 %), as released; epochs before `theta_start_epoch` (the
released `--controller_start_training`, 0 in the released settings) skip the theta pass:

  w_step      a fresh uniform architecture alpha, cross entropy of the supernet on alpha, SGD with
              momentum and coupled weight decay.
  theta_step  alpha uniform, beta ~ pi(. | alpha) cell by cell; reward r = acc(beta) - acc(alpha)
              on the same batch (BatchNorm on batch statistics), optionally minus
              cost_penalty * (cost(beta) / cost(alpha) - 1); REINFORCE with a moving-average
              baseline and an entropy bonus, Adam with coupled weight decay.
  score_archs shared-weight accuracy of many architectures on a fixed evaluation set (a whole
              split), one after another inside one compiled function: derivation and the
              held-out check (`natjax.derive`).

The two training steps are pure functions `step(setup, state, batch) -> (state, metrics)`: all
randomness is `fold_in(state key, state.step)` and the baseline, counters and keys live in
`SearchState`, so a run restored from a checkpoint replays exactly. `make_steps` wraps the steps
for a device mesh (`natjax.sharding`). `run(config, workdir)` is the thin host loop around them:
it feeds batches, logs, checkpoints and derives (`natjax.derive`); nothing there changes what a
step computes.

Baseline (spec 2.3 item 7): the default is the textbook one, A = r - b, b <- g b + (1 - g) r.
`released_baseline=True` reproduces the released code: A = r - b unless b == 0 (then A = r), and
b <- g b + (1 - g) A, which settles near E[r] / 2.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import os
import sys
from typing import Any, Callable, Dict, List, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tensorboardX
import tqdm

from natjax import arch as arch_lib
from natjax import (checkpoint, costs, data, derive, kernels, policy, sharding, spaces, supernet,
                    transform, transitions, viz)
from natjax.arch import Arch, Cell
from natjax.errors import InputError, closest

Metrics = Dict[str, jax.Array]


class SearchState(NamedTuple):
  """Everything a search needs to continue exactly where it stopped (saved whole by orbax).

  Attributes:
    step: int32[] steps taken so far (w and theta steps).
    epoch: int32[] the current epoch.
    position: int32[] steps taken in the current epoch (its w-steps come first).
    w_params, w_opt_state: supernet weights and their SGD state.
    theta_params, theta_opt_state: policy weights and their Adam state.
    baseline: f32[] the REINFORCE baseline.
    rng: uint32[2] raw data of the run's PRNG key (step keys are fold_in(rng, step)).
  """
  step: Any
  epoch: Any
  position: Any
  w_params: Any
  w_opt_state: Any
  theta_params: Any
  theta_opt_state: Any
  baseline: Any
  rng: Any


@dataclasses.dataclass(frozen=True, eq=False)
class Setup:
  """What the steps are compiled for (static): networks, rule, optimisers and data settings."""
  supernet: supernet.SupernetConfig
  space: spaces.SearchSpace
  rule: transitions.Rule
  policy: policy.Policy
  w_optimizer: optax.GradientTransformation
  theta_optimizer: optax.GradientTransformation
  mean: np.ndarray
  std: np.ndarray
  crop_padding: int
  flip: bool
  entropy_coef: float
  baseline_decay: float
  released_baseline: bool
  cost_penalty: float
  cost_measure: str


def w_optimizer(learning_rate: float, momentum: float,
                weight_decay: float) -> optax.GradientTransformation:
  """SGD with momentum and PyTorch-style coupled weight decay (spec 13)."""
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.sgd(learning_rate, momentum=momentum))


def theta_optimizer(learning_rate: float, b1: float, b2: float,
                    weight_decay: float) -> optax.GradientTransformation:
  """Adam with the decay added to the gradient before the moments (not AdamW; spec 13)."""
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.scale_by_adam(b1=b1, b2=b2, eps=1e-8),
                     optax.scale(-learning_rate))


def make_setup(config: Any, dataset: data.Dataset) -> Setup:
  """The static half of a search from its config (fields documented in configs/default.py)."""
  space = spaces.get_space(config.space)
  rule = transitions.get_rule(config.rule)
  net = supernet.SupernetConfig(space=config.space, channels=config.channels,
                                num_cells=config.num_cells, num_classes=dataset.num_classes,
                                impl=config.impl, stem_multiplier=config.stem_multiplier)
  return Setup(
      supernet=net, space=space, rule=rule,
      policy=transform.transform_policy(rule, space, released_quirk=config.released_quirk),
      w_optimizer=w_optimizer(config.w_lr, config.w_momentum, config.w_weight_decay),
      theta_optimizer=theta_optimizer(config.theta_lr, config.theta_b1, config.theta_b2,
                                      config.theta_weight_decay),
      mean=np.asarray(dataset.mean, np.float32), std=np.asarray(dataset.std, np.float32),
      crop_padding=int(dataset.crop_padding), flip=bool(dataset.flip),
      entropy_coef=float(config.entropy_coef), baseline_decay=float(config.baseline_decay),
      released_baseline=bool(config.released_baseline),
      cost_penalty=float(config.cost_penalty), cost_measure=config.cost_measure)


def init_state(key: jax.Array, setup: Setup, image_shape: Tuple[int, int, int]) -> SearchState:
  """A fresh search state: new supernet and policy weights, zero baseline, step 0."""
  w_key, theta_key, run_key = jax.random.split(key, 3)
  w_params = supernet.init_supernet(w_key, setup.supernet, (1,) + tuple(image_shape))
  theta_params = setup.policy.init(theta_key)
  zero = lambda: jnp.zeros((), jnp.int32)  # distinct buffers: the state is donated
  return SearchState(step=zero(), epoch=zero(), position=zero(),
                     w_params=w_params, w_opt_state=setup.w_optimizer.init(w_params),
                     theta_params=theta_params,
                     theta_opt_state=setup.theta_optimizer.init(theta_params),
                     baseline=jnp.zeros((), jnp.float32), rng=jax.random.key_data(run_key))


# ----------------------------------------------------------------------------------------------
# Per-device pieces (run inside `sharding.shard_step`).


def step_keys(state: SearchState, num: int) -> jax.Array:
  """`num` independent keys for this step: fold_in(run key, step), split."""
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  return jax.random.split(key, num)


def prepare_images(setup: Setup, key: jax.Array, images: jax.Array, train: bool) -> jax.Array:
  """uint8[B_local, H, W, C] -> normalised f32, randomly cropped and flipped when `train`.

  The crops and flips are drawn for the whole global batch and sliced, so an example's
  augmentation does not depend on how many devices share the batch.
  """
  x = images.astype(jnp.float32)
  if train and (setup.crop_padding > 0 or setup.flip):
    num_local = images.shape[0]
    offsets, flips = data.augment_params(key, num_local * sharding.num_shards(),
                                         setup.crop_padding, setup.flip)
    x = data.crop_and_flip(x, sharding.local_rows(offsets, num_local),
                           sharding.local_rows(flips, num_local), setup.crop_padding)
  return data.normalize(x, setup.mean, setup.std)


def _global_mean(value: jax.Array) -> jax.Array:
  return jax.lax.pmean(value, sharding.AXIS)


def accuracy(setup: Setup, w_params: Any, x: jax.Array, labels: jax.Array,
             arch: Arch) -> jax.Array:
  """f32[] top-1 accuracy of the supernet on `arch` over the global batch (batch statistics)."""
  logits = supernet.apply_supernet(w_params, x, arch, setup.supernet)
  return _global_mean(jnp.mean((jnp.argmax(logits, -1) == labels).astype(jnp.float32)))


def w_step(setup: Setup, state: SearchState, batch: Dict[str, jax.Array]
           ) -> Tuple[SearchState, Metrics]:
  """One supernet step on a fresh uniform architecture (spec 7)."""
  arch_key, aug_key = step_keys(state, 2)
  alpha = spaces.sample_arch(arch_key, setup.space)
  x = prepare_images(setup, aug_key, batch["image"], train=True)

  def loss_fn(params):
    logits = supernet.apply_supernet(params, x, alpha, setup.supernet)
    loss = _global_mean(supernet.softmax_cross_entropy(logits, batch["label"]))
    correct = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
    return loss, _global_mean(correct)

  (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.w_params)
  updates, w_opt_state = setup.w_optimizer.update(grads, state.w_opt_state, state.w_params)
  state = state._replace(step=state.step + 1, position=state.position + 1,
                         w_params=optax.apply_updates(state.w_params, updates),
                         w_opt_state=w_opt_state)
  return state, {"w_loss": loss, "w_accuracy": acc}


def _cost(setup: Setup, arch: Arch) -> jax.Array:
  params, madds = costs.network_cost(arch, setup.space)
  return (madds if setup.cost_measure == "madds" else params).astype(jnp.float32)


def transform_arch(setup: Setup, theta_params: Any, alpha: Arch, key: jax.Array
                   ) -> Tuple[Arch, jax.Array, jax.Array]:
  """beta ~ pi(. | alpha), cell by cell (same GCN, separate calls).

  Returns:
    (beta, log pi(beta | alpha) f32[] summed over both cells, entropy f32[2] normal and reduce).
  """
  cells, log_prob, ent = [], 0.0, []
  for cell, cell_key in zip(alpha, jax.random.split(key)):
    dist = setup.policy.distribution(theta_params, cell)
    action, new_op = dist.sample(cell_key)
    cells.append(Cell(new_op, cell.src, cell.concat))
    log_prob = log_prob + dist.log_prob(action)
    ent.append(dist.entropy())
  return Arch(*cells), log_prob, jnp.stack(ent)


def reward(setup: Setup, acc_alpha: jax.Array, acc_beta: jax.Array, alpha: Arch,
           beta: Arch) -> jax.Array:
  """acc(beta) - acc(alpha), minus cost_penalty * (cost(beta) / cost(alpha) - 1) if enabled."""
  r = acc_beta - acc_alpha
  if setup.cost_penalty:
    r = r - setup.cost_penalty * (_cost(setup, beta) / _cost(setup, alpha) - 1.0)
  return r


def advantage_and_baseline(setup: Setup, r: jax.Array, baseline: jax.Array
                           ) -> Tuple[jax.Array, jax.Array]:
  """(advantage, next baseline) under the textbook or the released rule (module docstring)."""
  g = setup.baseline_decay
  if setup.released_baseline:
    adv = jnp.where(baseline == 0, r, r - baseline)
    return adv, g * baseline + (1 - g) * adv
  return r - baseline, g * baseline + (1 - g) * r


def theta_step(setup: Setup, state: SearchState, batch: Dict[str, jax.Array]
               ) -> Tuple[SearchState, Metrics]:
  """One REINFORCE step of the policy (spec 2.3): m = n = 1, one baseline for both cells."""
  arch_key, policy_key, aug_key = step_keys(state, 3)
  alpha = spaces.sample_arch(arch_key, setup.space)
  x = prepare_images(setup, aug_key, batch["image"], train=True)
  acc_alpha = accuracy(setup, state.w_params, x, batch["label"], alpha)

  def loss_fn(theta_params):
    beta, log_prob, ent = transform_arch(setup, theta_params, alpha, policy_key)
    acc_beta = accuracy(setup, jax.lax.stop_gradient(state.w_params), x, batch["label"], beta)
    r = jax.lax.stop_gradient(reward(setup, acc_alpha, acc_beta, alpha, beta))
    adv, _ = advantage_and_baseline(setup, r, state.baseline)
    loss = -log_prob * adv - setup.entropy_coef * jnp.sum(ent)
    return loss, (r, acc_beta, ent)

  (loss, (r, acc_beta, ent)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.theta_params)
  updates, theta_opt_state = setup.theta_optimizer.update(grads, state.theta_opt_state,
                                                          state.theta_params)
  _, baseline = advantage_and_baseline(setup, r, state.baseline)
  state = state._replace(step=state.step + 1, position=state.position + 1,
                         theta_params=optax.apply_updates(state.theta_params, updates),
                         theta_opt_state=theta_opt_state, baseline=baseline)
  return state, {"theta_loss": loss, "reward": r, "acc_alpha": acc_alpha, "acc_beta": acc_beta,
                 "baseline": baseline, "entropy": jnp.sum(ent)}


def score_archs(setup: Setup, w_params: Any, eval_set: Dict[str, jax.Array], archs: Arch,
                count: jax.Array, num_batches: jax.Array) -> jax.Array:
  """Shared-weight accuracy of up to A architectures on a fixed evaluation set (no augmentation).

  The architectures run one after another (a loop inside the compiled function, never a vmap
  through the supernet: design.md), each over the set's batches in turn, BatchNorm on each
  batch's statistics. The counts are dynamic, so one compiled function serves any number of
  architectures up to A and any set of the same allocated shape (the theta split for derivation
  and the test split for the held-out check share one compile when padded to the same size).

  Args:
    eval_set: this device's rows of `eval_set(...)`: 'image' uint8[B_local, nb, H, W, C], 'label'
      int32[B_local, nb], 'weight' f32[B_local, nb] (1 for an example, 0 for a padding row).
    archs: Arch with leaves [A, ...].
    count: int32[] how many of the A architectures to score.
    num_batches: int32[] how many of the nb batches hold examples (the rest are padding).

  Returns:
    f32[A]: weighted accuracy over the set's examples (each counted once), 0 beyond `count`.
  """
  batches = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), eval_set)  # [nb, B_local, ...]
  total = jax.lax.psum(jnp.sum(eval_set["weight"]), sharding.AXIS)

  def correct_on(arch, b, correct):
    batch = jax.tree.map(lambda a: a[b], batches)
    x = prepare_images(setup, None, batch["image"], train=False)
    logits = supernet.apply_supernet(w_params, x, arch, setup.supernet)
    hit = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    return correct + jnp.sum(hit * batch["weight"])

  def one(i, out):
    arch = jax.tree.map(lambda a: a[i], archs)
    zero = kernels.vary_like(jnp.zeros((), jnp.float32), eval_set["weight"])
    correct = jax.lax.fori_loop(0, num_batches, functools.partial(correct_on, arch), zero)
    return out.at[i].set(jax.lax.psum(correct, sharding.AXIS) / total)

  num = archs.normal.op.shape[0]
  return jax.lax.fori_loop(0, count, one, jnp.zeros((num,), jnp.float32))


class Steps(NamedTuple):
  """The compiled steps of one search: w_step, theta_step (state, batch) -> (state, metrics)
  and score_archs(w_params, eval_set, archs, count, num_batches) -> f32[A]."""
  w_step: Callable
  theta_step: Callable
  score_archs: Callable


def make_steps(setup: Setup, mesh: Any) -> Steps:
  """The steps jitted over a device mesh (batches split over 'data', the rest replicated).

  The state is donated: after a step, only the returned state is valid.
  """
  bind = lambda fn: (lambda *args: fn(setup, *args))
  return Steps(
      w_step=sharding.shard_step(bind(w_step), mesh, batch_argnums=(1,), donate_argnums=(0,)),
      theta_step=sharding.shard_step(bind(theta_step), mesh, batch_argnums=(1,),
                                     donate_argnums=(0,)),
      score_archs=sharding.shard_step(bind(score_archs), mesh, batch_argnums=(1,)))


# ----------------------------------------------------------------------------------------------
# The host loop: feeds batches, logs, saves, derives. Nothing here changes what a step computes.

SUMMARY_FILE = "summary.json"
DERIVED_FILE = "derived.json"
CONFIG_FILE = checkpoint.CONFIG_FILE
# Fields that may differ when a run is resumed (they change logging, not results).
_RESUMABLE_CHANGES = frozenset({"log_every", "checkpoint_every", "checkpoint_epoch_end",
                                "progress"})


class SearchError(RuntimeError):
  """The search stopped (non-finite values); the message says what happened and how to resume."""


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
  """Fixed scoring batches of one split, sharded for `score_archs`.

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
  local = data.batch(source, local_indices.reshape(-1))
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
    name, genotype = arch_lib.resolve_arch(name_or_file)
    arch_lib.genotype_to_arch(genotype, space, f"config.derive_archs: {name}: ")
    inputs.append((name, genotype))
  return inputs


def validate_config(config: Any) -> None:
  """Cross-field checks, one clear line each (fields in configs/default.py)."""
  if config.space not in spaces.registered_spaces():
    raise InputError(f"config.space: unknown space '{config.space}'"
                     f"{closest(config.space, spaces.registered_spaces())}")
  for field in ("batch_size", "eval_batch_size"):
    if config[field] % jax.device_count():
      raise InputError(f"config.{field}={config[field]} is not divisible by the"
                       f" {jax.device_count()} devices")
  for field in ("epochs", "channels", "num_cells", "derive_samples"):
    if int(config[field]) < 1:
      raise InputError(f"config.{field} must be >= 1, got {config[field]}")
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


class _MetricWriter:
  """TensorBoard scalars from the first host (tensorboardX: no TensorFlow needed)."""

  def __init__(self, logdir: str):
    self._writer = tensorboardX.SummaryWriter(logdir) if jax.process_index() == 0 else None

  def write_scalars(self, step: int, values: Dict[str, float]) -> None:
    if self._writer is not None:
      for name, value in values.items():
        self._writer.add_scalar(name, value, step)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


def _batch_for(dataset: data.Dataset, config: Any, epoch: int, position: int, w_steps: int,
               mesh: Any) -> Any:
  """The global batch of step `position` of `epoch` (w split first, then theta)."""
  split, step = (dataset.w, position) if position < w_steps else (dataset.theta,
                                                                  position - w_steps)
  indices = data.batch_indices(len(split), config.batch_size, config.seed, epoch, step,
                               jax.process_index(), jax.process_count())
  return sharding.global_batch(data.batch(split, indices), mesh)


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
    changes = derive.changed_edges(arch_lib.genotype_from_json(before),
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
  for module in config.imports:
    importlib.import_module(module)
  validate_config(config)
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  dataset = data.load(config.dataset, config.data_dir, split_seed=config.split_seed,
                      w_fraction=config.w_fraction)
  setup = make_setup(config, dataset)
  derive_inputs = _derive_inputs(config, setup.space)
  mesh = sharding.data_mesh()
  steps = make_steps(setup, mesh)
  w_steps = data.steps_per_epoch(len(dataset.w), config.batch_size)
  theta_steps = data.steps_per_epoch(len(dataset.theta), config.batch_size)
  smallest = min(len(dataset.w), len(dataset.theta), len(dataset.test))
  if config.batch_size > smallest:
    raise InputError(f"config.batch_size={config.batch_size} is larger than the smallest split of"
                     f" '{config.dataset}' ({smallest} examples: w {len(dataset.w)}, theta"
                     f" {len(dataset.theta)}, test {len(dataset.test)})")
  total_steps = sum(epoch_length(config, e, w_steps, theta_steps) for e in range(config.epochs))

  key = jax.random.key(config.seed)
  state = sharding.replicate(init_state(jax.random.fold_in(key, 0), setup, dataset.image_shape),
                             mesh)
  checkpointer = checkpoint.StateCheckpointer(workdir)
  state, resumed = checkpoint.resume_or_start(checkpointer, state, workdir, config,
                                              _RESUMABLE_CHANGES, out)
  if not resumed:
    checkpointer.save(0, state)
  step, epoch, position = (int(x) for x in jax.device_get((state.step, state.epoch,
                                                            state.position)))
  sets = scoring_sets(config, dataset, mesh)
  writer = _MetricWriter(os.path.join(workdir, "tensorboard"))
  progress = tqdm.tqdm(total=total_steps, initial=step, unit="step", dynamic_ncols=True,
                       disable=not config.progress, file=sys.stderr)
  print(f"search: {config.dataset}, space {config.space}, rule {config.rule}, {config.epochs}"
        f" epochs of {w_steps} w-steps + {theta_steps} theta-steps, global batch"
        f" {config.batch_size} on {jax.device_count()} device(s); workdir {workdir}", file=out)
  sync_every = min(config.log_every, 10)  # CPU collectives deadlock if too many are in flight
  try:
    with checkpoint.Preemption() as preemption:
      while epoch < config.epochs:
        epoch_steps = epoch_length(config, epoch, w_steps, theta_steps)
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
        if config.checkpoint_epoch_end or epoch == config.epochs:
          checkpointer.save(step, state)
        if config.derive_every and epoch % config.derive_every == 0 and epoch < config.epochs:
          scorer = derive.Scorer(steps.score_archs, state.w_params, sets["derive"])
          entries = derive.derive(setup, scorer, state.theta_params, derive_inputs,
                                  jax.random.fold_in(key, 1_000_000 + epoch),
                                  config.derive_samples)
          checkpoint.write_json(os.path.join(workdir, f"derived_epoch{epoch}.json"), entries)
  finally:
    progress.close()
    writer.close()
  return finish(config, workdir, setup, steps, state, derive_inputs, sets, key, out)


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
  the run, e.g. bench/nat_claim.py).

  Raises:
    InputError: no config.json or checkpoint in `workdir`, or a checkpoint that does not fit.
  """
  workdir = os.path.abspath(workdir)
  path = os.path.join(workdir, CONFIG_FILE)
  try:
    with open(path, encoding="utf-8") as f:
      config = ml_collections.ConfigDict(json.load(f))
  except (OSError, ValueError) as e:
    raise InputError(f"{path}: cannot read the config of a natjax search ({e})") from None
  for module in config.imports:
    importlib.import_module(module)
  dataset = data.load(config.dataset, config.data_dir, split_seed=config.split_seed,
                      w_fraction=config.w_fraction)
  setup = make_setup(config, dataset)
  mesh = sharding.data_mesh()
  steps = make_steps(setup, mesh)
  checkpointer = checkpoint.StateCheckpointer(workdir)
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
  derive_scorer = derive.Scorer(steps.score_archs, state.w_params, sets["derive"])
  entries = derive.derive(setup, derive_scorer, state.theta_params, derive_inputs,
                          jax.random.fold_in(key, 1), config.derive_samples)
  checkpoint.write_json(os.path.join(workdir, DERIVED_FILE), entries)
  for e in entries if jax.process_index() == 0 else ():
    viz.draw_transformation(arch_lib.genotype_from_json(e["input"]), derive.output_genotype(e),
                            os.path.join(workdir, f"{e['name']}.svg"),
                            title=f"{e['name']} under {setup.rule.name}")
  held_out_scorer = derive.Scorer(steps.score_archs, state.w_params, sets["held_out"])
  held_out, _ = derive.evaluate_policy(setup, held_out_scorer, state.theta_params,
                                       jax.random.fold_in(key, 2), config.eval_archs)
  if jax.process_index() == 0:
    checkpoint.save_policy(os.path.join(workdir, checkpoint.WORKDIR_POLICY),
                           jax.device_get(state.theta_params), space=setup.space,
                           rule=setup.rule, released_quirk=setup.policy.released_quirk)
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
  checkpoint.write_json(os.path.join(workdir, SUMMARY_FILE), summary)
  _print_derived(entries, sets["derive"].num_examples, out)
  print("\n" + derive.format_held_out({**held_out, **timing}), file=out)
  print(f"wrote {os.path.join(workdir, DERIVED_FILE)}, {os.path.join(workdir, SUMMARY_FILE)}",
        file=out)
  return summary
