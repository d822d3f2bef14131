"""Operation registry: what each op of a cell edge is.

An op is known by name only at the edges of natjax (parsing, JSON, drawing, messages); inside
traced code it is an index into a search space's op list (`natjax.core.spaces`). An op is an
instance of a registered family (`natjax.core.families`: what the op computes, holds and costs)
with a kernel size and a dilation. Research forks add an op with `register_op`, and a new kind of
op with `register_op_family` first.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

from natjax.core import families
from natjax.core.families import OpFamily
from natjax.errors import InputError
from natjax.registry import Registry


@dataclasses.dataclass(frozen=True)
class OpSpec:
  """Static description of one op.

  Attributes:
    name: the op's name in genotypes, e.g. 'sep_conv_3x3'.
    family: a registered family's name (`natjax.core.families`).
    kernel: spatial kernel size k (0 for families without a kernel: skip, null).
    dilation: the family's dilation (2 for dil_conv, 1 otherwise).
  """
  name: str
  family: str
  kernel: int = 0
  dilation: int = 1


_REGISTRY: Registry[OpSpec] = Registry("op")


def register_op(spec: OpSpec) -> OpSpec:
  """Adds an op to the registry; fails loudly on a bad or conflicting description.

  Raises:
    InputError: an unregistered family (register it first with `register_op_family`), a kernel
      size the family does not take, or a dilation other than the family's.
  """
  try:
    family = families.get_family(spec.family)
  except InputError as err:
    raise InputError(f"op '{spec.name}': {err}") from None
  if not family.kernel:
    if spec.kernel != 0:
      raise InputError(f"op '{spec.name}': family '{spec.family}' takes no kernel")
  elif spec.kernel < 1 or spec.kernel % 2 == 0:
    raise InputError(f"op '{spec.name}': kernel must be a positive odd integer, got {spec.kernel}")
  if spec.dilation != family.dilation:
    raise InputError(f"op '{spec.name}': dilation {spec.dilation} does not fit family"
                     f" '{spec.family}' (dilation {family.dilation})")
  return _REGISTRY.add(spec.name, spec)


def family_of(spec: OpSpec) -> OpFamily:
  """The registered family of an op."""
  return families.get_family(spec.family)


def get_op(name: str) -> OpSpec:
  """Looks an op up by name; an unknown name raises InputError suggesting the closest one."""
  return _REGISTRY.get(name)


def registered_ops() -> Tuple[str, ...]:
  """Names of every registered op, in registration order."""
  return _REGISTRY.names()


def unregister_op(name: str) -> None:
  """Removes an op (`natjax.core.extend.temporary` undoes its registrations with it)."""
  _REGISTRY.remove(name)


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
