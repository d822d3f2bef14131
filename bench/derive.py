"""Cost of derivation: `derive.derive` as the search runs it at its end, on the search config.

For each input architecture (default DARTS) the policy proposes `--samples` candidates plus the
greedy one; the valid ones and the input are scored with the supernet's shared weights on
`--batches` batches of `--batch` images, one architecture after another inside one compiled
`steps.score_archs` (design.md: never vmapped through the supernet). Freshly initialised supernet
and policy, random uint8 images of CIFAR-10 shape (`bench/search_step.py`'s `fake_dataset`), one
mesh over all local devices. The first call compiles; the later `--repeats` calls (new candidate
draws each) are timed, waited on, and their median reported. The reference released code derives
10 candidates x 10 batches of 64 in 15.8-16.0 s (NAT) on a 2-core CPU (not run here).

Prints ONE JSON line:
  {"config", "channels", "num_cells", "image", "batch", "batches", "samples", "inputs", "impl",
   "compute_dtype", "devices", "device_kind", "first_call_s" (compile included), "derive_s"
   (median of the repeats), "derive_s_all", "archs_scored" (per call, distinct architectures),
   "archs_per_s", "load_avg", "backend"}

Usage:
  python bench/derive.py             # C=20, 8 cells, 32x32x3 (the search config)
  python bench/derive.py --small     # C=8, 5 cells, 16x16x3
  python bench/derive.py --size tiny # C=4, 3 cells, 8x8x3: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any, Dict, Sequence

import jax

import search_step  # bench/ is on sys.path when this file runs as a script
from natjax.io import genotype_files
from natjax.kernels import windows
from natjax.nn import supernet
from natjax.search import derive, loop
from natjax.search import steps as search_steps
from natjax.train import sharding


def bench(name: str, inputs: Sequence[str], samples: int, num_batches: int, batch_size: int,
          repeats: int, impl: str, compute_dtype: str) -> Dict[str, Any]:
  channels, num_cells, side = search_step.SIZES[name]
  config = search_step._default_config()  # pylint: disable=protected-access
  config.channels, config.num_cells, config.batch_size = channels, num_cells, batch_size
  config.impl, config.compute_dtype = impl, compute_dtype
  load_before = os.getloadavg()[0]
  dataset = search_step.fake_dataset(side, num_batches * batch_size)
  setup = search_steps.make_setup(config, dataset)
  mesh = sharding.data_mesh(jax.local_devices())
  steps = search_steps.make_steps(setup, mesh)
  state = search_steps.init_state(jax.random.key(0), setup, dataset.image_shape)
  eval_set = loop.eval_set(dataset.theta, batch_size, num_batches, mesh)
  named = [genotype_files.resolve_arch(a) for a in inputs]
  times, scored = [], []
  for call in range(repeats + 1):
    scorer = derive.Scorer(steps.score_archs, state.w_params, eval_set)
    start = time.perf_counter()
    derive.derive(setup, scorer, state.theta_params, named, jax.random.key(call), samples)
    times.append(time.perf_counter() - start)
    scored.append(scorer.scored)
  timed = times[1:] or times
  median = statistics.median(timed)
  return {"config": name, "channels": channels, "num_cells": num_cells, "image": [side, side, 3],
          "batch": batch_size, "batches": num_batches, "samples": samples, "inputs": list(inputs),
          "impl": setup.supernet.impl, "compute_dtype": compute_dtype,
          "devices": jax.device_count(), "device_kind": jax.devices()[0].device_kind,
          "first_call_s": round(times[0], 2), "derive_s": round(median, 2),
          "derive_s_all": [round(t, 2) for t in timed], "archs_scored": scored[1:] or scored,
          "archs_per_s": round(statistics.median(scored[1:] or scored) / median, 2),
          "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
          "backend": jax.default_backend()}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  search_step.add_size_flags(parser)
  parser.add_argument("--inputs", default="DARTS", help="comma-separated built-in names or files")
  parser.add_argument("--samples", type=int, default=10, help="sampled candidates per input")
  parser.add_argument("--batches", type=int, default=10, help="scoring batches")
  parser.add_argument("--batch", type=int, default=64, help="images per scoring batch")
  parser.add_argument("--repeats", type=int, default=2, help="timed calls after the first")
  parser.add_argument("--impl", default="auto", choices=windows.CHOICES)
  parser.add_argument("--compute-dtype", default="float32", choices=supernet.COMPUTE_DTYPES)
  args = parser.parse_args()
  print(json.dumps(bench(args.size, args.inputs.split(","),
                         args.samples, args.batches, args.batch, args.repeats, args.impl,
                         args.compute_dtype)), flush=True)


if __name__ == "__main__":
  main()
