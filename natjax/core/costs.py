"""Cost model: trainable parameters and multiply-adds of cells and stand-alone networks.

Conventions (spec sections 3.4, 9 and 10):
  * params: every trainable parameter except the auxiliary head; BN affine (2C) is counted,
    convolutions carry no bias, the classifier Linear carries one.
  * MAdds: multiply-adds of convolutions and Linear layers at their OUTPUT resolution
    (C_in/groups * C_out * k_h * k_w * H_out * W_out); BN, ReLU, pooling and additions are free.
  * A stride-2 op maps H to ceil(H/2) (true for every padded odd kernel of section 3.4 and for
    FactorizedReduce, which pads odd inputs by one pixel first).

Everything that takes an `Arch` or `Cell` is jit-able and vmappable (leading batch axes on the
leaves): the network's shape schedule (channels, resolutions, strides) is static Python, only the
op indices, sources and concat masks are traced. Arithmetic is exact int32; every single term
(one op, one cell, one stem) stays far below 2**31 for the built-in networks. The MAdds of a whole
network may exceed 2**31 for conv-heavy cells, so `network_cost` sums MAdds in float32 (relative
error ~1e-7); `genotype_cost` sums the exact int32 terms on the host and returns Python ints.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Dict, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from natjax.core import ops, plan
from natjax.core.arch import Arch, Cell, Genotype, genotype_to_arch, infer_space
from natjax.core.spaces import SearchSpace
from natjax.errors import InputError, closest
from natjax.kernels.units import conv_bn_cost, factorized_reduce_cost

Int = Any  # A Python int or an int32 jax scalar (possibly traced).
NETWORKS = ("cifar", "imagenet")


# --------------------------------------------------------------------------- building blocks


def out_size(size: Int, stride: int) -> Int:
  """Output side length of a padded odd-kernel op or FactorizedReduce: ceil(size / stride)."""
  return (size + stride - 1) // stride


def op_cost(spec: ops.OpSpec, c: Int, h: Int, w: Int, stride: int) -> Tuple[Int, Int]:
  """Cost of one cell-edge op with c channels in and out, from its family (`OpFamily.cost`).

  Args:
    spec: the op's registry entry.
    c: channels.
    h, w: INPUT resolution (pixels).
    stride: 1 or 2.

  Returns:
    (params, MAdds) with the arithmetic type of the inputs (Python int or int32).
  """
  return ops.family_of(spec).cost(spec, c, out_size(h, stride), out_size(w, stride), stride)


def op_cost_table(space: SearchSpace, c: Int, h: Int, w: Int,
                  stride: int) -> Tuple[jax.Array, jax.Array]:
  """Per-op costs for a space's op list.

  Args:
    space: a `SearchSpace` (only `space.ops` is read).
    c: channels in and out.
    h, w: input resolution (pixels).
    stride: 1 or 2.

  Returns:
    (params, MAdds): int32[V] each, indexed like `space.ops`.
  """
  costs = [op_cost(ops.get_op(name), c, h, w, stride) for name in space.ops]
  return tuple(jnp.stack([jnp.asarray(x[i], jnp.int32) for x in costs]) for i in (0, 1))


# --------------------------------------------------------------------------- cells


def _nodes_out(cell: Cell) -> jax.Array:
  """int32[...]: number of nodes the cell concatenates."""
  return jnp.sum(jnp.asarray(cell.concat), axis=-1, dtype=jnp.int32)


def cell_channels(cell: Cell, c: Int) -> jax.Array:
  """Output channels of a cell: (number of concat nodes) · c. int32[...] over batch axes."""
  return _nodes_out(cell) * c


def edges_cost(cell: Cell, space: SearchSpace, c: int, h: int, w: int,
               reduction: bool) -> Tuple[jax.Array, jax.Array]:
  """Sum of the edge ops of one cell.

  Edges leaving nodes 0/1 of a reduction cell are stride 2 at the input resolution; every other
  edge is stride 1 at the cell's output resolution.

  Args:
    cell: op/src int[..., E] (concat unused).
    space: the search space the op indices refer to.
    c: channels of every node.
    h, w: cell input resolution (pixels), after preprocessing.
    reduction: whether this is a reduction cell (static).

  Returns:
    (params, MAdds): int32[...] over the leading batch axes.
  """
  op = jnp.asarray(cell.op)
  stride = 2 if reduction else 1
  p1, m1 = op_cost_table(space, c, out_size(h, stride), out_size(w, stride), 1)
  params, madds = p1[op], m1[op]
  if reduction:
    p2, m2 = op_cost_table(space, c, h, w, 2)
    strided = jnp.asarray(cell.src) < 2
    params = jnp.where(strided, p2[op], params)
    madds = jnp.where(strided, m2[op], madds)
  return params.sum(-1, dtype=jnp.int32), madds.sum(-1, dtype=jnp.int32)


def preprocess_cost(c_pp: Int, c_p: Int, c: int, h: int, w: int,
                    reduction_prev: bool) -> Tuple[Int, Int]:
  """Cell input preprocessing (spec section 3.4, last bullet).

  s0 -> FactorizedReduce(c_pp -> c) if the previous cell reduced, else ReLU-Conv1x1-BN(c_pp -> c);
  s1 -> ReLU-Conv1x1-BN(c_p -> c).

  Args:
    c_pp, c_p: channels of the cell's two inputs (may be traced).
    c: the cell's node channels.
    h, w: the cell's input resolution after preprocessing (pixels).
    reduction_prev: whether the previous cell was a reduction cell (static).

  Returns:
    (params, MAdds).
  """
  if reduction_prev:
    p0, m0 = factorized_reduce_cost(c_pp, c, h, w)
  else:
    p0, m0 = conv_bn_cost(c_pp, c, 1, h, w)
  p1, m1 = conv_bn_cost(c_p, c, 1, h, w)
  return p0 + p1, m0 + m1


def cell_cost(cell: Cell, space: SearchSpace, c_pp: Int, c_p: Int, c: int, h: int, w: int,
              reduction: bool, reduction_prev: bool) -> Tuple[jax.Array, jax.Array]:
  """Cost of one cell of a stand-alone network: preprocessing plus edge ops.

  Args:
    cell: the cell's arrays (leading batch axes allowed).
    space: the search space of `cell.op`.
    c_pp, c_p: channels of the outputs of the two previous cells (or stems); may be traced.
    c: the cell's node channels.
    h, w: the cell's input resolution (pixels).
    reduction, reduction_prev: static flags.

  Returns:
    (params, MAdds) as int32.
  """
  pp, pm = preprocess_cost(c_pp, c_p, c, h, w, reduction_prev)
  ep, em = edges_cost(cell, space, c, h, w, reduction)
  return ep + jnp.asarray(pp, jnp.int32), em + jnp.asarray(pm, jnp.int32)


# --------------------------------------------------------------------------- networks


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
  """Macro-architecture of a stand-alone evaluation network (spec section 9).

  Attributes:
    c: initial node channels C.
    layers: number of cells; reductions at layers//3 and 2*layers//3 (`natjax.core.plan`).
    image_size: input side (pixels).
    num_classes: classifier outputs.
  """
  c: int
  layers: int
  image_size: int
  num_classes: int

  @property
  def reductions(self) -> Tuple[int, int]:
    """Indices of the reduction cells (channels double there)."""
    return plan.reduction_cells(self.layers)


CIFAR = NetworkConfig(c=36, layers=20, image_size=32, num_classes=10)
IMAGENET = NetworkConfig(c=48, layers=14, image_size=224, num_classes=1000)
_CONFIGS = {"cifar": CIFAR, "imagenet": IMAGENET}


def network_config(network: str) -> NetworkConfig:
  """The config of 'cifar' or 'imagenet'; raises InputError with the closest name otherwise."""
  if network not in _CONFIGS:
    raise InputError(f"unknown network '{network}'{closest(network, NETWORKS)};"
                     f" networks are {', '.join(NETWORKS)}")
  return _CONFIGS[network]


def _stem_terms(network: str,
                cfg: NetworkConfig) -> Tuple[List[Tuple[int, int]], int, int, int, bool]:
  """Stem costs and the state the first cell sees.

  Returns:
    (terms, c_pp, c_p, h, reduction_prev): terms is a list of (params, MAdds), one per stem conv;
    c_pp/c_p are the channels of the two stem outputs; h is the first cell's input side (pixels);
    reduction_prev tells whether the first cell's s0 is FactorizedReduce'd (ImageNet: stem0 output
    is at twice the resolution of stem1's).
  """
  c, size = cfg.c, cfg.image_size
  if network == "cifar":
    c_stem = 3 * c  # stem_multiplier = 3
    return [conv_bn_cost(3, c_stem, 3, size, size)], c_stem, c_stem, size, False
  # ImageNet: stem0 = conv s2 (3 -> C/2)+BN+ReLU+conv s2 (C/2 -> C)+BN; stem1 = ReLU+conv s2+BN.
  h0 = out_size(size, 2)
  h1 = out_size(h0, 2)
  h2 = out_size(h1, 2)
  terms = [conv_bn_cost(3, c // 2, 3, h0, h0), conv_bn_cost(c // 2, c, 3, h1, h1),
           conv_bn_cost(c, c, 3, h2, h2)]
  return terms, c, c, h2, True


def network_terms(arch: Arch, space: SearchSpace,
                  network: str = "cifar") -> Tuple[jax.Array, jax.Array]:
  """Every cost term of a stand-alone network, exact in int32.

  Args:
    arch: the architecture (leaves may carry leading batch axes [...]).
    space: the search space of the op indices (static).
    network: 'cifar' or 'imagenet'.

  Returns:
    (params, MAdds): int32[..., T], one entry per stem conv, per cell and for the classifier.
  """
  cfg = network_config(network)
  stem, c_stem, _, h, reduction_prev = _stem_terms(network, cfg)
  batch = jnp.shape(arch.normal.op)[:-1]
  terms = [tuple(jnp.full(batch, x, jnp.int32) for x in t) for t in stem]
  cell_of = lambda reduction: arch.reduce if reduction else arch.normal
  layouts = plan.cell_layouts(cfg.layers, cfg.c, c_stem, lambda r: _nodes_out(cell_of(r)),
                              reduction_prev, h)
  for layout in layouts:
    terms.append(cell_cost(cell_of(layout.reduction), space, layout.c_pp, layout.c_p, layout.c,
                           layout.size, layout.size, layout.reduction, layout.reduction_prev))
  # Global average pooling, then Linear(c_last -> num_classes) with bias.
  c_last = layouts[-1].c_out
  terms.append((c_last * cfg.num_classes + cfg.num_classes, c_last * cfg.num_classes))
  params = jnp.stack([jnp.broadcast_to(p, batch) for p, _ in terms], axis=-1)
  madds = jnp.stack([jnp.broadcast_to(m, batch) for _, m in terms], axis=-1)
  return params.astype(jnp.int32), madds.astype(jnp.int32)


def network_cost(arch: Arch, space: SearchSpace,
                 network: str = "cifar") -> Tuple[jax.Array, jax.Array]:
  """Parameters and MAdds of an architecture in a stand-alone network (no auxiliary head).

  Jit-able (with `space` and `network` static) and vmappable over a batch of architectures.

  Args:
    arch: the architecture; leaves may carry leading batch axes [...].
    space: the search space of the op indices.
    network: 'cifar' (DARTS NetworkCIFAR, C=36, 20 cells, 32x32) or 'imagenet'
      (NetworkImageNet, C=48, 14 cells, 224x224, mobile setting).

  Returns:
    (params int32[...], MAdds float32[...]): params exact; MAdds summed in float32 (exact to
    ~1e-7 relative; see `genotype_cost` for exact integers).

  Raises:
    InputError: on an unknown network name.
  """
  params, madds = network_terms(arch, space, network)
  return params.sum(-1, dtype=jnp.int32), madds.astype(jnp.float32).sum(-1)


def genotype_cost(genotype: Genotype, network: str = "cifar") -> Dict[str, int]:
  """Host-side exact costs of a genotype: {'params': int, 'madds': int}.

  The space is picked automatically (any registered space of the genotype's size holding its
  ops; costs do not depend on the vocabulary).
  """
  network_config(network)
  space = infer_space(genotype)
  params, madds = network_terms(genotype_to_arch(genotype, space), space, network)
  return {"params": int(np.asarray(params, np.int64).sum()),
          "madds": int(np.asarray(madds, np.int64).sum())}


def exact_costs(archs: Arch, space: SearchSpace,
                network: str = "cifar") -> Tuple[np.ndarray, np.ndarray]:
  """Exact network costs of architectures with any leading axes, summed on the host.

  The per-term int32 arrays come from one jitted `network_terms` per (space, network) and are
  summed in int64, so MAdds above 2**31 stay exact.

  Args:
    archs: Arch whose leaves carry leading axes [...] (op, src int32[..., E], concat bool[..., N]).
    space: the search space of the op indices (a SearchSpace).
    network: 'cifar' or 'imagenet'.

  Returns:
    (params int64[...], MAdds int64[...]).
  """
  network_config(network)
  params, madds = _jitted_terms(space, network)(archs)
  return np.asarray(params, np.int64).sum(-1), np.asarray(madds, np.int64).sum(-1)


@functools.lru_cache(maxsize=16)
def _jitted_terms(space: SearchSpace, network: str):
  return jax.jit(lambda a: network_terms(a, space, network))
