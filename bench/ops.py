"""Per-op kernel timings: forward, forward+backward, and forward+backward as the taken branch of a
`lax.switch` over every op of the list (how the supernet runs an edge).

Each op runs on x f32[B, H, W, C] with C channels in and out (`families.apply_op`); the backward is
the gradient of sum(y * probe) for a fixed random probe, with respect to the op's weights and x.
Times are medians of `--repeats` calls after one warm-up call, waited on with block_until_ready.

Inside `lax.switch`, every branch must also write zeros into the residual slots of all other
branches (JAX merges residuals by shape across branches); `null`'s switch figure is that cost
alone. `--remat-branches` runs the switch as the supernet does by default
(`natjax.nn.supernet.recomputing_switch`): the only residuals are the shared branch inputs and
the taken op's forward is recomputed in the backward pass.

Figures are only comparable under one malloc setting: with glibc's default every XLA temp buffer
over 32 MB is mmap-ed afresh per call and page-faults in (up to 5x on single ops); bench/supernet.py
documents MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000, which avoids it.

Prints ONE JSON line per op:
  {"op", "impl", "stride", "remat_branches", "fwd_ms", "fwd_bwd_ms", "switch_fwd_bwd_ms",
   "channels", "hw", "batch"}

Usage:
  python bench/ops.py [--impl shift] [--ops conv_3x3,max_pool_3x3] [--stride 1]
                      [--channels 20] [--hw 32] [--batch 64] [--repeats 5] [--remat-branches]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from typing import Any, Callable, Dict, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from natjax.core import families, ops, spaces
from natjax.kernels import initializers, windows
from natjax.kernels.norm import BatchStats
from natjax.nn import supernet


def _median_ms(fn: Callable[..., Any], args: Sequence[Any], repeats: int) -> float:
  """Median wall time of fn(*args) in ms over `repeats` calls after one warm-up (compile) call."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return 1e3 * statistics.median(times)


_NORM = BatchStats()  # the supernet's normaliser: batch statistics, nothing kept


def _random_params(name: str, channels: int, stride: int, seed: int) -> Dict[str, jax.Array]:
  spec = ops.get_op(name)
  weights, _ = ops.family_of(spec).init(spec, channels, stride, _NORM)
  return initializers.materialize_keyed(weights, jax.random.key(seed))


def _apply(params: Dict[str, jax.Array], x: jax.Array, spec: ops.OpSpec, stride: int,
           impl: str) -> jax.Array:
  _, stats = ops.family_of(spec).init(spec, x.shape[-1], stride, _NORM)
  return families.apply_op(params, stats, x, spec, stride, impl, _NORM)[0]


def bench_ops(names: Sequence[str], impl: str, stride: int, channels: int, hw: int, batch: int,
              repeats: int, remat_branches: bool = False) -> Dict[str, Dict[str, float]]:
  """{op name: {'fwd_ms', 'fwd_bwd_ms', 'switch_fwd_bwd_ms'}} for every op of `names`."""
  specs = [ops.get_op(name) for name in names]
  params = tuple(_random_params(name, channels, stride, i) for i, name in enumerate(names))
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((batch, hw, hw, channels)).astype(np.float32))
  out_hw = -(-hw // stride)
  probe = jnp.asarray(rng.standard_normal((batch, out_hw, out_hw, channels)).astype(np.float32))

  def loss(p, x, spec):
    return jnp.sum(_apply(p, x, spec, stride, impl) * probe)

  def branch(i, operand):
    return _apply(operand[0][i], operand[1], specs[i], stride, impl)

  branches = [functools.partial(branch, i) for i in range(len(specs))]
  switch = supernet.recomputing_switch if remat_branches else jax.lax.switch

  @jax.jit
  def switched_grad(index, params, x):
    return jax.grad(lambda p, x: jnp.sum(switch(index, branches, (p, x)) * probe),
                    (0, 1))(params, x)

  results = {}
  for i, (name, spec) in enumerate(zip(names, specs)):
    fwd = jax.jit(functools.partial(_apply, spec=spec, stride=stride, impl=impl))
    fwd_bwd = jax.jit(jax.grad(functools.partial(loss, spec=spec), (0, 1)))
    results[name] = {
        "fwd_ms": _median_ms(fwd, (params[i], x), repeats),
        "fwd_bwd_ms": _median_ms(fwd_bwd, (params[i], x), repeats),
        "switch_fwd_bwd_ms": _median_ms(switched_grad, (jnp.int32(i), params, x), repeats),
    }
  return results


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--impl", default="shift", choices=windows.IMPLS)
  parser.add_argument("--ops", default=",".join(spaces.NATPP_OPS),
                      help="comma-separated op names; the switch runs over exactly these")
  parser.add_argument("--stride", type=int, default=1, choices=(1, 2))
  parser.add_argument("--channels", type=int, default=20)
  parser.add_argument("--hw", type=int, default=32)
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--remat-branches", action="store_true",
                      help="wrap every switch branch in jax.checkpoint")
  args = parser.parse_args()
  names = [name.strip() for name in args.ops.split(",") if name.strip()]
  results = bench_ops(names, args.impl, args.stride, args.channels, args.hw, args.batch,
                      args.repeats, args.remat_branches)
  for name, timing in results.items():
    print(json.dumps({"op": name, "impl": args.impl, "stride": args.stride,
                      "remat_branches": args.remat_branches,
                      **{k: round(v, 2) for k, v in timing.items()},
                      "channels": args.channels, "hw": args.hw, "batch": args.batch,
                      "backend": jax.default_backend()}), flush=True)


if __name__ == "__main__":
  main()
