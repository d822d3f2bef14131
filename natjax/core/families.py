"""Op families: what a kind of edge op computes, holds and costs, registered by name.

An op (`natjax.core.ops.OpSpec`: a name, a family, a kernel size) is an instance of a family. The
family is one registered `OpFamily` object holding everything natjax needs of that kind of op:

  init            (spec, C, stride, norm) -> (params, stats), as weight descriptions
                  (`natjax.kernels.initializers`); the supernet draws them per slot, the
                  retraining networks once per edge.
  apply           (params, stats, x, spec, stride, impl, norm) -> (y, stats): f32[B, H, W, C] ->
                  f32[B, ceil(H/stride), ceil(W/stride), C], in either kernel form (`impl`).
  cost            (spec, C, H_out, W_out, stride) -> (params, MAdds) of the op in the stand-alone
                  network (BN affine counted, MAdds of convs at output resolution; the cost model's
                  conventions, `natjax.core.costs`).
  reference_cost  (spec, C, H*W) -> (params, MAdds) at stride 1 with BN ignored and pooling and
                  identity work counted: the figure the transition-rule check compares
                  (spec section 4.3; `natjax.core.rules`).
  elementwise     optional: (spec, C, H_in, W_in, stride) -> (relu, bn, pool), the elements the
                  op's ReLUs read, its BNs normalise and its pools read; only the 'ptflops' MAdds
                  convention needs it (`natjax.core.costs.CONVENTIONS`), and it refuses a family
                  without it rather than count zero.

`norm` is a normaliser (`natjax.kernels.norm`): the supernet passes `BatchStats` (non-affine, batch
statistics), the retraining networks `RunningStats` (affine, running statistics threaded in and
out), so a family is written once for both. Every field is required: a family without a cost
cannot be registered, and no code path falls back to a zero cost.

Built-in families and their released semantics (spec section 3.4; C channels in and out):
  conv      ReLU -> conv kxk (pad k//2, stride s, no bias) -> BN
  sep_conv  [ReLU -> depthwise kxk (stride s) -> pointwise 1x1 -> BN] twice (second at stride 1)
  dil_conv  ReLU -> depthwise kxk dilation 2 (pad k-1, stride s) -> pointwise 1x1 -> BN
  max_pool  max pool kxk, pad k//2, stride s
  avg_pool  avg pool kxk, pad k//2, stride s, padding excluded from the average
  skip      identity at stride 1; FactorizedReduce at stride 2
  null      zeros of the output shape
  factorized_conv  ReLU -> conv 1xk (stride (1, s)) -> conv kx1 (stride (s, 1)) -> BN (DARTS's
            conv_7x1_1x7; the 1xk conv runs at H_in x W_out, taken as (s*H_out) x W_out by `cost`,
            exact for the even sides every built-in network reduces)

Weights, for C channels in and out (BN's params, if the normaliser has any, beside them):
  conv      {'w': f32[k, k, C, C]}
  sep_conv  {'block1': {'dw': f32[k, k, C], 'pw': f32[C, C]}, 'block2': {same}}
  dil_conv  {'dw': f32[k, k, C], 'pw': f32[C, C]}
  skip      {} at stride 1; {'w1': f32[C, C//2], 'w2': f32[C, C//2]} at stride 2
  pools     {}
  null      {}
  factorized_conv  {'w1x': f32[k, C, C], 'wx1': f32[k, C, C]}
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from natjax.errors import InputError, closest
from natjax.kernels import pool, units
from natjax.kernels.norm import Normalizer
from natjax.kernels.windows import check_impl
from natjax.registry import Registry

Params = Dict[str, Any]
Spec = Any  # natjax.core.ops.OpSpec: .name, .family, .kernel, .dilation are read.
_REQUIRED = {
    "init": "(spec, channels, stride, norm) -> (params, stats)",
    "apply": "(params, stats, x, spec, stride, impl, norm) -> (y, stats)",
    "cost": "(spec, channels, h_out, w_out, stride) -> (params, madds)",
    "reference_cost": "(spec, channels, hw) -> (params, madds)",
}


@dataclasses.dataclass(frozen=True)
class OpFamily:
  """One kind of edge op (the module docstring says what each function takes and returns).

  Attributes:
    name: registry key, e.g. 'sep_conv'.
    init, apply, cost, reference_cost: the family's functions.
    kernel: whether its ops name an odd kernel size k >= 1 (skip and null take none: k = 0).
    dilation: the dilation every op of the family has.
    supernet_norm: the supernet follows the op by a non-affine BN (spec section 6: pools).
    identity_strides: strides at which the op returns its input unchanged (skip: (1,)); the
      retraining networks apply no drop-path there.
    zero: the op's output is zeros whatever its input (null); no drop-path either.
    elementwise: optional element counts for the 'ptflops' MAdds convention (module docstring).
  """
  name: str
  init: Callable[..., Tuple[Params, Params]]
  apply: Callable[..., Tuple[jax.Array, Params]]
  cost: Callable[..., Tuple[Any, Any]]
  reference_cost: Callable[..., Tuple[int, int]]
  kernel: bool = True
  dilation: int = 1
  supernet_norm: bool = False
  identity_strides: Tuple[int, ...] = ()
  zero: bool = False
  elementwise: Optional[Callable[..., Tuple[Any, Any, Any]]] = None

  def drops_path(self, stride: int) -> bool:
    """Whether drop-path applies to this op's output at `stride` (not to identities or zeros)."""
    return not (self.zero or stride in self.identity_strides)


