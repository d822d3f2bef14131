"""The NAT / NAT++ policy: a GCN over one cell and its per-edge transition distribution.

The network (`GCNPolicy`) is the released controller (spec section 5): op and input-node
embeddings, Linear(200 -> 1024), two graph convolutions out = A @ (X @ W) + b over the dense
directed adjacency A[dst, src] (no self-loops, no normalisation unless `self_loops=True`), and a
Linear(100 -> 2K) head read on the intermediate nodes, giving logits float[E, K].

Two heads:
  'nat'   K = 3 actions {0: null, 1: keep, 2: skip}; action a on edge e gives the op
          (null_index, op[e], skip_index)[a]. No mask (spec section 4.1).
  'mask'  K = V, one logit per op; the allowed outputs of edge e are mask[op[e]] (row = input op)
          and the probabilities are the Binary-Masked Softmax (spec section 4.4): masked ops have
          probability exactly 0 and receive exactly zero gradient. Action index == op index.

Log-probabilities are defined on ACTIONS. Under 'nat', an input skip edge reaches skip through
both keep and skip (and an input null edge reaches null through null and keep), so log_prob of
the sampled action is what REINFORCE uses, as the released code does; `op_log_prob` gives the
marginal probability of an output op (log-sum over the actions that produce it) when only the new
op is known.

`released_quirk=True` reproduces the released numerics: probabilities p + 1e-5 on every allowed
entry (all 3 under 'nat'), no renormalisation; log-probabilities, entropy and sampling all use
p + 1e-5 (spec sections 4.4, 5.5 and 12.5).

Public API (all pure; unbatched cells, vmap outside):
  GCNPolicy(num_ops, num_nodes, head, ...)                    Flax module: (op, src) -> [E, K]
  num_actions(head, num_ops) -> int
  edge_log_probs(logits, op, mask, head, released_quirk)       -> float[E, K]
  sample(key, logits, op, mask, head, null_index, skip_index, released_quirk)
                                                               -> (action int32[E], new_op int32[E])
  greedy(logits, op, mask, head, null_index, skip_index)       -> (action, new_op)
  action_to_op(action, op, head, null_index, skip_index)       -> new_op int32[E]
  edge_log_prob(logits, op, mask, head, action, ...) / log_prob(...)   float[E] / float[]
  op_log_prob(logits, op, mask, head, new_op, null_index, skip_index, ...)  float[E]
  edge_entropy(logits, op, mask, head, ...) / entropy(...)      float[E] / float[]
  Policy, make_policy(space, head, mask=None, ...)             bundle: init, logits, distribution
  for_rule(rule, space, released_quirk, self_loops) -> Policy  the head and mask a rule implies
  compile_rule(rule, space) -> (head, mask bool[V, V]); head_of(rule) -> 'nat' | 'mask'
  CellDistribution: sample(key), greedy(), log_prob(action), edge_log_prob(action),
                    op_log_prob(new_op), entropy(), edge_entropy(), edge_log_probs()

Example:
  pol = make_policy(spaces.get_space('darts_pp'), 'mask', mask)
  params = pol.init(jax.random.key(0))
  action, new_op = pol.distribution(params, cell).sample(key)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional, Tuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from natjax import registry
from natjax.core import rules, spaces
from natjax.core.arch import Cell
from natjax.core.spaces import SearchSpace
from natjax.kernels import initializers
from natjax.errors import InputError, closest

HEADS = ("nat", "mask")
HEAD_OF_KIND = {"actions": "nat", "mask": "mask"}  # rule kind -> the head its policy needs
NAT_ACTIONS = ("null", "keep", "skip")
QUIRK_EPS = 1e-5  # Added to allowed probabilities by the released code.
_MASKED_LOGIT = -1e9  # Finite stand-in for -inf before the softmax: exp underflows to exactly 0.


def _check_head(head: str) -> None:
  if head not in HEADS:
    raise InputError(f"unknown policy head '{head}'{closest(head, HEADS)};"
                     f" heads: {', '.join(HEADS)}")


def num_actions(head: str, num_ops: int) -> int:
  """K: 3 for 'nat' (null / keep / skip), V for 'mask' (one entry per op)."""
  _check_head(head)
  return len(NAT_ACTIONS) if head == "nat" else num_ops


# --------------------------------------------------------------------------- network


def _dense(features: int, fan_in: int, name: str) -> nn.Dense:
  """nn.Dense with PyTorch Linear init: weight and bias U(+-1/sqrt(fan_in))."""
  init = initializers.uniform(initializers.torch_bound(fan_in))
  return nn.Dense(features, kernel_init=init, bias_init=init, name=name)


@functools.partial(jax.jit, static_argnums=0)
def _init_module(module: nn.Module, key: jax.Array, op: jax.Array, src: jax.Array) -> Any:
  """module.init under one jit, cached per module configuration (not one compile per call)."""
  return module.init(key, op, src)


def adjacency(src: jax.Array, num_nodes: int, self_loops: bool = False) -> jax.Array:
  """Dense adjacency of one cell.

  Args:
    src: int32[E] source node of each edge; edge e feeds node e // 2 + 2.
    num_nodes: N, intermediate nodes.
    self_loops: False gives the released A[t, f] = #edges f -> t (spec section 5.2); True gives
      D^-1/2 (A + I) D^-1/2 with D the row sums of A + I (Kipf and Welling's GCN).

  Returns:
    float32[N+2, N+2], row = destination, column = source.
  """
  size = num_nodes + 2
  dst = jnp.arange(src.shape[-1]) // 2 + 2
  # Sum over edges of one_hot(dst) outer one_hot(src): duplicates add up, no loop over edges.
  adj = jax.nn.one_hot(dst, size).T @ jax.nn.one_hot(src, size)
  if not self_loops:
    return adj
  adj = adj + jnp.eye(size)
  inv_sqrt_deg = 1.0 / jnp.sqrt(adj.sum(axis=1))
  return inv_sqrt_deg[:, None] * adj * inv_sqrt_deg[None, :]


class GraphConv(nn.Module):
  """pygcn GraphConvolution: out = A @ (X @ W) + b, W and b ~ U(+-1/sqrt(features))."""
  features: int

  @nn.compact
  def __call__(self, adj: jax.Array, x: jax.Array) -> jax.Array:
    """adj: float[M, M]; x: float[M, F_in] -> float[M, features]."""
    init = initializers.uniform(initializers.gcn_bound(self.features))
    weight = self.param("weight", init, (x.shape[-1], self.features))
    bias = self.param("bias", init, (self.features,))
    return adj @ (x @ weight) + bias


class GCNPolicy(nn.Module):
  """The released NAT/NAT++ controller for one cell.

  Initialised as released (spec section 5 item 6, `natjax.kernels.initializers`): embeddings
  N(0, 1), Linear layers U(+-1/sqrt(fan_in)) for weight and bias, graph convolutions
  U(+-1/sqrt(out)).

  Attributes:
    num_ops: V, the op vocabulary size (null included).
    num_nodes: N, intermediate nodes per cell.
    head: 'nat' (K = 3) or 'mask' (K = V).
    edge_hidden: op embedding width (a node feature is two of them).
    features: width after the input Linear (`nfeat`).
    hidden: GCN hidden width (`transformer_nhid`, 100 in the released script).
    self_loops: False is the released GCN (two-hop property, spec section 5); True uses the
      normalised D^-1/2 (A + I) D^-1/2.
  """
  num_ops: int
  num_nodes: int
  head: str = "nat"
  edge_hidden: int = 100
  features: int = 1024
  hidden: int = 100
  self_loops: bool = False

  @nn.compact
  def __call__(self, op: jax.Array, src: jax.Array) -> jax.Array:
    """Logits of one cell.

    Args:
      op: int32[E] input op of each edge.
      src: int32[E] source node of each edge.

    Returns:
      float32[E, K]; row 2k / 2k+1 is edge 0 / 1 of node k+2.
    """
    num_k = num_actions(self.head, self.num_ops)
    node_width = 2 * self.edge_hidden
    op_emb = nn.Embed(self.num_ops, self.edge_hidden, embedding_init=initializers.normal(1.0),
                      name="op_embed")(op)
    input_emb = self.param("input_embed", initializers.normal(1.0), (2, node_width))
    # Intermediate node k+2 = concat(op_emb[op[2k]], op_emb[op[2k+1]]).
    nodes = jnp.concatenate([input_emb, op_emb.reshape(self.num_nodes, node_width)], axis=0)
    x = _dense(self.features, node_width, "embed_linear")(nodes)
    adj = adjacency(src, self.num_nodes, self.self_loops)
    h = nn.relu(GraphConv(self.hidden, name="gcn1")(adj, x))
    h = GraphConv(self.hidden, name="gcn2")(adj, h)
    out = _dense(2 * num_k, self.hidden, "head")(h[2:])
    return out.reshape(2 * self.num_nodes, num_k)


# --------------------------------------------------------------------------- distributions


def _allowed(op: jax.Array, mask: Optional[Any], head: str, num_k: int) -> jax.Array:
  """bool[E, K]: which actions edge e may take (all under 'nat', mask[op[e]] under 'mask')."""
  _check_head(head)
  if head == "nat":
    return jnp.ones(op.shape + (num_k,), bool)
  if mask is None:
    raise InputError("head 'mask' needs a transition mask bool[V, V]")
  return jnp.asarray(mask, bool)[op]


def _log_q(logits: jax.Array, allowed: jax.Array, released_quirk: bool) -> jax.Array:
  """Finite log-weights float[E, K]: log p (or log(p + 1e-5)) on allowed entries, 0 elsewhere.

  Masked logits reach the output only through `where`, so their gradient is exactly 0.
  """
  logp = jax.nn.log_softmax(jnp.where(allowed, logits, _MASKED_LOGIT), axis=-1)
  if released_quirk:
    p = jnp.where(allowed, jnp.exp(logp), 0.0)
    logp = jnp.log(jnp.where(allowed, p + QUIRK_EPS, 1.0))
  return jnp.where(allowed, logp, 0.0)


def edge_log_probs(logits: jax.Array, op: jax.Array, mask: Optional[Any], head: str,
                   released_quirk: bool = False) -> jax.Array:
  """Per-edge log-probabilities of every action.

  Args:
    logits: float[E, K] from `GCNPolicy`.
    op: int32[E] input ops.
    mask: bool[V, V] transition mask (row = input op) for head 'mask'; ignored for 'nat'.
    head: 'nat' or 'mask'.
    released_quirk: use log(p + 1e-5) on allowed entries (not normalised).

  Returns:
    float[E, K]: log-probabilities; -inf on masked entries.
  """
  allowed = _allowed(op, mask, head, logits.shape[-1])
  return jnp.where(allowed, _log_q(logits, allowed, released_quirk), -jnp.inf)


def action_to_op(action: jax.Array, op: jax.Array, head: str, null_index: Optional[int] = None,
                 skip_index: Optional[int] = None) -> jax.Array:
  """int32[E] output op of each action.

  'nat' maps actions (null, keep, skip) to (null_index, op[e], skip_index); 'mask' actions are op
  indices already.
  """
  _check_head(head)
  action = action.astype(jnp.int32)
  if head == "mask":
    return action
  if null_index is None or skip_index is None:
    raise InputError("head 'nat' needs null_index and skip_index to map actions to ops")
  table = jnp.stack([jnp.full_like(op, null_index), op.astype(jnp.int32),
                     jnp.full_like(op, skip_index)], axis=-1)
  return jnp.take_along_axis(table, action[..., None], axis=-1)[..., 0].astype(jnp.int32)


def sample(key: jax.Array, logits: jax.Array, op: jax.Array, mask: Optional[Any], head: str,
           null_index: Optional[int] = None, skip_index: Optional[int] = None,
           released_quirk: bool = False) -> Tuple[jax.Array, jax.Array]:
  """Draws one action per edge (independently), proportional to p (or p + 1e-5 with the quirk).

  Returns:
    (action int32[E], new_op int32[E]); under 'mask' both are the same op indices.
  """
  log_w = edge_log_probs(logits, op, mask, head, released_quirk)
  action = jax.random.categorical(key, log_w, axis=-1).astype(jnp.int32)
  return action, action_to_op(action, op, head, null_index, skip_index)


def greedy(logits: jax.Array, op: jax.Array, mask: Optional[Any], head: str,
           null_index: Optional[int] = None,
           skip_index: Optional[int] = None) -> Tuple[jax.Array, jax.Array]:
  """The most likely allowed action per edge (argmax of the logits over allowed entries).

  Returns:
    (action int32[E], new_op int32[E]).
  """
  allowed = _allowed(op, mask, head, logits.shape[-1])
  action = jnp.argmax(jnp.where(allowed, logits, -jnp.inf), axis=-1).astype(jnp.int32)
  return action, action_to_op(action, op, head, null_index, skip_index)


def edge_log_prob(logits: jax.Array, op: jax.Array, mask: Optional[Any], head: str,
                  action: jax.Array, released_quirk: bool = False) -> jax.Array:
  """float[E]: log-probability of the given action on each edge (-inf if masked)."""
  log_p = edge_log_probs(logits, op, mask, head, released_quirk)
  return jnp.take_along_axis(log_p, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def log_prob(logits: jax.Array, op: jax.Array, mask: Optional[Any], head: str,
             action: jax.Array, released_quirk: bool = False) -> jax.Array:
  """float[]: log pi(action | cell), the sum of `edge_log_prob` over edges."""
  return edge_log_prob(logits, op, mask, head, action, released_quirk).sum(-1)


def op_log_prob(logits: jax.Array, op: jax.Array, mask: Optional[Any], head: str,
                new_op: jax.Array, null_index: Optional[int] = None,
                skip_index: Optional[int] = None, released_quirk: bool = False) -> jax.Array:
  """float[E]: marginal log-probability of each edge's output op (log-sum over the actions that
  produce it; equal to `edge_log_prob` under 'mask'). -inf if no allowed action produces it."""
  num_k = logits.shape[-1]
  actions = jnp.broadcast_to(jnp.arange(num_k, dtype=jnp.int32), op.shape + (num_k,))
  outcomes = jax.vmap(lambda a: action_to_op(a, op, head, null_index, skip_index),
                      in_axes=-1, out_axes=-1)(actions)
  log_p = edge_log_probs(logits, op, mask, head, released_quirk)
  hits = outcomes == new_op[..., None]
  return jax.nn.logsumexp(jnp.where(hits, log_p, -jnp.inf), axis=-1)


def edge_entropy(logits: jax.Array, op: jax.Array, mask: Optional[Any], head: str,
                 released_quirk: bool = False) -> jax.Array:
  """float[E]: -sum_k q log q over allowed entries, q = p (or p + 1e-5 with the quirk)."""
  allowed = _allowed(op, mask, head, logits.shape[-1])
  log_q = _log_q(logits, allowed, released_quirk)
  q = jnp.where(allowed, jnp.exp(log_q), 0.0)
  return -(q * log_q).sum(-1)


def entropy(logits: jax.Array, op: jax.Array, mask: Optional[Any], head: str,
            released_quirk: bool = False) -> jax.Array:
  """float[]: sum of `edge_entropy` over the edges of the cell."""
  return edge_entropy(logits, op, mask, head, released_quirk).sum(-1)


# --------------------------------------------------------------------------- bundle


@dataclasses.dataclass(frozen=True)
class CellDistribution:
  """The policy's distribution for one cell: logits plus everything needed to interpret them.

  Attributes:
    logits: float[E, K]; op: int32[E] input ops; the rest are static settings (see `Policy`).
  """
  logits: jax.Array
  op: jax.Array
  mask: Optional[Any]
  head: str
  null_index: int
  skip_index: int
  released_quirk: bool = False

  def edge_log_probs(self) -> jax.Array:
    """float[E, K] log-probabilities of every action (-inf where masked)."""
    return edge_log_probs(self.logits, self.op, self.mask, self.head, self.released_quirk)

  def sample(self, key: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """(action int32[E], new_op int32[E])."""
    return sample(key, self.logits, self.op, self.mask, self.head, self.null_index,
                  self.skip_index, self.released_quirk)

  def greedy(self) -> Tuple[jax.Array, jax.Array]:
    """(action int32[E], new_op int32[E]) of the allowed argmax."""
    return greedy(self.logits, self.op, self.mask, self.head, self.null_index, self.skip_index)

  def edge_log_prob(self, action: jax.Array) -> jax.Array:
    """float[E] log-probability of each edge's action."""
    return edge_log_prob(self.logits, self.op, self.mask, self.head, action, self.released_quirk)

  def log_prob(self, action: jax.Array) -> jax.Array:
    """float[] log pi(action | cell)."""
    return log_prob(self.logits, self.op, self.mask, self.head, action, self.released_quirk)

  def op_log_prob(self, new_op: jax.Array) -> jax.Array:
    """float[E] marginal log-probability of each edge's output op."""
    return op_log_prob(self.logits, self.op, self.mask, self.head, new_op, self.null_index,
                       self.skip_index, self.released_quirk)

  def edge_entropy(self) -> jax.Array:
    """float[E]."""
    return edge_entropy(self.logits, self.op, self.mask, self.head, self.released_quirk)

  def entropy(self) -> jax.Array:
    """float[] entropy of the cell's distribution (sum over edges)."""
    return entropy(self.logits, self.op, self.mask, self.head, self.released_quirk)


