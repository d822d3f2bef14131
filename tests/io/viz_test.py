"""Tests for natjax.io.viz: SVG/PNG/PDF output of every built-in genotype, titles with the cost
change, path checks, and colours that colour-blind readers can tell apart."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from natjax.core import genotypes, ops, spaces
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


@pytest.mark.parametrize("suffix", [".eps", ".jpg", "", ".svg.txt"])
def test_bad_suffix_raises_input_error(suffix, tmp_path):
  path = str(tmp_path / f"cell{suffix}")
  with pytest.raises(InputError, match=r"\.svg, \.png, \.pdf$") as err:
    viz.draw_genotype(genotypes.DARTS, path)
  assert path in str(err.value)
  with pytest.raises(InputError):
    viz.draw_transformation(genotypes.DARTS, genotypes.NAT_DARTS, path)
  assert not list(tmp_path.iterdir())


def test_uppercase_suffix_is_accepted(tmp_path):
  path = tmp_path / "cell.PNG"
  viz.draw_genotype(genotypes.VGG, str(path))
  assert path.read_bytes().startswith(PNG_MAGIC)


def test_pdf_output(tmp_path):
  for draw in (lambda p: viz.draw_genotype(genotypes.DARTS, p),
               lambda p: viz.draw_transformation(genotypes.DARTS, genotypes.NAT_DARTS, p)):
    path = tmp_path / "cell.pdf"
    assert draw(str(path)) == str(path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF") and len(data) > 10_000
    path.unlink()


def test_transformation_draws_both_cells(tmp_path):
  path = str(tmp_path / "t.svg")
  assert viz.draw_transformation(genotypes.DARTS, genotypes.NAT_DARTS, path, "NAT") == path
  texts = _svg_texts(path)
  assert {"null", "skip_connect", "sep_conv_3x3", "max_pool_3x3", "NAT"} <= texts
  assert {"transformed: normal cell", "input: reduction cell"} <= texts


def test_transformation_title_carries_the_cost_and_accuracy_change(tmp_path):
  path = str(tmp_path / "t.svg")
  # DARTS 3,349,342 params and 528,359,040 MAdds; NAT_DARTS 2,682,334 and 424,181,376 (the cost
  # model's figures, tests/core/costs_test.py): -19.91 % and -19.72 %.
  viz.draw_transformation(genotypes.DARTS, genotypes.NAT_DARTS, path, "NAT")
  assert ("params 3.35 M -> 2.68 M (-19.9 %), MAdds 528.4 M -> 424.2 M (-19.7 %)"
          in _svg_texts(path))
  viz.draw_transformation(genotypes.DARTS, genotypes.NAT_DARTS, path, "NAT",
                          costs=({"params": 2_000_000, "madds": 400e6},
                                 {"params": 2_500_000, "madds": 300e6}),
                          accuracy=(0.8125, 0.75))
  assert ("params 2.00 M -> 2.50 M (+25.0 %), MAdds 400.0 M -> 300.0 M (-25.0 %);"
          " shared-weight accuracy 0.812 -> 0.750 (-0.062)") in _svg_texts(path)
  assert viz.change_text(({"params": 1, "madds": 2}, {"params": 1, "madds": 2}),
                         (0.5, None)).endswith("(+0.0 %)")


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
    ("null", "#999999", "--"), ("skip_connect", "#000000", "-"),
    ("sep_conv_5x5", "#009E73", "-"), ("dil_conv_3x3", "#CC79A7", "-"),
    ("conv_1x1", "#0072B2", "-"), ("max_pool_5x5", "#D55E00", "-"),
    ("avg_pool_3x3", "#56B4E9", "-"), ("conv_7x1_1x7", "#E69F00", "-"),
    ("sep_conv_9x9", "#009E73", "-"), ("group_conv_3x3", "#555555", "-.")])
def test_op_style_by_family(op, colour, style):
  assert viz.op_style(op) == (colour, style)


# Colour-vision deficiency simulation: Machado, Oliveira and Fernandes, "A physiologically-based
# model for simulation of color vision deficiency", IEEE TVCG 15(6), 2009, the matrices for
# severity 1.0, applied to linear RGB; distances are CIE76 Delta E in CIELAB (D65).
MACHADO_2009 = {
    "normal": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _lab(hex_colour, vision):
  """CIELAB of an sRGB colour as seen under `vision`."""
  srgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
  linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
  linear = np.clip(MACHADO_2009[vision] @ linear, 0, 1)
  to_xyz = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                     [0.0193339, 0.1191920, 0.9503041]])
  xyz = to_xyz @ linear / np.array([0.95047, 1.0, 1.08883])
  f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
  return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_lab_of_reference_colours():
  np.testing.assert_allclose(_lab("#FFFFFF", "normal"), [100, 0, 0], atol=1e-3)
  np.testing.assert_allclose(_lab("#FF0000", "normal"), [53.24, 80.09, 67.20], atol=0.02)


@pytest.mark.parametrize("space", spaces.registered_spaces())
@pytest.mark.parametrize("vision", sorted(MACHADO_2009))
def test_every_op_family_of_a_builtin_space_is_told_apart(space, vision):
  """Ops of different families differ in line style or, under normal vision and each full
  colour-vision deficiency, by Delta E >= 15 (the former palette had max- and avg-pool 11 apart
  for tritanopes, dil_conv and conv 12 for deuteranopes); max- and avg-pool by >= 50."""
  styles = {ops.get_op(op).family: viz.op_style(op) for op in spaces.get_space(space).ops}
  families = sorted(styles)
  for i, a in enumerate(families):
    for b in families[i + 1:]:
      (colour_a, style_a), (colour_b, style_b) = styles[a], styles[b]
      assert (colour_a, style_a) != (colour_b, style_b), (a, b)
      if style_a == style_b:
        distance = np.linalg.norm(_lab(colour_a, vision) - _lab(colour_b, vision))
        assert distance >= 15, (a, b, distance)
  pools = [_lab(viz.op_style(op)[0], vision) for op in ("max_pool_3x3", "avg_pool_3x3")]
  assert np.linalg.norm(pools[0] - pools[1]) >= 50
