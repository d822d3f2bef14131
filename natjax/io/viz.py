"""Drawing cells and genotypes with matplotlib (no graphviz, no global pyplot state).

A cell is drawn as a left-to-right layered DAG: the two cell inputs c_{k-2} and c_{k-1} on the
left (above and below the axis line), the intermediate nodes in order along the middle, and the
output node c_{k} on the right. Each edge is a curved arrow labelled with its op name and coloured
by op family; the concat edges into the output carry no label. Figures are built on
`matplotlib.figure.Figure` with an Agg canvas, so drawing never touches pyplot or the backend.

Colours come from the Okabe-Ito palette (M. Okabe and K. Ito, "Color Universal Design", 2008;
B. Wong, "Points of view: Color blindness", Nature Methods 8:441, 2011), made so that readers with
any common colour-vision deficiency can tell them apart: one colour per op family, max-pool
vermillion and avg-pool sky blue (apart in hue and lightness), `null` grey and dashed.

Public functions:
  draw_cell(ax, edges, concat, title, highlight=()) -> None
  draw_genotype(genotype, path, title=None) -> str
  draw_transformation(before, after, path, title=None, costs=None, accuracy=None) -> str
"""

from __future__ import annotations

import os
from typing import Any, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib import patches

from natjax import files
from natjax.errors import InputError

SUFFIXES = (".svg", ".png", ".pdf")

X_STEP = 2.2          # Horizontal distance between layers, in data units.
INPUT_Y = 1.5         # The inputs sit at +/- INPUT_Y; intermediate nodes on y = 0.
NODE_RADIUS = 0.32
LABEL_FONTSIZE = 7.0
NODE_FONTSIZE = 9.0
UNIT_INCHES = 0.85    # Inches per data unit in the figures built here.
DUPLICATE_RAD = 0.22  # Extra arc3 rad between duplicate edges of the same node pair.
LABEL_TS = (0.5, 0.4, 0.6, 0.32, 0.68, 0.25, 0.75, 0.18, 0.82)

# The Okabe-Ito palette (Wong 2011, Figure 2); yellow is left out (too light on white).
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
             "bluish_green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
             "vermillion": "#D55E00", "reddish_purple": "#CC79A7"}
# (op family, colour, line style); ops of unregistered families match by name prefix.
_FAMILIES = (
    ("null", "#999999", "--"),
    ("skip", OKABE_ITO["black"], "-"),
    ("sep_conv", OKABE_ITO["bluish_green"], "-"),
    ("dil_conv", OKABE_ITO["reddish_purple"], "-"),
    ("factorized_conv", OKABE_ITO["orange"], "-"),
    ("conv", OKABE_ITO["blue"], "-"),
    ("max_pool", OKABE_ITO["vermillion"], "-"),
    ("avg_pool", OKABE_ITO["sky_blue"], "-"),
)
_OTHER = ("#555555", "-.")  # a family registered by a fork
_CONCAT_COLOUR = "#b0b0b0"
_HIGHLIGHT_COLOUR = "#ffd54f"

Edge = Tuple[str, int, int]
Box = Tuple[float, float, float, float]  # (x0, y0, x1, y1) in data units.


class _Arc(NamedTuple):
  """One edge's geometry: endpoints and the arc3 control point of its quadratic Bezier."""
  start: Tuple[float, float]
  control: Tuple[float, float]
  end: Tuple[float, float]


def op_style(op_name: str) -> Tuple[str, str]:
  """Returns (colour, line style) of an op by its registered family (conv, sep_conv, dil_conv,
  pools, ...); an unregistered name by the family its name starts with; ops of other families
  (a fork's) dark grey, dash-dotted."""
  from natjax.core import ops  # pylint: disable=g-import-not-at-top
  registered = op_name in ops.registered_ops()
  family = ops.get_op(op_name).family if registered else op_name
  for name, colour, style in _FAMILIES:
    if family == name or (not registered and family.startswith(name + "_")):
      return colour, style
  return _OTHER


def _num_intermediate(edges: Sequence[Edge], concat: Iterable[int]) -> int:
  """Number of intermediate nodes: the highest node index seen, minus the two inputs."""
  nodes = [dst for _, _, dst in edges] + [src for _, src, _ in edges] + list(concat)
  return max(max(nodes, default=1) - 1, 0)


def _node_positions(num_nodes: int) -> List[Tuple[float, float]]:
  """Positions of nodes 0..num_nodes+1 followed by the output node."""
  positions = [(0.0, INPUT_Y), (0.0, -INPUT_Y)]
  positions += [((k + 1) * X_STEP, 0.0) for k in range(num_nodes)]
  positions.append(((num_nodes + 1) * X_STEP, 0.0))
  return positions


