"""Published cells by name, each with its source and the figures its authors (or others) published.

Data only, like `natjax.core.genotypes`: genotypes copied from the named file of each method's
public repository at the named commit, written here in natjax's (op, from, to) form (conversions
from other forms are stated per cell), and the parameter and MAdds figures published for them
(millions, as printed). `tests/core/zoo_test.py` prices every cell with `natjax.core.costs` and
asserts every figure: a figure marked `reproduced` must equal natjax's count to the printed
precision (rounded or truncated: computed in [v - u/2, v + u) for a last printed digit u), in its
network, MAdds convention and channel count, with the auxiliary head where `aux`; a figure not
reproduced must not (so a change that starts reproducing it is noticed) and says why in `note`.

Findings the figures record (README, "Published cells"):
  * every parameter count published for the DARTS network matches natjax's exactly, except
    DARTS_V1's 3.3 M (the repository's genotype costs 3.17 M) and SNAS's mild cell (2.9 M and
    4.3 M published, 2.66 M and 3.94 M computed); FairDARTS's counts include the auxiliary head
    (all but FairDARTS-c's);
  * MAdds: 'conv_linear' reproduces the CIFAR figures of FairDARTS's tables for cells without
    average pools, and GDAS's ImageNet figure at C=50; 'ptflops' reproduces the ImageNet table of
    P-DARTS and PC-DARTS; DARTS's 574 M (ImageNet) matches no counter found.

Cells that cannot be written as natjax cells are listed in NOT_REPRESENTABLE with the reason. Not
included: R-DARTS (its repository releases search logs, not one published cell; DARTS- stands in),
the DARTS-space cells of the SDARTS paper (not in its repository; SDARTS_* are its cells of the
R-DARTS spaces S1-S4, for which only errors were published) and GDAS's variant with a
hand-designed reduction cell.

`names()` lists the cells, `get(name)` returns one (case-insensitive), `genotype(name)` its genotype.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

from natjax.core.arch import Genotype, make_genotype
from natjax.errors import InputError, closest


@dataclasses.dataclass(frozen=True)
class Source:
  """Where a genotype was copied from: a file of a public GitHub repository at a commit, and the
  paper (arXiv id)."""
  repo: str
  path: str
  variable: str
  commit: str
  arxiv: str


@dataclasses.dataclass(frozen=True)
class Figure:
  """One published figure of a cell.

  Attributes:
    quantity: 'params' (trainable parameters) or 'madds' (multiply-adds).
    value: the figure in millions, as printed.
    network: 'cifar' or 'imagenet' (the DARTS networks `natjax.core.costs` prices), or 'own'
      (the method's own macro network, not comparable).
    where: the table, README or file that prints it.
    reproduced: whether natjax's count equals it to the printed precision.
    convention: the MAdds convention (`natjax.core.costs.CONVENTIONS`) it is compared under.
    channels: the network's C when not the standard one (GDAS's ImageNet network: 50).
    aux: the published parameter count includes the auxiliary head.
    note: why it is not reproduced (or what else to know).
  """
  quantity: str
  value: float
  network: str
  where: str
  reproduced: bool = True
  convention: str = "conv_linear"
  channels: Optional[int] = None
  aux: bool = False
  note: str = ""


@dataclasses.dataclass(frozen=True)
class PublishedCell:
  """A published cell: its name here, the paper, the source, the genotype and its figures."""
  name: str
  paper: str
  source: Source
  genotype: Genotype
  figures: Tuple[Figure, ...]
  conversion: str = ""


_ZOO: Dict[str, PublishedCell] = {}


def _add(cell: PublishedCell) -> None:
  """Registers a cell after validating its genotype (a typo here fails at import)."""
  genotype = make_genotype(*cell.genotype, where=f"zoo {cell.name}: ")
  _ZOO[cell.name] = dataclasses.replace(cell, genotype=genotype)


def names() -> List[str]:
  """Names of the published cells, in the order they are defined here."""
  return list(_ZOO)


def get(name: str) -> PublishedCell:
  """A published cell by name (case-insensitive).

  Raises:
    InputError: an unknown name (with the closest one), or a cell of NOT_REPRESENTABLE (why).
  """
  by_lower = {n.lower(): n for n in _ZOO}
  if name.lower() in by_lower:
    return _ZOO[by_lower[name.lower()]]
  missing = {n.lower(): n for n in NOT_REPRESENTABLE}
  if name.lower() in missing:
    key = missing[name.lower()]
    raise InputError(f"published cell '{key}' is not representable in natjax:"
                     f" {NOT_REPRESENTABLE[key][1]}")
  raise InputError(f"unknown published cell '{name}'{closest(name, list(_ZOO))}")


def genotype(name: str) -> Genotype:
  """The genotype of a published cell (`get`)."""
  return get(name).genotype


# Published cells natjax cannot hold: name -> (source, why).
NOT_REPRESENTABLE: Dict[str, Tuple[Source, str]] = {
    "FAIRDARTS_DCO_EDGE_BS_64": (
        Source("xiaomi-automl/FairDARTS", "fairdarts/genotypes.py", "DCO_EDGE_BS_64",
               "270cfc94ef4bf851f359ab5caf741f23316ea7c9", "1911.12126"),
        "its normal cell's node 2 sums 4 inputs; natjax nodes take exactly 2"),
    "NAONET": (
        Source("guoyongcs/NATv2", "genotypes.py", "NAONet",
               "e50c9ec71c13e1005648572421132e747b35dc3c", "1808.07233"),
        "it uses conv_1x3_3x1 and 2x2 max and average pools, which natjax does not register"),
    "SETN": (
        Source("D-X-Y/AutoDL-Projects", "xautodl/nas_infer_model/DXYs/genotypes.py", "SETN",
               "f46486e21b71ae6459a700be720d7648b5429569", "1910.05733"),
        "it uses conv_3x1_1x3, which natjax does not register"),
}


_add(PublishedCell(
    name='DARTS_V1', paper='DARTS (1st order)',
    source=Source('quark0/darts', 'cnn/genotypes.py', 'DARTS_V1', 'f276dd346a09ae3160f8e3aca5c7b193fda1da37', '1806.09055'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 2), ('skip_connect', 0, 3), ('sep_conv_3x3', 1, 3), ('skip_connect', 0, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 0, 5), ('skip_connect', 2, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('skip_connect', 2, 3), ('max_pool_3x3', 0, 3), ('max_pool_3x3', 0, 4), ('skip_connect', 2, 4), ('skip_connect', 2, 5), ('avg_pool_3x3', 0, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 3.3, 'cifar', 'DARTS paper Table 1; restated in P-DARTS Table1.png and PC-DARTS cifar.png (repos), SNAS README table', reproduced=False, note="the repository's DARTS_V1 genotype costs 3.17 M; the 3.3 M of the DARTS paper is not explained by any counting"),
    )))

_add(PublishedCell(
    name='DARTS_V2', paper='DARTS (2nd order)',
    source=Source('quark0/darts', 'cnn/genotypes.py', 'DARTS_V2', 'f276dd346a09ae3160f8e3aca5c7b193fda1da37', '1806.09055'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 1, 4), ('skip_connect', 0, 4), ('skip_connect', 0, 5), ('dil_conv_3x3', 2, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('skip_connect', 2, 3), ('max_pool_3x3', 1, 3), ('max_pool_3x3', 0, 4), ('skip_connect', 2, 4), ('skip_connect', 2, 5), ('max_pool_3x3', 1, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 3.3, 'cifar', 'quark0/darts README ("3.3M model params"); P-DARTS Table1.png; PC-DARTS cifar.png; FairDARTS fairdarts/genotypes.py comment "# 528M, 3.3"'),
        Figure('madds', 528, 'cifar', 'FairDARTS fairdarts/genotypes.py comment "# 528M, 3.3"'),
        Figure('params', 3.36, 'cifar', 'FairDARTS README comparison table (conflicts with its own genotypes.py comment 528M)', reproduced=False, note="FairDARTS's README table; FairDARTS's own genotypes.py gives 3.3 M and 528 M for this cell"),
        Figure('madds', 522, 'cifar', 'FairDARTS README comparison table (conflicts with its own genotypes.py comment 528M)', reproduced=False, note="FairDARTS's README table; FairDARTS's own genotypes.py gives 3.3 M and 528 M for this cell"),
        Figure('params', 4.7, 'imagenet', 'DARTS paper Table 3 (final version); quark0/darts README (4.7M); P-DARTS Table2.png; PC-DARTS imagenet.png'),
        Figure('madds', 574, 'imagenet', 'DARTS paper Table 3 (final version); quark0/darts README (4.7M); P-DARTS Table2.png; PC-DARTS imagenet.png', reproduced=False, note='reproduced by no counter found: conv_linear 529.91 M, ptflops 544.59 M; the DARTS counter was not released'),
        Figure('params', 4.9, 'imagenet', 'GDAS paper Table 2 quoting DARTS (2nd) [arXiv v1 figures, superseded]', reproduced=False, note="GDAS quoting DARTS's first arXiv version, whose cell was not this one"),
        Figure('madds', 595, 'imagenet', 'GDAS paper Table 2 quoting DARTS (2nd) [arXiv v1 figures, superseded]', reproduced=False, note="GDAS quoting DARTS's first arXiv version, whose cell was not this one"),
    )))

_add(PublishedCell(
    name='NASNET', paper='NASNet-A cell as transcribed in the DARTS repository',
    source=Source('quark0/darts', 'cnn/genotypes.py', 'NASNet', 'f276dd346a09ae3160f8e3aca5c7b193fda1da37', '1707.07012'),
    genotype=Genotype(
        normal=(('sep_conv_5x5', 1, 2), ('sep_conv_3x3', 0, 2), ('sep_conv_5x5', 0, 3), ('sep_conv_3x3', 0, 3), ('avg_pool_3x3', 1, 4), ('skip_connect', 0, 4), ('avg_pool_3x3', 0, 5), ('avg_pool_3x3', 0, 5), ('sep_conv_3x3', 1, 6), ('skip_connect', 1, 6)),
        normal_concat=(2, 3, 4, 5, 6),
        reduce=(('sep_conv_5x5', 1, 2), ('sep_conv_7x7', 0, 2), ('max_pool_3x3', 1, 3), ('sep_conv_7x7', 0, 3), ('avg_pool_3x3', 1, 4), ('sep_conv_5x5', 0, 4), ('skip_connect', 3, 5), ('avg_pool_3x3', 2, 5), ('sep_conv_3x3', 2, 6), ('max_pool_3x3', 1, 6)),
        reduce_concat=(4, 5, 6)),
    figures=(
        Figure('params', 3.83, 'cifar', 'FairDARTS genotypes.py comment "# 608M, 3.83M" (DARTS CIFAR macro, thop)'),
        Figure('madds', 608, 'cifar', 'FairDARTS genotypes.py comment "# 608M, 3.83M" (DARTS CIFAR macro, thop)', reproduced=False, note="thop 0.0.31 (FairDARTS's counter) charges 4 per output element of a 3x3 average pool (608.37 M); natjax offers no such convention"),
        Figure('params', 3.3, 'own', 'NASNet-A + cutout, in SNAS/P-DARTS/PC-DARTS tables', reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
        Figure('params', 5.3, 'own', 'NASNet-A in P-DARTS Table2.png / PC-DARTS imagenet.png / GDAS Table 2', reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
        Figure('madds', 564, 'own', 'NASNet-A in P-DARTS Table2.png / PC-DARTS imagenet.png / GDAS Table 2', reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
    )))

_add(PublishedCell(
    name='AMOEBANET', paper='AmoebaNet cell as transcribed in the DARTS repository (variant not named there)',
    source=Source('quark0/darts', 'cnn/genotypes.py', 'AmoebaNet', 'f276dd346a09ae3160f8e3aca5c7b193fda1da37', '1802.01548'),
    genotype=Genotype(
        normal=(('avg_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('sep_conv_3x3', 0, 3), ('sep_conv_5x5', 2, 3), ('sep_conv_3x3', 0, 4), ('avg_pool_3x3', 3, 4), ('sep_conv_3x3', 1, 5), ('skip_connect', 1, 5), ('skip_connect', 0, 6), ('avg_pool_3x3', 1, 6)),
        normal_concat=(4, 5, 6),
        reduce=(('avg_pool_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('max_pool_3x3', 0, 3), ('sep_conv_7x7', 2, 3), ('sep_conv_7x7', 0, 4), ('avg_pool_3x3', 1, 4), ('max_pool_3x3', 0, 5), ('max_pool_3x3', 1, 5), ('conv_7x1_1x7', 0, 6), ('sep_conv_3x3', 5, 6)),
        reduce_concat=(3, 4, 6)),
    figures=(
        Figure('params', 3.2, 'own', 'AmoebaNet-A + cutout in SNAS/P-DARTS tables (AmoebaNet-B: 2.8)', reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
        Figure('params', 5.1, 'own', 'AmoebaNet-A in P-DARTS Table2.png (B: 5.3/555, C: 6.4/570)', reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
        Figure('madds', 555, 'own', 'AmoebaNet-A in P-DARTS Table2.png (B: 5.3/555, C: 6.4/570)', reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
    )))

_add(PublishedCell(
    name='PC_DARTS', paper='PC-DARTS, searched on CIFAR-10',
    source=Source('yuhuixu1993/PC-DARTS', 'genotypes.py', 'PC_DARTS_cifar', 'b74702f86c70e330ce0db35762cfade9df026bb7', '1907.05737'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('skip_connect', 0, 2), ('sep_conv_3x3', 0, 3), ('dil_conv_3x3', 1, 3), ('sep_conv_5x5', 0, 4), ('sep_conv_3x3', 1, 4), ('avg_pool_3x3', 0, 5), ('dil_conv_3x3', 1, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_5x5', 1, 2), ('max_pool_3x3', 0, 2), ('sep_conv_5x5', 1, 3), ('sep_conv_5x5', 2, 3), ('sep_conv_3x3', 0, 4), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 1, 5), ('sep_conv_3x3', 2, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 3.6, 'cifar', 'PC-DARTS paper Table 1 (repo cifar.png) and README'),
        Figure('params', 3.63, 'cifar', 'FairDARTS genotypes.py comment and README table'),
        Figure('madds', 558, 'cifar', 'FairDARTS genotypes.py comment and README table', reproduced=False, note="thop 0.0.31 (FairDARTS's counter) charges 4 per output element of a 3x3 average pool (558.26 M); natjax offers no such convention"),
        Figure('params', 5.3, 'imagenet', 'PC-DARTS paper Table 2 "PC-DARTS (CIFAR10)" (repo imagenet.png)'),
        Figure('madds', 586, 'imagenet', 'PC-DARTS paper Table 2 "PC-DARTS (CIFAR10)" (repo imagenet.png)', convention='ptflops'),
    )))

_add(PublishedCell(
    name='PC_DARTS_IMAGENET', paper='PC-DARTS, searched on ImageNet',
    source=Source('yuhuixu1993/PC-DARTS', 'genotypes.py', 'PC_DARTS_image', 'b74702f86c70e330ce0db35762cfade9df026bb7', '1907.05737'),
    genotype=Genotype(
        normal=(('skip_connect', 1, 2), ('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 0, 3), ('skip_connect', 1, 3), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 1, 5), ('dil_conv_5x5', 4, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_3x3', 0, 2), ('skip_connect', 1, 2), ('dil_conv_5x5', 2, 3), ('max_pool_3x3', 1, 3), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_5x5', 0, 5), ('sep_conv_3x3', 3, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 5.3, 'imagenet', 'PC-DARTS paper Table 2 "PC-DARTS (ImageNet)" (repo imagenet.png); README table (FLOPs 597)'),
        Figure('madds', 597, 'imagenet', 'PC-DARTS paper Table 2 "PC-DARTS (ImageNet)" (repo imagenet.png); README table (FLOPs 597)', convention='ptflops'),
    )))

_add(PublishedCell(
    name='PDARTS', paper='P-DARTS',
    source=Source('chenxin061/pdarts', 'genotypes.py', 'PDARTS', 'b880e8733010403307fe6a9bf7f02612fbc424ca', '1904.12760'),
    genotype=Genotype(
        normal=(('skip_connect', 0, 2), ('dil_conv_3x3', 1, 2), ('skip_connect', 0, 3), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 0, 5), ('dil_conv_5x5', 4, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('avg_pool_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('sep_conv_3x3', 0, 3), ('dil_conv_5x5', 2, 3), ('max_pool_3x3', 0, 4), ('dil_conv_3x3', 1, 4), ('dil_conv_3x3', 1, 5), ('dil_conv_5x5', 3, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 3.4, 'cifar', 'P-DARTS paper Table 1 (repo Table1.png)'),
        Figure('params', 3.43, 'cifar', 'FairDARTS genotypes.py comment and README table'),
        Figure('madds', 532, 'cifar', 'FairDARTS genotypes.py comment and README table'),
        Figure('params', 4.9, 'imagenet', 'P-DARTS paper Table 2 (repo Table2.png), "searched on CIFAR10"'),
        Figure('madds', 557, 'imagenet', 'P-DARTS paper Table 2 (repo Table2.png), "searched on CIFAR10"', convention='ptflops'),
    )))

_add(PublishedCell(
    name='GDAS_V1', paper='GDAS (searched normal and reduction cells)',
    source=Source('D-X-Y/AutoDL-Projects', 'xautodl/nas_infer_model/DXYs/genotypes.py', 'GDAS_V1', 'f46486e21b71ae6459a700be720d7648b5429569', '1910.04465'),
    genotype=Genotype(
        normal=(('skip_connect', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('sep_conv_5x5', 2, 3), ('sep_conv_3x3', 3, 4), ('skip_connect', 0, 4), ('sep_conv_5x5', 4, 5), ('sep_conv_3x3', 3, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_5x5', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_5x5', 2, 3), ('sep_conv_5x5', 1, 3), ('dil_conv_5x5', 2, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_5x5', 0, 5), ('sep_conv_5x5', 1, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion='AutoDL-Projects writes one pair of (op, from) edges per node; natjax reads that form as is',
    figures=(
        Figure('params', 3.4, 'cifar', 'GDAS paper Table 1, GDAS [C=36,N=6] (text of data/GDAS.pdf in D-X-Y/AutoDL-Projects history)'),
        Figure('params', 5.3, 'imagenet', 'GDAS paper Table 2, GDAS [C=50,N=4] (repo others/GDAS/data/imagenet-results.png); C=50, not 48', channels=50),
        Figure('madds', 581, 'imagenet', 'GDAS paper Table 2, GDAS [C=50,N=4] (repo others/GDAS/data/imagenet-results.png); C=50, not 48', channels=50),
    )))

_add(PublishedCell(
    name='GDAS_V1_FAIRDARTS', paper="FairDARTS's copy of GDAS_V1 (its last reduce edge reads ('sep_conv_5x5', 2) where the GDAS repository has ('sep_conv_5x5', 1))",
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'GDAS_V1', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1910.04465'),
    genotype=Genotype(
        normal=(('skip_connect', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('sep_conv_5x5', 2, 3), ('sep_conv_3x3', 3, 4), ('skip_connect', 0, 4), ('sep_conv_5x5', 4, 5), ('sep_conv_3x3', 3, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_5x5', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_5x5', 2, 3), ('sep_conv_5x5', 1, 3), ('dil_conv_5x5', 2, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_5x5', 0, 5), ('sep_conv_5x5', 2, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 3.36, 'cifar', 'FairDARTS genotypes.py comment'),
        Figure('madds', 519, 'cifar', 'FairDARTS genotypes.py comment'),
    )))

_add(PublishedCell(
    name='PNASNET', paper='PNASNet-5 cell as transcribed in AutoDL-Projects',
    source=Source('D-X-Y/AutoDL-Projects', 'xautodl/nas_infer_model/DXYs/genotypes.py', 'PNASNet', 'f46486e21b71ae6459a700be720d7648b5429569', '1712.00559'),
    genotype=Genotype(
        normal=(('sep_conv_5x5', 0, 2), ('max_pool_3x3', 0, 2), ('sep_conv_7x7', 1, 3), ('max_pool_3x3', 1, 3), ('sep_conv_5x5', 1, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 4, 5), ('max_pool_3x3', 1, 5), ('sep_conv_3x3', 0, 6), ('skip_connect', 1, 6)),
        normal_concat=(2, 3, 4, 5, 6),
        reduce=(('sep_conv_5x5', 0, 2), ('max_pool_3x3', 0, 2), ('sep_conv_7x7', 1, 3), ('max_pool_3x3', 1, 3), ('sep_conv_5x5', 1, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 4, 5), ('max_pool_3x3', 1, 5), ('sep_conv_3x3', 0, 6), ('skip_connect', 1, 6)),
        reduce_concat=(2, 3, 4, 5, 6)),
    conversion='AutoDL-Projects writes one pair of (op, from) edges per node; natjax reads that form as is',
    figures=(
        Figure('params', 5.1, 'own', 'PNAS in P-DARTS Table2.png / GDAS Table 2', reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
        Figure('madds', 588, 'own', 'PNAS in P-DARTS Table2.png / GDAS Table 2', reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
        Figure('params', 3.2, 'own', 'PNAS in P-DARTS Table1.png', reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
    )))

_add(PublishedCell(
    name='SNAS_MILD', paper='SNAS + mild constraint',
    source=Source('SNAS-Series/SNAS-Series', 'SNAS/genotypes.py', 'SNAS_mild_edge_all', '9a43adbdf90d4969b19e448c0d094091bc5efb4f', '1812.09926'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('skip_connect', 0, 3), ('dil_conv_3x3', 1, 3), ('skip_connect', 0, 4), ('skip_connect', 1, 4), ('skip_connect', 0, 5), ('sep_conv_3x3', 1, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('max_pool_3x3', 1, 3), ('skip_connect', 2, 3), ('max_pool_3x3', 1, 4), ('skip_connect', 2, 4), ('max_pool_3x3', 0, 5), ('dil_conv_5x5', 2, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="SNAS lists an edge from every earlier node ('none' where unused); the 'none' edges are dropped, leaving 2 per node",
    figures=(
        Figure('params', 2.9, 'cifar', 'SNAS paper Table 2 (SNAS-Series repo SNAS/img/snas_result.png)', reproduced=False, note="the repository's mild cell costs 2.66 M (FairDARTS's copy says 2.66 M too); not explained"),
        Figure('params', 4.3, 'imagenet', 'SNAS (mild) in P-DARTS Table2.png and PC-DARTS imagenet.png', reproduced=False, note="the repository's mild cell costs 3.94 M (its moderate cell 4.31 M); not explained"),
        Figure('madds', 522, 'imagenet', 'SNAS (mild) in P-DARTS Table2.png and PC-DARTS imagenet.png', reproduced=False, note='reproduced by no counter found, for the mild or the moderate cell'),
    )))

_add(PublishedCell(
    name='SNAS_MODERATE', paper='SNAS + moderate constraint',
    source=Source('SNAS-Series/SNAS-Series', 'SNAS/genotypes.py', 'SNAS_moderate_edge_all', '9a43adbdf90d4969b19e448c0d094091bc5efb4f', '1812.09926'),
    genotype=Genotype(
        normal=(('dil_conv_5x5', 0, 2), ('skip_connect', 1, 2), ('sep_conv_3x3', 0, 3), ('skip_connect', 1, 3), ('skip_connect', 0, 4), ('skip_connect', 1, 4), ('sep_conv_3x3', 0, 5), ('dil_conv_5x5', 1, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('sep_conv_5x5', 0, 3), ('dil_conv_5x5', 1, 3), ('sep_conv_5x5', 0, 4), ('sep_conv_5x5', 1, 4), ('sep_conv_5x5', 0, 5), ('sep_conv_5x5', 1, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="SNAS lists an edge from every earlier node ('none' where unused); the 'none' edges are dropped, leaving 2 per node",
    figures=(
        Figure('params', 2.8, 'cifar', 'SNAS paper Table 2 (snas_result.png)'),
    )))

_add(PublishedCell(
    name='SNAS_AGGRESSIVE', paper='SNAS + aggressive constraint',
    source=Source('SNAS-Series/SNAS-Series', 'SNAS/genotypes.py', 'SNAS_aggressive_edge_all', '9a43adbdf90d4969b19e448c0d094091bc5efb4f', '1812.09926'),
    genotype=Genotype(
        normal=(('sep_conv_5x5', 0, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('skip_connect', 1, 3), ('dil_conv_5x5', 1, 4), ('skip_connect', 0, 4), ('skip_connect', 0, 5), ('dil_conv_5x5', 1, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_5x5', 0, 2), ('null', 0, 2), ('sep_conv_5x5', 0, 3), ('null', 0, 3), ('null', 0, 4), ('null', 0, 4), ('null', 0, 5), ('null', 0, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="SNAS lists an edge from every earlier node ('none' where unused); the 'none' edges are dropped, leaving 2 per node",
    figures=(
        Figure('params', 2.3, 'cifar', 'SNAS paper Table 2 (snas_result.png)'),
    )))

_add(PublishedCell(
    name='SNAS_FAIRDARTS', paper="FairDARTS's DARTS-form copy of SNAS (= SNAS_MILD without its 'none' edges)",
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'SNAS', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1812.09926'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('skip_connect', 0, 3), ('dil_conv_3x3', 1, 3), ('skip_connect', 1, 4), ('skip_connect', 0, 4), ('skip_connect', 0, 5), ('sep_conv_3x3', 1, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('max_pool_3x3', 1, 3), ('skip_connect', 2, 3), ('skip_connect', 2, 4), ('max_pool_3x3', 1, 4), ('max_pool_3x3', 0, 5), ('dil_conv_5x5', 2, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 2.66, 'cifar', 'FairDARTS genotypes.py comment'),
        Figure('madds', 422, 'cifar', 'FairDARTS genotypes.py comment'),
    )))

_add(PublishedCell(
    name='FAIRDARTS_A', paper='FairDARTS-a',
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'FairDARTS_a', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1911.12126'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('null', 0, 3), ('null', 0, 3), ('max_pool_3x3', 0, 4), ('null', 0, 4), ('sep_conv_3x3', 0, 5), ('null', 0, 5)),
        normal_concat=(2, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('avg_pool_3x3', 1, 2), ('avg_pool_3x3', 0, 3), ('dil_conv_5x5', 1, 3), ('avg_pool_3x3', 0, 4), ('sep_conv_5x5', 1, 4), ('skip_connect', 0, 5), ('skip_connect', 1, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="FairDARTS writes (op, to, from) and lets a node take any number of inputs; nodes with fewer than 2 are padded with null edges, and the output concatenates the nodes that have inputs (FairDARTS's DCOCell ignores the genotype's concat)",
    figures=(
        Figure('params', 2.83, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)', aux=True),
        Figure('madds', 373, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)', reproduced=False, note="thop 0.0.31 gives 371.82 M for the repository's genotype; not explained"),
    )))

_add(PublishedCell(
    name='FAIRDARTS_B', paper='FairDARTS-b',
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'FairDARTS_b', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1911.12126'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 1, 3), ('null', 0, 3), ('dil_conv_3x3', 0, 4), ('sep_conv_5x5', 1, 4), ('dil_conv_5x5', 1, 5), ('null', 0, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('skip_connect', 0, 2), ('dil_conv_3x3', 1, 2), ('skip_connect', 0, 3), ('dil_conv_3x3', 1, 3), ('max_pool_3x3', 0, 4), ('sep_conv_3x3', 1, 4), ('skip_connect', 2, 5), ('max_pool_3x3', 0, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="FairDARTS writes (op, to, from) and lets a node take any number of inputs; nodes with fewer than 2 are padded with null edges, and the output concatenates the nodes that have inputs (FairDARTS's DCOCell ignores the genotype's concat)",
    figures=(
        Figure('params', 3.88, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)', aux=True),
        Figure('madds', 536, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)'),
    )))

_add(PublishedCell(
    name='FAIRDARTS_C', paper='FairDARTS-c',
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'FairDARTS_c', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1911.12126'),
    genotype=Genotype(
        normal=(('max_pool_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('null', 0, 3), ('null', 0, 3), ('dil_conv_3x3', 0, 4), ('dil_conv_5x5', 2, 4), ('sep_conv_3x3', 0, 5), ('null', 0, 5)),
        normal_concat=(2, 4, 5),
        reduce=(('dil_conv_3x3', 1, 2), ('dil_conv_5x5', 0, 2), ('dil_conv_3x3', 0, 3), ('sep_conv_3x3', 1, 3), ('sep_conv_5x5', 0, 4), ('sep_conv_5x5', 3, 4), ('sep_conv_5x5', 0, 5), ('skip_connect', 1, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="FairDARTS writes (op, to, from) and lets a node take any number of inputs; nodes with fewer than 2 are padded with null edges, and the output concatenates the nodes that have inputs (FairDARTS's DCOCell ignores the genotype's concat)",
    figures=(
        Figure('params', 2.59, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)'),
        Figure('madds', 400, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)'),
    )))

_add(PublishedCell(
    name='FAIRDARTS_D', paper='FairDARTS-d',
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'FairDARTS_d', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1911.12126'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('dil_conv_3x3', 1, 3), ('max_pool_3x3', 0, 3), ('dil_conv_3x3', 0, 4), ('dil_conv_3x3', 1, 4), ('sep_conv_3x3', 0, 5), ('dil_conv_5x5', 1, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('avg_pool_3x3', 0, 3), ('dil_conv_5x5', 2, 3), ('dil_conv_3x3', 3, 4), ('avg_pool_3x3', 0, 4), ('avg_pool_3x3', 0, 5), ('skip_connect', 3, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="FairDARTS writes (op, to, from) and lets a node take any number of inputs; nodes with fewer than 2 are padded with null edges, and the output concatenates the nodes that have inputs (FairDARTS's DCOCell ignores the genotype's concat)",
    figures=(
        Figure('params', 3.84, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)', aux=True),
        Figure('madds', 532, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)'),
    )))

_add(PublishedCell(
    name='FAIRDARTS_E', paper='FairDARTS-e',
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'FairDARTS_e', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1911.12126'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('null', 0, 3), ('null', 0, 3), ('dil_conv_3x3', 1, 4), ('dil_conv_3x3', 2, 4), ('dil_conv_3x3', 0, 5), ('dil_conv_5x5', 1, 5)),
        normal_concat=(2, 4, 5),
        reduce=(('max_pool_3x3', 1, 2), ('max_pool_3x3', 0, 2), ('max_pool_3x3', 1, 3), ('max_pool_3x3', 0, 3), ('sep_conv_5x5', 1, 4), ('max_pool_3x3', 0, 4), ('avg_pool_3x3', 0, 5), ('dil_conv_5x5', 1, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="FairDARTS writes (op, to, from) and lets a node take any number of inputs; nodes with fewer than 2 are padded with null edges, and the output concatenates the nodes that have inputs (FairDARTS's DCOCell ignores the genotype's concat)",
    figures=(
        Figure('params', 3.12, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)', aux=True),
        Figure('madds', 414, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)'),
    )))

_add(PublishedCell(
    name='FAIRDARTS_F', paper='FairDARTS-f',
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'FairDARTS_f', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1911.12126'),
    genotype=Genotype(
        normal=(('max_pool_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('dil_conv_3x3', 1, 3), ('null', 0, 3), ('sep_conv_5x5', 1, 4), ('null', 0, 4), ('sep_conv_3x3', 0, 5), ('sep_conv_3x3', 1, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('max_pool_3x3', 0, 3), ('dil_conv_3x3', 1, 3), ('dil_conv_3x3', 2, 4), ('max_pool_3x3', 0, 4), ('max_pool_3x3', 0, 5), ('sep_conv_3x3', 1, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="FairDARTS writes (op, to, from) and lets a node take any number of inputs; nodes with fewer than 2 are padded with null edges, and the output concatenates the nodes that have inputs (FairDARTS's DCOCell ignores the genotype's concat)",
    figures=(
        Figure('params', 3.62, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)', aux=True),
        Figure('madds', 497, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)'),
    )))

_add(PublishedCell(
    name='FAIRDARTS_G', paper='FairDARTS-g',
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'FairDARTS_g', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1911.12126'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('null', 0, 3), ('null', 0, 3), ('sep_conv_5x5', 1, 4), ('null', 0, 4), ('dil_conv_3x3', 0, 5), ('sep_conv_3x3', 1, 5)),
        normal_concat=(2, 4, 5),
        reduce=(('avg_pool_3x3', 1, 2), ('skip_connect', 0, 2), ('skip_connect', 2, 3), ('max_pool_3x3', 1, 3), ('sep_conv_5x5', 3, 4), ('max_pool_3x3', 0, 4), ('dil_conv_3x3', 1, 5), ('dil_conv_3x3', 4, 5)),
        reduce_concat=(2, 3, 4, 5)),
    conversion="FairDARTS writes (op, to, from) and lets a node take any number of inputs; nodes with fewer than 2 are padded with null edges, and the output concatenates the nodes that have inputs (FairDARTS's DCOCell ignores the genotype's concat)",
    figures=(
        Figure('params', 3.38, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)', aux=True),
        Figure('madds', 453, 'cifar', 'FairDARTS README "Performance Stability" table (also genotypes.py comments; g: 3.375M there)'),
    )))

_add(PublishedCell(
    name='ENAS', paper='ENAS cell as written in the NAT repository (loose-end concat)',
    source=Source('guoyongcs/NAT', 'genotypes.py', 'ENAS', '0c2c3c5c471bc79d7c765c749d43115baa3b28e5', '1802.03268'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('skip_connect', 1, 2), ('skip_connect', 0, 3), ('sep_conv_5x5', 1, 3), ('avg_pool_3x3', 0, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 0, 5), ('avg_pool_3x3', 1, 5), ('avg_pool_3x3', 0, 6), ('sep_conv_5x5', 1, 6)),
        normal_concat=(2, 3, 4, 5, 6),
        reduce=(('sep_conv_5x5', 0, 2), ('avg_pool_3x3', 1, 2), ('sep_conv_3x3', 1, 3), ('avg_pool_3x3', 1, 3), ('avg_pool_3x3', 1, 4), ('sep_conv_3x3', 1, 4), ('avg_pool_3x3', 1, 5), ('sep_conv_5x5', 4, 5), ('sep_conv_5x5', 0, 6), ('sep_conv_3x3', 5, 6)),
        reduce_concat=(2, 3, 6)),
    figures=(
        Figure('params', 4.6, 'own', "ENAS + cutout in SNAS/P-DARTS/PC-DARTS tables (ENAS's own macro network)", reproduced=False, note="the method's own macro network, not the DARTS network natjax prices"),
    )))

_add(PublishedCell(
    name='ENAS_FAIRDARTS', paper="ENASNet as written in FairDARTS / GDAS (concat all nodes; reduce node 2's second op differs from the NAT repository's)",
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'ENASNet', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1802.03268'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('skip_connect', 1, 2), ('sep_conv_5x5', 1, 3), ('skip_connect', 0, 3), ('avg_pool_3x3', 0, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 0, 5), ('avg_pool_3x3', 1, 5), ('sep_conv_5x5', 1, 6), ('avg_pool_3x3', 0, 6)),
        normal_concat=(2, 3, 4, 5, 6),
        reduce=(('sep_conv_5x5', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 1, 3), ('avg_pool_3x3', 1, 3), ('sep_conv_3x3', 1, 4), ('avg_pool_3x3', 1, 4), ('avg_pool_3x3', 1, 5), ('sep_conv_5x5', 4, 5), ('sep_conv_3x3', 5, 6), ('sep_conv_5x5', 0, 6)),
        reduce_concat=(2, 3, 4, 5, 6)),
    figures=(
        Figure('params', 4.02, 'cifar', 'FairDARTS genotypes.py comment'),
        Figure('madds', 627, 'cifar', 'FairDARTS genotypes.py comment', reproduced=False, note="thop 0.0.31 (FairDARTS's counter) charges 4 per output element of a 3x3 average pool (627.17 M); natjax offers no such convention"),
    )))

_add(PublishedCell(
    name='MDENAS', paper='MdeNAS (copied by FairDARTS from tanglang96/MDENAS)',
    source=Source('xiaomi-automl/FairDARTS', 'fairdarts/genotypes.py', 'MdeNAS', '270cfc94ef4bf851f359ab5caf741f23316ea7c9', '1905.07529'),
    genotype=Genotype(
        normal=(('sep_conv_5x5', 1, 2), ('sep_conv_3x3', 0, 2), ('skip_connect', 0, 3), ('sep_conv_5x5', 1, 3), ('sep_conv_5x5', 3, 4), ('sep_conv_3x3', 1, 4), ('dil_conv_5x5', 3, 5), ('max_pool_3x3', 4, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('skip_connect', 0, 3), ('skip_connect', 1, 3), ('sep_conv_3x3', 3, 4), ('skip_connect', 2, 4), ('dil_conv_3x3', 3, 5), ('sep_conv_5x5', 0, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 3.78, 'cifar', 'FairDARTS genotypes.py comment'),
        Figure('madds', 599, 'cifar', 'FairDARTS genotypes.py comment'),
    )))

_add(PublishedCell(
    name='DRNAS', paper='DrNAS, searched on CIFAR-10',
    source=Source('xiangning-chen/DrNAS', 'DARTS-space/genotypes.py', 'DrNAS_cifar10', 'f2caa4dbdd96c1be29b56cb7ed47a74a184e6ef0', '2006.10355'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 2, 3), ('skip_connect', 0, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 2, 5), ('dil_conv_5x5', 3, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('dil_conv_5x5', 2, 3), ('sep_conv_5x5', 1, 3), ('sep_conv_5x5', 1, 4), ('dil_conv_5x5', 3, 4), ('skip_connect', 4, 5), ('sep_conv_5x5', 1, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 4.1, 'cifar', 'DrNAS README table (DARTS space, CIFAR-10)'),
    )))

_add(PublishedCell(
    name='DRNAS_IMAGENET', paper='DrNAS, searched on ImageNet',
    source=Source('xiangning-chen/DrNAS', 'DARTS-space/genotypes.py', 'DrNAS_imagenet', 'f2caa4dbdd96c1be29b56cb7ed47a74a184e6ef0', '2006.10355'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 0, 4), ('dil_conv_3x3', 3, 4), ('skip_connect', 0, 5), ('sep_conv_3x3', 1, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 3), ('skip_connect', 2, 3), ('sep_conv_3x3', 0, 4), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 3, 5), ('sep_conv_3x3', 1, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=(
        Figure('params', 5.7, 'imagenet', "DrNAS README table (DARTS space, ImageNet); the paper's MAdds figure was not found in a source read here"),
    )))

_add(PublishedCell(
    name='SDARTS_RS_S1', paper='SDARTS-RS on CIFAR-10 in R-DARTS space S1',
    source=Source('xiangning-chen/SmoothDARTS', 'sota/cnn/genotypes.py', 'c10_s1_random', 'd3dbfed06643d5fd4056edd90891ec9109634ada', '2002.05283'),
    genotype=Genotype(
        normal=(('dil_conv_5x5', 1, 2), ('dil_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 3), ('skip_connect', 2, 3), ('dil_conv_3x3', 3, 4), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 0, 5), ('dil_conv_3x3', 2, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('dil_conv_3x3', 1, 2), ('dil_conv_5x5', 2, 3), ('max_pool_3x3', 1, 3), ('dil_conv_5x5', 3, 4), ('sep_conv_3x3', 1, 4), ('dil_conv_5x5', 2, 5), ('dil_conv_5x5', 3, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=()))

_add(PublishedCell(
    name='SDARTS_RS_S2', paper='SDARTS-RS on CIFAR-10 in R-DARTS space S2',
    source=Source('xiangning-chen/SmoothDARTS', 'sota/cnn/genotypes.py', 'c10_s2_random', 'd3dbfed06643d5fd4056edd90891ec9109634ada', '2002.05283'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 2, 3), ('skip_connect', 1, 3), ('sep_conv_3x3', 3, 4), ('skip_connect', 0, 4), ('sep_conv_3x3', 1, 5), ('skip_connect', 2, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 2, 5), ('sep_conv_3x3', 3, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=()))

_add(PublishedCell(
    name='SDARTS_RS_S3', paper='SDARTS-RS on CIFAR-10 in R-DARTS space S3',
    source=Source('xiangning-chen/SmoothDARTS', 'sota/cnn/genotypes.py', 'c10_s3_random', 'd3dbfed06643d5fd4056edd90891ec9109634ada', '2002.05283'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 4, 5), ('skip_connect', 0, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('skip_connect', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 2, 3), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 0, 5), ('sep_conv_3x3', 4, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=()))

_add(PublishedCell(
    name='SDARTS_RS_S4', paper='SDARTS-RS on CIFAR-10 in R-DARTS space S4',
    source=Source('xiangning-chen/SmoothDARTS', 'sota/cnn/genotypes.py', 'c10_s4_random', 'd3dbfed06643d5fd4056edd90891ec9109634ada', '2002.05283'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 2, 3), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 4, 5), ('sep_conv_3x3', 2, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 2, 3), ('sep_conv_3x3', 0, 4), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 0, 5), ('sep_conv_3x3', 4, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=()))

_add(PublishedCell(
    name='SDARTS_ADV_S1', paper='SDARTS-ADV on CIFAR-10 in R-DARTS space S1',
    source=Source('xiangning-chen/SmoothDARTS', 'sota/cnn/genotypes.py', 'c10_s1_pgd', 'd3dbfed06643d5fd4056edd90891ec9109634ada', '2002.05283'),
    genotype=Genotype(
        normal=(('dil_conv_5x5', 1, 2), ('dil_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 3), ('skip_connect', 2, 3), ('sep_conv_3x3', 2, 4), ('dil_conv_3x3', 3, 4), ('sep_conv_3x3', 0, 5), ('dil_conv_3x3', 2, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('max_pool_3x3', 0, 2), ('dil_conv_3x3', 1, 2), ('dil_conv_5x5', 2, 3), ('max_pool_3x3', 0, 3), ('dil_conv_5x5', 3, 4), ('dil_conv_3x3', 2, 4), ('dil_conv_5x5', 4, 5), ('dil_conv_5x5', 2, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=()))

_add(PublishedCell(
    name='SDARTS_ADV_S2', paper='SDARTS-ADV on CIFAR-10 in R-DARTS space S2',
    source=Source('xiangning-chen/SmoothDARTS', 'sota/cnn/genotypes.py', 'c10_s2_pgd', 'd3dbfed06643d5fd4056edd90891ec9109634ada', '2002.05283'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('skip_connect', 0, 2), ('sep_conv_3x3', 2, 3), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 4, 5), ('sep_conv_3x3', 1, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('skip_connect', 0, 2), ('skip_connect', 1, 2), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 2, 3), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 0, 4), ('sep_conv_3x3', 4, 5), ('sep_conv_3x3', 3, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=()))

_add(PublishedCell(
    name='SDARTS_ADV_S3', paper='SDARTS-ADV on CIFAR-10 in R-DARTS space S3',
    source=Source('xiangning-chen/SmoothDARTS', 'sota/cnn/genotypes.py', 'c10_s3_pgd', 'd3dbfed06643d5fd4056edd90891ec9109634ada', '2002.05283'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 2, 3), ('sep_conv_3x3', 1, 4), ('sep_conv_3x3', 0, 4), ('sep_conv_3x3', 1, 5), ('skip_connect', 0, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 2, 3), ('sep_conv_3x3', 0, 3), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 0, 4), ('sep_conv_3x3', 1, 5), ('sep_conv_3x3', 3, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=()))

_add(PublishedCell(
    name='SDARTS_ADV_S4', paper='SDARTS-ADV on CIFAR-10 in R-DARTS space S4',
    source=Source('xiangning-chen/SmoothDARTS', 'sota/cnn/genotypes.py', 'c10_s4_pgd', 'd3dbfed06643d5fd4056edd90891ec9109634ada', '2002.05283'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 2, 3), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 3, 5), ('sep_conv_3x3', 4, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_3x3', 1, 2), ('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 2, 3), ('sep_conv_3x3', 1, 3), ('sep_conv_3x3', 2, 4), ('sep_conv_3x3', 3, 4), ('sep_conv_3x3', 3, 5), ('sep_conv_3x3', 4, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=()))

_add(PublishedCell(
    name='DARTS_MINUS', paper='DARTS- best CIFAR-10 cell in the DARTS space (S0, "S5 in the code")',
    source=Source('Meituan-AutoML/DARTS-', 'src/eval/genotypes.py', 'cifar10_s0_0', 'adb81a8313b17d1a87593a53b0e802fc4199e9b1', '2009.01027'),
    genotype=Genotype(
        normal=(('sep_conv_3x3', 0, 2), ('sep_conv_5x5', 1, 2), ('sep_conv_3x3', 1, 3), ('dil_conv_3x3', 2, 3), ('skip_connect', 1, 4), ('sep_conv_3x3', 0, 4), ('skip_connect', 1, 5), ('sep_conv_3x3', 0, 5)),
        normal_concat=(2, 3, 4, 5),
        reduce=(('sep_conv_3x3', 0, 2), ('max_pool_3x3', 1, 2), ('skip_connect', 2, 3), ('max_pool_3x3', 0, 3), ('skip_connect', 2, 4), ('skip_connect', 3, 4), ('skip_connect', 2, 5), ('skip_connect', 3, 5)),
        reduce_concat=(2, 3, 4, 5)),
    figures=()))
