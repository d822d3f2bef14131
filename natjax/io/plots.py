"""Plots of a run directory, redrawn from its files: training curves and derivation candidates.

  curves.png      a search: the reward with its baseline, the shared-weight accuracies, the policy
                  entropy and the supernet loss, over steps; a retraining: train and test loss and
                  accuracy, gradient norm, learning rate and drop-path probability, over steps.
                  Read from the TensorBoard event files in RUN_DIR/tensorboard.
  candidates.png  a search's derivation (RUN_DIR/derived.json): per input architecture, the MAdds
                  and shared-weight accuracy of each scored candidate, the input and the chosen one
                  marked.

The event files are read here, without TensorBoard: TFRecord framing (a little-endian uint64
length, its masked CRC-32C, the record, the record's masked CRC-32C; TensorFlow's
`tensorflow/core/lib/io/record_writer.cc` format, which tensorboardX writes) around
`tensorboardX.proto.event_pb2.Event` protobufs. Figures are `matplotlib.figure.Figure` objects on an
Agg canvas, as in `natjax.io.viz`: no pyplot state.

Public functions:
  read_events(path) -> list of Event
  read_scalars(logdir) -> {tag: (steps int64[n], values float64[n])}
  curves_figure(scalars, title) -> Figure
  read_derived(path) -> list of derived.json entries
  candidates_figure(entries, title) -> Figure
  draw_run(run_dir, out_dir=None) -> [written paths]
"""

from __future__ import annotations

import collections
import glob
import os
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from google.protobuf.message import DecodeError
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tensorboardX.proto import event_pb2
from tensorboardX.record_writer import masked_crc32c

from natjax import files
from natjax.errors import InputError, prefixed
from natjax.io import viz

CURVES_FILE = "curves.png"
CANDIDATES_FILE = "candidates.png"
DERIVED_FILE = "derived.json"  # what `natjax search` writes (natjax.search.loop.DERIVED_FILE)
TENSORBOARD_DIR = "tensorboard"
EVENTS_GLOB = "events.out.tfevents.*"

Series = Tuple[np.ndarray, np.ndarray]  # (steps int64[n], values float64[n]), steps ascending

# Panels of curves.png: (title, y label, [(tag, legend label), ...]).
SEARCH_PANELS = (
    ("reward", "acc(beta) - acc(alpha)",
     (("theta/reward", "reward"), ("theta/baseline", "baseline"))),
    ("shared-weight accuracy", "accuracy",
     (("w/accuracy", "supernet (w batches)"), ("theta/acc_alpha", "input alpha (theta batches)"),
      ("theta/acc_beta", "transformed beta (theta batches)"))),
    ("policy entropy", "nats", (("theta/entropy", "entropy"),)),
    ("supernet loss", "cross-entropy", (("w/loss", "w loss"),)),
)
RETRAIN_PANELS = (
    ("loss", "cross-entropy", (("train/loss", "train"), ("test/loss", "test"))),
    ("accuracy", "accuracy", (("train/accuracy", "train"), ("test/accuracy", "test"))),
    ("gradient norm", "global L2 norm", (("train/grad_norm", "before clipping"),)),
    ("schedule", "value", (("train/learning_rate", "learning rate"),
                           ("train/drop_path_prob", "drop-path probability"))),
)
# Flat tags of runs written by earlier natjax versions (one step's value, not an interval's
# mean), read as the namespaced tags they became.
LEGACY_TAGS = {"w_loss": "w/loss", "w_accuracy": "w/accuracy", "theta_loss": "theta/loss",
               "reward": "theta/reward", "baseline": "theta/baseline",
               "entropy": "theta/entropy", "acc_alpha": "theta/acc_alpha",
               "acc_beta": "theta/acc_beta"}
LINE_COLOURS = tuple(viz.OKABE_ITO[c] for c in ("blue", "vermillion", "bluish_green", "black"))
_HEADER = struct.Struct("<QI")  # record length, masked CRC-32C of the length's 8 bytes
_FOOTER = struct.Struct("<I")   # masked CRC-32C of the record


