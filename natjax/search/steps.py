"""The search's steps: alternating supernet (w) and policy (theta) training (spec sections 2.3, 7).

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
              held-out check (`natjax.search.derive`).

The two training steps are pure functions `step(setup, state, batch) -> (state, metrics)`: all
randomness is `fold_in(state key, state.step)` and the baseline, counters and keys live in
`SearchState`, so a run restored from a checkpoint replays exactly. `make_steps` wraps the steps
for a device mesh (`natjax.train.sharding`). `natjax.search.loop.run(config, workdir)` is the thin
host loop around them: it feeds batches, logs, checkpoints and derives; nothing there changes what
a step computes.

Baseline (spec 2.3 item 7): the default is the textbook one, A = r - b, b <- g b + (1 - g) r.
`released_baseline=True` reproduces the released code: A = r - b unless b == 0 (then A = r), and
b <- g b + (1 - g) A, which settles near E[r] / 2.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from natjax import data
from natjax.core import costs, rules, sampler, spaces
from natjax.core.arch import Arch, Cell
from natjax.kernels.varying import vary_like
from natjax.nn import policy, supernet
from natjax.train import sharding

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
  rule: rules.Rule
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
  """The static half of a search from its config (fields documented in configs/default.py).

  The kernel form is resolved here, once (`impl='auto'`: 'shift' on CPU, 'lax' on GPU/TPU;
  `setup.supernet.impl` holds the form in use), and a config without `compute_dtype` (one saved
  before it existed) computes in float32.
  """
  space = spaces.get_space(config.space)
  rule = rules.get_rule(config.rule)
  net = supernet.SupernetConfig(space=config.space, channels=config.channels,
                                num_cells=config.num_cells, num_classes=dataset.num_classes,
                                impl=config.impl, stem_multiplier=config.stem_multiplier,
                                axis_name=sharding.AXIS,
                                compute_dtype=config.get("compute_dtype", "float32"))
  return Setup(
      supernet=net, space=space, rule=rule,
      policy=policy.for_rule(rule, space, released_quirk=config.released_quirk),
      w_optimizer=w_optimizer(config.w_lr, config.w_momentum, config.w_weight_decay),
      theta_optimizer=theta_optimizer(config.theta_lr, config.theta_b1, config.theta_b2,
                                      config.theta_weight_decay),
      mean=np.asarray(dataset.mean, np.float32), std=np.asarray(dataset.std, np.float32),
      crop_padding=int(dataset.crop_padding), flip=bool(dataset.flip),
      entropy_coef=float(config.entropy_coef), baseline_decay=float(config.baseline_decay),
      released_baseline=bool(config.released_baseline),
      cost_penalty=float(config.cost_penalty), cost_measure=config.cost_measure)


def init_state(key: jax.Array, setup: Setup, image_shape: Tuple[int, int, int]) -> SearchState:
  """A fresh search state: new supernet and policy weights, zero baseline, step 0.

  The supernet's weights are drawn by one compiled program (`supernet.init_supernet`) and its
  optimiser state made by another (made eagerly, leaf by leaf, it compiles once per leaf shape).
  """
  w_key, theta_key, run_key = jax.random.split(key, 3)
  w_params = supernet.init_supernet(w_key, setup.supernet, (1,) + tuple(image_shape))
  theta_params = setup.policy.init(theta_key)
  zero = lambda: jnp.zeros((), jnp.int32)  # distinct buffers: the state is donated
  return SearchState(step=zero(), epoch=zero(), position=zero(),
                     w_params=w_params, w_opt_state=jax.jit(setup.w_optimizer.init)(w_params),
                     theta_params=theta_params,
                     theta_opt_state=setup.theta_optimizer.init(theta_params),
                     baseline=jnp.zeros((), jnp.float32), rng=jax.random.key_data(run_key))


# ----------------------------------------------------------------------------------------------
# Per-device pieces, run inside a `jax.shard_map` over the 'data' axis (`sharding.AXIS`): losses,
# metrics and BatchNorm statistics (`SupernetConfig.axis_name`) are averaged over it. `make_steps`
# wraps them with `sharding.shard_step`; a plain `jax.shard_map` gives the same numbers.


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
  alpha = sampler.sample_arch(arch_key, setup.space)
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
  alpha = sampler.sample_arch(arch_key, setup.space)
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
    eval_set: this device's rows of `natjax.search.loop.eval_set(...)`: 'image'
      uint8[B_local, nb, H, W, C], 'label' int32[B_local, nb], 'weight' f32[B_local, nb] (1 for
      an example, 0 for a padding row).
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
    zero = vary_like(jnp.zeros((), jnp.float32), eval_set["weight"])
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
