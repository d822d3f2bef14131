"""Reports of finished retraining runs: their retrain.json, a comparison table and a plot of test
accuracy against MAdds (`natjax compare`)."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from natjax import files
from natjax.errors import InputError, quote

RESULT_FILE = "retrain.json"  # what `natjax retrain` writes in its work directory


def read_result(run_dir: str) -> Dict[str, Any]:
  """WORKDIR/retrain.json of a finished run.

  Raises:
    InputError: naming the file when it is missing, not JSON, or lacks a field.
  """
  path = os.path.join(run_dir, RESULT_FILE) if os.path.isdir(run_dir) else run_dir
  if not os.path.exists(path):
    raise InputError(f"{path}: not found (is {run_dir} a finished natjax retrain"
                     " work directory?)")
  result = files.read_json(path)
  if not isinstance(result, dict):
    raise InputError(f"{path}: expected a JSON object, got {type(result).__name__}")
  for field in ("arch", "params", "madds", "final_test_accuracy"):
    if field not in result:
      raise InputError(f"{path}: missing field '{field}'")
  for field in ("params", "madds", "final_test_accuracy"):
    if not isinstance(result[field], (int, float)) or isinstance(result[field], bool):
      raise InputError(f"{path}: field '{field}' is not a number: {quote(result[field])}")
  return result


def format_table(results: List[Dict[str, Any]]) -> str:
  """A text table: architecture, params (M), MAdds (M), final and best test accuracy (%)."""
  lines = [f"{'architecture':24s} {'params (M)':>10s} {'MAdds (M)':>10s} {'test acc %':>10s}"
           f" {'best %':>7s}  dataset"]
  for r in results:
    best = r.get("best_test_accuracy")
    best_text = f"{100 * best:7.2f}" if isinstance(best, (int, float)) else f"{'-':>7s}"
    lines.append(f"{str(r['arch']):24s} {r['params'] / 1e6:10.3f} {r['madds'] / 1e6:10.1f}"
                 f" {100 * r['final_test_accuracy']:10.2f} {best_text}  {r.get('dataset', '?')}")
  return "\n".join(lines)


def plot(results: List[Dict[str, Any]], path: str) -> str:
  """A PNG of test accuracy (%) against MAdds (M), one labelled point per run."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(6, 4.5), dpi=100)
  FigureCanvasAgg(fig)
  ax = fig.add_subplot(1, 1, 1)
  for r in results:
    x, y = r["madds"] / 1e6, 100 * r["final_test_accuracy"]
    ax.scatter([x], [y], s=30)
    ax.annotate(str(r["arch"]), (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
  ax.set_xlabel("MAdds (M, full-size network)")
  ax.set_ylabel("test accuracy (%)")
  ax.grid(True, alpha=0.3)
  fig.tight_layout()
  fig.savefig(files.output_file(path, "plot"), format="png")
  return path


def compare(run_dirs: List[str], out_png: Optional[str] = None) -> Tuple[str, List[Dict]]:
  """Reads every run's retrain.json; returns (table text, results) and writes the plot."""
  if out_png:
    files.check_output_file(out_png, "plot")
  results = [read_result(d) for d in run_dirs]
  if out_png:
    plot(results, out_png)
  return format_table(results), results