def read_events(path: str) -> List[Any]:
  """Every event of one TFRecord event file, in file order.

  A record cut short at the end of the file is ignored, as TensorBoard does: a writer that is
  still running may be in the middle of it.

  Args:
    path: an events.out.tfevents.* file.

  Returns:
    `tensorboardX.proto.event_pb2.Event` messages.

  Raises:
    InputError: 'PATH: ...' for a missing or unreadable file, or a damaged record (a CRC that does
      not match, or bytes that are not an Event), naming its byte offset.
  """
  try:
    with open(files.local_path(path, "event file"), "rb") as f:
      data = f.read()
  except FileNotFoundError:
    raise InputError(f"{path}: not found") from None
  except OSError as err:
    raise InputError(f"{path}: cannot read ({err.strerror})") from None
  events, pos = [], 0
  while pos + _HEADER.size <= len(data):
    length, length_crc = _HEADER.unpack_from(data, pos)
    if masked_crc32c(data[pos:pos + 8]) != length_crc:
      raise InputError(f"{path}: damaged event file (bad record length checksum at byte {pos})")
    start, end = pos + _HEADER.size, pos + _HEADER.size + length
    if end + _FOOTER.size > len(data):
      break  # cut short: the rest is not written yet
    record = data[start:end]
    if masked_crc32c(record) != _FOOTER.unpack_from(data, end)[0]:
      raise InputError(f"{path}: damaged event file (bad record checksum at byte {pos})")
    event = event_pb2.Event()
    try:
      event.ParseFromString(record)
    except DecodeError:
      raise InputError(f"{path}: damaged event file (record at byte {pos} is not an event)"
                       ) from None
    events.append(event)
    pos = end + _FOOTER.size
  return events


def _scalar(value: Any) -> Optional[float]:
  """The number of a summary value: `simple_value`, or a one-element float tensor."""
  if value.HasField("simple_value"):
    return float(value.simple_value)
  if value.HasField("tensor") and len(value.tensor.float_val) == 1:
    return float(value.tensor.float_val[0])
  return None


def _event_files(logdir: str) -> List[str]:
  """The event files of a directory, oldest first (tensorboardX names them
  events.out.tfevents.SECONDS.HOST...)."""
  def key(path):
    part = os.path.basename(path).split(".")[3:4]
    return (int(part[0]) if part and part[0].isdigit() else 0, path)
  return sorted(glob.glob(os.path.join(glob.escape(logdir), EVENTS_GLOB)), key=key)


def read_scalars(logdir: str) -> Dict[str, Series]:
  """Every scalar series of the event files in a directory.

  Files are read oldest first and a later value of the same tag and step replaces an earlier
  one (a resumed run writes a new file and repeats the steps after its checkpoint). Tags of
  earlier natjax versions are renamed (`LEGACY_TAGS`).

  Args:
    logdir: a directory holding events.out.tfevents.* files.

  Returns:
    {tag: (steps int64[n], values float64[n])}, steps ascending; {} when there are no files.

  Raises:
    InputError: as `read_events`.
  """
  found: Dict[str, Dict[int, float]] = {}
  for path in _event_files(logdir):
    for event in read_events(path):
      for value in event.summary.value:
        number = _scalar(value)
        if number is not None:
          found.setdefault(LEGACY_TAGS.get(value.tag, value.tag), {})[int(event.step)] = number
  series = {}
  for tag, by_step in found.items():
    steps = np.array(sorted(by_step), np.int64)
    series[tag] = (steps, np.array([by_step[s] for s in steps], np.float64))
  return series


def run_kind(scalars: Dict[str, Series]) -> Optional[str]:
  """'search' (w/ or theta/ tags), 'retrain' (train/ or test/ tags) or None."""
  prefixes = {tag.split("/", 1)[0] for tag in scalars}
  if prefixes & {"w", "theta"}:
    return "search"
  if prefixes & {"train", "test"}:
    return "retrain"
  return None


def _new_figure(width: float, height: float) -> Figure:
  fig = Figure(figsize=(width, height), layout="constrained")
  FigureCanvasAgg(fig)
  return fig


