"""Cost of one search step: `steps.w_step` and `steps.theta_step`, as `search.run` compiles them.

A w-step is a forward and backward pass of the supernet on a fresh random architecture plus the
SGD update; a theta-step is two forwards (alpha and the policy's beta) plus the policy's REINFORCE
update. Both run through `steps.make_steps` on a mesh of all local devices, on random uint8
images of CIFAR-10 shape in a `data.Dataset` (no dataset on disk needed). Each step is compiled
ahead of time (trace + lower, then XLA compile, timed separately), called once to warm up, then
timed `--steps` times with block_until_ready; figures are medians. The step counter advances, so
every timed call sees a new architecture, as in a search.

The state is built as the search builds it (`steps.init_state`, called directly, its first call
compiling the supernet's initialiser): "init_s". With `--compute-dtype bfloat16` the float32 steps
run in the same process as the baseline ("float32_w_step_ms", "float32_theta_step_ms", and the
ratios "w_speedup", "theta_speedup").

Prints ONE JSON line:
  {"config", "channels", "num_cells", "image", "batch", "impl" (the kernel form in use, 'auto'
   resolved), "compute_dtype", "devices", "device_kind", "w_step_ms", "theta_step_ms" (medians),
   "w_step_ms_all", "theta_step_ms_all", "trace_s" {"w", "theta"}, "compile_s" {"w", "theta"},
   "init_s", "peak_rss_gb", "load_avg" (1-minute, before and after), "backend", ...}

Usage:
  python bench/search_step.py            # C=20, 8 cells, 32x32x3, batch 64 (the search config)
  python bench/search_step.py --small    # C=8, 5 cells, 16x16x3, batch 64: about a minute
  python bench/search_step.py --size tiny --batch 16 --steps 1  # C=4, 3 cells, 8x8x3: a smoke run

The search config compiles for minutes and peaks at several GB on CPU: run it alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import time
from typing import Any, Callable, Dict

import jax
import numpy as np

from natjax import data
from natjax.kernels import windows
from natjax.nn import supernet
from natjax.search import steps as search_steps
from natjax.train import sharding

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = {
    # name: (channels, num_cells, image side)
    "search": (20, 8, 32),
    "small": (8, 5, 16),
    "tiny": (4, 3, 8),  # a smoke run: the code path in seconds of compile, no useful figure
}
DEFAULT_STEPS = {"search": 5, "small": 10, "tiny": 2}
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def add_size_flags(parser: argparse.ArgumentParser) -> None:
  """--size NAME (a key of SIZES) and --small, its short form for --size small."""
  parser.add_argument("--size", default="search", choices=tuple(SIZES),
                      help="; ".join(f"{k}: C={c}, {n} cells, {h}x{h} images"
                                     for k, (c, n, h) in SIZES.items()))
  parser.add_argument("--small", action="store_const", const="small", dest="size",
                      help="the same as --size small")


def _default_config() -> Any:
  spec = importlib.util.spec_from_file_location("natjax_default_config",
                                                os.path.join(REPO, "configs", "default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def fake_dataset(side: int, num_examples: int, seed: int = 0) -> data.Dataset:
  """Random uint8[N, side, side, 3] images with CIFAR-10's constants (10 classes, pad 4, flip)."""
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (num_examples, side, side, 3), dtype=np.uint8)
  labels = rng.integers(0, 10, (num_examples,), dtype=np.int32)
  source = data.ArraySource(images, labels)
  return data.Dataset(name="fake_cifar", w=source, theta=source, train=source, test=source,
                      num_classes=10, image_shape=(side, side, 3),
                      mean=np.asarray(CIFAR_MEAN, np.float32),
                      std=np.asarray(CIFAR_STD, np.float32), crop_padding=4, flip=True)


def _peak_rss_gb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB.


def _bench_step(step: Callable, state: Any, batch: Any, num_steps: int) -> Dict[str, Any]:
  """AOT-compiles `step`, warms it up, times `num_steps` calls; returns figures and the state."""
  start = time.perf_counter()
  lowered = step.lower(state, batch)
  trace_s = time.perf_counter() - start
  start = time.perf_counter()
  compiled = lowered.compile()
  compile_s = time.perf_counter() - start
  state, metrics = compiled(state, batch)  # warm-up
  jax.block_until_ready(metrics)
  times = []
  for _ in range(num_steps):
    start = time.perf_counter()
    state, metrics = compiled(state, batch)
    jax.block_until_ready((state, metrics))
    times.append(1e3 * (time.perf_counter() - start))
  return {"ms": round(statistics.median(times), 1), "all": [round(t, 1) for t in times],
          "trace_s": round(trace_s, 2), "compile_s": round(compile_s, 2), "state": state}


