"""natjax's w-step against the authors' PyTorch NAT on this machine, in one sitting.

Alternates `bench/search_step.py` (natjax, search config: C=20, 8 cells, 32x32x3, batch 64) and
`bench/reference_step.py` (the reference's `model.step` at the same size, 2 torch threads),
A B A B for `--rounds` rounds, each in its own process, so that load from elsewhere on a shared
machine falls on both alike. Prints every run's JSON line as it finishes, then ONE summary line:
  {"natjax_w_step_ms", "reference_w_step_ms" (lists, one median per run),
   "speed_ratio" (median reference ms / median natjax ms: above 1, natjax is faster),
   "pair_ratios" (the same per round), "load_avg" (1-minute, at each run's start and end)}

The natjax runs use this interpreter (or `--python`) with glibc's mmap threshold off (as the
README's benchmarks); the reference runs use `--torch-python`, an interpreter with torch.

Usage:
  python bench/versus_reference.py --reference /path/to/NAT --torch-python /path/to/bin/python
  python bench/versus_reference.py --reference ... --torch-python ... --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
MALLOC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


def _run(command: List[str], env: Dict[str, str]) -> Dict[str, Any]:
  """Runs `command`, echoes and returns its last stdout line as JSON; exits on failure."""
  done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
  lines = done.stdout.strip().splitlines()
  if done.returncode != 0 or not lines:
    raise SystemExit(f"{' '.join(command)}: exit {done.returncode}")
  print(lines[-1], flush=True)
  return json.loads(lines[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--reference", required=True, help="a checkout of guoyongcs/NAT")
  parser.add_argument("--torch-python", required=True, help="an interpreter with torch")
  parser.add_argument("--python", default=sys.executable, help="natjax's interpreter")
  parser.add_argument("--rounds", type=int, default=2, help="natjax, reference pairs")
  parser.add_argument("--steps", type=int, default=5, help="timed steps per natjax run")
  parser.add_argument("--reference-steps", type=int, default=10, help="timed steps per reference run")
  parser.add_argument("--impl", default="auto", help="natjax's kernel form (search_step --impl)")
  args = parser.parse_args()
  natjax_env = dict(os.environ, **MALLOC)
  natjax_cmd = [args.python, os.path.join(HERE, "search_step.py"), "--steps", str(args.steps),
                "--impl", args.impl]
  reference_cmd = [args.torch_python, os.path.join(HERE, "reference_step.py"), "--reference",
                   args.reference, "--steps", str(args.reference_steps)]
  ours, theirs, loads = [], [], []
  for _ in range(args.rounds):
    a = _run(natjax_cmd, natjax_env)
    b = _run(reference_cmd, dict(os.environ))
    ours.append(a["w_step_ms"])
    theirs.append(b["w_step_ms"])
    loads.extend([a["load_avg"], b["load_avg"]])
  print(json.dumps({
      "natjax_w_step_ms": ours, "reference_w_step_ms": theirs,
      "speed_ratio": round(statistics.median(theirs) / statistics.median(ours), 3),
      "pair_ratios": [round(t / o, 3) for o, t in zip(ours, theirs)], "load_avg": loads}),
        flush=True)


if __name__ == "__main__":
  main()