def curves_figure(scalars: Dict[str, Series], title: str = "") -> Figure:
  """Curves of a search or a retraining over steps, one panel per quantity (`SEARCH_PANELS`,
  `RETRAIN_PANELS`), one line per tag present; a panel none of whose tags was logged says so.

  Args:
    scalars: as `read_scalars` returns.
    title: the figure's title.

  Raises:
    InputError: if the scalars are neither a search's nor a retraining's (naming the tags found).
  """
  kind = run_kind(scalars)
  if kind is None:
    tags = ", ".join(sorted(scalars)[:8]) or "none"
    raise InputError(f"no search or retraining scalars (w/, theta/, train/ or test/ tags) among"
                     f" the tags found: {tags}")
  panels = SEARCH_PANELS if kind == "search" else RETRAIN_PANELS
  fig = _new_figure(10, 6.5)
  for ax, (name, ylabel, lines) in zip(fig.subplots(2, 2).ravel(), panels):
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    drawn = 0
    for (tag, label), colour in zip(lines, LINE_COLOURS):
      if tag in scalars:
        steps, values = scalars[tag]
        ax.plot(steps, values, color=colour, label=label, linewidth=1.2,
                marker="o" if len(steps) <= 40 else None, markersize=3)
        drawn += 1
    if drawn:
      ax.legend(fontsize=8)
    else:
      ax.text(0.5, 0.5, "not logged (" + ", ".join(t for t, _ in lines) + ")", ha="center",
              va="center", transform=ax.transAxes, fontsize=8, color="#555555")
  fig.suptitle(title or kind, fontsize=12)
  return fig


def read_derived(path: str) -> List[Dict[str, Any]]:
  """A search's derived.json, checked for what `candidates_figure` reads.

  Returns:
    Its entries: {"name", "input": {"madds", "accuracy", ...}, "output": {...}, "candidates":
    [{"madds", "accuracy" (None when not scored), "source", ...}]}.

  Raises:
    InputError: 'PATH: ...' for a missing or malformed file, or an entry without those fields.
  """
  entries = files.read_json(path)
  if not isinstance(entries, list) or not entries:
    raise InputError(f"{path}: expected a non-empty list of derivation entries")
  number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
  for i, entry in enumerate(entries):
    where = f"{path}: entry {i}"
    if not isinstance(entry, dict):
      raise InputError(f"{where}: expected an object, got {type(entry).__name__}")
    where += f" ({entry['name']})" if isinstance(entry.get("name"), str) else ""
    for field in ("name", "input", "output", "candidates"):
      if field not in entry:
        raise InputError(f"{where}: missing field '{field}'")
    if not isinstance(entry["candidates"], list):
      raise InputError(f"{where}: 'candidates' is not a list")
    for part, value in [("input", entry["input"]), ("output", entry["output"])] + [
        (f"candidate {k}", c) for k, c in enumerate(entry["candidates"])]:
      if not isinstance(value, dict) or not number(value.get("madds")):
        raise InputError(f"{where}: {part} has no number 'madds'")
      accuracy = value.get("accuracy")
      if not (number(accuracy) or (accuracy is None and part.startswith("candidate"))):
        raise InputError(f"{where}: {part} has no number 'accuracy'")
  return entries


