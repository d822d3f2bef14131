"""Tests for natjax.core.zoo: every published figure of every published cell against the cost model.

A figure v printed with last digit u (3.3 -> 0.1, 528 -> 1) is reproduced when the computed value
lies in [v - u/2, v + u): printed rounded or truncated (FairDARTS truncates). Parameter counts with
the auxiliary head add the head's weights, computed by hand below (independently of
`natjax.nn.evalnet`, whose own test checks the same formula for DARTS).
"""

import pytest

from natjax.core import costs, genotypes, zoo
from natjax.errors import InputError

FIGURES = [(cell.name, i) for cell in map(zoo.get, zoo.names()) for i in range(len(cell.figures))]


def _unit(value):
  text = repr(float(value))
  decimals = 0 if text.endswith(".0") else len(text.split(".")[1])
  return 10.0 ** -decimals


def _matches(computed, value):
  u = _unit(value)
  return value - u / 2 <= computed / 1e6 < value + u


def _aux_params(genotype, network):
  """The DARTS auxiliary head: ReLU, avg pool, conv 1x1 (C_in -> 128) + BN, conv 2x2 (128 -> 768)
  (+ BN on CIFAR only), Linear(768 -> classes) with bias; C_in is the output of the second
  reduction cell, len(reduce_concat) nodes of 4 C channels."""
  c = costs.network_config(network).c
  c_in = len(genotype.reduce_concat) * 4 * c
  classes = costs.network_config(network).num_classes
  bn768 = 2 * 768 if network == "cifar" else 0
  return c_in * 128 + 2 * 128 + 4 * 128 * 768 + bn768 + 768 * classes + classes


def _computed(cell, figure, convention):
  cost = costs.genotype_cost(cell.genotype, figure.network, convention, channels=figure.channels)
  if figure.quantity == "params":
    return cost["params"] + (_aux_params(cell.genotype, figure.network) if figure.aux else 0)
  return cost["madds"]


@pytest.mark.parametrize("name,index", FIGURES, ids=[f"{n}-{i}" for n, i in FIGURES])
def test_published_figure(name, index):
  cell = zoo.get(name)
  figure = cell.figures[index]
  assert figure.quantity in ("params", "madds") and figure.where
  if figure.network == "own":
    assert not figure.reproduced and figure.note
    return
  computed = _computed(cell, figure, figure.convention)
  if figure.reproduced:
    assert _matches(computed, figure.value), (computed, figure)
  else:
    assert figure.note
    for convention in costs.CONVENTIONS:  # No convention natjax offers reproduces it.
      assert not _matches(_computed(cell, figure, convention), figure.value), convention


def test_figures_that_must_be_there():
  """The acceptance figures, spelled out (exact integers where natjax's convention matches)."""
  darts = zoo.genotype("DARTS_V2")
  assert darts == genotypes.DARTS
  assert costs.genotype_cost(darts) == {"params": 3_349_342, "madds": 528_359_040}
  assert costs.genotype_cost(darts, "imagenet")["params"] == 4_718_752
  assert costs.genotype_cost(darts, "imagenet", "ptflops")["madds"] == 544_588_032
  pdarts = costs.genotype_cost(zoo.genotype("PDARTS"), "imagenet", "ptflops")["madds"]
  assert round(pdarts / 1e6) == 557
  pc = costs.genotype_cost(zoo.genotype("PC_DARTS_IMAGENET"), "imagenet", "ptflops")["madds"]
  assert round(pc / 1e6) == 597
  gdas = costs.genotype_cost(zoo.genotype("GDAS_V1"), "imagenet", channels=50)
  assert gdas["madds"] == 581_009_000
  names = set(zoo.names())
  for required in ("DARTS_V1", "DARTS_V2", "PC_DARTS", "PC_DARTS_IMAGENET", "PDARTS", "GDAS_V1",
                   "SNAS_MILD", "FAIRDARTS_A", "FAIRDARTS_B", "DRNAS", "SDARTS_RS_S3",
                   "DARTS_MINUS", "ENAS", "NASNET", "AMOEBANET"):
    assert required in names


def test_every_cell_has_a_source_and_costs_in_both_networks():
  for name in zoo.names():
    cell = zoo.get(name)
    assert cell.source.repo.count("/") == 1 and len(cell.source.commit) == 40
    for network in costs.NETWORKS:
      for convention in costs.CONVENTIONS:
        cost = costs.genotype_cost(cell.genotype, network, convention)
        assert cost["params"] > 1e6 and cost["madds"] > 1e8


def test_lookup_is_case_insensitive_and_names_what_is_missing():
  assert zoo.get("darts_v2").name == "DARTS_V2"
  with pytest.raises(InputError, match=r"'SETN' is not representable in natjax: .*conv_3x1_1x3"):
    zoo.get("setn")
  with pytest.raises(InputError, match=r"unknown published cell 'PDART' \(did you mean 'PDARTS'\?\)"):
    zoo.get("PDART")
