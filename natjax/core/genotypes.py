"""Built-in genotypes: the input cells of the NAT papers and the published transformed cells.

Data only (spec section 3.6; the authors' released genotype lists). Names follow the papers:
`X` is an input cell, `NAT_X` its NAT output, `NATv2_X` its NAT++ output; R1-R5 are random cells of
the DARTS space. DARTS-type cells have N=4, ENAS-type N=5; the hand-crafted blocks (VGG, ResBlock,
MobileNetV2) have N=4 and output node 5 only. The NAONet cells are not included: they use ops
(conv_1x3_3x1, 2x2 pools) natjax does not register. Published cells of other methods, with their
sources and published figures, are in `natjax.core.zoo`.

`builtin(name)` looks one up by name (case-insensitive); `builtin_names()` lists them.
"""

from typing import List

from natjax.core.arch import Genotype
from natjax.errors import InputError, closest

DARTS = Genotype(
    normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 1, 4), ('skip_connect', 0, 4), ('skip_connect', 0, 5), ('dil_conv_3x3', 2, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('max_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('skip_connect', 2, 3), ('max_pool_3x3', 1, 3), ('max_pool_3x3', 0, 4), ('skip_connect', 2, 4), ('skip_connect', 2, 5), ('max_pool_3x3', 1, 5)),
    reduce_concat=(2, 3, 4, 5))

NAT_DARTS = Genotype(
    normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('skip_connect', 0, 3), ('sep_conv_3x3', 1, 3), ('skip_connect', 1, 4), ('skip_connect', 0, 4), ('skip_connect', 0, 5), ('dil_conv_3x3', 2, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('max_pool_3x3', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 2, 3), ('skip_connect', 1, 3), ('max_pool_3x3', 0, 4), ('null', 2, 4), ('skip_connect', 2, 5), ('max_pool_3x3', 1, 5)),
    reduce_concat=(2, 3, 4, 5))

NATv2_DARTS = Genotype(
    normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('null', 0, 3), ('skip_connect', 1, 3), ('dil_conv_3x3', 1, 4), ('skip_connect', 0, 4), ('skip_connect', 0, 5), ('dil_conv_3x3', 2, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('avg_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('skip_connect', 2, 3), ('skip_connect', 1, 3), ('avg_pool_3x3', 0, 4), ('skip_connect', 2, 4), ('skip_connect', 2, 5), ('max_pool_3x3', 1, 5)),
    reduce_concat=(2, 3, 4, 5))

ENAS = Genotype(
    normal=(('sep_conv_3x3', 1, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('sep_conv_5x5', 1, 3), ('avg_pool_3x3', 0, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 0, 5), ('avg_pool_3x3', 1, 5), ('avg_pool_3x3', 0, 6), ('sep_conv_5x5', 1, 6)),
    normal_concat=(2, 3, 4, 5, 6),
    reduce=(('sep_conv_5x5', 0, 2), ('avg_pool_3x3', 1, 2), ('sep_conv_3x3', 1, 3), ('avg_pool_3x3', 1, 3), ('avg_pool_3x3', 1, 4), ('sep_conv_3x3', 1, 4), ('avg_pool_3x3', 1, 5), ('sep_conv_5x5', 4, 5), ('sep_conv_5x5', 0, 6), ('sep_conv_3x3', 5, 6)),
    reduce_concat=(2, 3, 6))

NAT_ENAS = Genotype(
    normal=(('sep_conv_3x3', 1, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('sep_conv_5x5', 1, 3), ('null', 0, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 0, 5), ('avg_pool_3x3', 1, 5), ('avg_pool_3x3', 0, 6), ('sep_conv_5x5', 1, 6)),
    normal_concat=(2, 3, 4, 5, 6),
    reduce=(('sep_conv_5x5', 0, 2), ('avg_pool_3x3', 1, 2), ('sep_conv_3x3', 1, 3), ('avg_pool_3x3', 1, 3), ('avg_pool_3x3', 1, 4), ('sep_conv_3x3', 1, 4), ('null', 1, 5), ('sep_conv_5x5', 4, 5), ('sep_conv_5x5', 0, 6), ('sep_conv_3x3', 5, 6)),
    reduce_concat=(2, 3, 6))

NATv2_ENAS = Genotype(
    normal=(('sep_conv_3x3', 1, 2), ('null', 1, 2), ('skip_connect', 0, 3), ('sep_conv_5x5', 1, 3), ('avg_pool_3x3', 0, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 0, 5), ('avg_pool_3x3', 1, 5), ('skip_connect', 0, 6), ('sep_conv_3x3', 1, 6)),
    normal_concat=(2, 3, 4, 5, 6),
    reduce=(('sep_conv_3x3', 0, 2), ('avg_pool_3x3', 1, 2), ('sep_conv_3x3', 1, 3), ('avg_pool_3x3', 1, 3), ('avg_pool_3x3', 1, 4), ('avg_pool_3x3', 1, 4), ('avg_pool_3x3', 1, 5), ('sep_conv_5x5', 4, 5), ('sep_conv_5x5', 0, 6), ('max_pool_3x3', 5, 6)),
    reduce_concat=(2, 3, 6))

ResBlock = Genotype(
    normal=(('null', 0, 2), ('skip_connect', 1, 2), ('null', 0, 3), ('conv_3x3', 2, 3), ('null', 0, 4), ('conv_3x3', 3, 4), ('skip_connect', 2, 5), ('skip_connect', 4, 5)),
    normal_concat=(5,),
    reduce=(('null', 0, 2), ('skip_connect', 1, 2), ('null', 0, 3), ('conv_3x3', 2, 3), ('null', 0, 4), ('conv_3x3', 3, 4), ('skip_connect', 2, 5), ('skip_connect', 4, 5)),
    reduce_concat=(5,))

NAT_ResBlock = Genotype(
    normal=(('null', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('conv_3x3', 2, 3), ('skip_connect', 0, 4), ('conv_3x3', 3, 4), ('skip_connect', 2, 5), ('skip_connect', 4, 5)),
    normal_concat=(5,),
    reduce=(('null', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('conv_3x3', 2, 3), ('skip_connect', 0, 4), ('conv_3x3', 3, 4), ('skip_connect', 2, 5), ('skip_connect', 4, 5)),
    reduce_concat=(5,))

NATv2_ResBlock = Genotype(
    normal=(('skip_connect', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('conv_3x3', 2, 3), ('skip_connect', 0, 4), ('conv_3x3', 3, 4), ('skip_connect', 2, 5), ('skip_connect', 4, 5)),
    normal_concat=(5,),
    reduce=(('skip_connect', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('conv_3x3', 2, 3), ('skip_connect', 0, 4), ('sep_conv_3x3', 3, 4), ('skip_connect', 2, 5), ('skip_connect', 4, 5)),
    reduce_concat=(5,))

VGG = Genotype(
    normal=(('null', 0, 2), ('skip_connect', 1, 2), ('null', 0, 3), ('conv_3x3', 2, 3), ('null', 0, 4), ('conv_3x3', 3, 4), ('null', 0, 5), ('skip_connect', 4, 5)),
    normal_concat=(5,),
    reduce=(('null', 0, 2), ('skip_connect', 1, 2), ('null', 0, 3), ('conv_3x3', 2, 3), ('null', 0, 4), ('conv_3x3', 3, 4), ('null', 0, 5), ('max_pool_3x3', 4, 5)),
    reduce_concat=(5,))

NAT_VGG = Genotype(
    normal=(('skip_connect', 0, 2), ('skip_connect', 1, 2), ('null', 0, 3), ('conv_3x3', 2, 3), ('null', 0, 4), ('conv_3x3', 3, 4), ('skip_connect', 0, 5), ('skip_connect', 4, 5)),
    normal_concat=(5,),
    reduce=(('skip_connect', 0, 2), ('skip_connect', 1, 2), ('null', 0, 3), ('conv_3x3', 2, 3), ('null', 0, 4), ('conv_3x3', 3, 4), ('skip_connect', 0, 5), ('skip_connect', 4, 5)),
    reduce_concat=(5,))

NATv2_VGG = Genotype(
    normal=(('skip_connect', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('conv_3x3', 2, 3), ('null', 0, 4), ('sep_conv_3x3', 3, 4), ('skip_connect', 0, 5), ('skip_connect', 4, 5)),
    normal_concat=(5,),
    reduce=(('skip_connect', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('conv_3x3', 2, 3), ('null', 0, 4), ('sep_conv_3x3', 3, 4), ('skip_connect', 0, 5), ('max_pool_3x3', 4, 5)),
    reduce_concat=(5,))

MobileNetV2 = Genotype(
    normal=(('null', 0, 2), ('conv_1x1', 1, 2), ('null', 0, 3), ('sep_conv_3x3', 2, 3), ('null', 0, 4), ('conv_1x1', 3, 4), ('skip_connect', 1, 5), ('skip_connect', 4, 5)),
    normal_concat=(5,),
    reduce=(('null', 0, 2), ('conv_1x1', 1, 2), ('null', 0, 3), ('sep_conv_3x3', 2, 3), ('null', 0, 4), ('conv_1x1', 3, 4), ('null', 0, 5), ('skip_connect', 4, 5)),
    reduce_concat=(5,))

NAT_MobileNetV2 = Genotype(
    normal=(('null', 0, 2), ('conv_1x1', 1, 2), ('null', 0, 3), ('sep_conv_3x3', 2, 3), ('skip_connect', 0, 4), ('conv_1x1', 3, 4), ('skip_connect', 1, 5), ('skip_connect', 4, 5)),
    normal_concat=(5,),
    reduce=(('null', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('sep_conv_3x3', 2, 3), ('null', 0, 4), ('conv_1x1', 3, 4), ('null', 0, 5), ('skip_connect', 4, 5)),
    reduce_concat=(5,))

NATv2_MobileNetV2 = Genotype(
    normal=(('null', 0, 2), ('conv_1x1', 1, 2), ('null', 0, 3), ('sep_conv_3x3', 2, 3), ('skip_connect', 0, 4), ('conv_1x1', 3, 4), ('skip_connect', 1, 5), ('skip_connect', 4, 5)),
    normal_concat=(5,),
    reduce=(('null', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('sep_conv_3x3', 2, 3), ('null', 0, 4), ('conv_1x1', 3, 4), ('null', 0, 5), ('skip_connect', 4, 5)),
    reduce_concat=(5,))

R1 = Genotype(
    normal=(('dil_conv_5x5', 1, 2), ('dil_conv_5x5', 1, 2), ('dil_conv_5x5', 1, 3), ('dil_conv_5x5', 2, 3), ('sep_conv_3x3', 0, 4), ('sep_conv_3x3', 3, 4), ('skip_connect', 1, 5), ('max_pool_3x3', 0, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('sep_conv_5x5', 0, 2), ('max_pool_3x3', 0, 2), ('skip_connect', 0, 3), ('sep_conv_3x3', 0, 3), ('conv_3x3', 0, 4), ('max_pool_3x3', 2, 4), ('avg_pool_3x3', 2, 5), ('conv_3x3', 3, 5)),
    reduce_concat=(2, 3, 4, 5))

NAT_R1 = Genotype(
    normal=(('skip_connect', 1, 2), ('dil_conv_5x5', 1, 2), ('null', 1, 3), ('dil_conv_5x5', 2, 3), ('sep_conv_3x3', 0, 4), ('sep_conv_3x3', 3, 4), ('skip_connect', 1, 5), ('max_pool_3x3', 0, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('sep_conv_5x5', 0, 2), ('max_pool_3x3', 0, 2), ('skip_connect', 0, 3), ('sep_conv_3x3', 0, 3), ('skip_connect', 0, 4), ('skip_connect', 2, 4), ('skip_connect', 2, 5), ('conv_3x3', 3, 5)),
    reduce_concat=(2, 3, 4, 5))

R2 = Genotype(
    normal=(('max_pool_3x3', 1, 2), ('dil_conv_3x3', 0, 2), ('sep_conv_5x5', 2, 3), ('avg_pool_3x3', 2, 3), ('dil_conv_5x5', 0, 4), ('skip_connect', 3, 4), ('sep_conv_3x3', 1, 5), ('max_pool_3x3', 3, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('conv_3x3', 1, 2), ('avg_pool_3x3', 1, 2), ('max_pool_3x3', 0, 3), ('dil_conv_5x5', 0, 3), ('max_pool_3x3', 0, 4), ('skip_connect', 0, 4), ('dil_conv_5x5', 4, 5), ('skip_connect', 4, 5)),
    reduce_concat=(2, 3, 4, 5))

NAT_R2 = Genotype(
    normal=(('max_pool_3x3', 1, 2), ('dil_conv_3x3', 0, 2), ('null', 2, 3), ('null', 2, 3), ('dil_conv_5x5', 0, 4), ('null', 3, 4), ('sep_conv_3x3', 1, 5), ('max_pool_3x3', 3, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('skip_connect', 1, 2), ('avg_pool_3x3', 1, 2), ('skip_connect', 0, 3), ('dil_conv_5x5', 0, 3), ('null', 0, 4), ('skip_connect', 0, 4), ('dil_conv_5x5', 4, 5), ('skip_connect', 4, 5)),
    reduce_concat=(2, 3, 4, 5))

R3 = Genotype(
    normal=(('conv_3x3', 0, 2), ('skip_connect', 0, 2), ('conv_3x3', 0, 3), ('max_pool_3x3', 0, 3), ('sep_conv_5x5', 1, 4), ('sep_conv_3x3', 3, 4), ('avg_pool_3x3', 4, 5), ('avg_pool_3x3', 4, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('skip_connect', 0, 2), ('max_pool_3x3', 0, 2), ('sep_conv_5x5', 2, 3), ('avg_pool_3x3', 0, 3), ('skip_connect', 3, 4), ('max_pool_3x3', 2, 4), ('max_pool_3x3', 1, 5), ('sep_conv_5x5', 4, 5)),
    reduce_concat=(2, 3, 4, 5))

NAT_R3 = Genotype(
    normal=(('conv_3x3', 0, 2), ('skip_connect', 0, 2), ('null', 0, 3), ('max_pool_3x3', 0, 3), ('null', 1, 4), ('null', 3, 4), ('avg_pool_3x3', 4, 5), ('null', 4, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('skip_connect', 0, 2), ('max_pool_3x3', 0, 2), ('sep_conv_5x5', 2, 3), ('avg_pool_3x3', 0, 3), ('null', 3, 4), ('skip_connect', 2, 4), ('max_pool_3x3', 1, 5), ('sep_conv_5x5', 4, 5)),
    reduce_concat=(2, 3, 4, 5))

R4 = Genotype(
    normal=(('conv_3x3', 1, 2), ('sep_conv_3x3', 1, 2), ('conv_3x3', 2, 3), ('conv_3x3', 2, 3), ('sep_conv_3x3', 3, 4), ('conv_3x3', 0, 4), ('max_pool_3x3', 0, 5), ('max_pool_3x3', 4, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('sep_conv_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('skip_connect', 2, 3), ('sep_conv_3x3', 2, 3), ('sep_conv_5x5', 2, 4), ('conv_3x3', 1, 4), ('dil_conv_5x5', 2, 5), ('max_pool_3x3', 4, 5)),
    reduce_concat=(2, 3, 4, 5))

NAT_R4 = Genotype(
    normal=(('conv_3x3', 1, 2), ('sep_conv_3x3', 1, 2), ('skip_connect', 2, 3), ('null', 2, 3), ('sep_conv_3x3', 3, 4), ('conv_3x3', 0, 4), ('max_pool_3x3', 0, 5), ('null', 4, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('sep_conv_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('skip_connect', 2, 3), ('sep_conv_3x3', 2, 3), ('skip_connect', 2, 4), ('conv_3x3', 1, 4), ('null', 2, 5), ('skip_connect', 4, 5)),
    reduce_concat=(2, 3, 4, 5))

R5 = Genotype(
    normal=(('skip_connect', 0, 2), ('max_pool_3x3', 0, 2), ('max_pool_3x3', 2, 3), ('dil_conv_5x5', 0, 3), ('max_pool_3x3', 2, 4), ('conv_3x3', 2, 4), ('conv_3x3', 0, 5), ('sep_conv_5x5', 2, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('dil_conv_5x5', 0, 2), ('avg_pool_3x3', 1, 2), ('sep_conv_5x5', 0, 3), ('avg_pool_3x3', 2, 3), ('conv_3x3', 0, 4), ('dil_conv_5x5', 0, 4), ('sep_conv_3x3', 0, 5), ('skip_connect', 4, 5)),
    reduce_concat=(2, 3, 4, 5))

NAT_R5 = Genotype(
    normal=(('skip_connect', 0, 2), ('max_pool_3x3', 0, 2), ('null', 2, 3), ('dil_conv_5x5', 0, 3), ('null', 2, 4), ('conv_3x3', 2, 4), ('conv_3x3', 0, 5), ('sep_conv_5x5', 2, 5)),
    normal_concat=(2, 3, 4, 5),
    reduce=(('dil_conv_5x5', 0, 2), ('avg_pool_3x3', 1, 2), ('sep_conv_5x5', 0, 3), ('avg_pool_3x3', 2, 3), ('conv_3x3', 0, 4), ('null', 0, 4), ('skip_connect', 0, 5), ('skip_connect', 4, 5)),
    reduce_concat=(2, 3, 4, 5))



def builtin_names() -> List[str]:
  """Names of the built-in genotypes, in the order they are defined here."""
  return [k for k, v in globals().items() if isinstance(v, Genotype)]


def builtin_name(name: str) -> str:
  """The built-in genotype's name as spelled here; InputError with a suggestion otherwise."""
  names = builtin_names()
  by_lower = {n.lower(): n for n in names}
  if name.lower() in by_lower:
    return by_lower[name.lower()]
  raise InputError(f"unknown architecture '{name}'{closest(name, names)}; built-ins:"
                   f" {', '.join(names)}")


def builtin(name: str) -> Genotype:
  """A built-in genotype by name (case-insensitive); InputError with a suggestion otherwise."""
  return globals()[builtin_name(name)]