def candidates_figure(entries: Sequence[Dict[str, Any]], title: str = "") -> Figure:
  """Per derived input, one panel: MAdds (M, CIFAR network) against shared-weight accuracy of
  its scored candidates (sampled: dots; greedy: triangle; 'xN' beside N that coincide), the
  input (a square, with a dotted line at its MAdds, the most a candidate may cost) and the
  chosen one (ringed). Candidates that were not scored (they cost more than the input or lost the
  cell inputs) are counted in the panel's title.

  Args:
    entries: derived.json entries (`read_derived`).
    title: the figure's title.
  """
  cols = min(len(entries), 3)
  rows = -(-len(entries) // cols)
  fig = _new_figure(4.2 * cols, 3.6 * rows)
  axes = np.asarray(fig.subplots(rows, cols, squeeze=False)).ravel()
  for ax in axes[len(entries):]:
    ax.set_axis_off()
  for ax, entry in zip(axes, entries):
    scored = [c for c in entry["candidates"] if c.get("accuracy") is not None]
    inp, out = entry["input"], entry["output"]
    ax.axvline(inp["madds"] / 1e6, color="#555555", linestyle=":", linewidth=1, zorder=1)
    ax.scatter([inp["madds"] / 1e6], [inp["accuracy"]], marker="s", s=110, facecolors="none",
               edgecolors=viz.OKABE_ITO["black"], linewidths=1.5, label="input", zorder=2)
    ax.scatter([out["madds"] / 1e6], [out["accuracy"]], marker="o", s=220, facecolors="none",
               edgecolors=viz.OKABE_ITO["vermillion"], linewidths=1.8, label="chosen", zorder=2)
    for greedy, marker, colour, label in ((False, "o", viz.OKABE_ITO["blue"], "sampled candidate"),
                                          (True, "^", viz.OKABE_ITO["orange"], "greedy candidate")):
      points = [c for c in scored if (c.get("source") == "greedy") == greedy]
      if points:
        ax.scatter([c["madds"] / 1e6 for c in points], [c["accuracy"] for c in points],
                   marker=marker, s=28, color=colour, alpha=0.8, label=label, zorder=3)
    counts = collections.Counter((c["madds"], c["accuracy"]) for c in scored)
    for (madds, accuracy), count in counts.items():
      if count > 1:  # candidates drawn on top of each other (the same cell sampled again)
        ax.annotate(f"x{count}", (madds / 1e6, accuracy), textcoords="offset points",
                    xytext=(7, 5), fontsize=8)
    ax.set_title(f"{entry['name']}: {len(scored)} of {len(entry['candidates'])} candidates"
                 " scored", fontsize=10)
    ax.set_xlabel("MAdds (M, CIFAR network)")
    ax.set_ylabel("shared-weight accuracy")
    ax.grid(True, alpha=0.3)
  axes[0].legend(fontsize=7)
  if title:
    fig.suptitle(title, fontsize=12)
  return fig


def _save(fig: Figure, path: str) -> str:
  fig.savefig(files.output_file(path, "plot"), format="png", dpi=100)
  return path


def draw_run(run_dir: str, out_dir: Optional[str] = None) -> List[str]:
  """Draws curves.png (and candidates.png when the run has a derived.json) from a run's files.

  Args:
    run_dir: a `natjax search` or `natjax retrain` work directory (its event files in
      RUN_DIR/tensorboard; a retraining of an earlier natjax version has them in RUN_DIR).
    out_dir: where the PNGs go (created with its parents); default: `run_dir`.

  Returns:
    The paths written: OUT/curves.png, then OUT/candidates.png if there is a derived.json.

  Raises:
    InputError: a run directory that is missing, is a file or has no event files; damaged event
      files; scalars of neither a search nor a retraining; a malformed derived.json; an output
      directory that cannot be made. Nothing is written then.
  """
  full = files.local_path(run_dir, "run directory")
  if not os.path.isdir(full):
    what = "is a file, not a directory" if os.path.exists(full) else "not found"
    raise InputError(f"run directory {run_dir}: {what}")
  out_dir = run_dir if out_dir is None else out_dir
  files.check_output_dir(out_dir, "output directory")
  logdir = os.path.join(full, TENSORBOARD_DIR)
  if not _event_files(logdir) and _event_files(full):
    logdir = full
  scalars = read_scalars(logdir)
  if not scalars:
    raise InputError(f"run directory {run_dir}: no scalars in"
                     f" {os.path.join(run_dir, TENSORBOARD_DIR)} (not a natjax search or retrain"
                     " work directory, or one that has not logged yet)")
  with prefixed(f"run directory {run_dir}"):
    curves = curves_figure(scalars, f"{run_kind(scalars) or 'run'}: {run_dir}")
  derived = os.path.join(full, DERIVED_FILE)
  entries = read_derived(os.path.join(run_dir, DERIVED_FILE)) if os.path.exists(derived) else None
  written = [_save(curves, os.path.join(out_dir, CURVES_FILE))]
  if entries is not None:
    figure = candidates_figure(entries, f"derivation candidates: {run_dir}")
    written.append(_save(figure, os.path.join(out_dir, CANDIDATES_FILE)))
  return written