def _node_label(node: int, num_nodes: int) -> str:
  """Mathtext label of a node; the output node has index num_nodes + 2."""
  if node == 0:
    return r"$c_{k-2}$"
  if node == 1:
    return r"$c_{k-1}$"
  if node == num_nodes + 2:
    return r"$c_{k}$"
  return str(node)


def _base_rad(src: int, dst: int) -> float:
  """Arc3 rad that keeps an edge clear of the nodes it would pass through.

  With arc3, a positive rad bends a left-to-right edge downwards. Edges from c_{k-2} bow up, from
  c_{k-1} down; edges skipping intermediate nodes bow up or down by the parity of their target.
  """
  span = dst - max(src, 1)
  if span <= 1:
    return 0.0
  magnitude = 0.12 + 0.03 * (span - 2)
  if src == 0:
    return -magnitude
  if src == 1:
    return magnitude
  magnitude += 0.08
  return magnitude if dst % 2 else -magnitude


def _edge_rads(edges: Sequence[Edge]) -> List[float]:
  """Arc3 rad of every edge; duplicates of the same (src, dst) pair fan out around the base."""
  counts = {}
  for _, src, dst in edges:
    counts[(src, dst)] = counts.get((src, dst), 0) + 1
  seen = {}
  rads = []
  for _, src, dst in edges:
    i = seen.get((src, dst), 0)
    seen[(src, dst)] = i + 1
    offset = (i - (counts[(src, dst)] - 1) / 2.0) * DUPLICATE_RAD
    rads.append(_base_rad(src, dst) + offset)
  return rads


def _arc(start: Tuple[float, float], end: Tuple[float, float], rad: float) -> _Arc:
  """The quadratic Bezier that matplotlib's arc3 draws (exact when the aspect is equal)."""
  (x1, y1), (x2, y2) = start, end
  control = ((x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1))
  return _Arc(start, control, end)


def _point_on(arc: _Arc, t: float) -> Tuple[float, float]:
  """Point at parameter t on the arc's Bezier curve."""
  a, b, c = (1 - t) ** 2, 2 * t * (1 - t), t ** 2
  return tuple(a * p + b * q + c * r for p, q, r in zip(arc.start, arc.control, arc.end))


def _overlap(a: Box, b: Box) -> float:
  """Area of the intersection of two boxes."""
  w = min(a[2], b[2]) - max(a[0], b[0])
  h = min(a[3], b[3]) - max(a[1], b[1])
  return max(w, 0.0) * max(h, 0.0)


def _label_box(centre: Tuple[float, float], text: str, unit_inches: float) -> Box:
  """Estimated data-space box of a label centred at `centre`."""
  width = (0.6 * LABEL_FONTSIZE * len(text) + 4) / 72.0 / unit_inches
  height = (1.5 * LABEL_FONTSIZE + 2) / 72.0 / unit_inches
  x, y = centre
  return (x - width / 2, y - height / 2, x + width / 2, y + height / 2)


def _place_label(arc: _Arc, text: str, taken: List[Box], unit_inches: float):
  """Picks the point along the arc whose label box overlaps the boxes taken so far the least."""
  best = None
  for t in LABEL_TS:
    centre = _point_on(arc, t)
    box = _label_box(centre, text, unit_inches)
    cost = sum(_overlap(box, other) for other in taken)
    if best is None or cost < best[0] - 1e-9:
      best = (cost, centre, box)
    if cost == 0.0:
      break
  taken.append(best[2])
  return best[1]


def _unit_inches(ax) -> float:
  """Inches per data unit on an axes whose limits and equal aspect are already set."""
  ax.apply_aspect()
  width = ax.get_position().width * ax.figure.get_figwidth()
  x0, x1 = ax.get_xlim()
  return width / (x1 - x0)


def _draw_nodes(ax, positions, num_nodes: int) -> List[patches.Circle]:
  """Draws every node as a labelled circle; returns the circles, the output node last."""
  circles = []
  for node, (x, y) in enumerate(positions):
    is_io = node < 2 or node == num_nodes + 2
    circle = patches.Circle((x, y), NODE_RADIUS, zorder=3, linewidth=1.2, edgecolor="#37474f",
                            facecolor="#cfd8dc" if is_io else "#e3f2fd")
    ax.add_patch(circle)
    ax.text(x, y, _node_label(node, num_nodes), ha="center", va="center",
            fontsize=NODE_FONTSIZE, zorder=4)
    circles.append(circle)
  return circles