@dataclasses.dataclass(frozen=True, eq=False)
class Policy:
  """A GCN policy together with its head, mask and numerics.

  Attributes:
    module: the `GCNPolicy`.
    mask: bool[V, V] numpy transition mask (row = input op) for head 'mask', None for 'nat'.
    null_index, skip_index: op indices of null and skip_connect in the space.
    released_quirk: reproduce the released p + 1e-5 numerics.
  """
  module: GCNPolicy
  mask: Optional[np.ndarray]
  null_index: int
  skip_index: int
  released_quirk: bool = False

  def init(self, key: jax.Array) -> Any:
    """Fresh parameters (PyTorch-default initialisation).

    No parameter shape depends on the number of nodes or on the adjacency, so every cell size
    shares one compiled initialiser (built for a one-node cell); the values are the same.
    """
    module = self.module.clone(num_nodes=1, self_loops=False)
    dummy = jnp.zeros((2,), jnp.int32)
    return _init_module(module, key, dummy, dummy)

  def logits(self, params: Any, cell: Cell) -> jax.Array:
    """float[E, K] for one unbatched cell."""
    return self.module.apply(params, cell.op, cell.src)

  def distribution(self, params: Any, cell: Cell) -> CellDistribution:
    """The transition distribution of one unbatched cell (vmap outside for a batch)."""
    return CellDistribution(self.logits(params, cell), cell.op, self.mask, self.module.head,
                            self.null_index, self.skip_index, self.released_quirk)


