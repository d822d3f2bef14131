"""What can a NAT policy gain under a search's supernet? The effect of every single-edge move.

Takes a finished search directory and restores its supernet. For `--archs` uniform random inputs
alpha and every edge e of either cell, it scores (shared weights, the whole test split, paired)
alpha with edge e turned into skip_connect and into null, the two moves NAT's rule offers besides
keeping the op. Prints, per (cell, input op, move), the mean accuracy change over the inputs with
its standard error and the fraction of improvements, and ONE JSON line with the same figures.
A move whose mean change is above zero is one a policy could exploit; if none is, the best policy
keeps every op (reward 0).

Usage:
  python bench/edge_moves.py runs/quickstart [--archs 100] [--seed 7]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

import jax
import numpy as np

from natjax import search
from natjax.core import sampler
from natjax.errors import InputError


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("search_dir")
  parser.add_argument("--archs", type=int, default=100)
  parser.add_argument("--seed", type=int, default=7)
  args = parser.parse_args(argv)
  started = time.time()
  run = search.restore(args.search_dir)
  scorer = run.scorers["held_out"]
  space, n = run.setup.space, args.archs
  alphas = jax.tree.map(np.asarray, sampler.sample_archs(jax.random.key(args.seed), space, n))
  moved, moves = [alphas], []
  for cell in ("normal", "reduce"):
    for move, index in (("skip_connect", space.skip_index), ("null", space.null_index)):
      for e in range(space.num_edges):
        beta = jax.tree.map(np.copy, alphas)
        getattr(beta, cell).op[:, e] = index
        moved.append(beta)
        moves.append((cell, move, e))
  acc = scorer(jax.tree.map(lambda *a: np.concatenate(a), *moved))
  acc_alpha = acc[:n]
  changes = collections.defaultdict(list)
  for k, (cell, move, e) in enumerate(moves):
    delta = acc[(k + 1) * n:(k + 2) * n] - acc_alpha
    for i, op in enumerate(getattr(alphas, cell).op[:, e]):
      if space.ops[op] != move:  # skip -> skip changes nothing
        changes[(cell, space.ops[op], move)].append(float(delta[i]))
  rows = []
  print(f"{'cell':7s} {'input op':14s} {'move':13s} {'n':>5s} {'mean change':>12s} {'SE':>7s}"
        f" {'improves':>9s}")
  for (cell, op, move), values in sorted(changes.items()):
    v = np.asarray(values)
    row = {"cell": cell, "op": op, "move": move, "n": int(v.size), "mean": float(v.mean()),
           "se": float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0,
           "improves": float(np.mean(v > 0))}
    rows.append(row)
    print(f"{cell:7s} {op:14s} {move:13s} {row['n']:5d} {row['mean']:+12.4f} {row['se']:7.4f}"
          f" {row['improves']:9.2f}")
  best = max(rows, key=lambda r: r["mean"])
  print(f"inputs: mean shared-weight accuracy {acc_alpha.mean():.4f} on"
        f" {scorer.num_examples} test images; best move: {best['cell']} {best['op']} ->"
        f" {best['move']} {best['mean']:+.4f} +- {best['se']:.4f}")
  print(json.dumps({"search_dir": os.path.abspath(args.search_dir), "archs": n,
                    "supernet_accuracy": float(acc_alpha.mean()), "best": best, "rows": rows,
                    "archs_per_s": scorer.scored / scorer.seconds,
                    "wall_s": round(time.time() - started, 1)}))


if __name__ == "__main__":
  try:
    main(sys.argv[1:])
  except InputError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