def _draw_arrow(ax, circles, src: int, dst: int, rad: float, colour: str, style: str,
                width: float, halo: bool = False):
  """Adds one curved arrow between two node circles (and a yellow halo under it if asked)."""
  kwargs = dict(connectionstyle=f"arc3,rad={rad:.3f}", patchA=circles[src], patchB=circles[dst],
                arrowstyle="-|>", mutation_scale=10, shrinkA=0, shrinkB=0)
  if halo:
    ax.add_patch(patches.FancyArrowPatch(circles[src].center, circles[dst].center, **kwargs,
                                         color=_HIGHLIGHT_COLOUR, linewidth=width + 5, zorder=1))
  ax.add_patch(patches.FancyArrowPatch(circles[src].center, circles[dst].center, **kwargs,
                                       color=colour, linestyle=style, linewidth=width, zorder=2))


def _set_limits(ax, num_nodes: int) -> None:
  """Fixed limits and equal aspect, so arcs drawn in display space match the data-space math."""
  ax.set_xlim(-0.7, (num_nodes + 1) * X_STEP + 0.7)
  ax.set_ylim(-INPUT_Y - 0.9, INPUT_Y + 0.9)
  ax.set_aspect("equal", adjustable="box")
  ax.set_axis_off()


def draw_cell(ax, edges: Sequence[Edge], concat: Sequence[int], title: str,
              highlight: Iterable[int] = ()) -> None:
  """Draws one cell on `ax` as a left-to-right layered DAG.

  Args:
    ax: a matplotlib Axes; its limits, aspect and axis visibility are set here.
    edges: (op_name, from_node, to_node) triples; nodes 0 and 1 are the cell inputs.
    concat: intermediate nodes that feed the output node c_{k}.
    title: axes title.
    highlight: indices into `edges` to mark as changed (thick, with a yellow halo).
  """
  highlight = set(highlight)
  num_nodes = _num_intermediate(edges, concat)
  _set_limits(ax, num_nodes)
  unit_inches = _unit_inches(ax)
  positions = _node_positions(num_nodes)
  circles = _draw_nodes(ax, positions, num_nodes)
  taken = [(x - NODE_RADIUS, y - NODE_RADIUS, x + NODE_RADIUS, y + NODE_RADIUS)
           for x, y in positions]
  output = num_nodes + 2
  for node in concat:
    rad = 0.0 if node == output - 1 else 0.18 + 0.04 * (output - node - 2)
    _draw_arrow(ax, circles, node, output, rad, _CONCAT_COLOUR, "-", 1.0)
  for i, ((op, src, dst), rad) in enumerate(zip(edges, _edge_rads(edges))):
    colour, style = op_style(op)
    changed = i in highlight
    _draw_arrow(ax, circles, src, dst, rad, colour, style, 2.2 if changed else 1.3, changed)
    centre = _place_label(_arc(positions[src], positions[dst], rad), op, taken, unit_inches)
    ax.text(*centre, op, ha="center", va="center", fontsize=LABEL_FONTSIZE, color=colour,
            fontweight="bold" if changed else "normal", zorder=5,
            bbox=dict(boxstyle="round,pad=0.15", linewidth=1.2 if changed else 0,
                      edgecolor=colour, facecolor="white", alpha=0.9))
  ax.set_title(title, fontsize=10)


def _check_path(path: str) -> str:
  """Returns the image format of `path` ('svg', 'png' or 'pdf'); raises InputError for any
  other, naming the allowed suffixes."""
  suffix = os.path.splitext(str(path))[1].lower()
  if suffix not in SUFFIXES:
    raise InputError(f"cannot draw to '{path}': the file name must end in one of "
                     f"{', '.join(SUFFIXES)}")
  return suffix[1:]


def _new_figure(width_units: float, height_units: float) -> Figure:
  """A pyplot-free figure with an Agg canvas, sized in data units."""
  fig = Figure(figsize=(width_units * UNIT_INCHES, height_units * UNIT_INCHES),
               layout="constrained")
  FigureCanvasAgg(fig)
  return fig


def _save(fig: Figure, path: str, fmt: str) -> str:
  """Saves `fig` to `path`, creating parent directories; text stays text in SVG and PDF."""
  full = files.output_file(path, "drawing")
  with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
    fig.savefig(full, format=fmt, dpi=150, bbox_inches="tight")
  return path


def _width_units(genotypes) -> float:
  """Data width of the widest cell among the given genotypes."""
  sizes = [_num_intermediate(cell, concat) for g in genotypes
           for cell, concat in ((g.normal, g.normal_concat), (g.reduce, g.reduce_concat))]
  return (max(sizes) + 1) * X_STEP + 1.4


# Figure height (inches) of a normal cell drawn above its reduction cell.
_PAIR_HEIGHT = 2 * (2 * INPUT_Y + 1.8) + 0.8


def _draw_pair(axes, genotype, highlight=((), ())) -> None:
  """Draws the normal cell on axes[0] and the reduction cell on axes[1]."""
  draw_cell(axes[0], genotype.normal, genotype.normal_concat, "normal cell", highlight[0])
  draw_cell(axes[1], genotype.reduce, genotype.reduce_concat, "reduction cell", highlight[1])