def make_policy(space: SearchSpace, head: str, mask: Optional[Any] = None,
                released_quirk: bool = False,
                **module_kwargs: Any) -> Policy:
  """Builds a `Policy` for a search space.

  Args:
    space: a `spaces.SearchSpace` (num_ops, num_nodes, null_index, skip_index are read).
    head: 'nat' or 'mask'.
    mask: bool[V, V] (row = input op), required for head 'mask' (e.g. from
      `rules.compile_mask`).
    released_quirk: reproduce the released p + 1e-5 numerics.
    **module_kwargs: other `GCNPolicy` fields (self_loops, hidden, ...).

  Raises:
    ValueError: unknown head, or a missing / wrongly shaped mask.
  """
  _check_head(head)
  if head == "mask":
    if mask is None:
      raise InputError("head 'mask' needs a transition mask bool[V, V]")
    mask = np.asarray(mask, bool)
    if mask.shape != (space.num_ops, space.num_ops):
      raise InputError(f"mask has shape {mask.shape}; space '{space.name}' needs"
                       f" ({space.num_ops}, {space.num_ops})")
    if not mask.any(axis=1).all():
      raise InputError("every row of the mask needs at least one allowed op")
  else:
    mask = None
  module = GCNPolicy(num_ops=space.num_ops, num_nodes=space.num_nodes, head=head, **module_kwargs)
  return Policy(module, mask, space.null_index, space.skip_index, released_quirk)


