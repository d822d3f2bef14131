"""Training-step cost of the weight-sharing supernet against its two baselines, in one run.

For one config, a jitted SGD step (loss, gradient, optax.sgd(0.01, momentum=0.9) update) of:
  supernet  `supernet.cross_entropy_loss`: one compile; a fresh random architecture
            (`sampler.sample_arch`) is fed as data every step.
  static    `networks.static_loss` of one fixed architecture: one compile per architecture, for
            `--archs` architectures.
  all_ops   a DARTS-style mixture written here from `supernet.edge_op` and the supernet params:
            every op of every slot of every edge runs, and each edge emits the softmax-weighted sum
            of its ops (equal weights); a node sums every edge into it. Per slot the ops run in a
            `lax.scan` over the op index (see `_mixed_edge`).
Supernet and static steps are timed paired and alternating on the same architectures (runs
minutes apart drift on a shared machine), with the all-ops step interleaved in the same rounds.
Times are medians after one warm-up call per executable, waited on with block_until_ready.

The all-ops mixture keeps every op's activations for the backward pass: at the search config's
batch 64 its temp buffers would be about 30 GB (extrapolated from the small config's 0.46 GB), so
there it runs at batch 8 and "all_ops_ms" is that time times 64/8 ("all_ops_measured_ms" is the
raw figure); the small config runs it at full batch.

Prints ONE JSON line per config:
  {"config", "supernet_ms" (paired, same architectures as static), "supernet_fresh_ms" (a new
   random architecture every step), "static_ms", "all_ops_ms", "ratio" (supernet/static),
   "speedup_vs_all_ops" (all_ops/supernet), "all_ops_batch", "all_ops_measured_ms",
   "compiles" (traces of the supernet step over the run), "arch_count", "supernet_compile_s",
   "static_compile_s" (median per architecture), "all_ops_compile_s", "supernet_temp_mb",
   "static_temp_mb" (median), "all_ops_temp_mb" (XLA temp buffers of the compiled step),
   "peak_rss_gb", "load_avg" (1-minute, before and after), ...}

Usage:
  python bench/supernet.py [--config small|search|both|tiny] [--archs 6] [--rounds 3] [--no-all-ops]

'both' runs search and small; 'tiny' (C=4, 3 cells, 8x8, batch 8) is a smoke run of the code path.

The search config (C=20, 8 cells, 32x32, batch 64) compiles for minutes and peaks at several GB:
run it alone. XLA:CPU allocates each step's temp buffers afresh; with glibc's default every
buffer over 32 MB is a fresh mmap whose pages fault in on every step, so we run with
MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 (reported as "malloc_env").
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import resource
import statistics
import time
from typing import Any, Callable, Dict, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from natjax.core import ops, plan, sampler, spaces
from natjax.nn import networks, supernet

CONFIGS = {
    # name: (SupernetConfig overrides, batch, height = width, all-ops batch)
    "search": (dict(space="darts", channels=20, num_cells=8), 64, 32, 8),
    "small": (dict(space="darts", channels=8, num_cells=5), 16, 16, 16),
    "tiny": (dict(space="darts", channels=4, num_cells=3), 8, 8, 8),
}


@dataclasses.dataclass
class Timed:
  """Executable, its compile seconds and its XLA temp buffer size in MB."""
  fn: Callable[..., Any]  # The jitted function (its cache holds the executable).
  compile_s: float
  temp_mb: float


def _compile(jitted: Any, *args: Any) -> Timed:
  """Lowers and compiles once; later calls of `jitted` with these shapes reuse the executable."""
  start = time.perf_counter()
  compiled = jitted.lower(*args).compile()
  compile_s = time.perf_counter() - start
  memory = compiled.memory_analysis()
  temp_mb = memory.temp_size_in_bytes / 2**20 if memory is not None else float("nan")
  return Timed(jitted, compile_s, temp_mb)


def _sgd_step(loss_fn: Callable[..., jax.Array], optimizer: optax.GradientTransformation):
  def step(params, opt_state, x, y, *extra):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y, *extra)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss
  return step


def _mixed_edge(slot_params: supernet.Params, x: jax.Array, space: spaces.SearchSpace,
                stride: int, impl: str, norm: Any, weights: jax.Array) -> jax.Array:
  """sum_o weights[o] * op_o(x) over every op of the space, for one slot.

  The ops run one after another in a `lax.scan` over the op index, each as the taken branch of a
  `lax.switch` (one copy of every op in the program per slot). Written as an unrolled sum, XLA
  compiles every op of every slot into one computation and exceeds 6 GB compiling even the small
  config; the arithmetic is the same.
  """
  def branch(name, x):
    return supernet.edge_op(slot_params[name], x, ops.get_op(name), stride, impl, norm)

  branches = [functools.partial(branch, name) for name in space.ops]

  def body(total, op_and_weight):
    op, weight = op_and_weight
    return total + weight * jax.lax.switch(op, branches, x), None

  out = jax.eval_shape(branches[0], x)
  total = jnp.zeros(out.shape, out.dtype)
  return jax.lax.scan(body, total, (jnp.arange(space.num_ops), weights))[0]


def _mixture_cell(cell_params: supernet.Params, s0: jax.Array, s1: jax.Array, cell: Any,
                  layout: plan.CellLayout, space: spaces.SearchSpace, impl: str, norm: Any,
                  weights: jax.Array) -> jax.Array:
  """DARTS cell: node k sums, over every source j < k+2, sum_o weights[o] * op_o(state_j)."""
  del cell  # Every slot and op runs; the architecture is not read.
  states = [s0, s1]
  for k, node in enumerate(cell_params["nodes"]):
    total = None
    for src in range(k + 2):
      if src < 2:
        group, index, stride = node["inputs"], src, 2 if layout.reduction else 1
      else:
        group, index, stride = node["inner"], src - 2, 1
      slot_params = jax.tree.map(lambda a, i=index: a[i], group)
      edge = _mixed_edge(slot_params, states[src], space, stride, impl, norm, weights)
      total = edge if total is None else total + edge
    states.append(total)
  return supernet.cell_output(states[2:], np.ones(space.num_nodes, bool))


def _mixture_loss(params: supernet.Params, x: jax.Array, y: jax.Array, alphas: jax.Array,
                  arch: Any, config: supernet.SupernetConfig) -> jax.Array:
  space = spaces.get_space(config.space)
  cell_fn = functools.partial(_mixture_cell, space=space, impl=config.impl,
                              norm=config.normalizer(), weights=jax.nn.softmax(alphas))
  logits = supernet.forward(params, x, arch, config, cell_fn)
  return supernet.softmax_cross_entropy(logits, y)


def _call_ms(fn: Callable[..., Any], state: Tuple[Any, Any], *args: Any) -> Tuple[float, Any]:
  start = time.perf_counter()
  params, opt_state, loss = fn(state[0], state[1], *args)
  jax.block_until_ready((params, opt_state, loss))
  return 1e3 * (time.perf_counter() - start), (params, opt_state)


def _peak_rss_gb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB.


def bench_config(name: str, num_archs: int, rounds: int, all_ops: bool,
                 remat_branches: bool = True) -> Dict[str, Any]:
  overrides, batch, hw, mix_batch = CONFIGS[name]
  config = supernet.SupernetConfig(**overrides, remat_branches=remat_branches)
  space = spaces.get_space(config.space)
  key = jax.random.key(0)
  params = supernet.init_supernet(key, config, (batch, hw, hw, 3))
  optimizer = optax.sgd(0.01, momentum=0.9)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((batch, hw, hw, 3)).astype(np.float32))
  y = jnp.asarray(rng.integers(0, config.num_classes, batch).astype(np.int32))
  arch_keys = jax.random.split(jax.random.key(1), num_archs + rounds * num_archs + 1)
  archs = [sampler.sample_arch(k, space) for k in arch_keys[:num_archs]]
  fresh = [sampler.sample_arch(k, space) for k in arch_keys[num_archs:]]

  traces = [0]

  def supernet_loss(params, x, y, arch):
    traces[0] += 1  # Runs once per trace, never per step.
    return supernet.cross_entropy_loss(params, x, y, arch, config)

  def state():  # A private copy: steps donate their params and optimiser state.
    own = jax.tree.map(jnp.copy, params)
    return own, optimizer.init(own)

  result: Dict[str, Any] = {"config": name, "remat_branches": remat_branches, "batch": batch, "hw": hw, **overrides,
                            "impl": config.impl, "arch_count": num_archs, "rounds": rounds}
  load_before = os.getloadavg()[0]

  sup = _compile(jax.jit(_sgd_step(supernet_loss, optimizer), donate_argnums=(0, 1)),
                 *state(), x, y, archs[0])
  result["rss_after_supernet_compile_gb"] = round(_peak_rss_gb(), 2)
  statics = []
  for arch in archs:
    arch_numpy = jax.tree.map(np.asarray, arch)
    static_loss = functools.partial(networks.static_loss, arch_numpy=arch_numpy, config=config)
    statics.append(_compile(jax.jit(_sgd_step(static_loss, optimizer), donate_argnums=(0, 1)),
                            *state(), x, y))
  alphas = jnp.zeros((space.num_ops,), jnp.float32)
  mix_x, mix_y = x[:mix_batch], y[:mix_batch]
  mix = None
  if all_ops:
    mix_loss = functools.partial(_mixture_loss, arch=archs[0], config=config)
    mix = _compile(jax.jit(_sgd_step(mix_loss, optimizer), donate_argnums=(0, 1)),
                   *state(), mix_x, mix_y, alphas)

  sup_state, static_state, mix_state = state(), state(), state()
  # Warm-up: one call of every executable.
  _, sup_state = _call_ms(sup.fn, sup_state, x, y, archs[0])
  for s in statics:
    _, static_state = _call_ms(s.fn, static_state, x, y)
  if mix is not None:
    _, mix_state = _call_ms(mix.fn, mix_state, mix_x, mix_y, alphas)

  times: Dict[str, List[float]] = {"supernet": [], "static": [], "fresh": [], "all_ops": []}
  fresh_iter = iter(fresh)
  for _ in range(rounds):
    for arch, s in zip(archs, statics):
      t, sup_state = _call_ms(sup.fn, sup_state, x, y, arch)
      times["supernet"].append(t)
      t, static_state = _call_ms(s.fn, static_state, x, y)
      times["static"].append(t)
      t, sup_state = _call_ms(sup.fn, sup_state, x, y, next(fresh_iter))
      times["fresh"].append(t)
    if mix is not None:
      t, mix_state = _call_ms(mix.fn, mix_state, mix_x, mix_y, alphas)
      times["all_ops"].append(t)

  med = {k: statistics.median(v) if v else float("nan") for k, v in times.items()}
  mix_scale = batch / mix_batch  # Per-example cost taken as constant when the batch is cut.
  result.update({
      "supernet_ms": round(med["supernet"], 1),
      "supernet_fresh_ms": round(med["fresh"], 1),
      "static_ms": round(med["static"], 1),
      "all_ops_ms": round(mix_scale * med["all_ops"], 1),
      "all_ops_batch": mix_batch,
      "all_ops_measured_ms": round(med["all_ops"], 1),
      "ratio": round(med["supernet"] / med["static"], 3),
      "speedup_vs_all_ops": round(mix_scale * med["all_ops"] / med["supernet"], 2),
      "compiles": traces[0],
      "supernet_compile_s": round(sup.compile_s, 1),
      "static_compile_s": round(statistics.median(s.compile_s for s in statics), 1),
      "all_ops_compile_s": round(mix.compile_s, 1) if mix is not None else None,
      "supernet_temp_mb": round(sup.temp_mb, 1),
      "static_temp_mb": round(statistics.median(s.temp_mb for s in statics), 1),
      "all_ops_temp_mb": round(mix.temp_mb, 1) if mix is not None else None,
      "peak_rss_gb": round(_peak_rss_gb(), 2),
      "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
      "malloc_env": {k: os.environ[k] for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")
                     if k in os.environ},
      "backend": jax.default_backend(),
  })
  return result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="small", choices=tuple(CONFIGS) + ("both",))
  parser.add_argument("--archs", type=int, default=None,
                      help="static architectures (default 3 on search, 6 on small)")
  parser.add_argument("--rounds", type=int, default=3, help="timed passes over the architectures")
  parser.add_argument("--no-all-ops", action="store_true", help="skip the all-ops mixture")
  parser.add_argument("--no-remat", action="store_true",
                      help="SupernetConfig.remat_branches=False (branches keep their residuals)")
  args = parser.parse_args()
  names = ("search", "small") if args.config == "both" else (args.config,)
  for name in names:
    num_archs = args.archs or (3 if name == "search" else 6)
    print(json.dumps(bench_config(name, num_archs, args.rounds, not args.no_all_ops,
                                  not args.no_remat)), flush=True)


if __name__ == "__main__":
  main()