def draw_genotype(genotype, path: str, title: Optional[str] = None) -> str:
  """Draws a genotype's normal cell above its reduction cell and saves the figure.

  Args:
    genotype: a `natjax.core.arch.Genotype` (normal, normal_concat, reduce, reduce_concat).
    path: output file; the format follows the suffix, '.svg', '.png' or '.pdf'.
    title: optional figure title.

  Returns:
    `path`.

  Raises:
    InputError: if the suffix of `path` is not one of `SUFFIXES`.
  """
  fmt = _check_path(path)
  fig = _new_figure(_width_units([genotype]), _PAIR_HEIGHT)
  _draw_pair(fig.subplots(2, 1), genotype)
  if title:
    fig.suptitle(title, fontsize=12)
  return _save(fig, path, fmt)


def _changed(before: Sequence[Edge], after: Sequence[Edge]) -> List[int]:
  """Indices of the edges that differ between two cells (extra edges count as changed)."""
  n = max(len(before), len(after))
  pad = lambda cell: list(cell) + [None] * (n - len(cell))
  return [i for i, (a, b) in enumerate(zip(pad(before), pad(after))) if a != b]


def _change(before: float, after: float) -> str:
  return f"{100.0 * (after / before - 1):+.1f} %" if before else "n/a"


def change_text(costs: Sequence[Mapping[str, Any]],
                accuracy: Optional[Sequence[Optional[float]]] = None) -> str:
  """One line of what a transformation changed: 'params 3.35 M -> 2.68 M (-19.9 %), MAdds
  528.4 M -> 424.2 M (-19.7 %)' and, when both accuracies are known, '; shared-weight accuracy
  0.826 -> 0.830 (+0.004)'.

  Args:
    costs: (before, after) mappings with 'params' and 'madds' (counts, not millions).
    accuracy: (before, after) accuracies in [0, 1], or None.
  """
  (p0, m0), (p1, m1) = ((c["params"], c["madds"]) for c in costs)
  text = (f"params {p0 / 1e6:.2f} M -> {p1 / 1e6:.2f} M ({_change(p0, p1)}), MAdds"
          f" {m0 / 1e6:.1f} M -> {m1 / 1e6:.1f} M ({_change(m0, m1)})")
  if accuracy is not None and None not in tuple(accuracy):
    a0, a1 = accuracy
    text += f"; shared-weight accuracy {a0:.3f} -> {a1:.3f} ({a1 - a0:+.3f})"
  return text


def draw_transformation(before, after, path: str, title: Optional[str] = None,
                        costs: Optional[Sequence[Mapping[str, Any]]] = None,
                        accuracy: Optional[Sequence[Optional[float]]] = None) -> str:
  """Draws an input genotype (left) and its transformed genotype (right), changes highlighted;
  the figure's title ends with the cost change (and the accuracy change when given).

  Args:
    before: the input `Genotype`.
    after: the transformed `Genotype`.
    path: output file; the format follows the suffix, '.svg', '.png' or '.pdf'.
    title: optional first line of the figure's title.
    costs: (before, after) mappings with 'params' and 'madds' in the CIFAR network (a
      derived.json entry's 'input' and 'output', or a transform report's 'input' and an
      output); default: computed with `natjax.core.costs.genotype_cost` (CIFAR network,
      conv_linear MAdds).
    accuracy: (before, after) shared-weight accuracies in [0, 1] on the same images, when the
      caller knows them (a search's derivation); default: not shown.

  Returns:
    `path`.

  Raises:
    InputError: if the suffix of `path` is not one of `SUFFIXES`.
  """
  fmt = _check_path(path)
  if costs is None:
    from natjax.core import costs as cost_model  # pylint: disable=g-import-not-at-top
    costs = (cost_model.genotype_cost(before), cost_model.genotype_cost(after))
  highlight = (_changed(before.normal, after.normal), _changed(before.reduce, after.reduce))
  fig = _new_figure(2 * _width_units([before, after]), _PAIR_HEIGHT)
  axes = fig.subplots(2, 2)
  _draw_pair(axes[:, 0], before, highlight)
  _draw_pair(axes[:, 1], after, highlight)
  axes[0, 0].set_title("input: normal cell", fontsize=10)
  axes[1, 0].set_title("input: reduction cell", fontsize=10)
  axes[0, 1].set_title("transformed: normal cell", fontsize=10)
  axes[1, 1].set_title("transformed: reduction cell", fontsize=10)
  change = change_text(costs, accuracy)
  fig.suptitle(f"{title}\n{change}" if title else change, fontsize=11)
  return _save(fig, path, fmt)
