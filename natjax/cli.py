"""The `natjax` command line: thin wrappers that parse arguments and call the library.

  natjax cost  --arch NAME_OR_FILE [--network cifar|imagenet] [--json]
  natjax draw  --arch NAME_OR_FILE --out FILE.svg|FILE.png
  natjax rules --rule NAME_OR_FILE [--space NAME] [--json]
  natjax archs                      (lists the built-in architectures)

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
