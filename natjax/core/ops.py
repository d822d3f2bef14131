"""Operation registry: what each op of a cell edge is.

An op is known by name only at the edges of natjax (parsing, JSON, drawing, messages); inside
traced code it is an index into a search space's op list (`natjax.core.spaces`). This module holds the
description every other module reads: the op's family, kernel size and dilation. Research forks
add an op with `register_op`; its kernel and cost live beside the built-in ones.

Families and their released semantics (spec section 3.4; C channels in and out):
  conv      ReLU -> conv kxk (pad k//2, stride s, no bias) -> BN
  sep_conv  [ReLU -> depthwise kxk (stride s) -> pointwise 1x1 -> BN] twice (second at stride 1)
  dil_conv  ReLU -> depthwise kxk dilation 2 (pad k-1, stride s) -> pointwise 1x1 -> BN
  max_pool  max pool kxk, pad k//2, stride s
  avg_pool  avg pool kxk, pad k//2, stride s, padding excluded from the average
  skip      identity at stride 1; FactorizedReduce at stride 2
  null      zeros of the output shape
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

from natjax.errors import InputError, closest
from natjax.registry import Registry

FAMILIES = ("conv", "sep_conv", "dil_conv", "max_pool", "avg_pool", "skip", "null")


@dataclasses.dataclass(frozen=True)
class OpSpec:
  """Static description of one op.

  Attributes:
    name: the op's name in genotypes, e.g. 'sep_conv_3x3'.
    family: one of FAMILIES.
    kernel: spatial kernel size k (0 for skip and null).
    dilation: 2 for dil_conv, 1 otherwise.
  """
  name: str
  family: str
  kernel: int = 0
  dilation: int = 1

  @property
  def is_parametric(self) -> bool:
    """Whether the op holds weights at stride 1 (skip holds some at stride 2)."""
    return self.family in ("conv", "sep_conv", "dil_conv")

  @property
  def is_pool(self) -> bool:
    return self.family in ("max_pool", "avg_pool")


_REGISTRY: Registry[OpSpec] = Registry("op")


def register_op(spec: OpSpec) -> OpSpec:
  """Adds an op to the registry; fails loudly on a bad or conflicting description."""
  if spec.family not in FAMILIES:
    raise InputError(f"op '{spec.name}': unknown family '{spec.family}'"
                     f"{closest(spec.family, FAMILIES)}; families are {', '.join(FAMILIES)}")
  if spec.family in ("skip", "null"):
    if spec.kernel != 0:
      raise InputError(f"op '{spec.name}': family '{spec.family}' takes no kernel")
  elif spec.kernel < 1 or spec.kernel % 2 == 0:
    raise InputError(f"op '{spec.name}': kernel must be a positive odd integer, got {spec.kernel}")
  if spec.dilation != (2 if spec.family == "dil_conv" else 1):
    raise InputError(f"op '{spec.name}': dilation {spec.dilation} does not fit family '{spec.family}'")
  return _REGISTRY.add(spec.name, spec)


def get_op(name: str) -> OpSpec:
  """Looks an op up by name; an unknown name raises InputError suggesting the closest one."""
  return _REGISTRY.get(name)


def registered_ops() -> Tuple[str, ...]:
  """Names of every registered op, in registration order."""
  return _REGISTRY.names()


for _spec in (
    OpSpec("max_pool_3x3", "max_pool", 3),
    OpSpec("max_pool_5x5", "max_pool", 5),
    OpSpec("avg_pool_3x3", "avg_pool", 3),
    OpSpec("avg_pool_5x5", "avg_pool", 5),
    OpSpec("skip_connect", "skip"),
    OpSpec("sep_conv_3x3", "sep_conv", 3),
    OpSpec("sep_conv_5x5", "sep_conv", 5),
    OpSpec("dil_conv_3x3", "dil_conv", 3, 2),
    OpSpec("dil_conv_5x5", "dil_conv", 5, 2),
    OpSpec("conv_1x1", "conv", 1),
    OpSpec("conv_3x3", "conv", 3),
    OpSpec("conv_5x5", "conv", 5),
    OpSpec("null", "null"),
):
  register_op(_spec)
