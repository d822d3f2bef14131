"""Operation registry: what each op of a cell edge is.

An op is known by name only at the edges of natjax (parsing, JSON, drawing, messages); inside
traced code it is an index into a search space's op list (`natjax.core.spaces`). An op is an
instance of a registered family (`natjax.core.families`: what the op computes, holds and costs)
with a kernel size and a dilation. Research forks add an op with `register_op`, and a new kind of
op with `register_op_family` first.

Names written by other NAS code: `ALIASES` maps another spelling of a registered op to natjax's
name (DARTS's `none` is natjax's `null`); `FOREIGN_OPS` describes ops that published cells use but
natjax does not register, so that a genotype holding one is told what it is rather than offered a
different op with a similar name (`unknown_op_message`).
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

from natjax.core import families
from natjax.core.families import OpFamily
from natjax.errors import InputError, closest, prefixed
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
  with prefixed(f"op '{spec.name}'"):
    family = families.get_family(spec.family)
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


ALIASES = {
    "none": "null",  # DARTS's PRIMITIVES[0] and every fork's: the zero op.
    "conv_1x7_7x1": "conv_7x1_1x7",  # NAT++'s code: the same module (1x7 conv first, then 7x1).
}

# Ops of published cells and search spaces that natjax does not register (what they are, where).
FOREIGN_OPS = {
    "conv_1x3_3x1": "NAONet's factorised conv (1x3 then 3x1)",
    "conv_3x1_1x3": "AutoDL-Projects' factorised conv of SETN (1x3 then 3x1)",
    "avg_pool_2x2": "NAONet's 2x2 average pool",
    "max_pool_2x2": "NAONet's 2x2 max pool",
    "noise": "the Gaussian-noise op of R-DARTS's search space S4",
    "sep_conv_1x1": "NAT++ code's separable conv with k=1 (in no published cell)",
    "dil_conv_1x1": "NAT++ code's dilated conv with k=1 (in no published cell)",
    "nor_conv_1x1": "NAS-Bench-201's ReLU-conv-BN 1x1 (a different cell format)",
    "nor_conv_3x3": "NAS-Bench-201's ReLU-conv-BN 3x3 (a different cell format)",
    "att_squeeze": "AutoDL-Projects' attention op",
}


def canonical_name(name: str) -> str:
  """natjax's name for an op name written by other NAS code (`ALIASES`); others unchanged."""
  return ALIASES.get(name, name)


def unknown_op_message(name: str) -> str:
  """Why `name` is not an op, for a message "...: <this>": another code's name of a natjax op
  (`ALIASES`, where it is not read as such) gets natjax's name, a known foreign op is named as
  such (with how to add it), anything else gets the closest registered name and a word on
  importing the fork that registers it."""
  if name in ALIASES:
    return f"op '{name}' is natjax's '{ALIASES[name]}': write '{ALIASES[name]}'"
  if name in FOREIGN_OPS:
    return (f"op '{name}' ({FOREIGN_OPS[name]}) is a known op outside natjax's vocabulary;"
            " a fork can add it with natjax.register_op (README, 'Extending natjax')")
  return (f"unknown op '{name}'{closest(name, registered_ops())}; an op of a research fork needs"
          " its module imported first (--imports MODULE)")


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
    OpSpec("sep_conv_7x7", "sep_conv", 7),
    OpSpec("dil_conv_3x3", "dil_conv", 3, 2),
    OpSpec("dil_conv_5x5", "dil_conv", 5, 2),
    OpSpec("conv_1x1", "conv", 1),
    OpSpec("conv_3x3", "conv", 3),
    OpSpec("conv_5x5", "conv", 5),
    OpSpec("conv_7x1_1x7", "factorized_conv", 7),
    OpSpec("null", "null"),
):
  register_op(_spec)
