"""NAT's claim measured by retraining: is the policy's beta better than its input alpha, and better
than a random transformation of no higher cost?

Takes a finished search directory (`natjax search ... --workdir DIR`). For each input architecture
alpha, three architectures are retrained from scratch with `configs/retrain_digits.py` (the
stand-alone network on the 8x8 digits, the test split after the last epoch), `--seeds` seeds each:

  alpha    the input
  policy   the search's derived beta: for the search's `derive_archs` (DARTS, ResBlock) the entry of
           DIR/derived.json; for `--random-inputs` uniform random inputs (seeded by
           `--input-seed`), the same derivation (`natjax.search.derive.derive`: K policy samples
           plus the greedy one, scored with the restored supernet on the theta split, best kept)
  random   a uniformly random rule-valid transformation of alpha (the rule's moves, equal
           probabilities) that keeps the cell inputs connected and costs no more than the
           policy's beta in params and MAdds (CIFAR network): the first such of 1,024 draws; if
           none qualifies, the cheapest valid draw (marked '*')

Prints the table (test accuracy mean +- std over seeds, params and MAdds in the CIFAR network,
differences to alpha) and ONE JSON line with every figure. Retraining runs are kept under OUT
(default DIR/nat_claim), one directory per (genotype, seed): a rerun skips finished ones, and an
architecture that occurs twice (a beta equal to its alpha) is trained once. Every run compiles
through a persistent XLA cache in OUT, so the seeds of one architecture share a compile.

Usage:
  python bench/nat_claim.py runs/quickstart [--random-inputs 3] [--seeds 3] [--out DIR]
      [--retrain-config configs/retrain_digits.py] [--config.FIELD=VALUE ...]
Defaults: 5 inputs x 3 architectures x 3 seeds, at most 45 runs of 15 epochs (fewer when a beta
equals its alpha); 23 minutes on the quickstart run on a shared 2-core CPU, about 30 in the worst
case.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import time
from typing import Any, Dict, List, Tuple

import jax
import ml_collections
import numpy as np

from natjax import search
from natjax.cli import configs
from natjax.core import arch, costs, sampler, spaces
from natjax.io import json_files, notation
from natjax.nn import policy
from natjax.search import derive, transform
from natjax.train import retrain
from natjax.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ("alpha", "policy", "random")
RANDOM_DRAWS = 1024


def _derive_random_inputs(workdir: str, num: int, seed: int) -> List[Dict[str, Any]]:
  """derived.json-style entries for `num` random inputs, from the search's restored state."""
  if num == 0:
    return []
  run = search.restore(workdir)
  space = run.setup.space
  alphas = jax.tree.map(np.asarray, sampler.sample_archs(jax.random.key(seed), space, num))
  inputs = [(f"random{i}", arch.arch_to_genotype(jax.tree.map(lambda a: a[i], alphas), space))
            for i in range(num)]
  return derive.derive(run.setup, run.scorers["derive"], run.state.theta_params, inputs,
                       jax.random.fold_in(jax.random.key(seed), 1), run.config.derive_samples)


def _random_beta(config: Any, genotype: arch.Genotype, budget: Tuple[int, int], seed: int
                 ) -> Tuple[arch.Genotype, bool]:
  """A uniform rule-valid transformation within `budget` (params, MAdds); (genotype, in budget)."""
  space = spaces.get_space(config.space)
  pol = policy.for_rule(config.rule, space)
  params = derive.constant_policy_params(pol.init(jax.random.key(0)), pol)
  alpha = arch.stack_archs([arch.genotype_to_arch(genotype, space)])
  res = transform.transform(params, alpha, jax.random.key(seed), rule=config.rule, space=space,
                            mode="sample", num_samples=RANDOM_DRAWS)
  valid = np.asarray(res.cost_ok[0]) & np.asarray(res.connected[0])
  if not valid.any():
    return genotype, True
  within = valid & (np.asarray(res.out_params[0]) <= budget[0]) & (
      np.asarray(res.out_madds[0]) <= budget[1])
  if within.any():
    pick, ok = int(np.argmax(within)), True
  else:
    madds = np.where(valid, np.asarray(res.out_madds[0]), np.inf)
    pick, ok = int(np.argmin(madds)), False
  beta = jax.tree.map(lambda a: np.asarray(a)[0, pick], res.outputs)
  return arch.arch_to_genotype(beta, space), ok


def _retrain(retrain_spec: str, overrides: List[str], genotype: arch.Genotype, seed: int,
             runs_dir: str) -> Dict[str, Any]:
  """retrain.json of one run of `genotype` (reused when finished: an architecture that occurs
  twice, e.g. a policy beta equal to its alpha, is trained once per seed)."""
  text = json.dumps(notation.genotype_to_json(genotype), sort_keys=True)
  workdir = os.path.join(runs_dir, hashlib.sha1(text.encode()).hexdigest()[:12], f"seed{seed}")
  result_path = os.path.join(workdir, retrain.RESULT_FILE)
  if os.path.isfile(result_path):
    with open(result_path, encoding="utf-8") as f:
      return json.load(f)
  os.makedirs(workdir, exist_ok=True)
  genotype_path = os.path.join(workdir, "genotype.json")
  with open(genotype_path, "w", encoding="utf-8") as f:
    f.write(text)
  config = configs.load_config(retrain_spec, overrides)
  config.arch, config.seed, config.progress = genotype_path, seed, False
  log = io.StringIO()
  result = retrain.run(config, workdir, out=log)
  with open(os.path.join(workdir, "log.txt"), "w", encoding="utf-8") as f:
    f.write(log.getvalue())
  return result


