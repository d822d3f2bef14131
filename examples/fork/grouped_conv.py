"""A research fork's definitions: grouped convolutions, a search space and a rule that use them.

Nothing here registers anything: `examples/fork/__init__.py` registers these objects for good (what
`natjax --imports examples.fork` runs), tests register them for a while with `natjax.temporary`.
This module imports only jax and natjax, so it can also be loaded on its own.

The op family `group_conv` (ResNeXt's aggregated transformation, Xie et al., CVPR 2017, section
3.3; not in DARTS' or NAT's op lists): ReLU -> kxk conv in GROUPS groups (pad k//2, stride s, no
bias) -> BN, C channels in and out. Each group maps its C/GROUPS input channels to its own
C/GROUPS output channels, so the conv holds GROUPS * k*k * (C/GROUPS)^2 = k*k*C*C/GROUPS weights,
1/GROUPS of a dense conv's. Its ops: `group_conv_3x3`, `group_conv_5x5`.

Reference costs (the rule check's figure, C=128, 32x32, stride 1; params = weights, MAdds =
params*H*W as for every conv family; `natjax.core.rules.reference_op_cost`):

  conv_3x3        147,456      group_conv_5x5  102,400      sep_conv_5x5     39,168
  group_conv_3x3   36,864      sep_conv_3x3     35,072      pools, skip, null: no params

so a grouped conv sits between a dense conv and a separable one of the same kernel, and the rule
`grouping` walks that order: dense -> grouped -> separable -> skip -> null.
"""

from typing import Any, Dict, Tuple

import jax

import natjax
from natjax.kernels import conv, units
from natjax.kernels.initializers import conv_fan_in, conv_weight

GROUPS = 4  # groups of every group_conv op; C must be a multiple (C = 4, 8, 16, 36, 48 ... all are)

Params = Dict[str, Any]


def grouped_conv(x: jax.Array, w: jax.Array, stride: int, impl: str) -> jax.Array:
  """A kxk conv in groups, no bias, PyTorch padding k//2.

  Args:
    x: f32[N, H, W, C], NHWC, channel c in group c // (C/G).
    w: f32[G, k, k, C/G, C/G], one HWIO kernel per group.
    stride: 1 or 2.
    impl: 'lax' or 'shift', passed to `natjax.kernels.conv.conv` (each group is one dense conv,
      mapped over the groups with `jax.vmap`).

  Returns:
    f32[N, ceil(H/stride), ceil(W/stride), C]: group g's outputs are channels [g*C/G, (g+1)*C/G).
  """
  n, h, wd, c = x.shape
  groups = w.shape[0]
  per_group = jax.vmap(lambda xg, wg: conv.conv(xg, wg, stride, impl), in_axes=(3, 0),
                       out_axes=3)
  y = per_group(x.reshape(n, h, wd, groups, c // groups), w)
  return y.reshape(y.shape[:3] + (c,))


def _init(spec, c: int, stride: int, norm) -> Tuple[Params, Params]:
  """{'w': f32[G, k, k, C/G, C/G]} + the normaliser's params for C channels; its statistics."""
  if c % GROUPS:
    raise natjax.InputError(f"op '{spec.name}': {c} channels do not split into {GROUPS} groups")
  bn, stats = norm.init(c)
  k, width = spec.kernel, c // GROUPS
  return {"w": conv_weight((GROUPS, k, k, width, width), conv_fan_in(k, c, GROUPS)), **bn}, stats


def _apply(params: Params, stats: Params, x: jax.Array, spec, stride: int, impl: str,
           norm) -> Tuple[jax.Array, Params]:
  """ReLU -> grouped conv -> BN: f32[N, H, W, C] -> f32[N, ceil(H/s), ceil(W/s), C], new stats."""
  return norm(params, stats, grouped_conv(jax.nn.relu(x), params["w"], stride, impl))


def _cost(spec, c, h_out, w_out, stride):
  """(k²·C·C/G + 2C params, k²·C·C/G·H_out·W_out MAdds): a conv-BN unit whose every output
  channel reads C/G input channels."""
  return units.conv_bn_cost(c // GROUPS, c, spec.kernel, h_out, w_out)


def _reference_cost(spec, c: int, hw: int) -> Tuple[int, int]:
  """(k²·C·C/G weights, that times H·W multiply-adds), BN ignored."""
  params = spec.kernel * spec.kernel * c * (c // GROUPS)
  return params, params * hw


GROUP_CONV = natjax.OpFamily("group_conv", _init, _apply, _cost, _reference_cost)
OPS = (natjax.OpSpec("group_conv_3x3", "group_conv", 3),
       natjax.OpSpec("group_conv_5x5", "group_conv", 5))

# The DARTS space (fully concat, N=4) with grouped convs in place of the dilated ones.
SPACE = natjax.SearchSpace(
    "grouped", ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                "group_conv_3x3", "group_conv_5x5", "conv_3x3", "null"),
    num_nodes=4, output="fully_concat")

# Every op may stay or become a cheaper one (reference costs above); rows in softmax order.
_S, _N = "skip_connect", "null"
RULE = natjax.Rule("grouping", {
    "conv_3x3": ("conv_3x3", "group_conv_5x5", "group_conv_3x3", "sep_conv_3x3", _S, _N),
    "group_conv_5x5": ("group_conv_5x5", "group_conv_3x3", "sep_conv_5x5", "sep_conv_3x3", _S,
                       _N),
    "sep_conv_5x5": ("sep_conv_5x5", "group_conv_3x3", "sep_conv_3x3", _S, _N),
    "group_conv_3x3": ("group_conv_3x3", "sep_conv_3x3", _S, _N),
    "sep_conv_3x3": ("sep_conv_3x3", _S, _N),
    "max_pool_3x3": ("max_pool_3x3", _S, _N),
    "avg_pool_3x3": ("avg_pool_3x3", _S, _N),
    _S: (_S, _N),
    _N: (_S, _N),
}, declared_increases=frozenset({(_N, _S)}), kind="mask")

ENTRIES = {"families": [GROUP_CONV], "ops": list(OPS), "spaces": [SPACE], "rules": [RULE]}