def _steps_of(config: Any, dataset: data.Dataset, mesh: Any, state: Any, batch: Any,
              num_steps: int) -> Dict[str, Dict[str, Any]]:
  """{'w': figures, 'theta': figures} of the two steps of `config`, from `state`."""
  steps = search_steps.make_steps(search_steps.make_setup(config, dataset), mesh)
  out = {}
  for prefix, step in (("w", steps.w_step), ("theta", steps.theta_step)):
    out[prefix] = _bench_step(step, state, batch, num_steps)
    state = out[prefix].pop("state")
  return out


def bench(name: str, batch_size: int, num_steps: int, impl: str,
          compute_dtype: str = "float32") -> Dict[str, Any]:
  channels, num_cells, side = SIZES[name]
  config = _default_config()
  config.channels, config.num_cells, config.batch_size = channels, num_cells, batch_size
  config.impl, config.compute_dtype = impl, compute_dtype
  load_before = os.getloadavg()[0]
  dataset = fake_dataset(side, 2 * batch_size)
  setup = search_steps.make_setup(config, dataset)
  mesh = sharding.data_mesh(jax.local_devices())
  start = time.perf_counter()
  state = jax.block_until_ready(
      search_steps.init_state(jax.random.key(0), setup, dataset.image_shape))
  init_s = time.perf_counter() - start
  host_state = jax.device_get(state)  # every run starts from the same values (steps donate)
  batch = sharding.global_batch(data.batch(dataset.w, np.arange(batch_size)), mesh)
  runs = {compute_dtype: _steps_of(config, dataset, mesh, sharding.replicate(host_state, mesh),
                                   batch, num_steps)}
  if compute_dtype != "float32":
    config.compute_dtype = "float32"
    runs["float32"] = _steps_of(config, dataset, mesh, sharding.replicate(host_state, mesh),
                                batch, num_steps)
  figures = runs[compute_dtype]
  result: Dict[str, Any] = {
      "config": name, "channels": channels, "num_cells": num_cells, "image": [side, side, 3],
      "batch": batch_size, "impl": setup.supernet.impl, "compute_dtype": compute_dtype,
      "devices": jax.device_count(), "device_kind": jax.devices()[0].device_kind,
      "w_step_ms": figures["w"]["ms"], "theta_step_ms": figures["theta"]["ms"],
      "w_step_ms_all": figures["w"]["all"], "theta_step_ms_all": figures["theta"]["all"],
      "trace_s": {k: figures[k]["trace_s"] for k in ("w", "theta")},
      "compile_s": {k: figures[k]["compile_s"] for k in ("w", "theta")},
      "init_s": round(init_s, 2)}
  if "float32" in runs and compute_dtype != "float32":
    base = runs["float32"]
    result.update({"float32_w_step_ms": base["w"]["ms"], "float32_theta_step_ms": base["theta"]["ms"],
                   "w_speedup": round(base["w"]["ms"] / figures["w"]["ms"], 3),
                   "theta_speedup": round(base["theta"]["ms"] / figures["theta"]["ms"], 3)})
  result.update({"peak_rss_gb": round(_peak_rss_gb(), 2),
                 "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                 "backend": jax.default_backend()})
  return result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  add_size_flags(parser)
  parser.add_argument("--batch", type=int, default=64, help="global batch (examples)")
  parser.add_argument("--steps", type=int, default=None,
                      help="timed calls per step kind (default 5 search, 10 small, 2 tiny)")
  parser.add_argument("--impl", default="auto", choices=windows.CHOICES,
                      help="kernel implementation (configs/default.py: impl)")
  parser.add_argument("--compute-dtype", default="float32", choices=supernet.COMPUTE_DTYPES,
                      help="supernet arithmetic; bfloat16 also times float32 as its baseline")
  args = parser.parse_args()
  num_steps = args.steps or DEFAULT_STEPS[args.size]
  figures = bench(args.size, args.batch, num_steps, args.impl, args.compute_dtype)
  print(json.dumps(figures), flush=True)


if __name__ == "__main__":
  main()
