"""Throughput of the batch transform: policy forward, masked sampling and the CIFAR-network cost
of every input and output, on random architectures (sampler.sample_archs).

Prints ONE JSON line:
  {"archs_per_s": best figure, "best_batch": B, "compiles": traces over the run,
   "per_batch": {"B": {"archs_per_s": .., "median_s": .., "compile_s": ..}, ...}, ...}

Usage:
  python bench/transform.py [--max-batch 65536] [--rule natpp] [--space darts_pp]
                            [--mode sample] [--samples 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Dict, List

import jax

from natjax.core import sampler, spaces
from natjax.nn import policy
from natjax.search import transform

BATCHES = (1, 16, 256, 4096, 65536)


def _time_call(params: Any, archs: Any, key: jax.Array, args: argparse.Namespace,
               space: Any) -> float:
  """Seconds for one transform call, waited on with block_until_ready."""
  start = time.perf_counter()
  result = transform.transform(params, archs, key, rule=args.rule, mode=args.mode,
                               num_samples=args.samples, space=space)
  jax.block_until_ready(result)
  return time.perf_counter() - start


def bench_batch(batch: int, params: Any, args: argparse.Namespace, space: Any) -> Dict[str, float]:
  """Compile time and median time after compile for one batch size (fresh archs every call)."""
  key = jax.random.key(batch)
  inputs: List[Any] = [sampler.sample_archs(k, space, batch)
                       for k in jax.random.split(key, args.repeats + 1)]
  jax.block_until_ready(inputs)
  compile_s = _time_call(params, inputs[0], key, args, space)
  times = [_time_call(params, a, jax.random.fold_in(key, i), args, space)
           for i, a in enumerate(inputs[1:])]
  median = statistics.median(times)
  return {"archs_per_s": round(batch / median, 1), "median_s": median, "compile_s": compile_s}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--max-batch", type=int, default=BATCHES[-1])
  parser.add_argument("--rule", default="natpp")
  parser.add_argument("--space", default="darts_pp")
  parser.add_argument("--mode", default="sample", choices=transform.MODES)
  parser.add_argument("--samples", type=int, default=1)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  space = spaces.get_space(args.space)
  params = policy.init_for_rule(jax.random.key(0), args.rule, space)
  traces = []  # fold_params runs once per trace of the batch function, never per call
  fold = transform.fold_params
  transform.fold_params = lambda p: traces.append(1) or fold(p)
  per_batch = {str(b): bench_batch(b, params, args, space)
               for b in BATCHES if b <= args.max_batch}
  best = max(per_batch, key=lambda b: per_batch[b]["archs_per_s"])
  print(json.dumps({"archs_per_s": per_batch[best]["archs_per_s"], "best_batch": int(best),
                    "compiles": len(traces),
                    "rule": args.rule, "space": args.space, "mode": args.mode,
                    "samples": args.samples, "backend": jax.default_backend(),
                    "per_batch": per_batch}))


if __name__ == "__main__":
  main()
