"""The weight-sharing supernet: one compiled network that executes any architecture of a space.

An architecture is data (`natjax.core.arch.Arch` of int arrays), never Python structure: a cell is a
`lax.scan` over its edges whose body runs `lax.switch(op[e], ...)` over one branch per op of the
space, on the source state gathered from the node buffer (the scan carry) by `src[e]`, with the
weights of slot (src[e], dst) gathered from the cell's slot table. One trace serves every
architecture (design.md, "The one hard problem"), and since one compiled edge body serves all
edges of a cell, compile time does not grow with the number of edges.
Residuals of the branches a switch did not take share buffers by shape (JAX merges them), so the
step's memory is that of the largest op, not of all ops. Layout and semantics follow spec
section 6:

  stem      conv 3x3 (3 -> m*C, no bias) -> BN (affine)
  cells     `num_cells` cells; reduction cells at num_cells//3 and 2*num_cells//3 double C.
            Inputs are preprocessed: s0 by FactorizedReduce if the previous cell reduced, else by
            ReLU-conv1x1-BN; s1 by ReLU-conv1x1-BN. Every edge slot holds every op of the space
            (pools followed by a non-affine BN); stride 2 only on edges leaving nodes 0/1 of a
            reduction cell. A cell emits N*C channels: intermediate nodes outside the space's
            output set (`SearchSpace.output_mask`) are multiplied by 0.
  head      global average pool -> Linear(N*C_last -> classes)

Every BN runs on batch statistics (averaged over `SupernetConfig.axis_name` when the network runs
inside `shard_map`); only the stem BN is affine.

Parameter pytree (`init_supernet`), NHWC layouts as in `natjax.core.families`:
  {'stem': {'w': f32[3, 3, 3, m*C], 'scale': f32[m*C], 'bias': f32[m*C]},
   'cells': ({'pre0': {'w': f32[C_pp, C]} or {'w1': f32[C_pp, C/2], 'w2': f32[C_pp, C/2]},
              'pre1': {'w': f32[C_p, C]},
              'nodes': ({'inputs': {op_name: op params stacked on a leading axis of 2 (src 0, 1)},
                         'inner': {op_name: op params stacked on a leading axis of k (src 2..k+1)}},
                        ...one per intermediate node k = 0..N-1; 'inner' absent for k = 0)},
             ...one per cell),
   'head': {'w': f32[N*C_last, classes], 'b': f32[classes]}}
Slot (src, dst) is `inputs[src]` for src < 2 and `inner[src - 2]` otherwise. The two groups are
kept apart because in reduction cells they differ in stride (FactorizedReduce weights for skip).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from natjax.core import families, ops, plan, spaces
from natjax.core.arch import Arch, Cell
from natjax.core.plan import CellLayout
from natjax.errors import InputError, closest
from natjax.kernels import conv, initializers, units, windows
from natjax.kernels.initializers import conv_fan_in, conv_weight, linear_weight
from natjax.kernels.norm import BatchStats, Normalizer, batch_norm
from natjax.kernels.varying import vary_like

Params = Dict[str, Any]
COMPUTE_DTYPES = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class SupernetConfig:
  """Static description of a supernet.

  Attributes:
    space: registered search space name ('darts', 'enas', 'darts_pp', 'enas_pp').
    channels: C of the first cells.
    num_cells: number of cells; reductions at num_cells//3 and 2*num_cells//3.
    num_classes: classifier outputs.
    impl: kernel implementation, 'shift' (CPU) or 'lax' (GPU/TPU); 'auto' is resolved to the one
      that suits the backend when the config is made (`windows.resolve_impl`).
    stem_multiplier: the stem emits stem_multiplier * C channels.
    remat_branches: an edge saves only its inputs (shared by all branches) for the backward
      pass, which recomputes the taken op's forward there (`recomputing_switch`). Without it, a
      switch writes zeros into the saved values of every branch it did not take.
    axis_name: the mesh axis every BN averages its batch statistics over, for a network applied
      inside `jax.shard_map` over a data axis (the search's steps name 'data'); None for local
      statistics (one device, or under plain jit).
    compute_dtype: 'float32', or 'bfloat16' to run the network's arithmetic in bfloat16: images
      and weights are cast on the way in (so gradients come back float32), BN statistics are
      taken in float32 and the logits returned in float32. Parameters stay float32 either way.
  """
  space: str = "darts"
  channels: int = 20
  num_cells: int = 8
  num_classes: int = 10
  impl: str = "auto"
  stem_multiplier: int = 3
  remat_branches: bool = True
  axis_name: Optional[str] = None
  compute_dtype: str = "float32"

  def __post_init__(self):
    object.__setattr__(self, "impl", windows.resolve_impl(self.impl))
    if self.compute_dtype not in COMPUTE_DTYPES:
      raise InputError(f"SupernetConfig.compute_dtype: unknown dtype '{self.compute_dtype}'"
                       f"{closest(self.compute_dtype, COMPUTE_DTYPES)}; choose one of"
                       f" {', '.join(COMPUTE_DTYPES)}")

  def normalizer(self) -> Normalizer:
    """The normaliser of every BN in the cells: non-affine, on batch statistics (spec section 6)."""
    return BatchStats(axis_name=self.axis_name)


def cell_layouts(config: SupernetConfig) -> Tuple[CellLayout, ...]:
  """The macro plan of the supernet (`natjax.core.plan`): a cell emits N*C channels."""
  num_nodes = spaces.get_space(config.space).num_nodes
  return plan.cell_layouts(config.num_cells, config.channels,
                           config.stem_multiplier * config.channels, lambda reduction: num_nodes)


# ----------------------------------------------------------------------------------------------
# Initialisation.


def _slot_group(path: initializers.KeyPath, space: spaces.SearchSpace, channels: int, stride: int,
                num_slots: int, norm: Normalizer) -> Params:
  """{op_name: weight descriptions of that op for `num_slots` slots, stacked on a leading axis}.

  Keys: op o of the group from split(group key, num_ops)[o], its slot s from split(op key,
  num_slots)[s], the slot's leaves as `initializers.materialize_keyed` splits them.
  """
  group = {}
  for o, name in enumerate(space.ops):
    spec = ops.get_op(name)
    weights, _ = ops.family_of(spec).init(spec, channels, stride, norm)
    leaves, treedef = jax.tree.flatten(weights, is_leaf=lambda x: isinstance(x, initializers.Draw))
    slots = [initializers.leaf_paths(weights, path + ((space.num_ops, o), (num_slots, s)))
             for s in range(num_slots)]
    group[name] = jax.tree.unflatten(treedef, [
        initializers.AtPaths(d, tuple(slot[i] for slot in slots)) for i, d in enumerate(leaves)])
  return group


def _cell(path: initializers.KeyPath, space: spaces.SearchSpace, layout: CellLayout,
          norm: Normalizer) -> Params:
  """A cell's weight descriptions; its keys are split(cell key, 2N + 3): pre0 from 0 (and 1),
  pre1 from 2, node k's input slots from 3 + 2k and its inner slots from 4 + 2k."""
  key = lambda i: path + ((2 * space.num_nodes + 3, i),)
  c = layout.c
  if layout.reduction_prev:
    pre0 = {"w1": initializers.at_path(conv_weight((layout.c_pp, c // 2), layout.c_pp), key(0)),
            "w2": initializers.at_path(conv_weight((layout.c_pp, c // 2), layout.c_pp), key(1))}
  else:
    pre0 = {"w": initializers.at_path(conv_weight((layout.c_pp, c), layout.c_pp), key(0))}
  pre1 = {"w": initializers.at_path(conv_weight((layout.c_p, c), layout.c_p), key(2))}
  input_stride = 2 if layout.reduction else 1
  nodes = []
  for k in range(space.num_nodes):
    node = {"inputs": _slot_group(key(3 + 2 * k), space, c, input_stride, 2, norm)}
    if k > 0:
      node["inner"] = _slot_group(key(4 + 2 * k), space, c, 1, k, norm)
    nodes.append(node)
  return {"pre0": pre0, "pre1": pre1, "nodes": tuple(nodes)}


def _described(config: SupernetConfig, c_in: int) -> Params:
  """The parameter tree with `initializers.AtPaths` descriptions for leaves: the stem's weight
  from split(key, 2 + cells)[0], the head's from [1] (split again: weight, bias), cell i's from
  [2 + i]."""
  space = spaces.get_space(config.space)
  layouts = cell_layouts(config)
  c_stem = config.stem_multiplier * config.channels
  top = lambda i: ((2 + len(layouts), i),)
  stem = {"w": initializers.at_path(conv_weight((3, 3, c_in, c_stem), conv_fan_in(3, c_in)),
                                    top(0)),
          "scale": initializers.at_path(initializers.const((c_stem,), 1.0), ()),
          "bias": initializers.at_path(initializers.const((c_stem,), 0.0), ())}
  c_last = layouts[-1].c_out
  head = {"w": initializers.at_path(linear_weight((c_last, config.num_classes), c_last),
                                    top(1) + ((2, 0),)),
          "b": initializers.at_path(linear_weight((config.num_classes,), c_last),
                                    top(1) + ((2, 1),))}
  cells = tuple(_cell(top(2 + i), space, layout, config.normalizer())
                for i, layout in enumerate(layouts))
  return {"stem": stem, "cells": cells, "head": head}


def init_supernet(key: jax.Array, config: SupernetConfig,
                  input_shape: Sequence[int] = (1, 32, 32, 3)) -> Params:
  """Initial supernet parameters (layout in the module docstring).

  One compiled program draws them all (`initializers.draw_at_paths`: the same values as drawing
  every weight from its own key, split by split, in two batched hashes), compiled once per
  config: seconds for the search config (C=20, 8 cells) where drawing leaf by leaf took half a
  minute, and minutes under jit.

  Args:
    key: PRNG key.
    config: the supernet.
    input_shape: NHWC input shape; only its channel count (last axis) is read.

  Returns:
    The parameter pytree of f32 arrays. Use `jax.eval_shape` to size it without allocating.
    Every conv and the head start as PyTorch's defaults, as in the released code
    (`natjax.kernels.initializers`: U(+-1/sqrt(fan_in)) for weights and the head bias; stem BN
    scale 1, bias 0).
  """
  return initializers.draw_at_paths(_described(config, int(input_shape[-1])), key)


def count_params(params: Any) -> int:
  """Number of scalars in a pytree of arrays or `jax.ShapeDtypeStruct`s."""
  return int(sum(np.prod(leaf.shape, dtype=np.int64) for leaf in jax.tree.leaves(params)))


# ----------------------------------------------------------------------------------------------
# Pieces shared by the supernet and the static network (natjax.nn.networks).


def edge_op(params: Params, x: jax.Array, spec: ops.OpSpec, stride: int, impl: str,
            norm: Normalizer) -> jax.Array:
  """One edge's op as the supernet runs it: its family's apply, plus a non-affine BN after the
  families that ask for one (pools, spec section 6).

  Args:
    params: that op's weights for this slot.
    x: f32[B, H, W, C].
    spec: the op.
    stride: 1 or 2.
    impl: kernel implementation.
    norm: the supernet's normaliser (`SupernetConfig.normalizer`); it keeps no statistics.

  Returns:
    f32[B, H/stride, W/stride, C] (ceil).
  """
  family = ops.family_of(spec)
  _, no_stats = family.init(spec, x.shape[-1], stride, norm)  # a tree without leaves
  y, _ = families.apply_op(params, no_stats, x, spec, stride, impl, norm)
  return norm({}, {}, y)[0] if family.supernet_norm else y


def preprocess(params: Params, x: jax.Array, impl: str, norm: Normalizer) -> jax.Array:
  """Cell input preprocessing: FactorizedReduce if `params` has 'w1', else ReLU-conv1x1-BN.

  Args:
    params: {'w': f32[Cin, C]} or {'w1', 'w2': f32[Cin, C/2]}.
    x: f32[B, H, W, Cin].
    impl: kernel implementation.
    norm: the supernet's normaliser.

  Returns:
    f32[B, H, W, C], or f32[B, ceil(H/2), ceil(W/2), C] for FactorizedReduce.
  """
  if "w1" in params:
    return units.factorized_reduce(params, {}, x, impl, norm)[0]
  return units.conv_bn({"w": params["w"][None, None]}, {}, jax.nn.relu(x), 1, impl, norm)[0]


def cell_output(states: Sequence[jax.Array], mask: Any) -> jax.Array:
  """Concat of the intermediate nodes, each times its 0/1 output mask entry.

  Args:
    states: N arrays f32[B, H, W, C], the intermediate nodes 2..N+1.
    mask: bool[N] (numpy or jax).

  Returns:
    f32[B, H, W, N*C].
  """
  xp = jnp if isinstance(mask, jax.Array) else np
  weights = xp.asarray(mask).astype(states[0].dtype)
  return jnp.concatenate([s * weights[k] for k, s in enumerate(states)], axis=-1)


CellFn = Callable[[Params, jax.Array, jax.Array, Any, CellLayout], jax.Array]


def forward(params: Params, x: jax.Array, arch: Arch, config: SupernetConfig,
            cell_fn: CellFn) -> jax.Array:
  """Stem, cells (run by `cell_fn(cell_params, s0, s1, cell_arch, layout)`), head.

  Args:
    params: from `init_supernet`.
    x: f32[B, H, W, 3] images, NHWC.
    arch: the (normal, reduce) pair, in whatever form `cell_fn` reads.
    config: the supernet.
    cell_fn: runs one preprocessed cell, returns f32[B, H', W', N*C].

  Returns:
    f32[B, num_classes] logits (computed in `config.compute_dtype`).
  """
  impl, norm = config.impl, config.normalizer()
  if config.compute_dtype != "float32":
    dtype = jnp.dtype(config.compute_dtype)
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    x = x.astype(dtype)
  stem = params["stem"]
  s = batch_norm(conv.conv(x, stem["w"], 1, impl), scale=stem["scale"], bias=stem["bias"],
                 axis_name=config.axis_name)
  s0 = s1 = s
  for cell_params, layout in zip(params["cells"], cell_layouts(config)):
    cell_arch = arch.reduce if layout.reduction else arch.normal
    p0 = preprocess(cell_params["pre0"], s0, impl, norm)
    p1 = preprocess(cell_params["pre1"], s1, impl, norm)
    s0, s1 = s1, cell_fn(cell_params, p0, p1, cell_arch, layout)
  pooled = jnp.mean(s1, axis=(1, 2))
  logits = pooled @ params["head"]["w"] + params["head"]["b"]
  return logits.astype(jnp.promote_types(logits.dtype, jnp.float32))  # bfloat16 -> float32


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean cross entropy of f32[B, K] logits against int[B] labels."""
  log_probs = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=-1))


# ----------------------------------------------------------------------------------------------
# The dynamic cell.


def _take(tree: Any, index: jax.Array) -> Any:
  """Every leaf's entry `index` along its leading axis (dynamic)."""
  return jax.tree.map(lambda a: a[index], tree)


def _switch_edge(op: jax.Array, group: Params, slot: jax.Array, x: jax.Array,
                 space: spaces.SearchSpace, stride: int, impl: str, norm: Normalizer,
                 remat: bool = False) -> jax.Array:
  """Runs op `op` with the weights of slot `slot` of `group` on `x`, one switch branch per op.

  Args:
    op: int32[] op index into `space.ops`.
    group: {op_name: params stacked on a leading axis of S slots}.
    slot: int32[] slot index in [0, S).
    x: f32[B, H, W, C] the source state.
    space: the search space.
    stride: static stride of every branch.
    impl: kernel implementation.
    norm: the supernet's normaliser.
    remat: save only the edge's inputs and recompute the taken op in the backward pass.

  Returns:
    f32[B, H/stride, W/stride, C].
  """
  def branch(name, slot_params, x):
    return vary_like(traced_once_edge_op(slot_params[name], x, name, stride, impl, norm), x)

  branches = [functools.partial(branch, name) for name in space.ops]
  if remat:
    return recomputing_switch(op, branches, _take(group, slot), x)
  return lax.switch(op, branches, _take(group, slot), x)


def recomputing_switch(index: jax.Array, branches: Sequence[Callable], *operands: Any) -> Any:
  """`lax.switch(index, branches, *operands)` whose backward pass is a second switch: the taken
  branch's forward recomputed and its cotangent pulled back (`jax.vjp`).

  As `jax.checkpoint` around every branch, it saves only the operands for the backward pass; but
  autodiff never linearizes the switch: the forward traces each branch once and the backward
  traces each branch's pullback once, where linearizing a switch of checkpointed branches inside
  the cell's scan traced every branch several times. With `traced_once_edge_op`, measured by
  `bench/search_step.py --small` on a 2-core CPU: the w-step traces in 10-13 s instead of 22-24 s,
  the theta-step in 2.2 s instead of 5.3-5.8 s; XLA's compile and the step's time do not grow.

  Args:
    index: int32[] branch index (no gradient flows to it).
    branches: functions of `*operands`, each returning the same structure of float arrays.
    *operands: pytrees of float arrays.

  Returns:
    The taken branch's output.
  """
  branches = tuple(branches)

  @jax.custom_vjp
  def run(index, *operands):
    return lax.switch(index, branches, *operands)

  def run_fwd(index, *operands):
    return run(index, *operands), (index, operands)

  def run_bwd(residuals, ct):
    index, operands = residuals
    pullbacks = [functools.partial(_pull_back, b) for b in branches]
    return (None,) + tuple(lax.switch(index, pullbacks, ct, *operands))

  run.defvjp(run_fwd, run_bwd)
  return run(index, *operands)


def _pull_back(branch: Callable, ct: Any, *operands: Any) -> Tuple[Any, ...]:
  """The cotangents of `branch`'s operands for its output's cotangent `ct`."""
  return jax.vjp(branch, *operands)[1](ct)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def traced_once_edge_op(params: Params, x: jax.Array, name: str, stride: int, impl: str,
                         norm: Normalizer) -> jax.Array:
  """`edge_op` by op name, as a nested jit: traced once per (op, stride, shapes) and reused by
  every edge and cell where they recur (XLA inlines it; the values are `edge_op`'s).

  The supernet's switch branches and the static network's edges (`natjax.nn.networks`) call it.
  Called outside jit, as an eager static network is, it runs as one compiled program per edge
  rather than one per primitive.
  """
  return edge_op(params, x, ops.get_op(name), stride, impl, norm)


def _stack_groups(groups: Sequence[Params]) -> Params:
  """Concatenates slot groups {op_name: [S_i, ...]} along the slot axis."""
  return jax.tree.map(lambda *a: jnp.concatenate(a), *groups)


def slot_tables(cell_params: Params, reduction: bool) -> Tuple[Params, Params]:
  """A cell's per-destination slot groups as flat tables indexed by slot.

  Normal cells: one table whose row `plan.edge_slot(src, dst)` holds slot (src, dst); the second
  table is empty ({}). Reduction cells: (input table, inner table), since edges leaving nodes 0/1
  have stride 2 and different weights (FactorizedReduce for skip): rows `plan.input_slot` and
  `plan.inner_slot`.

  Returns:
    Two pytrees {op_name: params[rows, ...]}.
  """
  nodes = cell_params["nodes"]
  if not reduction:
    groups = []
    for node in nodes:
      groups.append(node["inputs"])
      if "inner" in node:
        groups.append(node["inner"])
    return _stack_groups(groups), {}
  inner = [node["inner"] for node in nodes if "inner" in node]
  return (_stack_groups([node["inputs"] for node in nodes]),
          _stack_groups(inner) if inner else {})


def dynamic_cell(cell_params: Params, s0: jax.Array, s1: jax.Array, cell: Cell,
                 layout: CellLayout, space: spaces.SearchSpace, impl: str, norm: Normalizer,
                 remat: bool = False) -> jax.Array:
  """One supernet cell for any architecture: a `lax.scan` over its edges.

  The scan carries the node states; step e runs edge e's op (a `lax.switch` on `op[e]`) on the
  state of `src[e]` with the weights of slot (src[e], dst) gathered from the slot tables, and adds
  the result to node dst = e // 2 + 2. One compiled edge body serves every edge of the cell, so
  compile time does not grow with the number of edges.

  Args:
    cell_params: one entry of params['cells'].
    s0, s1: preprocessed inputs f32[B, H, W, C].
    cell: op int32[E], src int32[E] (traced; `concat` is not read, the space's rule is).
    layout: the cell's channels and kind.
    space: the search space.
    impl: kernel implementation.
    norm: the supernet's normaliser (`SupernetConfig.normalizer`).
    remat: recompute the taken op in the backward pass (`SupernetConfig.remat_branches`).

  Returns:
    f32[B, H', W', N*C], H' = ceil(H/2) in reduction cells.
  """
  n = space.num_nodes
  table, inner_table = slot_tables(cell_params, layout.reduction)
  dst = jnp.asarray(np.arange(2 * n) // 2, jnp.int32)  # destination minus 2
  op, src = jnp.asarray(cell.op, jnp.int32), jnp.asarray(cell.src, jnp.int32)
  if not layout.reduction:
    # Normal cell: every state has one shape; the carry holds all N + 2 nodes.
    def edge(states, e):
      op_e, src_e, k = e
      y = _switch_edge(op_e, table, plan.edge_slot(src_e, k + 2), states[src_e], space, 1, impl,
                       norm, remat)
      return lax.dynamic_update_index_in_dim(states, states[k + 2] + y, k + 2, 0), None

    init = jnp.concatenate([jnp.stack([s0, s1]), jnp.zeros((n,) + s0.shape, s0.dtype)])
    states, _ = lax.scan(edge, init, (op, src, dst))
    nodes = states[2:]
  else:
    # Reduction cell: the inputs keep their size, the N intermediate nodes are halved.
    inputs = jnp.stack([s0, s1])

    def edge(states, e):
      op_e, src_e, k = e
      i = jnp.minimum(src_e, 1)
      from_inputs = lambda: _switch_edge(op_e, table, plan.input_slot(i, k + 2), inputs[i], space,
                                         2, impl, norm, remat)
      if not inner_table:
        y = from_inputs()
      else:
        j = jnp.maximum(src_e - 2, 0)
        inner = jnp.maximum(plan.inner_slot(j + 2, k + 2), 0)
        from_inner = lambda: _switch_edge(op_e, inner_table, inner, states[j], space, 1,
                                          impl, norm, remat)
        y = lax.cond(src_e < 2, from_inputs, from_inner)
      return lax.dynamic_update_index_in_dim(states, states[k] + y, k, 0), None

    h, w = (-(-s0.shape[1] // 2), -(-s0.shape[2] // 2))
    init = vary_like(jnp.zeros((n, s0.shape[0], h, w, s0.shape[3]), s0.dtype), s0)
    nodes, _ = lax.scan(edge, init, (op, src, dst))
  return cell_output(list(nodes), space.output_mask(src))


def apply_supernet(params: Params, x: jax.Array, arch: Arch, config: SupernetConfig) -> jax.Array:
  """Supernet logits for one architecture given as arrays (jit once, feed any architecture).

  Args:
    params: from `init_supernet`.
    x: f32[B, H, W, 3] images, NHWC.
    arch: Arch of int32[E] op/src arrays (unbatched; never vmap this over architectures).
    config: the supernet.

  Returns:
    f32[B, num_classes] logits.
  """
  space = spaces.get_space(config.space)
  cell_fn = functools.partial(dynamic_cell, space=space, impl=config.impl, norm=config.normalizer(),
                              remat=config.remat_branches)
  return forward(params, x, arch, config, cell_fn)


def cross_entropy_loss(params: Params, x: jax.Array, y: jax.Array, arch: Arch,
                       config: SupernetConfig) -> jax.Array:
  """Mean cross entropy of the supernet on images f32[B, H, W, 3] and labels int[B]."""
  return softmax_cross_entropy(apply_supernet(params, x, arch, config), y)
