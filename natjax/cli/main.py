"""The `natjax` command line: thin wrappers that parse arguments and call the library.

  natjax cost  --arch NAME_OR_FILE [--network cifar|imagenet] [--json]
  natjax draw  --arch NAME_OR_FILE --out FILE.svg|FILE.png
  natjax rules --rule NAME_OR_FILE [--space NAME] [--json]
  natjax archs                      (lists the built-in architectures)
  natjax search --config FILE[:ARG] --workdir DIR [--config.FIELD=VALUE ...]
  natjax transform --arch NAME_OR_FILE [--arch ...] [--archs-file FILE]
                   --policy init|DIR [--rule nat|natpp|FILE] [--mode sample|greedy]
                   [--samples K] [--seed S] [--out FILE.json [--indent N]] [--draw DIR]
                   [--space NAME]
  natjax retrain --config FILE[:ARG] --workdir DIR [--arch NAME_OR_FILE] [--config.FIELD=VALUE ...]
  natjax compare RUN_DIR [RUN_DIR ...] [--out PLOT.png]
  natjax --version

Every command may be preceded by `--imports MODULE[,MODULE]` (and $NATJAX_IMPORTS): modules
imported first, e.g. a research fork that registers op families, ops, spaces or rules, found from
the current directory too. Bad input (an unknown name, a malformed file, an invalid cell, a module
that fails to import, an output path that cannot be written) prints one line naming the problem to
stderr and exits with code 2; a file system failure while writing (a full disk) is one line and
exit code 1; no traceback reaches the user. Output files and directories get their missing parent
folders created; `natjax.files` holds these checks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional

import natjax
from natjax import files, registry
from natjax.errors import InputError, quote

IMPORTS_ENV = "NATJAX_IMPORTS"  # comma-separated modules imported before every command


def _cmd_cost(args: argparse.Namespace) -> None:
  from natjax.core import costs
  from natjax.io import genotype_files
  name, genotype = genotype_files.resolve_arch(args.arch)
  cost = costs.genotype_cost(genotype, network=args.network)
  if args.json:
    print(json.dumps({"params": int(cost["params"]), "madds": int(cost["madds"])}))
  else:
    print(f"{name} in the {args.network} network: {int(cost['params']):,} params"
          f" ({cost['params'] / 1e6:.2f} M), {cost['madds'] / 1e6:.2f} M MAdds")


def _cmd_draw(args: argparse.Namespace) -> None:
  from natjax.io import genotype_files, viz
  name, genotype = genotype_files.resolve_arch(args.arch)
  path = viz.draw_genotype(genotype, args.out, title=name)
  print(f"wrote {path}")


def _cmd_rules(args: argparse.Namespace) -> None:
  from natjax.core import rules, spaces
  rule = rules.get_rule(args.rule)
  space = spaces.get_space(args.space) if args.space else None
  print(rules.format_rule(rule, space=space, as_json=args.json))


def _cmd_archs(args: argparse.Namespace) -> None:
  from natjax.core import arch, genotypes
  for name in genotypes.builtin_names():
    genotype = genotypes.builtin(name)
    print(f"{name:20s} space={arch.infer_space(genotype).name}")


def _transform_space(genotype, rule, where: str):
  """The space an architecture is transformed in when --space is not given: for an 'actions'
  rule, or no rule, the smallest space of its size holding its ops (NAT's 9-op space, else the
  13-op one); for a 'mask' rule the 13-op space of its size."""
  from natjax.core import arch, rules
  if rule is None or rule.kind == "actions":
    return arch.infer_space(genotype, where)
  return rules.default_space(arch.num_nodes_of(genotype), rule)


def _transform_inputs(args: argparse.Namespace) -> List:
  """(name, genotype) pairs from --arch and --archs-file, in order."""
  from natjax.io import genotype_files
  found = [genotype_files.resolve_arch(a) for a in args.arch or []]
  for path in args.archs_file or []:
    found.extend(genotype_files.read_archs(path).items())
  if not found:
    raise InputError("give at least one architecture with --arch or --archs-file")
  return found


def _transform_entry(genotype, params: int, madds: int, log_prob, cost_ok: bool,
                     connected: bool) -> Dict:
  from natjax.io import notation
  return {**notation.genotype_to_json(genotype), "params": int(params), "madds": int(madds),
          "log_prob": None if log_prob is None else float(log_prob), "cost_ok": bool(cost_ok),
          "connected": bool(connected)}


def _transform_policy(args: argparse.Namespace):
  """(checkpoint or None, rule) from --policy and --rule; a checkpoint fixes the rule; with
  --policy init and no --rule the rule is None (the space's default, chosen with the space)."""
  from natjax.core import rules
  from natjax.io import policy_files
  if args.policy == "init":
    return None, rules.get_rule(args.rule) if args.rule else None
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
  import numpy as np
  from natjax.core import arch, costs, rules, spaces
  from natjax.io import viz
  from natjax.nn import policy
  from natjax.search import transform
  if args.samples < 1:
    raise InputError(f"--samples must be >= 1, got {args.samples}")
  if args.indent is not None and args.indent < 0:
    raise InputError(f"--indent must be >= 0, got {args.indent}")
  if args.indent is not None and not args.out:
    raise InputError("--indent applies to the --out file; give --out")
  if args.out:
    files.check_output_file(args.out, "--out")
  if args.draw:
    files.check_output_dir(args.draw, "--draw")
  ckpt, rule = _transform_policy(args)
  inputs = _transform_inputs(args)
  if ckpt is not None:
    space = ckpt.space
  elif args.space:
    space = spaces.get_space(args.space)
  else:
    chosen = {name: _transform_space(g, rule, f"{name}: ") for name, g in inputs}
    if len({s.name for s in chosen.values()}) > 1:
      pairs = ", ".join(f"{n} -> {s.name}" for n, s in chosen.items())
      raise InputError(f"the architectures need different search spaces ({pairs}); transform"
                       " one space per call or pass --space")
    space = next(iter(chosen.values()))
  if rule is None:
    rule = rules.default_rule(space)
    print(f"natjax transform: no --rule given: using '{rule.name}', the default rule of space"
          f" '{space.name}' (nat for darts and enas, natpp for the 13-op spaces)", file=sys.stderr)
  archs = arch.stack_archs([arch.genotype_to_arch(g, space, f"{n}: ") for n, g in inputs])
  key = jax.random.key(args.seed)
  if ckpt is None:
    params = policy.init_for_rule(jax.random.fold_in(key, 0), rule, space)
    quirk, self_loops, source = False, False, f"init (seed {args.seed})"
  else:
    params, quirk = ckpt.params, ckpt.policy.released_quirk
    self_loops, source = ckpt.policy.module.self_loops, args.policy
  res = transform.transform(params, archs, jax.random.fold_in(key, 1), rule=rule,
                            mode=args.mode, num_samples=args.samples, space=space,
                            released_quirk=quirk, self_loops=self_loops)
  in_p, in_m = costs.exact_costs(archs, space)
  out_p, out_m = costs.exact_costs(res.outputs, space)
  outputs = jax.tree_util.tree_map(np.asarray, res.outputs)
  log_prob, cost_ok = np.asarray(res.log_prob), np.asarray(res.cost_ok)
  connected = np.asarray(res.connected)
  report, out_genotypes = [], []
  for b, (name, genotype) in enumerate(inputs):
    outs, genotypes_b = [], []
    for k in range(args.samples):
      sample = jax.tree_util.tree_map(lambda x, b=b, k=k: x[b, k], outputs)
      out_genotype = arch.arch_to_genotype(sample, space)  # Not validated: may be dead.
      genotypes_b.append(out_genotype)
      outs.append(_transform_entry(out_genotype, out_p[b, k], out_m[b, k], log_prob[b, k],
                                   cost_ok[b, k], connected[b, k]))
    out_genotypes.append(genotypes_b)
    report.append({"name": name,
                   "input": _transform_entry(genotype, in_p[b], in_m[b], None, True, True),
                   "outputs": outs})
  print(f"rule {rule.name}, space {space.name}, mode {args.mode}, {args.samples} sample(s),"
        f" policy {source}; costs in the cifar network")
  _print_samples(report, inputs, out_genotypes)
  if args.out:
    indent = {"separators": (",", ":")} if args.indent is None else {"indent": args.indent}
    files.write_text(args.out, json.dumps(report, **indent) + "\n", "--out")
    print(f"wrote {args.out}")
  if args.draw:
    files.output_dir(args.draw, "--draw")
    for (name, genotype), after in zip(inputs, out_genotypes):
      path = viz.draw_transformation(genotype, after[0], os.path.join(args.draw, name + ".svg"),
                                     title=f"{name} under {rule.name}")
      print(f"wrote {path}")


def _print_samples(report: List[Dict], inputs: List, out_genotypes: List[List]) -> None:
  """One line per sample: its costs before and after (and the change in %), how many edges it
  changed, its log-probability and flags."""
  from natjax.search import derive
  print(f"{'name':16s} {'sample':>6s} {'params before -> after':>35s}"
        f" {'MAdds (M) before -> after':>31s} {'edges changed':>13s} {'log_prob':>9s}"
        " cost_ok connected")
  for entry, (_, genotype), afters in zip(report, inputs, out_genotypes):
    inp = entry["input"]
    edges = len(genotype.normal) + len(genotype.reduce)
    for k, (out, after) in enumerate(zip(entry["outputs"], afters)):
      dp = 100.0 * (out["params"] / inp["params"] - 1)
      dm = 100.0 * (out["madds"] / inp["madds"] - 1)
      changed = f"{len(derive.changed_edges(genotype, after))} of {edges}"
      print(f"{entry['name']:16s} {k:>6d} {inp['params']:>10,} -> {out['params']:>10,}"
            f" ({dp:+6.1f} %) {inp['madds'] / 1e6:>8.2f} -> {out['madds'] / 1e6:>8.2f}"
            f" ({dm:+6.1f} %) {changed:>13s} {out['log_prob']:>9.3f}"
            f" {str(out['cost_ok']):7s} {out['connected']}")


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


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
  """Every option's help ends with its default: '(default: X)', '(default: off)' for a flag; an
  option whose default is None says in its help what happens without it."""

  def _get_help_string(self, action: argparse.Action) -> str:
    text = action.help or ""
    if (not action.option_strings or action.required or action.default is argparse.SUPPRESS
        or "default" in text):
      return text
    if action.nargs == 0:  # store_true / store_false
      return f"{text} (default: {'on' if action.default else 'off'})"
    return f"{text} (default: %(default)s)"


def _version() -> str:
  """'natjax X (jax Y, flax Z, orbax-checkpoint W, Python V)', without importing jax."""
  from importlib import metadata
  found = []
  for name in ("jax", "flax", "orbax-checkpoint"):
    try:
      found.append(f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
      found.append(f"{name} missing")
  return (f"natjax {natjax.__version__} ({', '.join(found)}, Python"
          f" {'.'.join(map(str, sys.version_info[:3]))})")


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="natjax", description="Neural Architecture Transformer (NAT, NAT++) in JAX.",
      formatter_class=_HelpFormatter)
  parser.add_argument("--version", action="version", version=_version(),
                      help="print natjax's version and those of jax, flax and orbax, then exit")
  parser.add_argument(
      "--imports", default=None, metavar="MODULE[,MODULE]",
      help="modules to import before the command, e.g. a research fork that registers ops,"
      " spaces or rules (also $NATJAX_IMPORTS); importable from the current directory; recorded"
      " in a search's or retraining's config.json and in policy.json (default: none)")
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
  add = lambda name, **kw: sub.add_parser(name, formatter_class=_HelpFormatter, **kw)

  cost = add("cost", help="params and MAdds of an architecture's stand-alone network")
  cost.add_argument("--arch", required=True, help="built-in name (natjax archs) or a genotype file")
  cost.add_argument("--network", default="cifar", choices=("cifar", "imagenet"),
                    help="the stand-alone network the costs are counted in")
  cost.add_argument("--json", action="store_true", help='print {"params": .., "madds": ..}')
  cost.set_defaults(run=_cmd_cost)

  draw = add("draw", help="draw both cells of an architecture to SVG or PNG")
  draw.add_argument("--arch", required=True, help="built-in name or a genotype file")
  draw.add_argument("--out", required=True,
                    help="output file, .svg or .png (missing folders are created)")
  draw.set_defaults(run=_cmd_draw)

  rules = add("rules", help="print a transition rule")
  rules.add_argument("--rule", required=True, help="registered rule name (nat, natpp) or JSON file")
  rules.add_argument("--space", default=None,
                     help="restrict to a search space's vocabulary (default: every op of the rule)")
  rules.add_argument("--json", action="store_true", help="print the rule as JSON")
  rules.set_defaults(run=_cmd_rules)

  trans = add("transform", help="transform architectures with a NAT / NAT++ policy")
  trans.add_argument("--arch", action="append", metavar="NAME_OR_FILE",
                     help="built-in name or a genotype file (repeat; default: none, then"
                     " --archs-file is needed)")
  trans.add_argument("--archs-file", action="append", metavar="FILE",
                     help="JSON or notation file of genotypes, all of them (repeat; default: none)")
  trans.add_argument("--rule", default=None,
                     help="nat, natpp or a JSON rule file (default: with --policy DIR its rule;"
                     " with --policy init the space's default: nat for darts and enas, natpp for"
                     " darts_pp and enas_pp)")
  trans.add_argument("--policy", required=True,
                     help="'init' (fresh weights from --seed), a policy export directory or a"
                     " search work directory")
  trans.add_argument("--mode", default="sample", choices=("sample", "greedy"),
                     help="draw from the policy, or take its most likely op per edge")
  trans.add_argument("--samples", type=int, default=1, metavar="K",
                     help="outputs per architecture (K >= 1), one summary line each")
  trans.add_argument("--seed", type=int, default=0, metavar="S",
                     help="seed of the sampling (and of --policy init's weights)")
  trans.add_argument("--out", default=None, metavar="FILE.json",
                     help="write the results as JSON (compact unless --indent; missing folders"
                     " are created; default: not written)")
  trans.add_argument("--indent", type=int, default=None, metavar="N",
                     help="indent the --out JSON by N spaces (default: compact, one line)")
  trans.add_argument("--draw", default=None, metavar="DIR",
                     help="write DIR/NAME.svg, input vs first output (default: no drawings)")
  trans.add_argument("--space", default=None,
                     help="search space (default: with --policy DIR its space, else inferred from"
                     " the architectures and the rule)")
  trans.set_defaults(run=_cmd_transform)

  archs = add("archs", help="list the built-in architectures")
  archs.set_defaults(run=_cmd_archs)

  search = add("search", help="train the supernet and the policy, then transform architectures",
               epilog="Any config field can be overridden with --config.FIELD=VALUE.")
  search.add_argument("--config", required=True,
                      help="config file, e.g. configs/quickstart.py (FILE:ARG passes ARG)")
  search.add_argument("--workdir", required=True,
                      help="output directory (created with its parents); a run found there is"
                      " resumed")
  search.set_defaults(run=_cmd_search, overrides_allowed=True)

  retrain = add("retrain", help="train an architecture's stand-alone network from scratch",
                epilog="Any config field can be overridden with --config.FIELD=VALUE.")
  retrain.add_argument("--config", required=True,
                       help="config file, e.g. configs/retrain_digits.py (FILE:ARG passes ARG)")
  retrain.add_argument("--workdir", required=True,
                       help="output directory (created with its parents); a run found there is"
                       " resumed")
  retrain.add_argument("--arch", default=None,
                       help="built-in name, genotype file or a search's derived.json[:NAME]"
                       " (default: the config's arch)")
  retrain.set_defaults(run=_cmd_retrain, overrides_allowed=True)

  compare = add("compare", help="table and plot of finished retraining runs")
  compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                       help="work directory of a natjax retrain run (holds retrain.json)")
  compare.add_argument("--out", default=None,
                       help="write accuracy vs MAdds as a PNG (default: table only)")
  compare.set_defaults(run=_cmd_compare)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  """Entry point of the `natjax` console script; returns the exit code (0, 1 for a file system
  failure while writing, 2 for bad input, as argparse does for bad flags)."""
  parser = _parser()
  args, extra = parser.parse_known_args(argv)
  if extra and not getattr(args, "overrides_allowed", False):
    parser.error(f"unrecognized arguments: {quote(' '.join(extra))}")
  args.overrides = extra
  try:
    args.imports = registry.import_modules(
        registry.split_modules(os.environ.get(IMPORTS_ENV)) + registry.split_modules(args.imports))
    args.run(args)
  except InputError as err:
    print(f"natjax {args.command}: error: {' '.join(str(err).split())}", file=sys.stderr)
    return 2
  except BrokenPipeError:  # Output piped into `head` and closed early: not an error.
    sys.stdout = open(os.devnull, "w")  # pylint: disable=consider-using-with
  except OSError as err:  # The file system failed under a checked path (disk full, a mount gone).
    where = f"{quote(err.filename)}: " if err.filename else ""
    print(f"natjax {args.command}: error: {where}{err.strerror or type(err).__name__}",
          file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
