"""The `natjax` command line: thin wrappers that parse arguments and call the library.

  natjax cost  --arch NAME_OR_FILE [--arch ...] [--archs-file FILE] [--network cifar|imagenet]
               [--convention conv_linear|ptflops] [--channels C] [--json]
  natjax draw  --arch NAME_OR_FILE [--arch ...] [--archs-file FILE] --out FILE.svg|FILE.png|DIR
  natjax export --arch NAME_OR_FILE [--arch ...] [--archs-file FILE] [--form natjax|darts]
                [--out FILE.py|FILE.json]
  natjax rules --rule NAME_OR_FILE [--space NAME] [--json]
  natjax archs                      (lists the built-in architectures)
  natjax search --config FILE[:ARG] --workdir DIR [--config.FIELD=VALUE ...]
  natjax transform --arch NAME_OR_FILE [--arch ...] [--archs-file FILE]
                   (--policy init --rule nat|natpp|FILE | --policy DIR [--rule ...])
                   [--mode sample|greedy] [--samples K] [--seed S] [--out FILE.json]
                   [--draw DIR] [--space NAME]
  natjax retrain --config FILE[:ARG] --workdir DIR [--arch NAME_OR_FILE] [--config.FIELD=VALUE ...]
  natjax compare RUN_DIR [RUN_DIR ...] [--out PLOT.png]

Every command may be preceded by `--imports MODULE[,MODULE]` (and $NATJAX_IMPORTS): modules
imported first, e.g. a research fork that registers op families, ops, spaces or rules, found from
the current directory too. Bad input (an unknown name, a malformed file, an invalid cell, a module
that fails to import) prints one line naming the problem to stderr and exits with code 2; no
traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

from natjax import registry
from natjax.errors import InputError

IMPORTS_ENV = "NATJAX_IMPORTS"  # comma-separated modules imported before every command


def _archs(args: argparse.Namespace) -> List:
  """(name, genotype) pairs from --arch and --archs-file, in order (the one resolver)."""
  from natjax.io import genotype_files
  return genotype_files.resolve_archs(args.arch or [], args.archs_file or [])


def _cmd_cost(args: argparse.Namespace) -> None:
  from natjax.core import costs
  found = _archs(args)
  rows = []
  for name, genotype in found:
    cost = costs.genotype_cost(genotype, args.network, args.convention, args.channels)
    rows.append({"name": name, "network": args.network, "channels": args.channels,
                 "params": int(cost["params"]), "madds": int(cost["madds"]),
                 "madds_convention": args.convention})
  if args.json:
    print(json.dumps(rows[0] if len(rows) == 1 else rows))
    return
  net = args.network + (f" (C={args.channels})" if args.channels else "")
  for row in rows:
    print(f"{row['name']} in the {net} network: {row['params']:,} params"
          f" ({row['params'] / 1e6:.2f} M), {row['madds'] / 1e6:.2f} M MAdds ({args.convention})")
  print(f"MAdds convention {args.convention}: {costs.CONVENTIONS[args.convention]}; params exclude"
        " the auxiliary head")


def _cmd_draw(args: argparse.Namespace) -> None:
  from natjax.io import viz
  found = _archs(args)
  if len(found) == 1 and os.path.splitext(args.out)[1]:
    print(f"wrote {viz.draw_genotype(found[0][1], args.out, title=found[0][0])}")
    return
  os.makedirs(args.out, exist_ok=True)  # Several architectures: --out is a directory.
  for name, genotype in found:
    path = os.path.join(args.out, "".join(c if c.isalnum() or c in "._-" else "_" for c in name))
    print(f"wrote {viz.draw_genotype(genotype, path + '.svg', title=name)}")


def _cmd_export(args: argparse.Namespace) -> None:
  from natjax.io import genotype_files, notation
  named = dict(_archs(args))
  if args.out:
    genotype_files.write_archs(named, args.out, form=args.form)
    print(f"wrote {args.out}")
  else:
    print(notation.format_notation_file(named, args.form), end="")


def _cmd_rules(args: argparse.Namespace) -> None:
  from natjax.core import rules, spaces
  rule = rules.get_rule(args.rule)
  space = spaces.get_space(args.space) if args.space else None
  print(rules.format_rule(rule, space=space, as_json=args.json))


def _cmd_archs(args: argparse.Namespace) -> None:
  from natjax.core import arch, genotypes, zoo
  for name in genotypes.builtin_names():
    genotype = genotypes.builtin(name)
    print(f"{name:20s} space={arch.infer_space(genotype).name}")
  print("\npublished cells (natjax.core.zoo; README, 'Published cells'):")
  for name in zoo.names():
    cell = zoo.get(name)
    print(f"{name:20s} {cell.paper}; {cell.source.repo} {cell.source.path}:{cell.source.variable}")
  for name, (source, why) in zoo.NOT_REPRESENTABLE.items():
    print(f"{name:20s} not representable: {why}")


def _transform_space(genotype, rule, where: str):
  """The space an architecture is transformed in when --space is not given: for an 'actions'
  rule the NAT space of its size (13-op space if an op is missing), for a 'mask' rule the 13-op
  space of its size."""
  from natjax.core import arch, rules
  space = rules.default_space(arch.num_nodes_of(genotype), rule)
  if rule.kind == "actions":
    space = arch.infer_space(genotype, where)
  return space


def _transform_policy(args: argparse.Namespace):
  """(checkpoint or None, rule) from --policy and --rule; a checkpoint fixes the rule."""
  from natjax.core import rules
  from natjax.io import policy_files
  if args.policy == "init":
    if not args.rule:
      raise InputError("--rule is required with --policy init (a policy directory brings its"
                       " own rule)")
    return None, rules.get_rule(args.rule)
  ckpt = policy_files.load_policy(args.policy)
  if args.rule and rules.get_rule(args.rule) != ckpt.rule:
    raise InputError(f"--rule {args.rule} disagrees with the policy in {args.policy}, trained"
                     f" under rule '{ckpt.rule.name}'; drop --rule")
  if args.space and args.space != ckpt.space.name:
    raise InputError(f"--space {args.space} disagrees with the policy in {args.policy}, built"
                     f" for space '{ckpt.space.name}'; drop --space")
  return ckpt, ckpt.rule


def _cmd_transform(args: argparse.Namespace) -> None:
  import jax
  from natjax.core import spaces
  from natjax.io import viz
  from natjax.search import transform
  if args.samples < 1:
    raise InputError(f"--samples must be >= 1, got {args.samples}")
  ckpt, rule = _transform_policy(args)
  inputs = _archs(args)
  if ckpt is not None or args.space:  # One space for all; otherwise each input's own.
    in_spaces = [ckpt.space if ckpt is not None else spaces.get_space(args.space)] * len(inputs)
  else:
    in_spaces = [_transform_space(g, rule, f"{name}: ") for name, g in inputs]
  if ckpt is None:
    params, quirk, self_loops, source = None, False, False, f"init (seed {args.seed})"
  else:
    params, quirk = ckpt.params, ckpt.policy.released_quirk
    self_loops, source = ckpt.policy.module.self_loops, args.policy
  results = transform.transform_genotypes(
      inputs, in_spaces, jax.random.key(args.seed), rule=rule, policy_params=params,
      mode=args.mode, num_samples=args.samples, released_quirk=quirk, self_loops=self_loops)
  report = [r.report for r in results]
  firsts = [r.outputs[0] for r in results]
  used = ", ".join(dict.fromkeys(r.space.name for r in results))
  print(f"rule {rule.name}, space {used}, mode {args.mode}, {args.samples} sample(s),"
        f" policy {source}; costs in the cifar network (MAdds: conv_linear); first output shown")
  print(f"{'name':20s} {'params before -> after':>26s} {'MAdds (M) before -> after':>28s}"
        f" {'log_prob':>9s} cost_ok connected")
  for entry in report:
    first, inp = entry["outputs"][0], entry["input"]
    print(f"{entry['name']:20s} {inp['params']:>12,} -> {first['params']:>10,}"
          f" {inp['madds'] / 1e6:>14.2f} -> {first['madds'] / 1e6:>10.2f}"
          f" {first['log_prob']:>9.3f} {str(first['cost_ok']):7s} {first['connected']}")
  if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
      json.dump(report, f, indent=1)
    print(f"wrote {args.out}")
  if args.draw:
    os.makedirs(args.draw, exist_ok=True)
    for (name, genotype), after in zip(inputs, firsts):
      path = viz.draw_transformation(genotype, after, os.path.join(args.draw, name + ".svg"),
                                     title=f"{name} under {rule.name}")
      print(f"wrote {path}")


def _with_imports(config, imports):
  """The config with the command line's modules added to `config.imports`, so that its
  config.json records everything the run imported."""
  config.imports = tuple(dict.fromkeys(tuple(config.imports) + tuple(imports)))
  return config


def _init_distributed() -> None:
  """Multi-host runs (NATJAX_DISTRIBUTED=1, set by the launch scripts): one process per host joins
  the others before any device is touched."""
  if os.environ.get("NATJAX_DISTRIBUTED") == "1":
    import jax
    jax.distributed.initialize()


def _cmd_search(args: argparse.Namespace) -> None:
  from natjax import search
  from natjax.cli import configs
  _init_distributed()
  config = _with_imports(configs.load_config(args.config, args.overrides), args.imports)
  try:
    search.run(config, args.workdir)
  except search.SearchError as err:
    print(f"natjax search: stopped: {err}", file=sys.stderr)
    raise SystemExit(1) from None


def _cmd_retrain(args: argparse.Namespace) -> None:
  from natjax.cli import configs
  from natjax.train import retrain
  _init_distributed()
  config = _with_imports(configs.load_config(args.config, args.overrides), args.imports)
  if args.arch:
    config.arch = args.arch
  try:
    retrain.run(config, args.workdir)
  except retrain.Preempted as err:
    print(f"natjax retrain: {err}", file=sys.stderr)
    raise SystemExit(143) from None
  except retrain.RetrainError as err:
    print(f"natjax retrain: stopped: {err}", file=sys.stderr)
    raise SystemExit(1) from None


def _cmd_compare(args: argparse.Namespace) -> None:
  from natjax.io import reports
  table, _ = reports.compare(args.run_dirs, args.out)
  print(table)
  if args.out:
    print(f"wrote {args.out}")


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="natjax", description="Neural Architecture Transformer (NAT, NAT++) in JAX.")
  parser.add_argument(
      "--imports", default=None, metavar="MODULE[,MODULE]",
      help="modules to import before the command, e.g. a research fork that registers ops,"
      " spaces or rules (also $NATJAX_IMPORTS); importable from the current directory; recorded"
      " in a search's or retraining's config.json and in policy.json")
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

  arch_help = ("built-in name or published cell (natjax archs), genotype file, FILE:NAME or a"
               " search's derived.json[:NAME] (repeat)")
  files_help = "every genotype of a file (JSON, genotypes.py, derived.json; repeat)"
  cost = sub.add_parser("cost", help="params and MAdds of an architecture's stand-alone network")
  cost.add_argument("--arch", action="append", help=arch_help)
  cost.add_argument("--archs-file", action="append", help=files_help)
  cost.add_argument("--network", default="cifar", choices=("cifar", "imagenet"))
  cost.add_argument("--convention", default="conv_linear", choices=("conv_linear", "ptflops"),
                    help="what MAdds count: conv_linear (convs and Linear only) or ptflops (also"
                    " ReLU, BN and pools, as P-DARTS's and PC-DARTS's ImageNet tables)")
  cost.add_argument("--channels", type=int, default=None,
                    help="the network's initial C (default 36 cifar, 48 imagenet)")
  cost.add_argument("--json", action="store_true",
                    help='print {"name", "params", "madds", "madds_convention", ...} (a list'
                    " for several architectures)")
  cost.set_defaults(run=_cmd_cost)

  draw = sub.add_parser("draw", help="draw both cells of an architecture to SVG or PNG")
  draw.add_argument("--arch", action="append", help=arch_help)
  draw.add_argument("--archs-file", action="append", help=files_help)
  draw.add_argument("--out", required=True,
                    help="output file, .svg or .png; a directory (NAME.svg each) for several")
  draw.set_defaults(run=_cmd_draw)

  export = sub.add_parser("export", help="write genotypes as a genotypes.py or JSON file")
  export.add_argument("--arch", action="append", help=arch_help)
  export.add_argument("--archs-file", action="append", help=files_help)
  export.add_argument("--form", default="natjax", choices=("natjax", "darts"),
                      help="natjax: edges (op, from, to); darts: (op, from) and 'none' for null,"
                      " as DARTS-family code reads them")
  export.add_argument("--out", default=None,
                      help="FILE.py (NAME = Genotype(...) lines) or FILE.json; default: print"
                      " a genotypes.py")
  export.set_defaults(run=_cmd_export)

  rules = sub.add_parser("rules", help="print a transition rule")
  rules.add_argument("--rule", required=True, help="registered rule name (nat, natpp) or JSON file")
  rules.add_argument("--space", default=None, help="restrict to a search space's vocabulary")
  rules.add_argument("--json", action="store_true", help="print the rule as JSON")
  rules.set_defaults(run=_cmd_rules)

  trans = sub.add_parser("transform", help="transform architectures with a NAT / NAT++ policy")
  trans.add_argument("--arch", action="append", help=arch_help)
  trans.add_argument("--archs-file", action="append", help=files_help)
  trans.add_argument("--rule", default=None,
                     help="nat, natpp or a JSON rule file (default with --policy DIR: its rule)")
  trans.add_argument("--policy", required=True,
                     help="'init' (fresh weights from --seed), a policy export directory or a"
                     " search work directory")
  trans.add_argument("--mode", default="sample", choices=("sample", "greedy"))
  trans.add_argument("--samples", type=int, default=1, help="outputs per architecture (K >= 1)")
  trans.add_argument("--seed", type=int, default=0)
  trans.add_argument("--out", default=None, help="write the results as JSON")
  trans.add_argument("--draw", default=None, help="write DIR/NAME.svg (input vs first output)")
  trans.add_argument("--space", default=None,
                     help="search space for all inputs (default: each input's own; inputs of"
                     " several spaces are transformed one batch per space)")
  trans.set_defaults(run=_cmd_transform)

  archs = sub.add_parser("archs", help="list the built-in architectures")
  archs.set_defaults(run=_cmd_archs)

  search = sub.add_parser(
      "search", help="train the supernet and the policy, then transform architectures",
      epilog="Any config field can be overridden with --config.FIELD=VALUE.")
  search.add_argument("--config", required=True,
                      help="config file, e.g. configs/quickstart.py (FILE:ARG passes ARG)")
  search.add_argument("--workdir", required=True,
                      help="output directory; a run found there is resumed")
  search.set_defaults(run=_cmd_search, overrides_allowed=True)

  retrain = sub.add_parser(
      "retrain", help="train an architecture's stand-alone network from scratch",
      epilog="Any config field can be overridden with --config.FIELD=VALUE.")
  retrain.add_argument("--config", required=True,
                       help="config file, e.g. configs/retrain_digits.py (FILE:ARG passes ARG)")
  retrain.add_argument("--workdir", required=True,
                       help="output directory; a run found there is resumed")
  retrain.add_argument("--arch", default=None,
                       help="built-in name or published cell, genotype file, FILE:NAME or a"
                       " search's derived.json[:NAME] (default: the config's arch)")
  retrain.set_defaults(run=_cmd_retrain, overrides_allowed=True)

  compare = sub.add_parser("compare", help="table and plot of finished retraining runs")
  compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                       help="work directory of a natjax retrain run (holds retrain.json)")
  compare.add_argument("--out", default=None, help="write accuracy vs MAdds as a PNG")
  compare.set_defaults(run=_cmd_compare)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  """Entry point of the `natjax` console script; returns the exit code."""
  parser = _parser()
  args, extra = parser.parse_known_args(argv)
  if extra and not getattr(args, "overrides_allowed", False):
    parser.error(f"unrecognized arguments: {' '.join(extra)}")
  args.overrides = extra
  try:
    args.imports = registry.import_modules(
        registry.split_modules(os.environ.get(IMPORTS_ENV)) + registry.split_modules(args.imports))
    args.run(args)
  except InputError as err:
    print(f"natjax {args.command}: error: {err}", file=sys.stderr)
    return 2
  except BrokenPipeError:  # Output piped into `head` and closed early: not an error.
    sys.stdout = open(os.devnull, "w")  # pylint: disable=consider-using-with
  return 0


if __name__ == "__main__":
  sys.exit(main())