_REGISTRY: Registry[OpFamily] = Registry("op family")


def register_op_family(family: OpFamily) -> OpFamily:
  """Adds a family; every function must be given (one InputError line names the missing one)."""
  if not isinstance(family, OpFamily):
    raise InputError(f"register_op_family: expected an OpFamily, got {type(family).__name__}")
  if not isinstance(family.name, str) or not family.name:
    raise InputError("op family: the name must be a non-empty string")
  for field, signature in _REQUIRED.items():
    if not callable(getattr(family, field)):
      raise InputError(f"op family '{family.name}': missing {field}, a function {signature}")
  if family.elementwise is not None and not callable(family.elementwise):
    raise InputError(f"op family '{family.name}': elementwise must be a function"
                     " (spec, channels, h_in, w_in, stride) -> (relu, bn, pool) or None")
  if not isinstance(family.dilation, int) or family.dilation < 1:
    raise InputError(f"op family '{family.name}': dilation must be an integer >= 1, got"
                     f" {family.dilation!r}")
  return _REGISTRY.add(family.name, family)


def get_family(name: str) -> OpFamily:
  """A registered family; InputError naming the closest one and how to register otherwise."""
  if name not in _REGISTRY:
    raise InputError(f"unknown op family '{name}'{closest(name, _REGISTRY.names())}; register it"
                     f" with register_op_family first; families: {', '.join(_REGISTRY.names())}")
  return _REGISTRY.get(name)


def registered_families() -> Tuple[str, ...]:
  """Names of every registered family, in registration order."""
  return _REGISTRY.names()


def unregister_op_family(name: str) -> None:
  """Removes a family (`natjax.core.extend.temporary` undoes its registrations with it)."""
  _REGISTRY.remove(name)


def apply_op(params: Params, stats: Params, x: jax.Array, spec: Spec, stride: int, impl: str,
             norm: Normalizer) -> Tuple[jax.Array, Params]:
  """Runs one op through its family after checking `impl` (`OpFamily.apply`)."""
  check_impl(impl)
  return get_family(spec.family).apply(params, stats, x, spec, stride, impl, norm)


# --------------------------------------------------------------------------- built-in families


def _none(spec: Spec, c: int, stride: int, norm: Normalizer) -> Tuple[Params, Params]:
  return {}, {}


def _free(spec: Spec, c: Any, h_out: Any, w_out: Any, stride: int) -> Tuple[int, int]:
  return 0, 0


def _conv_init(spec, c, stride, norm):
  return units.conv_bn_weights(spec.kernel, c, c, norm)


def _conv_apply(params, stats, x, spec, stride, impl, norm):
  return units.conv_bn(params, stats, jax.nn.relu(x), stride, impl, norm)


def _conv_cost(spec, c, h_out, w_out, stride):
  return units.conv_bn_cost(c, c, spec.kernel, h_out, w_out)


def _conv_reference(spec, c, hw):
  params = spec.kernel * spec.kernel * c * c
  return params, params * hw


def _sep_init(spec, c, stride, norm):
  (p1, s1), (p2, s2) = (units.dw_pw_bn_weights(spec.kernel, c, norm) for _ in range(2))
  return {"block1": p1, "block2": p2}, {"block1": s1, "block2": s2}


def _sep_apply(params, stats, x, spec, stride, impl, norm):
  y, s1 = units.relu_dw_pw_bn(params["block1"], stats["block1"], x, stride, 1, impl, norm)
  y, s2 = units.relu_dw_pw_bn(params["block2"], stats["block2"], y, 1, 1, impl, norm)
  return y, {"block1": s1, "block2": s2}


def _sep_cost(spec, c, h_out, w_out, stride):
  # Only the first depthwise is strided, so both blocks run at the output resolution.
  params, madds = units.dw_pw_bn_cost(c, spec.kernel, h_out, w_out)
  return 2 * params, 2 * madds


