"""Cost model: trainable parameters and multiply-adds of cells and stand-alone networks.

Conventions (spec sections 3.4, 9 and 10):
  * params: every trainable parameter except the auxiliary head; BN affine (2C) is counted,
    convolutions carry no bias, the classifier Linear carries one.
  * MAdds, convention 'conv_linear' (the default): multiply-adds of convolutions and Linear layers
    at their OUTPUT resolution (C_in/groups * C_out * k_h * k_w * H_out * W_out); BN, ReLU,
    pooling and additions are free. It is the part every published counter shares, and it
    reproduces GDAS's ImageNet figure (581 M at C=50, up to the classifier's 1,000 biases) and
    FairDARTS's CIFAR figures for cells without average pools.
  * MAdds, convention 'ptflops': 'conv_linear' plus one per element a ReLU reads, two per element
    a BN normalises (affine) and one per element a pool (edge or global) reads: the 2019 rules of
    flops-counter.pytorch (ptflops), which reproduce the ImageNet table of P-DARTS (Table 2:
    P-DARTS 557 M) copied into PC-DARTS's (586 M and 597 M), to 0.4 M. Node sums, concatenation
    and the stride-2 slicing of FactorizedReduce are free in both.
  The DARTS paper's 574 M (ImageNet, DARTS_V2; conv_linear 529.91 M, ptflops 544.59 M) matches no
  counter found, and FairDARTS's figures for cells with average pools come from thop 0.0.31,
  which charges (k+1) per output element of a kxk average pool; natjax offers neither.
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
from typing import Any, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from natjax.core import ops, plan
from natjax.core.arch import Arch, Cell, Genotype, genotype_to_arch
from natjax.core.spaces import SearchSpace
from natjax.errors import InputError, closest
from natjax.kernels.units import conv_bn_cost, factorized_reduce_cost

Int = Any  # A Python int or an int32 jax scalar (possibly traced).
NETWORKS = ("cifar", "imagenet")
CONVENTIONS = {
    "conv_linear": "conv and Linear multiply-adds at output resolution; BN, ReLU, pooling and"
                   " additions free",
    "ptflops": "conv_linear + ReLU and pool inputs (1 per element) + BN (2 per element), the"
               " 2019 flops-counter.pytorch count of P-DARTS's and PC-DARTS's ImageNet tables",
}
DEFAULT_CONVENTION = "conv_linear"


def check_convention(convention: str) -> str:
  """Returns `convention` if it is one of CONVENTIONS; InputError with the closest name otherwise."""
  if convention not in CONVENTIONS:
    raise InputError(f"unknown MAdds convention '{convention}'{closest(convention, CONVENTIONS)};"
                     f" conventions: {', '.join(CONVENTIONS)}")
  return convention


def _relu_bn(relu: Int, bn: Int, convention: str) -> Int:
  """Extra MAdds of ReLU and BN elements under `convention` (zero under conv_linear)."""
  return relu + 2 * bn if convention == "ptflops" else 0


# --------------------------------------------------------------------------- building blocks


def out_size(size: Int, stride: int) -> Int:
  """Output side length of a padded odd-kernel op or FactorizedReduce: ceil(size / stride)."""
  return (size + stride - 1) // stride


def op_cost(spec: ops.OpSpec, c: Int, h: Int, w: Int, stride: int,
            convention: str = DEFAULT_CONVENTION) -> Tuple[Int, Int]:
  """Cost of one cell-edge op with c channels in and out, from its family (`OpFamily.cost`, and
  `OpFamily.elementwise` under 'ptflops').

  Args:
    spec: the op's registry entry.
    c: channels.
    h, w: INPUT resolution (pixels).
    stride: 1 or 2.
    convention: a MAdds convention (`CONVENTIONS`).

  Returns:
    (params, MAdds) with the arithmetic type of the inputs (Python int or int32).

  Raises:
    InputError: 'ptflops' for an op whose family gives no element counts.
  """
  family = ops.family_of(spec)
  params, madds = family.cost(spec, c, out_size(h, stride), out_size(w, stride), stride)
  if check_convention(convention) == "ptflops":
    if family.elementwise is None:
      raise InputError(f"op '{spec.name}': its family '{family.name}' gives no element counts"
                       " (OpFamily.elementwise), so the 'ptflops' convention cannot price it")
    relu, bn, pool = family.elementwise(spec, c, h, w, stride)
    madds = madds + _relu_bn(relu, bn, convention) + pool
  return params, madds


def op_cost_table(space: SearchSpace, c: Int, h: Int, w: Int, stride: int,
                  convention: str = DEFAULT_CONVENTION) -> Tuple[jax.Array, jax.Array]:
  """Per-op costs for a space's op list.

  Args:
    space: a `SearchSpace` (only `space.ops` is read).
    c: channels in and out.
    h, w: input resolution (pixels).
    stride: 1 or 2.
    convention: a MAdds convention (`CONVENTIONS`).

  Returns:
    (params, MAdds): int32[V] each, indexed like `space.ops`.
  """
  costs = [op_cost(ops.get_op(name), c, h, w, stride, convention) for name in space.ops]
  return tuple(jnp.stack([jnp.asarray(x[i], jnp.int32) for x in costs]) for i in (0, 1))


# --------------------------------------------------------------------------- cells


def _nodes_out(cell: Cell) -> jax.Array:
  """int32[...]: number of nodes the cell concatenates."""
  return jnp.sum(jnp.asarray(cell.concat), axis=-1, dtype=jnp.int32)


def cell_channels(cell: Cell, c: Int) -> jax.Array:
  """Output channels of a cell: (number of concat nodes) · c. int32[...] over batch axes."""
  return _nodes_out(cell) * c


def edges_cost(cell: Cell, space: SearchSpace, c: int, h: int, w: int, reduction: bool,
               convention: str = DEFAULT_CONVENTION) -> Tuple[jax.Array, jax.Array]:
  """Sum of the edge ops of one cell.

  Edges leaving nodes 0/1 of a reduction cell are stride 2 at the input resolution; every other
  edge is stride 1 at the cell's output resolution.

  Args:
    cell: op/src int[..., E] (concat unused).
    space: the search space the op indices refer to.
    c: channels of every node.
    h, w: cell input resolution (pixels), after preprocessing.
    reduction: whether this is a reduction cell (static).
    convention: a MAdds convention (`CONVENTIONS`).

  Returns:
    (params, MAdds): int32[...] over the leading batch axes.
  """
  op = jnp.asarray(cell.op)
  stride = 2 if reduction else 1
  p1, m1 = op_cost_table(space, c, out_size(h, stride), out_size(w, stride), 1, convention)
  params, madds = p1[op], m1[op]
  if reduction:
    p2, m2 = op_cost_table(space, c, h, w, 2, convention)
    strided = jnp.asarray(cell.src) < 2
    params = jnp.where(strided, p2[op], params)
    madds = jnp.where(strided, m2[op], madds)
  return params.sum(-1, dtype=jnp.int32), madds.sum(-1, dtype=jnp.int32)


def preprocess_cost(c_pp: Int, c_p: Int, c: int, h: int, w: int, reduction_prev: bool,
                    convention: str = DEFAULT_CONVENTION) -> Tuple[Int, Int]:
  """Cell input preprocessing (spec section 3.4, last bullet).

  s0 -> FactorizedReduce(c_pp -> c) if the previous cell reduced, else ReLU-Conv1x1-BN(c_pp -> c);
  s1 -> ReLU-Conv1x1-BN(c_p -> c).

  Args:
    c_pp, c_p: channels of the cell's two inputs (may be traced).
    c: the cell's node channels.
    h, w: the cell's input resolution after preprocessing (pixels).
    reduction_prev: whether the previous cell was a reduction cell (static).
    convention: a MAdds convention (`CONVENTIONS`); each unit is a ReLU on its input and a BN.

  Returns:
    (params, MAdds).
  """
  if reduction_prev:
    p0, m0 = factorized_reduce_cost(c_pp, c, h, w)
    m0 = m0 + _relu_bn(c_pp * (2 * h) * (2 * w), c * h * w, convention)
  else:
    p0, m0 = conv_bn_cost(c_pp, c, 1, h, w)
    m0 = m0 + _relu_bn(c_pp * h * w, c * h * w, convention)
  p1, m1 = conv_bn_cost(c_p, c, 1, h, w)
  m1 = m1 + _relu_bn(c_p * h * w, c * h * w, convention)
  return p0 + p1, m0 + m1


def cell_cost(cell: Cell, space: SearchSpace, c_pp: Int, c_p: Int, c: int, h: int, w: int,
              reduction: bool, reduction_prev: bool,
              convention: str = DEFAULT_CONVENTION) -> Tuple[jax.Array, jax.Array]:
  """Cost of one cell of a stand-alone network: preprocessing plus edge ops.

  Args:
    cell: the cell's arrays (leading batch axes allowed).
    space: the search space of `cell.op`.
    c_pp, c_p: channels of the outputs of the two previous cells (or stems); may be traced.
    c: the cell's node channels.
    h, w: the cell's input resolution (pixels).
    reduction, reduction_prev: static flags.
    convention: a MAdds convention (`CONVENTIONS`).

  Returns:
    (params, MAdds) as int32.
  """
  pp, pm = preprocess_cost(c_pp, c_p, c, h, w, reduction_prev, convention)
  ep, em = edges_cost(cell, space, c, h, w, reduction, convention)
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


def network_config(network: str, channels: Optional[int] = None) -> NetworkConfig:
  """The config of 'cifar' or 'imagenet', with C = `channels` when given (GDAS's ImageNet network
  has C=50); raises InputError with the closest name, or for channels that are not a positive
  even integer."""
  if network not in _CONFIGS:
    raise InputError(f"unknown network '{network}'{closest(network, NETWORKS)};"
                     f" networks are {', '.join(NETWORKS)}")
  if channels is None:
    return _CONFIGS[network]
  if isinstance(channels, bool) or not isinstance(channels, int) or channels < 2 or channels % 2:
    raise InputError(f"channels must be a positive even integer, got {channels!r}")
  return dataclasses.replace(_CONFIGS[network], c=channels)


def _stem_terms(network: str, cfg: NetworkConfig, convention: str = DEFAULT_CONVENTION
                ) -> Tuple[List[Tuple[int, int]], int, int, int, bool]:
  """Stem costs and the state the first cell sees (under 'ptflops' the stem's ReLUs and BNs).

  Returns:
    (terms, c_pp, c_p, h, reduction_prev): terms is a list of (params, MAdds), one per stem conv;
    c_pp/c_p are the channels of the two stem outputs; h is the first cell's input side (pixels);
    reduction_prev tells whether the first cell's s0 is FactorizedReduce'd (ImageNet: stem0 output
    is at twice the resolution of stem1's).
  """
  c, size = cfg.c, cfg.image_size
  if network == "cifar":
    c_stem = 3 * c  # stem_multiplier = 3
    params, madds = conv_bn_cost(3, c_stem, 3, size, size)
    return ([(params, madds + _relu_bn(0, c_stem * size * size, convention))], c_stem, c_stem,
            size, False)
  # ImageNet: stem0 = conv s2 (3 -> C/2)+BN+ReLU+conv s2 (C/2 -> C)+BN; stem1 = ReLU+conv s2+BN.
  h0 = out_size(size, 2)
  h1 = out_size(h0, 2)
  h2 = out_size(h1, 2)
  units = [(3, c // 2, h0, 0), (c // 2, c, h1, c // 2 * h0 * h0), (c, c, h2, c * h1 * h1)]
  terms = []
  for c_in, c_out, h, relu in units:
    params, madds = conv_bn_cost(c_in, c_out, 3, h, h)
    terms.append((params, madds + _relu_bn(relu, c_out * h * h, convention)))
  return terms, c, c, h2, True


def network_terms(arch: Arch, space: SearchSpace, network: str = "cifar",
                  convention: str = DEFAULT_CONVENTION,
                  channels: Optional[int] = None) -> Tuple[jax.Array, jax.Array]:
  """Every cost term of a stand-alone network, exact in int32.

  Args:
    arch: the architecture (leaves may carry leading batch axes [...]).
    space: the search space of the op indices (static).
    network: 'cifar' or 'imagenet'.
    convention: a MAdds convention (`CONVENTIONS`; static).
    channels: the network's initial C if not the standard one (static).

  Returns:
    (params, MAdds): int32[..., T], one entry per stem conv, per cell and for the classifier.

  Raises:
    InputError: an unknown network or convention, or bad channels.
  """
  check_convention(convention)
  cfg = network_config(network, channels)
  stem, c_stem, _, h, reduction_prev = _stem_terms(network, cfg, convention)
  batch = jnp.shape(arch.normal.op)[:-1]
  terms = [tuple(jnp.full(batch, x, jnp.int32) for x in t) for t in stem]
  cell_of = lambda reduction: arch.reduce if reduction else arch.normal
  layouts = plan.cell_layouts(cfg.layers, cfg.c, c_stem, lambda r: _nodes_out(cell_of(r)),
                              reduction_prev, h)
  for layout in layouts:
    terms.append(cell_cost(cell_of(layout.reduction), space, layout.c_pp, layout.c_p, layout.c,
                           layout.size, layout.size, layout.reduction, layout.reduction_prev,
                           convention))
  # Global average pooling (ptflops: its input elements), then Linear(c_last -> classes) + bias.
  c_last, last = layouts[-1].c_out, layouts[-1]
  side = out_size(last.size, 2) if last.reduction else last.size
  pool = c_last * side * side if convention == "ptflops" else 0
  terms.append((c_last * cfg.num_classes + cfg.num_classes, c_last * cfg.num_classes + pool))
  params = jnp.stack([jnp.broadcast_to(p, batch) for p, _ in terms], axis=-1)
  madds = jnp.stack([jnp.broadcast_to(m, batch) for _, m in terms], axis=-1)
  return params.astype(jnp.int32), madds.astype(jnp.int32)


def network_cost(arch: Arch, space: SearchSpace, network: str = "cifar",
                 convention: str = DEFAULT_CONVENTION) -> Tuple[jax.Array, jax.Array]:
  """Parameters and MAdds of an architecture in a stand-alone network (no auxiliary head).

  Jit-able (with `space` and `network` static) and vmappable over a batch of architectures.

  Args:
    arch: the architecture; leaves may carry leading batch axes [...].
    space: the search space of the op indices.
    network: 'cifar' (DARTS NetworkCIFAR, C=36, 20 cells, 32x32) or 'imagenet'
      (NetworkImageNet, C=48, 14 cells, 224x224, mobile setting).
    convention: a MAdds convention (`CONVENTIONS`).

  Returns:
    (params int32[...], MAdds float32[...]): params exact; MAdds summed in float32 (exact to
    ~1e-7 relative; see `genotype_cost` for exact integers).

  Raises:
    InputError: on an unknown network or convention name.
  """
  params, madds = network_terms(arch, space, network, convention)
  return params.sum(-1, dtype=jnp.int32), madds.astype(jnp.float32).sum(-1)


def genotype_cost(genotype: Genotype, network: str = "cifar",
                  convention: str = DEFAULT_CONVENTION,
                  channels: Optional[int] = None) -> Dict[str, int]:
  """Host-side exact costs of a genotype: {'params': int, 'madds': int}.

  Args:
    genotype: a validated genotype; any registered ops (no registered space needs to hold them:
      costs do not depend on the vocabulary).
    network: 'cifar' or 'imagenet'.
    convention: the MAdds convention (`CONVENTIONS`).
    channels: the network's initial C if not the standard one (36 CIFAR, 48 ImageNet).

  Raises:
    InputError: an unknown network or convention, or bad channels.
  """
  network_config(network, channels)
  check_convention(convention)
  space = genotype_space(genotype)
  params, madds = network_terms(genotype_to_arch(genotype, space), space, network, convention,
                                channels)
  return {"params": int(np.asarray(params, np.int64).sum()),
          "madds": int(np.asarray(madds, np.int64).sum())}


def genotype_space(genotype: Genotype) -> SearchSpace:
  """An unregistered space holding exactly the genotype's ops and size (for costing only)."""
  names = sorted({op for cell in (genotype.normal, genotype.reduce) for op, _, _ in cell} - {"null"})
  return SearchSpace("genotype", tuple(names) + ("null",), len(genotype.normal) // 2,
                     "fully_concat")


def exact_costs(archs: Arch, space: SearchSpace, network: str = "cifar",
                convention: str = DEFAULT_CONVENTION) -> Tuple[np.ndarray, np.ndarray]:
  """Exact network costs of architectures with any leading axes, summed on the host.

  The per-term int32 arrays come from one jitted `network_terms` per (space, network) and are
  summed in int64, so MAdds above 2**31 stay exact.

  Args:
    archs: Arch whose leaves carry leading axes [...] (op, src int32[..., E], concat bool[..., N]).
    space: the search space of the op indices (a SearchSpace).
    network: 'cifar' or 'imagenet'.
    convention: a MAdds convention (`CONVENTIONS`).

  Returns:
    (params int64[...], MAdds int64[...]).
  """
  network_config(network)
  params, madds = _jitted_terms(space, network, check_convention(convention))(archs)
  return np.asarray(params, np.int64).sum(-1), np.asarray(madds, np.int64).sum(-1)


@functools.lru_cache(maxsize=16)
def _jitted_terms(space: SearchSpace, network: str, convention: str):
  return jax.jit(lambda a: network_terms(a, space, network, convention))
