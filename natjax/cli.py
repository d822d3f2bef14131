"""The `natjax` command line: thin wrappers that parse arguments and call the library.

  natjax cost  --arch NAME_OR_FILE [--network cifar|imagenet] [--json]
  natjax draw  --arch NAME_OR_FILE --out FILE.svg|FILE.png
  natjax rules --rule NAME_OR_FILE [--space NAME] [--json]
  natjax archs                      (lists the built-in architectures)
  natjax transform --arch NAME_OR_FILE [--arch ...] [--archs-file FILE] --rule nat|natpp|FILE
                   --policy init [--mode sample|greedy] [--samples K] [--seed S] [--out FILE.json]
                   [--draw DIR] [--space NAME]

Bad input (an unknown name, a malformed file, an invalid cell) prints one line naming the problem
to stderr and exits with code 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Dict, List, Optional

from natjax.errors import InputError


def _cmd_cost(args: argparse.Namespace) -> None:
  from natjax import arch, costs
  name, genotype = arch.resolve_arch(args.arch)
  cost = costs.genotype_cost(genotype, network=args.network)
  if args.json:
    print(json.dumps({"params": int(cost["params"]), "madds": int(cost["madds"])}))
  else:
    print(f"{name} in the {args.network} network: {int(cost['params']):,} params"
          f" ({cost['params'] / 1e6:.2f} M), {cost['madds'] / 1e6:.2f} M MAdds")


def _cmd_draw(args: argparse.Namespace) -> None:
  from natjax import arch, viz
  name, genotype = arch.resolve_arch(args.arch)
  path = viz.draw_genotype(genotype, args.out, title=name)
  print(f"wrote {path}")


def _cmd_rules(args: argparse.Namespace) -> None:
  from natjax import spaces, transitions
  rule = transitions.get_rule(args.rule)
  space = spaces.get_space(args.space) if args.space else None
  print(transitions.format_rule(rule, space=space, as_json=args.json))


def _cmd_archs(args: argparse.Namespace) -> None:
  from natjax import arch
  for name in arch.builtin_names():
    genotype = arch.builtin(name)
    print(f"{name:20s} space={arch.infer_space(genotype).name}")


def _transform_space(genotype, rule, where: str):
  """The space an architecture is transformed in when --space is not given: for an 'actions'
  rule the NAT space of its size (13-op space if an op is missing), for a 'mask' rule the 13-op
  space of its size."""
  from natjax import arch, transform
  space = transform.default_space(arch.num_nodes_of(genotype), rule)
  if transform.head_of(rule) == "nat":
    space = arch.infer_space(genotype, where)
  return space


def _transform_inputs(args: argparse.Namespace) -> List:
  """(name, genotype) pairs from --arch and --archs-file, in order."""
  from natjax import arch
  found = [arch.resolve_arch(a) for a in args.arch or []]
  for path in args.archs_file or []:
    found.extend(arch.read_archs(path).items())
  if not found:
    raise InputError("give at least one architecture with --arch or --archs-file")
  return found


def _transform_entry(genotype, params: int, madds: int, log_prob, cost_ok: bool) -> Dict:
  from natjax import arch
  return {**arch.genotype_to_json(genotype), "params": int(params), "madds": int(madds),
          "log_prob": None if log_prob is None else float(log_prob), "cost_ok": bool(cost_ok)}


def _cmd_transform(args: argparse.Namespace) -> None:
  import jax
  import numpy as np
  from natjax import arch, spaces, transform, transitions, viz
  if args.samples < 1:
    raise InputError(f"--samples must be >= 1, got {args.samples}")
  if args.policy != "init":
    kind = "a directory" if os.path.isdir(args.policy) else "not 'init'"
    raise InputError(f"--policy {args.policy}: {kind}; loading a checkpoint is not implemented"
                     " yet, only 'init' (fresh seeded weights) is available until a search has"
                     " written a checkpoint")
  rule = transitions.get_rule(args.rule)
  inputs = _transform_inputs(args)
  if args.space:
    space = spaces.get_space(args.space)
  else:
    chosen = {name: _transform_space(g, rule, f"{name}: ") for name, g in inputs}
    if len({s.name for s in chosen.values()}) > 1:
      pairs = ", ".join(f"{n} -> {s.name}" for n, s in chosen.items())
      raise InputError(f"the architectures need different search spaces ({pairs}); transform"
                       " one space per call or pass --space")
    space = next(iter(chosen.values()))
  archs = arch.stack_archs([arch.genotype_to_arch(g, space, f"{n}: ") for n, g in inputs])
  key = jax.random.key(args.seed)
  params = transform.init_params(jax.random.fold_in(key, 0), rule, space)
  res = transform.transform(params, archs, jax.random.fold_in(key, 1), rule=rule,
                            mode=args.mode, num_samples=args.samples, space=space)
  in_p, in_m = transform.exact_costs(archs, space)
  out_p, out_m = transform.exact_costs(res.outputs, space)
  outputs = jax.tree_util.tree_map(np.asarray, res.outputs)
  log_prob, cost_ok = np.asarray(res.log_prob), np.asarray(res.cost_ok)
  report = []
  for b, (name, genotype) in enumerate(inputs):
    outs = []
    for k in range(args.samples):
      sample = jax.tree_util.tree_map(lambda x, b=b, k=k: x[b, k], outputs)
      outs.append(_transform_entry(arch.arch_to_genotype(sample, space), out_p[b, k],
                                   out_m[b, k], log_prob[b, k], cost_ok[b, k]))
    report.append({"name": name,
                   "input": _transform_entry(genotype, in_p[b], in_m[b], None, True),
                   "outputs": outs})
  print(f"rule {rule.name}, space {space.name}, mode {args.mode}, {args.samples} sample(s),"
        f" policy init (seed {args.seed}); costs in the cifar network; first output shown")
  print(f"{'name':20s} {'params before -> after':>26s} {'MAdds (M) before -> after':>28s}"
        f" {'log_prob':>9s} cost_ok")
  for entry in report:
    first, inp = entry["outputs"][0], entry["input"]
    print(f"{entry['name']:20s} {inp['params']:>12,} -> {first['params']:>10,}"
          f" {inp['madds'] / 1e6:>14.2f} -> {first['madds'] / 1e6:>10.2f}"
          f" {first['log_prob']:>9.3f} {first['cost_ok']}")
  if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
      json.dump(report, f, indent=1)
    print(f"wrote {args.out}")
  if args.draw:
    os.makedirs(args.draw, exist_ok=True)
    for entry in report:
      before = arch.genotype_from_json(entry["input"])
      after = arch.Genotype(*(tuple(map(tuple, entry["outputs"][0][f])) if f in arch.CELL_TYPES
                              else tuple(entry["outputs"][0][f]) for f in arch.Genotype._fields))
      path = viz.draw_transformation(before, after, os.path.join(args.draw, entry["name"] + ".svg"),
                                     title=f"{entry['name']} under {rule.name}")
      print(f"wrote {path}")


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="natjax", description="Neural Architecture Transformer (NAT, NAT++) in JAX.")
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

  cost = sub.add_parser("cost", help="params and MAdds of an architecture's stand-alone network")
  cost.add_argument("--arch", required=True, help="built-in name (natjax archs) or a genotype file")
  cost.add_argument("--network", default="cifar", choices=("cifar", "imagenet"))
  cost.add_argument("--json", action="store_true", help='print {"params": .., "madds": ..}')
  cost.set_defaults(run=_cmd_cost)

  draw = sub.add_parser("draw", help="draw both cells of an architecture to SVG or PNG")
  draw.add_argument("--arch", required=True, help="built-in name or a genotype file")
  draw.add_argument("--out", required=True, help="output file, .svg or .png")
  draw.set_defaults(run=_cmd_draw)

  rules = sub.add_parser("rules", help="print a transition rule")
  rules.add_argument("--rule", required=True, help="registered rule name (nat, natpp) or JSON file")
  rules.add_argument("--space", default=None, help="restrict to a search space's vocabulary")
  rules.add_argument("--json", action="store_true", help="print the rule as JSON")
  rules.set_defaults(run=_cmd_rules)

  trans = sub.add_parser("transform", help="transform architectures with a NAT / NAT++ policy")
  trans.add_argument("--arch", action="append", help="built-in name or a genotype file (repeat)")
  trans.add_argument("--archs-file", action="append", help="JSON or notation file of genotypes")
  trans.add_argument("--rule", required=True, help="nat, natpp or a JSON rule file")
  trans.add_argument("--policy", required=True, help="'init' (fresh weights from --seed)")
  trans.add_argument("--mode", default="sample", choices=("sample", "greedy"))
  trans.add_argument("--samples", type=int, default=1, help="outputs per architecture (K >= 1)")
  trans.add_argument("--seed", type=int, default=0)
  trans.add_argument("--out", default=None, help="write the results as JSON")
  trans.add_argument("--draw", default=None, help="write DIR/NAME.svg (input vs first output)")
  trans.add_argument("--space", default=None, help="search space (default: inferred)")
  trans.set_defaults(run=_cmd_transform)

  archs = sub.add_parser("archs", help="list the built-in architectures")
  archs.set_defaults(run=_cmd_archs)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  """Entry point of the `natjax` console script; returns the exit code."""
  args = _parser().parse_args(argv)
  try:
    args.run(args)
  except InputError as err:
    print(f"natjax {args.command}: error: {err}", file=sys.stderr)
    return 2
  except BrokenPipeError:  # Output piped into `head` and closed early: not an error.
    sys.stdout = open(os.devnull, "w")  # pylint: disable=consider-using-with
  return 0


if __name__ == "__main__":
  sys.exit(main())
