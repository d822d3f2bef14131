"""Batch transform: apply a NAT / NAT++ policy to a batch of architectures (spec sections 4, 5, 8).

The rule and the space are compiled to arrays BEFORE jit (the rule to a bool[V, V] mask, the space
to static shapes), so one compiled function serves every batch of architectures of one size. The
rule's kind picks the policy head ('actions' -> 'nat', 'mask' -> 'mask'); the same GCN is applied
to the normal and the reduction cell separately and an architecture's log-probability is the sum
of both cells'. Outputs keep the input's concat lists (NAT copies the genotype's concat).

Every output is priced in the CIFAR network next to its input; an output that costs more than its
input in params or MAdds gets `cost_ok = False` (it is flagged, never silently valid). Turning
edges into null can also cut every path from the cell inputs to the cell output; such an output
is a constant and gets `connected = False` (`natjax.core.arch` refuses it as a genotype).

Rules are compiled to masks on the host once per (registered rule, registered space) pair and
cached (`natjax.nn.policy.compile_rule`); a `Rule` object that is not the registered one is
validated and compiled on every call.

Public API:
  transform(policy_params, archs, key, rule='nat', mode='sample', num_samples=1, space=None,
            released_quirk=False, self_loops=False) -> TransformResult (outputs [B, K, ...])
  transform_genotypes(inputs, in_spaces, key, rule, policy_params=None, ...) -> [Transformed],
            named genotypes of any mix of spaces: one batched call per space, input order kept
  depends_on_inputs(op, src, concat, null_index) -> bool[], traced check of one cell
  fold_params(params) / folded_logits(folded, cell, N) -> the policy's logits, cheaper
  gumbel_noise(key, shape) -> the sampling noise

Speed: the policy's input Linear and first GCN weight are folded into per-op tables
(`fold_params`, same logits as `GCNPolicy` up to float32 rounding), and sampling is Gumbel-max
over `CellDistribution.edge_log_probs()` (what jax.random.categorical does) with noise for the
whole batch drawn once from XLA's RngBitGenerator seeded by the key. The same key gives the same
result, but not the same draws as `CellDistribution.sample` with that key.

Example:
  space = spaces.get_space('darts_pp')
  params = policy.init_for_rule(jax.random.key(0), 'natpp', space)
  archs = spaces.sample_archs(jax.random.key(1), space, 16)
  res = transform(params, archs, jax.random.key(2), rule='natpp', num_samples=4, space=space)
  res.outputs.normal.op.shape  # (16, 4, 8)
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from natjax.core import costs, rules, spaces
from natjax.core.arch import (Arch, Cell, Genotype, arch_to_genotype, genotype_to_arch,
                              stack_archs)
from natjax.core.spaces import SearchSpace
from natjax.errors import InputError, closest
from natjax.io import notation
from natjax.nn import policy

MODES = ("sample", "greedy")
NETWORK = "cifar"


class TransformResult(NamedTuple):
  """Outputs of `transform` for a batch of B architectures and K samples each.

  Attributes:
    outputs: Arch with op, src int32[B, K, E] and concat bool[B, K, N].
    log_prob: float32[B, K], log pi(output | input), normal plus reduce cell.
    in_params: int32[B] params of each input (CIFAR network).
    in_madds: float32[B] MAdds of each input.
    out_params: int32[B, K] params of each output.
    out_madds: float32[B, K] MAdds of each output.
    cost_ok: bool[B, K], False where the output costs more than its input in params or MAdds
      (compared exactly, term by term in integers).
    connected: bool[B, K], False where an output cell no longer depends on its inputs (every
      path from nodes 0 and 1 to the cell's output nodes crosses a null edge), in either cell.
  """
  outputs: Arch
  log_prob: jax.Array
  in_params: jax.Array
  in_madds: jax.Array
  out_params: jax.Array
  out_madds: jax.Array
  cost_ok: jax.Array
  connected: jax.Array




# --------------------------------------------------------------------------- traced pieces


def _positive_sum(diff: jax.Array) -> jax.Array:
  """bool[...]: whether the exact integer sum over the last axis of int32 `diff` is > 0.

  Each term is split into 16-bit halves so that the sum cannot overflow int32.
  """
  hi, lo = diff >> 16, diff & 0xFFFF
  hi_sum, lo_sum = hi.sum(-1), lo.sum(-1)
  hi_sum = hi_sum + (lo_sum >> 16)
  lo_sum = lo_sum & 0xFFFF
  return (hi_sum > 0) | ((hi_sum == 0) & (lo_sum > 0))


class FoldedParams(NamedTuple):
  """GCNPolicy parameters with the two linear maps before the first ReLU folded together.

  The released GCN computes A @ ((nodes @ W_in + b_in) @ W_1) + b_1, linear in the node features,
  so nodes @ (W_in @ W_1) can be gathered from per-op tables. Same logits as `GCNPolicy` up to
  float32 rounding, about 100x fewer multiply-adds per cell.

  Attributes:
    first: float[V, H] contribution of a node's first incoming op.
    second: float[V, H] contribution of its second incoming op.
    inputs: float[2, H] rows of the two cell-input nodes.
    shift: float[H], b_in @ W_1.
    b1, w2, b2, w_head, b_head: the remaining GCN and head weights.
  """
  first: jax.Array
  second: jax.Array
  inputs: jax.Array
  shift: jax.Array
  b1: jax.Array
  w2: jax.Array
  b2: jax.Array
  w_head: jax.Array
  b_head: jax.Array


def fold_params(params: Any) -> FoldedParams:
  """Folds `GCNPolicy` parameters (see `FoldedParams`); traceable."""
  p = params["params"]
  w_in, w1 = p["embed_linear"]["kernel"], p["gcn1"]["weight"]
  merged = w_in @ w1  # [2D, H]
  emb = p["op_embed"]["embedding"]  # [V, D]
  width = emb.shape[-1]
  return FoldedParams(first=emb @ merged[:width], second=emb @ merged[width:],
                      inputs=p["input_embed"] @ merged, shift=p["embed_linear"]["bias"] @ w1,
                      b1=p["gcn1"]["bias"], w2=p["gcn2"]["weight"], b2=p["gcn2"]["bias"],
                      w_head=p["head"]["kernel"], b_head=p["head"]["bias"])


def folded_logits(folded: FoldedParams, cell: Cell, num_nodes: int,
                  self_loops: bool = False) -> jax.Array:
  """Logits float[E, K] of one unbatched cell from folded parameters (== `GCNPolicy`)."""
  op = cell.op.reshape(num_nodes, 2)
  xw = jnp.concatenate([folded.inputs, folded.first[op[:, 0]] + folded.second[op[:, 1]]], axis=0)
  adj = policy.adjacency(cell.src, num_nodes, self_loops)
  h = jax.nn.relu(adj @ (xw + folded.shift) + folded.b1)
  h = adj @ (h @ folded.w2) + folded.b2
  out = h[2:] @ folded.w_head + folded.b_head
  return out.reshape(2 * num_nodes, -1)


def gumbel_noise(key: jax.Array, shape: Tuple[int, ...]) -> jax.Array:
  """Standard Gumbel noise float32[shape], a deterministic function of `key`.

  The key's bits seed XLA's RngBitGenerator ('rbg'): a threefry draw of the whole [B, K, 2, E, A]
  block takes seconds to compile on CPU, RngBitGenerator a fraction of a second.
  """
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  bits = jnp.ravel(key).astype(jnp.uint32)
  seed = jnp.resize(bits, (4,))  # rbg keys hold 4 words; a threefry key's 2 are repeated.
  return jax.random.gumbel(jax.random.wrap_key_data(seed, impl="rbg"), shape, jnp.float32)


def depends_on_inputs(op: jax.Array, src: jax.Array, concat: jax.Array,
                      null_index: int) -> jax.Array:
  """Whether a cell's output depends on the cell inputs (traced and vmappable).

  The array form of the check `natjax.core.arch.make_genotype` applies to genotypes. A node is live
  when one of its two edges is not null and reads a live node; nodes 0 and 1 (the
  cell inputs) are live. Sources precede destinations, so one pass over the nodes in order
  settles every node.

  Args:
    op: int32[E] op of each edge; edges 2k, 2k+1 feed node k+2.
    src: int32[E] source node of each edge.
    concat: bool[N] output nodes among the intermediate nodes 2 .. N+1.
    null_index: index of `null` in the space's op list (static).

  Returns:
    bool[]: True iff some output node is live.
  """
  num_nodes = op.shape[-1] // 2
  carries = (jnp.asarray(op) != null_index).reshape(num_nodes, 2)
  src = jnp.asarray(src).reshape(num_nodes, 2)

  def visit(k, live):
    return live.at[k + 2].set((carries[k] & live[src[k]]).any())

  live = jnp.arange(num_nodes + 2) < 2
  live = jax.lax.fori_loop(0, num_nodes, visit, live)
  return (live[2:] & jnp.asarray(concat, bool)).any()


def _transform_cell(pol: policy.Policy, folded: FoldedParams, cell: Cell,
                    noise: Optional[jax.Array], num_samples: int) -> Tuple[jax.Array, jax.Array]:
  """K transformations of one unbatched cell.

  Args:
    folded: the policy's folded parameters.
    cell: op, src int32[E], concat bool[N].
    noise: Gumbel noise float32[K, E, A] for sampling (Gumbel-max over the policy's allowed
      log-weights, the rule jax.random.categorical applies), or None for greedy.
    num_samples: K.

  Returns:
    (new_op int32[K, E], log_prob float32[K]).
  """
  logits = folded_logits(folded, cell, pol.module.num_nodes, pol.module.self_loops)
  dist = policy.CellDistribution(logits, cell.op, pol.mask, pol.module.head, pol.null_index,
                                 pol.skip_index, pol.released_quirk)
  if noise is None:
    action, _ = dist.greedy()
    action = jnp.broadcast_to(action, (num_samples,) + action.shape)
  else:
    action = jnp.argmax(dist.edge_log_probs() + noise, axis=-1).astype(jnp.int32)
  new_op = jax.vmap(lambda a: policy.action_to_op(a, cell.op, pol.module.head, pol.null_index,
                                                  pol.skip_index))(action)
  return new_op, jax.vmap(dist.log_prob)(action)


def _transform_arch(pol: policy.Policy, folded: FoldedParams, arch: Arch,
                    noise: Optional[jax.Array], num_samples: int) -> Tuple[Arch, jax.Array]:
  """K transformations of one unbatched architecture.

  Args:
    noise: float32[K, 2, E, A] Gumbel noise (cell axis: normal, reduce), or None for greedy.

  Returns:
    (Arch with leaves [K, ...], log_prob float32[K]).
  """
  cells, total = [], jnp.zeros((num_samples,), jnp.float32)
  for c, cell in enumerate((arch.normal, arch.reduce)):
    cell_noise = None if noise is None else noise[:, c]
    new_op, log_p = _transform_cell(pol, folded, cell, cell_noise, num_samples)
    tile = lambda x: jnp.broadcast_to(x, (num_samples,) + x.shape)
    cells.append(Cell(op=new_op, src=tile(cell.src), concat=tile(cell.concat)))
    total = total + log_p
  return Arch(*cells), total


def _costs(archs: Arch, space: SearchSpace) -> Tuple[jax.Array, jax.Array, jax.Array]:
  """(terms params int32[..., T], params int32[...], MAdds float32[...]) in the CIFAR network."""
  terms_p, terms_m = costs.network_terms(archs, space, NETWORK)
  return (terms_p, terms_m), terms_p.sum(-1, dtype=jnp.int32), terms_m.astype(jnp.float32).sum(-1)


@functools.lru_cache(maxsize=64)
def _batch_fn(space: SearchSpace, head: str, mask_bytes: bytes, mode: str, num_samples: int,
              released_quirk: bool, self_loops: bool):
  """The jitted batch function for one (space, compiled rule, mode, K, numerics); cached."""
  mask = np.frombuffer(mask_bytes, bool).reshape(space.num_ops, space.num_ops)
  pol = policy.make_policy(space, head, mask=mask if head == "mask" else None,
                           released_quirk=released_quirk, self_loops=self_loops)
  num_k = policy.num_actions(head, space.num_ops)

  @jax.jit
  def run(params: Any, archs: Arch, key: jax.Array) -> TransformResult:
    batch = archs.normal.op.shape[0]
    folded = fold_params(params)
    if mode == "greedy":
      outputs, log_prob = jax.vmap(
          lambda a: _transform_arch(pol, folded, a, None, num_samples))(archs)
    else:
      noise = gumbel_noise(key, (batch, num_samples, 2, space.num_edges, num_k))
      outputs, log_prob = jax.vmap(
          lambda a, g: _transform_arch(pol, folded, a, g, num_samples))(archs, noise)
    # Inputs and outputs are priced in one call: one trace of the network's cost model.
    flat = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), outputs)
    both = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), archs, flat)
    terms, params_both, madds_both = _costs(both, space)
    in_terms = tuple(t[:batch] for t in terms)
    out_terms = tuple(t[batch:].reshape((batch, num_samples, -1)) for t in terms)
    in_params, in_madds = params_both[:batch], madds_both[:batch]
    out_params = params_both[batch:].reshape(batch, num_samples)
    out_madds = madds_both[batch:].reshape(batch, num_samples)
    more = (_positive_sum(out_terms[0] - in_terms[0][:, None])
            | _positive_sum(out_terms[1] - in_terms[1][:, None]))
    live = jax.vmap(jax.vmap(lambda c: depends_on_inputs(c.op, c.src, c.concat, space.null_index)))
    connected = live(outputs.normal) & live(outputs.reduce)
    return TransformResult(outputs, log_prob, in_params, in_madds, out_params, out_madds, ~more,
                           connected)

  return run


def _check_archs(archs: Arch, space: SearchSpace) -> None:
  """Host-side shape checks of a batch (static information only, no device transfer)."""
  for name in ("normal", "reduce"):
    cell = getattr(archs, name)
    op_shape = np.shape(cell.op)
    if len(op_shape) != 2:
      raise InputError(f"archs.{name}.op must be int[B, E] (a batch), got shape {op_shape}")
    if op_shape[1] != space.num_edges:
      raise InputError(f"archs.{name} has {op_shape[1]} edges but space '{space.name}' has"
                       f" {space.num_edges}")


def transform(policy_params: Any, archs: Arch, key: jax.Array,
              rule: Union[str, rules.Rule] = "nat", mode: str = "sample",
              num_samples: int = 1, space: Union[str, SearchSpace, None] = None,
              released_quirk: bool = False, self_loops: bool = False) -> TransformResult:
  """Transforms a batch of architectures with the policy.

  Args:
    policy_params: parameters of `policy.for_rule(rule, space)` (e.g. from `policy.init_for_rule`).
    archs: Arch whose leaves carry a leading batch axis B: op, src int32[B, E], concat bool[B, N];
      op indices are in `space`'s vocabulary.
    key: PRNG key; the same key gives the same result.
    rule: a registered rule name, a JSON rule path or a `rules.Rule`.
    mode: 'sample' (K independent draws per architecture) or 'greedy' (the most likely allowed
      op on every edge; all K copies identical).
    num_samples: K >= 1.
    space: a SearchSpace or name; default `rules.default_space(N, rule)`.
    released_quirk: use the released p + 1e-5 numerics.
    self_loops: the GCN variant with self-loops (must match how `policy_params` were trained).

  Returns:
    TransformResult with outputs [B, K, ...], log_prob, costs of inputs [B] and outputs [B, K],
    and the cost_ok and connected flags [B, K].

  Raises:
    InputError: unknown mode, K < 1, a rule that does not fit the space, or a batch of the wrong
      shape.
  """
  if mode not in MODES:
    raise InputError(f"unknown mode '{mode}'{closest(mode, MODES)}; modes: {', '.join(MODES)}")
  if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
      or num_samples < 1:
    raise InputError(f"the number of samples must be an integer >= 1, got {num_samples!r}")
  rule = rules.as_rule(rule)
  num_nodes = np.shape(archs.normal.op)[-1] // 2
  space = rules.default_space(num_nodes, rule) if space is None else spaces.as_space(space)
  _check_archs(archs, space)
  head, mask = policy.compile_rule(rule, space)
  run = _batch_fn(space, head, mask.tobytes(), mode, int(num_samples), bool(released_quirk),
                  bool(self_loops))
  return run(policy_params, archs, key)


# --------------------------------------------------------------------------- named genotypes


class Transformed(NamedTuple):
  """One named input architecture and its K outputs (`transform_genotypes`).

  Attributes:
    name: the input's name.
    space: the search space it was transformed in.
    genotype: the input.
    outputs: K output genotypes, NOT validated (an output may have lost its inputs: see
      report['outputs'][k]['connected']).
    report: JSON-ready {"name", "space", "input": entry, "outputs": [entry] * K}; an entry is the
      genotype's JSON with "params" and "madds" (exact, CIFAR network, conv_linear), "log_prob"
      (None for the input), "cost_ok" and "connected".
  """
  name: str
  space: SearchSpace
  genotype: Genotype
  outputs: Tuple[Genotype, ...]
  report: Dict[str, Any]


def report_entry(genotype: Genotype, params: Any, madds: Any, **extra: Any) -> Dict[str, Any]:
  """A genotype as the reports write it (`transform_genotypes`, derived.json): its JSON form,
  exact 'params' and 'madds' as ints, then `extra` fields in order."""
  return {**notation.genotype_to_json(genotype), "params": int(params), "madds": int(madds),
          **extra}


def transform_genotypes(inputs: Sequence[Tuple[str, Genotype]], in_spaces: Sequence[SearchSpace],
                        key: jax.Array, rule: Union[str, rules.Rule] = "nat",
                        policy_params: Any = None, mode: str = "sample", num_samples: int = 1,
                        released_quirk: bool = False,
                        self_loops: bool = False) -> List[Transformed]:
  """Transforms named genotypes that may belong to different search spaces.

  The inputs are grouped by space and each group is one batched `transform` call (compiled once
  per space, batch size and K); the results come back in input order.

  Args:
    inputs: (name, genotype) pairs.
    in_spaces: the space of each input (same length as `inputs`).
    key: PRNG key. Each group's policy (when fresh) is initialised from fold_in(key, 0) and
      transformed with fold_in(key, 1), so one space gives what `transform` gives.
    rule: the transition rule.
    policy_params: a trained policy's parameters (every input must then be in its one space),
      or None for freshly initialised weights (`policy.init_for_rule`) per space.
    mode, num_samples, released_quirk, self_loops: as `transform`.

  Returns:
    One `Transformed` per input, in input order.

  Raises:
    InputError: as `transform`; an input outside its space's vocabulary (the message names it);
      several spaces with trained policy weights.
  """
  if len(in_spaces) != len(inputs):
    raise InputError(f"transform_genotypes: {len(inputs)} inputs but {len(in_spaces)} spaces")
  groups: Dict[SearchSpace, List[int]] = {}
  for i, space in enumerate(in_spaces):
    groups.setdefault(space, []).append(i)
  if policy_params is not None and len(groups) > 1:
    raise InputError(f"a trained policy serves one space; the inputs need"
                     f" {', '.join(s.name for s in groups)}")
  done: Dict[int, Transformed] = {}
  for space, members in groups.items():
    named = [inputs[i] for i in members]
    archs = stack_archs([genotype_to_arch(g, space, f"{n}: ") for n, g in named])
    params = policy_params
    if params is None:
      params = policy.init_for_rule(jax.random.fold_in(key, 0), rule, space,
                                    self_loops=self_loops)
    res = transform(params, archs, jax.random.fold_in(key, 1), rule=rule, mode=mode,
                    num_samples=num_samples, space=space, released_quirk=released_quirk,
                    self_loops=self_loops)
    in_p, in_m = costs.exact_costs(archs, space, NETWORK)
    out_p, out_m = costs.exact_costs(res.outputs, space, NETWORK)
    outputs = jax.tree_util.tree_map(np.asarray, res.outputs)
    log_prob, cost_ok = np.asarray(res.log_prob), np.asarray(res.cost_ok)
    connected = np.asarray(res.connected)
    for b, (i, (name, genotype)) in enumerate(zip(members, named)):
      outs = tuple(arch_to_genotype(jax.tree_util.tree_map(lambda x, b=b, k=k: x[b, k], outputs),
                                    space) for k in range(num_samples))
      report = {"name": name, "space": space.name,
                "input": report_entry(genotype, in_p[b], in_m[b], log_prob=None, cost_ok=True,
                                      connected=True),
                "outputs": [report_entry(g, out_p[b, k], out_m[b, k],
                                         log_prob=float(log_prob[b, k]),
                                         cost_ok=bool(cost_ok[b, k]),
                                         connected=bool(connected[b, k]))
                            for k, g in enumerate(outs)]}
      done[i] = Transformed(name, space, genotype, outs, report)
  return [done[i] for i in range(len(inputs))]