def _mean_std(values: List[float]) -> Tuple[float, float]:
  return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv: List[str]) -> None:
  parser = argparse.ArgumentParser(
      description=" ".join(__doc__.split("\n\n")[0].split()),
      epilog="Other arguments, --config.FIELD=VALUE, override fields of the retraining config.")
  parser.add_argument("search_dir", help="a finished search's work directory")
  parser.add_argument("--random-inputs", type=int, default=3,
                      help="uniform random input architectures besides the search's inputs")
  parser.add_argument("--input-seed", type=int, default=2026, help="seed of the random inputs")
  parser.add_argument("--seeds", type=int, default=3, help="retraining seeds per architecture")
  parser.add_argument("--out", default=None,
                      help="directory of the retraining runs (default SEARCH_DIR/nat_claim)")
  parser.add_argument("--retrain-config", default=os.path.join(REPO, "configs",
                                                                 "retrain_digits.py"),
                      help="the retraining config file")
  args, overrides = parser.parse_known_args(argv)
  started = time.time()
  workdir = os.path.abspath(args.search_dir)
  out_dir = os.path.abspath(args.out or os.path.join(workdir, "nat_claim"))
  os.makedirs(out_dir, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", os.path.join(out_dir, "xla_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  derived = os.path.join(workdir, search.DERIVED_FILE)
  if not os.path.isfile(derived):
    raise InputError(f"{derived}: not found; is {workdir} a finished natjax search?")
  with open(derived, encoding="utf-8") as f:
    entries = json.load(f)
  with open(os.path.join(workdir, json_files.CONFIG_FILE), encoding="utf-8") as f:
    config = ml_collections.ConfigDict(json.load(f))
  entries += _derive_random_inputs(workdir, args.random_inputs, args.input_seed)
  rows, per_input = [], []
  for i, entry in enumerate(entries):
    alpha = notation.genotype_from_json(entry["input"])
    beta = derive.output_genotype(entry)
    budget = (entry["output"]["params"], entry["output"]["madds"])
    random_beta, in_budget = _random_beta(config, alpha, budget, args.input_seed + 100 + i)
    accs = {}
    for variant, genotype in zip(VARIANTS, (alpha, beta, random_beta)):
      cost = costs.genotype_cost(genotype)
      runs = [_retrain(args.retrain_config, overrides, genotype, seed,
                       os.path.join(out_dir, "runs")) for seed in range(args.seeds)]
      accs[variant] = [r["final_test_accuracy"] for r in runs]
      mean, std = _mean_std(accs[variant])
      rows.append({"input": entry["name"], "variant": variant,
                   "genotype": notation.genotype_to_json(genotype), "params": cost["params"],
                   "madds": cost["madds"], "accuracies": accs[variant], "mean": mean, "std": std,
                   "in_budget": in_budget if variant == "random" else True,
                   "source": entry["output"]["source"] if variant == "policy" else None})
      print(f"  {entry['name']} {variant}: {100 * mean:.2f} +- {100 * std:.2f} %"
            f" ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
    per_input.append({v: statistics.fmean(accs[v]) for v in VARIANTS})
  diffs = {}
  for name, (a, b) in {"policy_minus_alpha": ("policy", "alpha"),
                       "random_minus_alpha": ("random", "alpha"),
                       "policy_minus_random": ("policy", "random")}.items():
    d = [p[a] - p[b] for p in per_input]
    diffs[name] = statistics.fmean(d)
    diffs[name + "_se"] = statistics.stdev(d) / np.sqrt(len(d)) if len(d) > 1 else 0.0
  print(format_table(rows, args.seeds, diffs))
  print(json.dumps({"search_dir": workdir, "seeds": args.seeds, "inputs": len(entries),
                    "retrain_config": os.path.relpath(args.retrain_config, REPO),
                    "overrides": overrides, **diffs, "rows": rows,
                    "wall_s": round(time.time() - started, 1)}))


def format_table(rows: List[Dict[str, Any]], seeds: int, diffs: Dict[str, float]) -> str:
  lines = [f"{'input':10s} {'architecture':14s} {'params (M)':>10s} {'MAdds (M)':>10s}"
           f" {'test acc % (' + str(seeds) + ' seeds)':>22s} {'vs alpha':>9s}"]
  alpha_mean = None
  for r in rows:
    if r["variant"] == "alpha":
      alpha_mean = r["mean"]
    label = {"alpha": "alpha (input)", "policy": "policy beta",
             "random": "random beta" + ("" if r["in_budget"] else "*")}[r["variant"]]
    delta = "" if r["variant"] == "alpha" else f"{100 * (r['mean'] - alpha_mean):+9.2f}"
    lines.append(f"{r['input']:10s} {label:14s} {r['params'] / 1e6:10.3f} {r['madds'] / 1e6:10.1f}"
                 f" {100 * r['mean']:15.2f} +- {100 * r['std']:4.2f} {delta:>9s}")
  lines.append(
      f"mean over inputs (+- SE over inputs): policy - alpha"
      f" {100 * diffs['policy_minus_alpha']:+.2f} +- {100 * diffs['policy_minus_alpha_se']:.2f},"
      f" random - alpha {100 * diffs['random_minus_alpha']:+.2f} +-"
      f" {100 * diffs['random_minus_alpha_se']:.2f}, policy - random"
      f" {100 * diffs['policy_minus_random']:+.2f} +- {100 * diffs['policy_minus_random_se']:.2f}"
      " points")
  return "\n".join(lines)


if __name__ == "__main__":
  try:
    main(sys.argv[1:])
  except InputError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