# --------------------------------------------------------------------------- a rule's policy


def head_of(rule: rules.Rule) -> str:
  """The policy head a rule's kind needs: 'actions' -> 'nat', 'mask' -> 'mask'.

  The kind itself is validated when the rule is registered or loaded (natjax.core.rules).
  """
  return HEAD_OF_KIND[rule.kind]


def compile_rule(rule: Union[str, rules.Rule],
                 space: Union[str, SearchSpace]) -> Tuple[str, np.ndarray]:
  """The rule as (head, mask bool[V, V]) over the space's vocabulary (host side, before jit).

  An 'actions' rule must allow null, the op itself and skip_connect from every op of the space,
  since those are the three outcomes of the NAT head. Registered rules in registered spaces are
  compiled once and cached (the returned mask is read-only).
  """
  rule, space = rules.as_rule(rule), spaces.as_space(space)
  if rules.is_registered(rule) and spaces.is_registered(space):
    return _compile_registered(rule.name, space.name, registry.generation())
  return _compile(rule, space)


@functools.lru_cache(maxsize=None)
def _compile_registered(rule_name: str, space_name: str,
                        generation: int) -> Tuple[str, np.ndarray]:
  """`_compile` of a registered rule in a registered space, cached.

  A name cannot be registered again with other contents until something is unregistered, which
  changes `generation`: (names, generation) is a sound key.
  """
  del generation
  head, mask = _compile(rules.get_rule(rule_name), spaces.get_space(space_name))
  mask.setflags(write=False)
  return head, mask


def _compile(rule: rules.Rule, space: SearchSpace) -> Tuple[str, np.ndarray]:
  head = head_of(rule)
  mask = rules.compile_mask(rule, space)
  if head == "nat":
    for i, name in enumerate(space.ops):
      for j in (space.null_index, i, space.skip_index):
        if not mask[i, j]:
          raise InputError(f"rule '{rule.name}' has kind 'actions' but does not allow"
                           f" {name} -> {space.ops[j]}, an outcome of the NAT head")
  return head, mask


def for_rule(rule: Union[str, rules.Rule], space: Union[str, SearchSpace],
             released_quirk: bool = False, self_loops: bool = False) -> Policy:
  """The policy (head and mask) that a rule implies in a space; `self_loops` is the GCN's."""
  space = spaces.as_space(space)
  head, mask = compile_rule(rule, space)
  return make_policy(space, head, mask=mask if head == "mask" else None,
                     released_quirk=released_quirk, self_loops=self_loops)


def init_for_rule(key: jax.Array, rule: Union[str, rules.Rule], space: Union[str, SearchSpace],
                  self_loops: bool = False) -> Any:
  """Freshly initialised policy parameters for a rule and a space."""
  return for_rule(rule, space, self_loops=self_loops).init(key)
