"""Stand-alone evaluation networks: one fixed genotype, retrained from scratch (spec section 9).

Unlike the supernet, the architecture here is Python structure: the genotype's op names are read at
trace time and every edge builds only its own op, with its own weights (two edges running the same
op hold two weight sets). One compile per architecture. Layout (DARTS macro-architecture):

  CIFAR     stem   conv 3x3 (3 -> 3C) -> BN
  ImageNet  stem0  conv 3x3/2 (3 -> C/2) -> BN -> ReLU -> conv 3x3/2 (C/2 -> C) -> BN
            stem1  ReLU -> conv 3x3/2 (C -> C) -> BN           (on stem0's output)
  cells     `num_cells` cells; reduction cells at num_cells//3 and 2*num_cells//3 double C and
            halve the resolution. The first cell reads (stem, stem) on CIFAR and (stem0, stem1) on
            ImageNet, where stem0 is at twice stem1's resolution, so that cell treats its s0 as
            following a reduction. Preprocessing: s0 -> FactorizedReduce(C_pp -> C) after a
            reduction, else ReLU-conv1x1-BN; s1 -> ReLU-conv1x1-BN. Edge ops are those of spec
            section 3.4 with AFFINE BN and no BN after pools; stride 2 on edges leaving nodes 0/1 of
            a reduction cell. Node = sum of its two edges; cell output = channel concat of the
            genotype's own concat list, so a cell emits len(concat) * C channels.
  head      global average pool -> Linear(C_last -> classes), with bias.
  aux       on the output of cell 2*num_cells//3, in training only: ReLU -> avg pool 5x5 (no
            padding; stride 3 on CIFAR, 2 on ImageNet) -> conv1x1 (-> 128) -> BN -> ReLU ->
            conv 2x2 (-> 768) -> BN (CIFAR only: the ImageNet head of the reference has none) ->
            ReLU -> (global average of the 1x1 map) -> Linear(768 -> classes). Excluded from the parameter count (spec section 10);
            its loss weight (0.4) is applied by `classification_loss`, not here.

Drop-path (training only): every edge output except identity skips (and null edges, which are
zero anyway) is multiplied per example by Bernoulli(1 - p) / (1 - p), from an explicit key.

Batch norm follows PyTorch: training normalises with the batch mean and biased variance and moves
the running statistics by `bn_momentum` (PyTorch convention: running = (1 - m) * running + m *
batch, m = 0.1, with the UNBIASED batch variance); evaluation normalises with the running
statistics. Parameters and running statistics are two separate pytrees:

  params       {'stem': ..., 'cells': (one dict per cell: {'pre0', 'pre1', 'edges': (one per
               edge)}), 'head': {'w': f32[C_last, classes], 'b': f32[classes]}, 'aux': ...}
               ('aux' only with `auxiliary`). A conv+BN unit is {'w' (HWIO, or [Cin, Cout] for
               the 1x1 convs of FactorizedReduce 'w1'/'w2', depthwise 'dw' [k, k, C] +
               pointwise 'pw' [C, C]), 'scale': f32[C], 'bias': f32[C]}; a sep_conv edge is
               {'block1': unit, 'block2': unit}; pools, identity and null edges are {}.
  batch_stats  the same nesting down to each unit, which holds {'mean': f32[C], 'var': f32[C]}
               instead (no 'head'; ops without BN are {}).

`count_params(params)` equals `natjax.core.costs.genotype_cost(genotype, network)['params']` for the
default configs (`config_for`).

The training pieces below (`classification_loss`, `make_optimizer`, `train_step`, `eval_step`)
are pure functions; the loop, data and checkpoints live elsewhere.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from natjax.core import costs, families, ops, plan
from natjax.core.arch import Genotype, make_genotype
from natjax.core.plan import CellLayout
from natjax.errors import InputError, closest
from natjax.kernels import conv, units, windows
from natjax.kernels.initializers import linear_weight, materialize_pooled
from natjax.kernels.norm import RunningStats

Params = Dict[str, Any]
NETWORKS = ("cifar", "imagenet")
AUX_CHANNELS = (128, 768)  # Widths of the aux head's two convs.


# ----------------------------------------------------------------------------------------------
# Configuration.


@dataclasses.dataclass(frozen=True)
class EvalNetConfig:
  """Static description of a stand-alone network (hashable: close over it or mark it static).

  Attributes:
    network: 'cifar' (32x32 input, one-conv stem) or 'imagenet' (224x224, two-stage stem).
    channels: C of the first cells (36 CIFAR, 48 ImageNet); must be even (FactorizedReduce).
    num_cells: number of cells (20 CIFAR, 14 ImageNet); reductions at n//3 and 2n//3.
    num_classes: classifier outputs.
    auxiliary: whether to build the auxiliary head (after cell 2*num_cells//3, training only).
    drop_path_prob: the final drop-path probability; `apply` takes the value actually used, so
      a schedule can ramp it (see `drop_path_at`).
    impl: kernel implementation, 'shift' (CPU) or 'lax' (GPU/TPU); 'auto' is resolved to the one
      that suits the backend when the config is made (`windows.resolve_impl`).
    bn_momentum: PyTorch convention: running = (1 - m) * running + m * batch statistic.
    bn_eps: added to the variance before the square root.
    axis_name: the mesh axis BN averages its batch statistics over when the network runs inside
      `jax.shard_map` over a data axis; None when it runs on one device or under plain jit (XLA
      then computes the statistics of the whole, possibly sharded, batch).
  """
  network: str = "cifar"
  channels: int = 36
  num_cells: int = 20
  num_classes: int = 10
  auxiliary: bool = True
  drop_path_prob: float = 0.2
  impl: str = "auto"
  bn_momentum: float = 0.1
  bn_eps: float = 1e-5
  axis_name: Optional[str] = None

  def __post_init__(self):
    if self.network not in NETWORKS:
      raise InputError(f"EvalNetConfig.network: unknown network '{self.network}'"
                       f"{closest(self.network, NETWORKS)}; networks are {', '.join(NETWORKS)}")
    if self.impl not in windows.CHOICES:
      raise InputError(f"EvalNetConfig.impl: unknown kernel impl '{self.impl}'"
                       f"{closest(self.impl, windows.CHOICES)}; choose one of"
                       f" {', '.join(windows.CHOICES)}")
    object.__setattr__(self, "impl", windows.resolve_impl(self.impl))
    min_channels = 4 if self.network == "imagenet" else 2
    if self.channels < min_channels or self.channels % 2:
      raise InputError(f"EvalNetConfig.channels: must be an even number >= {min_channels}"
                       f" (FactorizedReduce halves it), got {self.channels}")
    if self.num_cells < 1 or self.num_classes < 1:
      raise InputError(f"EvalNetConfig: num_cells and num_classes must be >= 1, got"
                       f" {self.num_cells} and {self.num_classes}")
    if not 0.0 <= self.drop_path_prob < 1.0:
      raise InputError("EvalNetConfig.drop_path_prob: must be in [0, 1), got"
                       f" {self.drop_path_prob}")
    if not 0.0 < self.bn_momentum <= 1.0:
      raise InputError(f"EvalNetConfig.bn_momentum: must be in (0, 1], got {self.bn_momentum}")

  @property
  def reductions(self) -> Tuple[int, int]:
    """Indices of the reduction cells (`natjax.core.plan.reduction_cells`)."""
    return plan.reduction_cells(self.num_cells)

  @property
  def aux_cell(self) -> int:
    """Index of the cell whose output feeds the auxiliary head: the second reduction cell."""
    return self.reductions[1]


def config_for(network: str, **overrides: Any) -> EvalNetConfig:
  """The default config of a network, the one `natjax.core.costs` prices, with optional overrides.

  Args:
    network: 'cifar' (C=36, 20 cells, 10 classes) or 'imagenet' (C=48, 14 cells, 1000 classes).
    **overrides: any `EvalNetConfig` field.

  Raises:
    InputError: on an unknown network or field.
  """
  cfg = costs.network_config(network)
  fields = {f.name for f in dataclasses.fields(EvalNetConfig)}
  for name in overrides:
    if name not in fields:
      raise InputError(f"EvalNetConfig: unknown field '{name}'{closest(name, fields)}")
  base = dict(network=network, channels=cfg.c, num_cells=cfg.layers, num_classes=cfg.num_classes)
  return EvalNetConfig(**{**base, **overrides})


def drop_path_at(config: EvalNetConfig, epoch: int, epochs: int) -> float:
  """The reference schedule: drop-path probability ramped linearly, p * epoch / epochs."""
  return config.drop_path_prob * epoch / epochs


def _stem_out(config: EvalNetConfig, size: int) -> Tuple[int, int, bool]:
  """(channels of both stem outputs, side of s1 for an input of side `size`, whether s0 is at
  twice s1's resolution): CIFAR's one stem, 3C at full size; ImageNet's stem0/stem1, C after three
  stride-2 convs, stem0 at twice stem1's resolution."""
  if config.network == "cifar":
    return 3 * config.channels, size, False
  for _ in range(3):
    size = costs.out_size(size, 2)
  return config.channels, size, True


def cell_plans(config: EvalNetConfig, genotype: Genotype,
               size: Optional[int] = None) -> Tuple[CellLayout, ...]:
  """The macro plan (`natjax.core.plan`): a cell emits len(its concat list) * C channels; with an
  input side `size`, every cell's resolution too."""
  c_stem, side, stem_reduced = _stem_out(config, 0 if size is None else size)
  nodes_out = lambda reduction: len(genotype.reduce_concat if reduction else genotype.normal_concat)
  return plan.cell_layouts(config.num_cells, config.channels, c_stem, nodes_out, stem_reduced,
                           None if size is None else side)


def _check_genotype(genotype: Genotype) -> Genotype:
  if not isinstance(genotype, Genotype):
    raise InputError(f"evalnet: expected a natjax.core.arch.Genotype, got"
                     f" {type(genotype).__name__}")
  return make_genotype(*genotype)


# ----------------------------------------------------------------------------------------------
# Normalisation.


class _Mode(NamedTuple):
  """What every layer needs to know besides its weights."""
  norm: RunningStats
  impl: str


def normalizer(config: EvalNetConfig, train: bool) -> RunningStats:
  """The network's BN: affine, with PyTorch running statistics (updated in training, used in
  evaluation), momentum and eps from the config."""
  return RunningStats(train, config.bn_momentum, config.bn_eps, config.axis_name)


def _mode(config: EvalNetConfig, train: bool) -> _Mode:
  return _Mode(normalizer(config, train), config.impl)


def _conv_bn(params: Params, stats: Params, x: jax.Array, stride: int,
             mode: _Mode) -> Tuple[jax.Array, Params]:
  return units.conv_bn(params, stats, x, stride, mode.impl, mode.norm)


def drop_path(x: jax.Array, prob: Any, key: jax.Array) -> jax.Array:
  """Zeroes whole examples with probability `prob`, scales the kept ones by 1 / (1 - prob).

  Args:
    x: f32[B, ...].
    prob: drop probability in [0, 1) (Python float or traced scalar).
    key: PRNG key; one Bernoulli draw per example.

  Returns:
    f32[B, ...]; at prob = 0 exactly x.
  """
  keep_prob = 1.0 - prob
  mask = jax.random.bernoulli(key, keep_prob, (x.shape[0],) + (1,) * (x.ndim - 1))
  return x / keep_prob * mask.astype(x.dtype)


# ----------------------------------------------------------------------------------------------
# Cells.


def _cell_edges(genotype: Genotype, reduction: bool):
  if reduction:
    return genotype.reduce, genotype.reduce_concat
  return genotype.normal, genotype.normal_concat


def _edge_stride(layout: CellLayout, src: int) -> int:
  return 2 if layout.reduction and src < 2 else 1


def _edge_init(name: str, c: int, stride: int, norm: RunningStats) -> Tuple[Params, Params]:
  spec = ops.get_op(name)
  return ops.family_of(spec).init(spec, c, stride, norm)


def _cell_init(genotype: Genotype, layout: CellLayout, norm: RunningStats) -> Tuple[Params, Params]:
  edges, _ = _cell_edges(genotype, layout.reduction)
  if layout.reduction_prev:
    pre0 = units.factorized_reduce_weights(layout.c_pp, layout.c, norm)
  else:
    pre0 = units.conv_bn_weights(1, layout.c_pp, layout.c, norm)
  pre1 = units.conv_bn_weights(1, layout.c_p, layout.c, norm)
  edge = [_edge_init(name, layout.c, _edge_stride(layout, src), norm) for name, src, _ in edges]
  params = {"pre0": pre0[0], "pre1": pre1[0], "edges": tuple(p for p, _ in edge)}
  stats = {"pre0": pre0[1], "pre1": pre1[1], "edges": tuple(s for _, s in edge)}
  return params, stats


def apply_cell(params: Params, stats: Params, s0: jax.Array, s1: jax.Array, *,
               genotype: Genotype, layout: CellLayout, config: EvalNetConfig, train: bool,
               key: Optional[jax.Array] = None,
               drop_path_prob: Any = 0.0) -> Tuple[jax.Array, Params]:
  """One cell: preprocessing, edges, node sums, concat of the genotype's concat list.

  Args:
    params, stats: one entry of params['cells'] / batch_stats['cells'].
    s0, s1: outputs of the two previous cells, f32[B, H0, W0, C_pp] and f32[B, H, W, C_p]
      (H0 = 2H when `layout.reduction_prev`, else H).
    genotype: the architecture (static).
    layout: the cell's channels and kind (an entry of `cell_plans`).
    config: BN settings and kernel impl.
    train: BN on batch statistics (updating the running ones) or on the running statistics.
    key: PRNG key for drop-path; None disables it.
    drop_path_prob: drop probability of every non-identity edge output.

  Returns:
    (f32[B, H', W', len(concat) * C] with H' = ceil(H/2) in reduction cells, new stats).
  """
  mode = _mode(config, train)
  edges, concat = _cell_edges(genotype, layout.reduction)
  if layout.reduction_prev:
    x0, st0 = units.factorized_reduce(params["pre0"], stats["pre0"], s0, mode.impl, mode.norm)
  else:
    x0, st0 = _conv_bn(params["pre0"], stats["pre0"], jax.nn.relu(s0), 1, mode)
  x1, st1 = _conv_bn(params["pre1"], stats["pre1"], jax.nn.relu(s1), 1, mode)
  states = [x0, x1]
  new_edge_stats = []
  node = None
  for e, (name, src, _) in enumerate(edges):
    spec, stride = ops.get_op(name), _edge_stride(layout, src)
    y, st = families.apply_op(params["edges"][e], stats["edges"][e], states[src], spec, stride,
                              mode.impl, mode.norm)
    new_edge_stats.append(st)
    if key is not None and ops.family_of(spec).drops_path(stride):
      y = drop_path(y, drop_path_prob, jax.random.fold_in(key, e))
    node = y if e % 2 == 0 else node + y
    if e % 2 == 1:
      states.append(node)
  out = jnp.concatenate([states[n] for n in concat], axis=-1)
  return out, {"pre0": st0, "pre1": st1, "edges": tuple(new_edge_stats)}


# ----------------------------------------------------------------------------------------------
# Stems and heads.


def _stem_init(config: EvalNetConfig, c_in: int, norm: RunningStats) -> Tuple[Params, Params]:
  c = config.channels
  if config.network == "cifar":
    return units.conv_bn_weights(3, c_in, 3 * c, norm)
  parts = {"stem0a": units.conv_bn_weights(3, c_in, c // 2, norm),
           "stem0b": units.conv_bn_weights(3, c // 2, c, norm),
           "stem1": units.conv_bn_weights(3, c, c, norm)}
  return {k: v[0] for k, v in parts.items()}, {k: v[1] for k, v in parts.items()}


def _stem_apply(params: Params, stats: Params, x: jax.Array, config: EvalNetConfig,
                mode: _Mode) -> Tuple[jax.Array, jax.Array, Params]:
  """Returns (s0, s1, new stats)."""
  if config.network == "cifar":
    s, st = _conv_bn(params, stats, x, 1, mode)
    return s, s, st
  s0, st0a = _conv_bn(params["stem0a"], stats["stem0a"], x, 2, mode)
  s0, st0b = _conv_bn(params["stem0b"], stats["stem0b"], jax.nn.relu(s0), 2, mode)
  s1, st1 = _conv_bn(params["stem1"], stats["stem1"], jax.nn.relu(s0), 2, mode)
  return s0, s1, {"stem0a": st0a, "stem0b": st0b, "stem1": st1}


def _linear_init(c_in: int, c_out: int) -> Params:
  """PyTorch's Linear default: uniform in +-1/sqrt(fan_in) for weights and bias."""
  return {"w": linear_weight((c_in, c_out), c_in), "b": linear_weight((c_out,), c_in)}


def _aux_pool_stride(config: EvalNetConfig) -> int:
  return 3 if config.network == "cifar" else 2


def _aux_init(config: EvalNetConfig, c_in: int, norm: RunningStats) -> Tuple[Params, Params]:
  c1, c2 = AUX_CHANNELS
  conv1, st1 = units.conv_bn_weights(1, c_in, c1, norm)
  conv2, st2 = units.conv_bn_weights(2, c1, c2, norm)
  stats = {"conv1": st1}
  if config.network == "imagenet":
    conv2 = {"w": conv2["w"]}  # No BN after the 768-channel conv (reference ImageNet head).
  else:
    stats["conv2"] = st2
  return {"conv1": conv1, "conv2": conv2, "fc": _linear_init(c2, config.num_classes)}, stats


def aux_head(params: Params, stats: Params, x: jax.Array, config: EvalNetConfig,
             train: bool = True) -> Tuple[jax.Array, Params]:
  """The auxiliary classifier on a cell output (layout in the module docstring).

  Args:
    params, stats: params['aux'] / batch_stats['aux'].
    x: f32[B, H, W, C], H = W = 8 on CIFAR at 32x32 and 7 on ImageNet at 224x224; the 5x5 pool
      (no padding) and the 2x2 conv (no padding) need (H - 5) // stride + 1 >= 2.
    config: the network (pool stride, presence of the second BN).
    train: BN mode.

  Returns:
    (f32[B, num_classes] logits, new stats).
  """
  mode = _mode(config, train)
  s = _aux_pool_stride(config)
  y = lax.reduce_window(jax.nn.relu(x), 0.0, lax.add, (1, 5, 5, 1), (1, s, s, 1), "VALID") / 25.0
  y, st1 = _conv_bn(params["conv1"], stats["conv1"], y, 1, mode)
  y = conv.conv(jax.nn.relu(y), params["conv2"]["w"], 1, config.impl)
  new_stats = {"conv1": st1}
  if "conv2" in stats:
    y, new_stats["conv2"] = mode.norm(params["conv2"], stats["conv2"], y)
  y = jnp.mean(jax.nn.relu(y), axis=(1, 2))
  return y @ params["fc"]["w"] + params["fc"]["b"], new_stats


# ----------------------------------------------------------------------------------------------
# The network.


def init(key: jax.Array, config: EvalNetConfig, genotype: Genotype,
         input_shape: Sequence[int] = (1, 32, 32, 3)) -> Tuple[Params, Params]:
  """Initial parameters and BN running statistics (layouts in the module docstring).

  As the released code (PyTorch's defaults, `natjax.kernels.initializers`): convs and Linear
  layers U(+-1/sqrt(fan_in)) (fan_in k*k*C_in, k*k for depthwise convs), BN scale 1 / bias 0,
  running mean 0 / variance 1. Runs eagerly (do not jit it: see
  `initializers.materialize_pooled`); use `jax.eval_shape` to size a network without allocating
  it.

  Args:
    key: PRNG key.
    config: the network.
    genotype: the architecture (validated here).
    input_shape: NHWC input shape; its channels are read, and with `config.auxiliary` its side
      must leave the aux head at least 2x2 after its pool (32 on CIFAR, 160 on ImageNet).

  Returns:
    (params, batch_stats).

  Raises:
    InputError: on an invalid genotype or an input too small for the auxiliary head.
  """
  genotype = _check_genotype(genotype)
  input_shape = tuple(int(d) for d in input_shape)
  layouts = cell_plans(config, genotype, input_shape[1])
  if config.auxiliary:
    aux = layouts[config.aux_cell]
    side = costs.out_size(aux.size, 2 if aux.reduction else 1)  # the aux cell's output side
    if (side - 5) // _aux_pool_stride(config) + 1 < 2:
      raise InputError(f"EvalNetConfig.auxiliary: input side {input_shape[1]} leaves a"
                       f" {side}x{side} map at the auxiliary head, too small for its 5x5 pool and"
                       " 2x2 conv; use a larger input or auxiliary=False")
  norm = normalizer(config, train=True)  # what every BN holds: affine params, running statistics
  stem = _stem_init(config, input_shape[-1], norm)
  cells = [_cell_init(genotype, layout, norm) for layout in layouts]
  params = {"stem": stem[0], "cells": tuple(p for p, _ in cells),
            "head": _linear_init(layouts[-1].c_out, config.num_classes)}
  stats = {"stem": stem[1], "cells": tuple(s for _, s in cells)}
  if config.auxiliary:
    params["aux"], stats["aux"] = _aux_init(config, layouts[config.aux_cell].c_out, norm)
  return materialize_pooled(params, key), materialize_pooled(stats, key)


def apply(params: Params, batch_stats: Params, x: jax.Array, *, genotype: Genotype,
          config: EvalNetConfig, train: bool, key: Optional[jax.Array] = None,
          drop_path_prob: Any = 0.0) -> Tuple[jax.Array, Optional[jax.Array], Params]:
  """Runs the network.

  Args:
    params, batch_stats: from `init`.
    x: f32[B, H, W, 3] images, NHWC.
    genotype: the architecture (static; close over it under jit).
    config: the network (static).
    train: training mode: BN on batch statistics (running statistics updated), drop-path, aux
      head. Evaluation mode: BN on running statistics, no drop-path, no aux head.
    key: PRNG key for drop-path; required in training when drop_path_prob may be non-zero.
    drop_path_prob: drop probability now (Python float or traced scalar, e.g. from
      `drop_path_at`).

  Returns:
    (logits f32[B, num_classes], aux logits f32[B, num_classes] in training with
    `config.auxiliary` else None, new batch_stats (the input ones in evaluation mode)).
  """
  mode = _mode(config, train)
  use_drop_path = train and not (isinstance(drop_path_prob, (int, float)) and drop_path_prob == 0)
  if use_drop_path and key is None:
    raise InputError("evalnet.apply: drop_path_prob is non-zero in training but no key was given")
  layouts = cell_plans(config, genotype)
  s0, s1, stem_stats = _stem_apply(params["stem"], batch_stats["stem"], x, config, mode)
  cell_stats, aux_logits = [], None
  new_stats = {"stem": stem_stats}
  for i, layout in enumerate(layouts):
    cell_key = jax.random.fold_in(key, i) if use_drop_path else None
    out, st = apply_cell(params["cells"][i], batch_stats["cells"][i], s0, s1, genotype=genotype,
                         layout=layout, config=config, train=train, key=cell_key,
                         drop_path_prob=drop_path_prob)
    cell_stats.append(st)
    s0, s1 = s1, out
    if i == config.aux_cell and config.auxiliary and train:
      aux_logits, new_stats["aux"] = aux_head(params["aux"], batch_stats["aux"], s1, config, train)
  new_stats["cells"] = tuple(cell_stats)
  if "aux" in batch_stats and "aux" not in new_stats:
    new_stats["aux"] = batch_stats["aux"]
  logits = jnp.mean(s1, axis=(1, 2)) @ params["head"]["w"] + params["head"]["b"]
  return logits, aux_logits, new_stats


def count_params(params: Params, include_aux: bool = False) -> int:
  """Number of trainable scalars (arrays or `jax.ShapeDtypeStruct`s); the aux head is excluded
  unless asked for, as in the cost model."""
  tree = params if include_aux else {k: v for k, v in params.items() if k != "aux"}
  return int(sum(np.prod(leaf.shape, dtype=np.int64) for leaf in jax.tree.leaves(tree)))


# ----------------------------------------------------------------------------------------------
# Training pieces.


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
  """Per-example cross entropy against smoothed one-hot targets (1 - eps) * onehot + eps / K.

  Args:
    logits: f32[B, K].
    labels: int[B].
    label_smoothing: eps in [0, 1).

  Returns:
    f32[B].
  """
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
  return optax.softmax_cross_entropy(logits, targets)


def classification_loss(logits: jax.Array, aux_logits: Optional[jax.Array], labels: jax.Array,
                        aux_weight: float = 0.4, label_smoothing: float = 0.0) -> jax.Array:
  """Mean cross entropy plus `aux_weight` times the aux head's (same smoothing), f32[]."""
  loss = jnp.mean(cross_entropy(logits, labels, label_smoothing))
  if aux_logits is not None:
    loss = loss + aux_weight * jnp.mean(cross_entropy(aux_logits, labels, label_smoothing))
  return loss


def make_schedule(learning_rate: float, lr_min: float, epochs: int,
                  steps_per_epoch: int = 1) -> optax.Schedule:
  """Cosine from `learning_rate` at epoch 0 to `lr_min` at epoch `epochs`, constant within an
  epoch (the reference steps its cosine once per epoch): lr(step) =
  lr_min + (lr - lr_min) * (1 + cos(pi * (step // steps_per_epoch) / epochs)) / 2."""
  cosine = optax.cosine_decay_schedule(learning_rate, epochs, alpha=lr_min / learning_rate)
  return lambda step: cosine(step // steps_per_epoch)


def make_optimizer(learning_rate: float = 0.025, lr_min: float = 0.001, epochs: int = 600,
                   steps_per_epoch: int = 1, momentum: float = 0.9, weight_decay: float = 3e-4,
                   grad_clip: float = 5.0) -> optax.GradientTransformation:
  """SGD as the reference retrains (defaults: CIFAR; ImageNet uses lr 0.1, wd 3e-5, 250 epochs).

  The raw gradient is clipped to global norm `grad_clip`, then coupled weight decay adds
  `weight_decay * param` (every parameter, BN included), then SGD with momentum (PyTorch form:
  buf = momentum * buf + g; param -= lr * buf) at the `make_schedule` learning rate.
  """
  return optax.chain(
      optax.clip_by_global_norm(grad_clip),
      optax.add_decayed_weights(weight_decay),
      optax.sgd(make_schedule(learning_rate, lr_min, epochs, steps_per_epoch), momentum=momentum))


class TrainState(NamedTuple):
  """Everything a retraining step updates (a pytree; checkpoint it whole)."""
  step: jax.Array  # int32[]
  params: Params
  batch_stats: Params
  opt_state: Any


def create_train_state(key: jax.Array, config: EvalNetConfig, genotype: Genotype,
                       optimizer: optax.GradientTransformation,
                       input_shape: Sequence[int] = (1, 32, 32, 3)) -> TrainState:
  """A fresh `TrainState` at step 0."""
  params, batch_stats = init(key, config, genotype, input_shape)
  return TrainState(jnp.zeros((), jnp.int32), params, batch_stats, optimizer.init(params))


def train_step(state: TrainState, batch: Dict[str, jax.Array], key: jax.Array,
               drop_path_prob: Any = None, *, genotype: Genotype, config: EvalNetConfig,
               optimizer: optax.GradientTransformation, aux_weight: float = 0.4,
               label_smoothing: float = 0.0) -> Tuple[TrainState, Dict[str, jax.Array]]:
  """One SGD step in training mode. Bind the keyword arguments, then jit:
  `jax.jit(functools.partial(train_step, genotype=g, config=c, optimizer=tx))`.

  Args:
    state: the current state.
    batch: {'image': f32[B, H, W, 3], 'label': int[B]}.
    key: base PRNG key; the step is folded in here, so one key for the whole run gives fresh,
      replayable drop-path masks every step.
    drop_path_prob: drop-path probability for this step (e.g. `drop_path_at(config, epoch, E)`,
      passed as an array so the ramp does not recompile); None uses `config.drop_path_prob`.
    genotype, config: the network (static).
    optimizer: from `make_optimizer`.
    aux_weight: weight of the auxiliary loss.
    label_smoothing: eps of the smoothed targets (0.1 on ImageNet).

  Returns:
    (new state, {'loss': f32[] total loss before the update, 'correct': int32[] argmax hits,
    'grad_norm': f32[] global gradient norm before clipping}).
  """
  key = jax.random.fold_in(key, state.step)
  if drop_path_prob is None:
    drop_path_prob = config.drop_path_prob

  def loss_fn(params):
    logits, aux_logits, new_stats = apply(params, state.batch_stats, batch["image"],
                                          genotype=genotype, config=config, train=True, key=key,
                                          drop_path_prob=drop_path_prob)
    loss = classification_loss(logits, aux_logits, batch["label"], aux_weight, label_smoothing)
    return loss, (logits, new_stats)

  (loss, (logits, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = {"loss": loss,
             "correct": jnp.sum(jnp.argmax(logits, -1) == batch["label"], dtype=jnp.int32),
             "grad_norm": optax.tree.norm(grads)}
  return TrainState(state.step + 1, params, new_stats, opt_state), metrics


def eval_step(state: TrainState, batch: Dict[str, jax.Array], *, genotype: Genotype,
              config: EvalNetConfig) -> Dict[str, jax.Array]:
  """Evaluation-mode metrics of one batch, as sums to add up over a dataset.

  Args:
    state: the state (its params and running statistics are read).
    batch: {'image': f32[B, H, W, 3], 'label': int[B]}, optionally 'mask': bool[B] (False for
      padding examples of a last partial batch).
    genotype, config: the network (static).

  Returns:
    {'correct': int32[] argmax hits, 'loss': f32[] summed plain cross entropy (no smoothing, no
    aux), 'count': int32[] examples counted}.
  """
  logits, _, _ = apply(state.params, state.batch_stats, batch["image"], genotype=genotype,
                       config=config, train=False)
  labels = batch["label"]
  mask = batch.get("mask", jnp.ones(labels.shape, bool))
  hits = (jnp.argmax(logits, -1) == labels) & mask
  losses = jnp.where(mask, cross_entropy(logits, labels), 0.0)
  return {"correct": jnp.sum(hits, dtype=jnp.int32), "loss": jnp.sum(losses),
          "count": jnp.sum(mask, dtype=jnp.int32)}
