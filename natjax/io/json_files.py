"""The JSON files of a run directory: written atomically from the first host.

A run directory (a search's or a retraining's `--workdir`) holds `config.json`, the config it was
started with (`config_json`), beside its results (derived.json, summary.json, retrain.json).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

import jax

from natjax.kernels import windows

CONFIG_FILE = "config.json"


def config_json(config: Any) -> Dict[str, Any]:
  """A ConfigDict as plain JSON values (tuples as lists), keys sorted, as the run runs it: a
  kernel form `impl` of 'auto' is recorded as the form it resolves to on this backend
  (`natjax.kernels.windows.resolve_impl`)."""
  out = json.loads(config.to_json_best_effort(sort_keys=True))
  if out.get("impl") == windows.AUTO:
    out["impl"] = windows.resolve_impl(windows.AUTO)
  return out


def write_json(path: str, obj: Any) -> None:
  """Writes JSON atomically (temp file + rename), from the first host only."""
  if jax.process_index() != 0:
    return
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(obj, f, indent=1)
    f.write("\n")
  os.replace(tmp, path)