def _sep_reference(spec, c, hw):
  params = 2 * (spec.kernel * spec.kernel * c + c * c)
  return params, params * hw


def _dil_init(spec, c, stride, norm):
  return units.dw_pw_bn_weights(spec.kernel, c, norm)


def _dil_apply(params, stats, x, spec, stride, impl, norm):
  return units.relu_dw_pw_bn(params, stats, x, stride, spec.dilation, impl, norm)


def _dil_cost(spec, c, h_out, w_out, stride):
  return units.dw_pw_bn_cost(c, spec.kernel, h_out, w_out)


def _dil_reference(spec, c, hw):
  params = spec.kernel * spec.kernel * c + c * c
  return params, params * hw


def _pool_reference(spec, c, hw):
  return 0, spec.kernel * spec.kernel * c * hw


def _max_pool_apply(params, stats, x, spec, stride, impl, norm):
  return pool.max_pool(x, spec.kernel, stride, impl), stats


def _avg_pool_apply(params, stats, x, spec, stride, impl, norm):
  return pool.avg_pool(x, spec.kernel, stride, impl), stats


def _skip_init(spec, c, stride, norm):
  return units.factorized_reduce_weights(c, c, norm) if stride == 2 else ({}, {})


def _skip_apply(params, stats, x, spec, stride, impl, norm):
  if stride == 1:
    return x, stats
  return units.factorized_reduce(params, stats, x, impl, norm)


def _skip_cost(spec, c, h_out, w_out, stride):
  return units.factorized_reduce_cost(c, c, h_out, w_out) if stride == 2 else (0, 0)


def _skip_reference(spec, c, hw):
  return 0, c * hw


def _null_apply(params, stats, x, spec, stride, impl, norm):
  n, h, w, c = x.shape
  return jnp.zeros((n, -(-h // stride), -(-w // stride), c), x.dtype), stats


def _null_reference(spec, c, hw):
  return 0, 0


def _out(h, w, stride):
  return (h + stride - 1) // stride, (w + stride - 1) // stride


def _conv_elementwise(spec, c, h, w, stride):
  """One ReLU on the input, one BN on the output (conv, dil_conv, factorized_conv)."""
  ho, wo = _out(h, w, stride)
  return c * h * w, c * ho * wo, 0


def _sep_elementwise(spec, c, h, w, stride):
  ho, wo = _out(h, w, stride)
  return c * h * w + c * ho * wo, 2 * c * ho * wo, 0


def _pool_elementwise(spec, c, h, w, stride):
  return 0, 0, c * h * w


def _skip_elementwise(spec, c, h, w, stride):
  return _conv_elementwise(spec, c, h, w, stride) if stride == 2 else (0, 0, 0)


def _null_elementwise(spec, c, h, w, stride):
  return 0, 0, 0


def _factorized_init(spec, c, stride, norm):
  return units.factorized_conv_weights(spec.kernel, c, norm)


def _factorized_apply(params, stats, x, spec, stride, impl, norm):
  return units.relu_factorized_conv_bn(params, stats, x, stride, impl, norm)


def _factorized_cost(spec, c, h_out, w_out, stride):
  return units.factorized_conv_cost(c, spec.kernel, stride * h_out, h_out, w_out)


def _factorized_reference(spec, c, hw):
  params = 2 * spec.kernel * c * c
  return params, params * hw


for _family in (
    OpFamily("conv", _conv_init, _conv_apply, _conv_cost, _conv_reference,
             elementwise=_conv_elementwise),
    OpFamily("sep_conv", _sep_init, _sep_apply, _sep_cost, _sep_reference,
             elementwise=_sep_elementwise),
    OpFamily("dil_conv", _dil_init, _dil_apply, _dil_cost, _dil_reference, dilation=2,
             elementwise=_conv_elementwise),
    OpFamily("max_pool", _none, _max_pool_apply, _free, _pool_reference, supernet_norm=True,
             elementwise=_pool_elementwise),
    OpFamily("avg_pool", _none, _avg_pool_apply, _free, _pool_reference, supernet_norm=True,
             elementwise=_pool_elementwise),
    OpFamily("skip", _skip_init, _skip_apply, _skip_cost, _skip_reference, kernel=False,
             identity_strides=(1,), elementwise=_skip_elementwise),
    OpFamily("null", _none, _null_apply, _free, _null_reference, kernel=False, zero=True,
             elementwise=_null_elementwise),
    OpFamily("factorized_conv", _factorized_init, _factorized_apply, _factorized_cost,
             _factorized_reference, elementwise=_conv_elementwise),
):
  register_op_family(_family)
