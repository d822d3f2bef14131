"""Tests for natjax.io.viz: SVG/PNG output of every built-in genotype, and path checks."""

import xml.etree.ElementTree as ET

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from natjax.core import genotypes
from natjax.core.arch import Genotype
from natjax.errors import InputError
from natjax.io import viz

BUILTINS = sorted(name for name, value in vars(genotypes).items()
                  if isinstance(value, Genotype))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _svg_texts(path):
  """All text content of an SVG file (parsing it also checks it is well formed)."""
  root = ET.parse(path).getroot()
  return {"".join(el.itertext()).strip() for el in root.iter() if el.tag.endswith("text")}


def test_there_are_builtins():
  assert {"DARTS", "ENAS", "VGG", "R1"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_svg_is_well_formed_and_names_every_op(name, tmp_path):
  genotype = getattr(genotypes, name)
  path = str(tmp_path / "sub" / "dir" / f"{name}.svg")
  assert viz.draw_genotype(genotype, path, title=name) == path
  texts = _svg_texts(path)
  ops = {op for op, _, _ in genotype.normal + genotype.reduce}
  assert ops <= texts, ops - texts
  assert {name, "normal cell", "reduction cell"} <= texts


def test_png_has_magic_bytes_and_sensible_size(tmp_path):
  path = tmp_path / "darts.png"
  viz.draw_genotype(genotypes.DARTS, str(path))
  data = path.read_bytes()
  assert data.startswith(PNG_MAGIC)
  assert 50_000 < len(data) < 2_000_000


@pytest.mark.parametrize("suffix", [".pdf", ".jpg", "", ".svg.txt"])
def test_bad_suffix_raises_input_error(suffix, tmp_path):
  path = str(tmp_path / f"cell{suffix}")
  with pytest.raises(InputError, match=".svg, .png") as err:
    viz.draw_genotype(genotypes.DARTS, path)
  assert path in str(err.value)
  with pytest.raises(InputError):
    viz.draw_transformation(genotypes.DARTS, genotypes.NAT_DARTS, path)
  assert not list(tmp_path.iterdir())


def test_uppercase_suffix_is_accepted(tmp_path):
  path = tmp_path / "cell.PNG"
  viz.draw_genotype(genotypes.VGG, str(path))
  assert path.read_bytes().startswith(PNG_MAGIC)


def test_transformation_draws_both_cells(tmp_path):
  path = str(tmp_path / "t.svg")
  assert viz.draw_transformation(genotypes.DARTS, genotypes.NAT_DARTS, path, "NAT") == path
  texts = _svg_texts(path)
  assert {"null", "skip_connect", "sep_conv_3x3", "max_pool_3x3", "NAT"} <= texts
  assert {"transformed: normal cell", "input: reduction cell"} <= texts


def test_changed_edges():
  before = (("conv_3x3", 0, 2), ("skip_connect", 1, 2))
  after = (("conv_3x3", 0, 2), ("null", 1, 2))
  assert viz._changed(before, after) == [1]
  assert viz._changed(before, before) == []


def test_duplicate_edges_get_distinct_rads():
  edges = (("conv_3x3", 1, 2), ("sep_conv_3x3", 1, 2), ("skip_connect", 0, 2))
  rads = viz._edge_rads(edges)
  assert rads[0] != rads[1] and rads[0] == -rads[1]


def test_labels_do_not_overlap_on_published_cells():
  for genotype in (genotypes.DARTS, genotypes.ENAS):
    for cell, concat in ((genotype.normal, genotype.normal_concat),
                         (genotype.reduce, genotype.reduce_concat)):
      fig = Figure(figsize=(8, 3))
      ax = fig.subplots()
      viz.draw_cell(ax, cell, concat, "cell")
      renderer = FigureCanvasAgg(fig).get_renderer()
      boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text() in
               {op for op, _, _ in cell}]
      assert len(boxes) == len(cell)
      for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
          assert not a.overlaps(b), (a, b)


@pytest.mark.parametrize("op, colour, style", [
    ("null", "#9e9e9e", "--"), ("skip_connect", "#222222", "-"),
    ("sep_conv_5x5", "#2e7d32", "-"), ("dil_conv_3x3", "#6a1b9a", "-"),
    ("conv_1x1", "#1565c0", "-"), ("max_pool_5x5", "#e65100", "-")])
def test_op_style_by_family(op, colour, style):
  assert viz.op_style(op) == (colour, style)
