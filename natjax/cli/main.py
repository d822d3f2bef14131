"""The `natjax` command line: thin wrappers that parse arguments and call the library.

  natjax cost  --arch NAME_OR_FILE [--arch ...] [--archs-file FILE] [--network cifar|imagenet]
               [--convention conv_linear|ptflops] [--channels C] [--json]
  natjax draw  --arch NAME_OR_FILE [--arch ...] [--archs-file FILE]
               --out FILE.svg|FILE.png|FILE.pdf|DIR
  natjax export --arch NAME_OR_FILE [--arch ...] [--archs-file FILE] [--form natjax|darts]
                [--out FILE.py|FILE.json]
  natjax rules --rule NAME_OR_FILE [--space NAME] [--json]
  natjax archs                      (lists the built-in architectures)
  natjax search --config FILE[:ARG] --workdir DIR [--config.FIELD=VALUE ...]
  natjax transform --arch NAME_OR_FILE [--arch ...] [--archs-file FILE]
                   --policy init|DIR [--rule nat|natpp|FILE] [--mode sample|greedy]
                   [--samples K] [--seed S] [--out FILE.json [--indent N]] [--draw DIR]
                   [--space NAME]
  natjax retrain --config FILE[:ARG] --workdir DIR [--arch NAME_OR_FILE] [--config.FIELD=VALUE ...]
  natjax compare RUN_DIR [RUN_DIR ...] [--out PLOT.png]
  natjax plot RUN_DIR [--out DIR]
  natjax --version

Every command may be preceded by `--imports MODULE[,MODULE]` (and $NATJAX_IMPORTS): modules
imported first, e.g. a research fork that registers op families, ops, spaces or rules, found from
the current directory too. Bad input (an unknown name, a malformed file, an invalid cell, a module
that fails to import, an output path that cannot be written) prints one line naming the problem to
stderr and exits with code 2; a file system failure while writing (a full disk) is one line and
exit code 1; no traceback reaches the user. Output files and directories get their missing parent
folders created; `natjax.files` holds these checks. `search` and `retrain` save the current step
and exit with code 143 on SIGTERM, or 130 on a first Ctrl-C (one line says what was saved); a
second Ctrl-C stops at once (exit code 130, the line names the step the run resumes from). They
exit with code 1 when a loss becomes non-finite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional

import natjax
from natjax import files, registry
from natjax.errors import InputError, quote

IMPORTS_ENV = "NATJAX_IMPORTS"  # comma-separated modules imported before every command
# A config file of each command that runs one (named in --help and in messages).
_EXAMPLE_CONFIGS = {"search": "configs/quickstart.py", "retrain": "configs/retrain_digits.py"}
# After Ctrl-C outside a run's loop (a run's loop names the step itself).
_INTERRUPTED = ("interrupted; a search or retraining resumes from its newest checkpoint when the"
                " same command runs again")
_OVERRIDES_HELP = """\
Any config field can be overridden with --config.FIELD=VALUE (or --config.FIELD VALUE),
VALUE parsed as the field's type; a tuple as "('A', 'B')" or the flag once per element.
Configs are locked: an unknown field is an error."""


def _archs(args: argparse.Namespace) -> List:
  """(name, genotype) pairs from --arch and --archs-file, in order (the one resolver)."""
  from natjax.io import genotype_files
  return genotype_files.resolve_archs(args.arch or [], args.archs_file or [])


def _cmd_cost(args: argparse.Namespace) -> None:
  from natjax.core import costs
  found = _archs(args)
  channels = costs.network_config(args.network, args.channels).c  # the standard C when not given
  rows = []
  for name, genotype in found:
    cost = costs.genotype_cost(genotype, args.network, args.convention, args.channels)
    rows.append({"name": name, "network": args.network, "channels": channels,
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
  if len(found) > 1 and os.path.splitext(args.out)[1].lower() in viz.SUFFIXES:
    raise InputError(f"{len(found)} architectures need a directory for --out, got the file name"
                     f" {quote(args.out)}; pick one with --arch FILE:NAME or give a directory")
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
  rule, or no rule, the smallest space of its size holding its ops (NAT's 9-op space, else the
  13-op one); for a 'mask' rule the 13-op space of its size."""
  from natjax.core import arch, rules
  if rule is None or rule.kind == "actions":
    return arch.infer_space(genotype, where)
  return rules.default_space(arch.num_nodes_of(genotype), rule)


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
  from natjax.core import rules, spaces
  from natjax.io import viz
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
  inputs = _archs(args)
  if ckpt is not None or args.space:  # One space for all; otherwise each input's own.
    in_spaces = [ckpt.space if ckpt is not None else spaces.get_space(args.space)] * len(inputs)
  else:
    in_spaces = [_transform_space(g, rule, f"{name}: ") for name, g in inputs]
  if rule is None:
    defaults = {s.name: rules.default_rule(s) for s in in_spaces}
    if len({r.name for r in defaults.values()}) > 1:
      pairs = ", ".join(f"{s} -> {r.name}" for s, r in defaults.items())
      raise InputError(f"no --rule given and the spaces' default rules differ ({pairs}); give"
                       " --rule")
    rule = next(iter(defaults.values()))
    print(f"natjax transform: no --rule given: using '{rule.name}', the default rule of space"
          f" {', '.join(repr(s) for s in defaults)} (nat for darts and enas, natpp for the 13-op"
          " spaces)", file=sys.stderr)
  if ckpt is None:
    params, quirk, self_loops, source = None, False, False, f"init (seed {args.seed})"
  else:
    params, quirk = ckpt.params, ckpt.policy.released_quirk
    self_loops, source = ckpt.policy.module.self_loops, args.policy
  results = transform.transform_genotypes(
      inputs, in_spaces, jax.random.key(args.seed), rule=rule, policy_params=params,
      mode=args.mode, num_samples=args.samples, released_quirk=quirk, self_loops=self_loops)
  report = [r.report for r in results]
  out_genotypes = [list(r.outputs) for r in results]
  used = ", ".join(dict.fromkeys(r.space.name for r in results))
  print(f"rule {rule.name}, space {used}, mode {args.mode}, {args.samples} sample(s),"
        f" policy {source}; costs in the cifar network (MAdds: conv_linear)")
  _print_samples(report, inputs, out_genotypes)
  if args.out:
    indent = {"separators": (",", ":")} if args.indent is None else {"indent": args.indent}
    files.write_text(args.out, json.dumps(report, **indent) + "\n", "--out")
    print(f"wrote {args.out}")
  if args.draw:
    files.output_dir(args.draw, "--draw")
    for (name, genotype), after, entry in zip(inputs, out_genotypes, report):
      path = viz.draw_transformation(genotype, after[0], os.path.join(args.draw, name + ".svg"),
                                     title=f"{name} under {rule.name}",
                                     costs=(entry["input"], entry["outputs"][0]))
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


def _run_config(args: argparse.Namespace) -> Any:
  """The config of `args.command` (search or retrain): loaded, checked to hold every field the
  command reads (naming the other command when it is that one's config), overridden, with the
  command line's imports added."""
  from natjax.cli import configs
  from natjax.search import loop
  from natjax.train import retrain
  kinds = {"search": configs.Kind("search", loop.CONFIG_FIELDS, _EXAMPLE_CONFIGS["search"]),
           "retrain": configs.Kind("retrain", retrain.CONFIG_FIELDS, _EXAMPLE_CONFIGS["retrain"])}
  kind = kinds.pop(args.command)
  config = configs.load_config(args.config, args.overrides, kind, tuple(kinds.values()))
  return _with_imports(config, args.imports)


def _cmd_search(args: argparse.Namespace) -> None:
  from natjax import search
  _init_distributed()
  _run_loop("search", search.run, _run_config(args), args.workdir)


def _cmd_retrain(args: argparse.Namespace) -> None:
  from natjax.train import retrain
  _init_distributed()
  config = _run_config(args)
  if args.arch:
    files.refuse_url(args.arch, "--arch")  # named by its flag here, as config.arch in the run
    config.arch = args.arch
  _run_loop("retrain", retrain.run, config, args.workdir)


def _run_loop(command: str, run: Callable, config: Any, workdir: str) -> None:
  """Runs a host loop (`natjax.train.host_loop`): a non-finite metric exits with code 1 and its
  one-line message; a preemption or first Ctrl-C has printed its line and exits with code 143 or
  130 (`Preempted` is that SystemExit)."""
  from natjax.train import host_loop
  try:
    run(config, workdir)
  except host_loop.NonFiniteError as err:
    print(f"natjax {command}: stopped: {err}", file=sys.stderr)
    raise SystemExit(1) from None


def _cmd_compare(args: argparse.Namespace) -> None:
  from natjax.io import reports
  table, _ = reports.compare(args.run_dirs, args.out)
  print(table)
  if args.out:
    print(f"wrote {args.out}")


def _cmd_plot(args: argparse.Namespace) -> None:
  from natjax.io import plots
  for path in plots.draw_run(args.run_dir, args.out):
    print(f"wrote {path}")


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


def _add_arch_inputs(parser: argparse.ArgumentParser) -> None:
  """--arch and --archs-file, both repeatable, as every command reading architectures takes them
  (resolved together by `_archs`)."""
  parser.add_argument("--arch", action="append",
                      help="built-in name or published cell (natjax archs), genotype file,"
                      " FILE:NAME or a search's derived.json[:NAME] (repeat)")
  parser.add_argument("--archs-file", action="append",
                      help="every genotype of a file (JSON, genotypes.py, derived.json; repeat)")


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
  _add_arch_inputs(cost)
  cost.add_argument("--network", default="cifar", choices=("cifar", "imagenet"),
                    help="the stand-alone network costed: cifar (20 cells, C=36, 32x32 inputs) or"
                    " imagenet (14 cells, C=48, 224x224, the mobile setting)")
  cost.add_argument("--convention", default="conv_linear", choices=("conv_linear", "ptflops"),
                    help="what MAdds count: conv_linear (convs and Linear only) or ptflops (also"
                    " ReLU, BN and pools, as P-DARTS's and PC-DARTS's ImageNet tables)")
  cost.add_argument("--channels", type=int, default=None,
                    help="the network's initial C (default 36 cifar, 48 imagenet)")
  cost.add_argument("--json", action="store_true",
                    help='print {"name", "params", "madds", "madds_convention", ...} (a list'
                    " for several architectures)")
  cost.set_defaults(run=_cmd_cost)

  draw = add("draw", help="draw both cells of an architecture to SVG, PNG or PDF")
  _add_arch_inputs(draw)
  draw.add_argument("--out", required=True,
                    help="output file, .svg, .png or .pdf; a directory (NAME.svg each) for"
                    " several")
  draw.set_defaults(run=_cmd_draw)

  export = add("export", help="write genotypes as a genotypes.py or JSON file")
  _add_arch_inputs(export)
  export.add_argument("--form", default="natjax", choices=("natjax", "darts"),
                      help="natjax: edges (op, from, to); darts: (op, from) and 'none' for null,"
                      " as DARTS-family code reads them")
  export.add_argument("--out", default=None,
                      help="FILE.py (NAME = Genotype(...) lines) or FILE.json; default: print"
                      " a genotypes.py")
  export.set_defaults(run=_cmd_export)

  rules = add("rules", help="print a transition rule")
  rules.add_argument("--rule", required=True, help="registered rule name (nat, natpp) or JSON file")
  rules.add_argument("--space", default=None,
                     help="restrict to a search space's vocabulary (default: every op of the rule)")
  rules.add_argument("--json", action="store_true", help="print the rule as JSON")
  rules.set_defaults(run=_cmd_rules)

  trans = add("transform", help="transform architectures with a NAT / NAT++ policy")
  _add_arch_inputs(trans)
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
                     help="search space for all inputs (default: each input's own; inputs of"
                     " several spaces are transformed one batch per space)")
  trans.set_defaults(run=_cmd_transform)

  archs = add("archs", help="list the built-in architectures")
  archs.set_defaults(run=_cmd_archs)

  search = add("search", help="train the supernet and the policy, then transform architectures",
               epilog=_OVERRIDES_HELP)
  search.add_argument("--config", required=True,
                      help=f"config file, e.g. {_EXAMPLE_CONFIGS['search']} (FILE:ARG passes ARG)")
  search.add_argument("--workdir", required=True,
                      help="output directory (created with its parents); a run found there is"
                      " resumed")
  search.set_defaults(run=_cmd_search, overrides_allowed=True)

  retrain = add("retrain", help="train an architecture's stand-alone network from scratch",
                epilog=_OVERRIDES_HELP)
  retrain.add_argument("--config", required=True,
                       help=f"config file, e.g. {_EXAMPLE_CONFIGS['retrain']} (FILE:ARG passes"
                       " ARG)")
  retrain.add_argument("--workdir", required=True,
                       help="output directory (created with its parents); a run found there is"
                       " resumed")
  retrain.add_argument("--arch", default=None,
                       help="built-in name or published cell, genotype file, FILE:NAME or a"
                       " search's derived.json[:NAME] (default: the config's arch)")
  retrain.set_defaults(run=_cmd_retrain, overrides_allowed=True)

  compare = add("compare", help="table and plot of finished retraining runs")
  compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                       help="work directory of a natjax retrain run (holds retrain.json)")
  compare.add_argument("--out", default=None,
                       help="write accuracy vs MAdds as a PNG (default: table only)")
  compare.set_defaults(run=_cmd_compare)

  plot = add("plot", help="redraw a run's curves.png (and a search's candidates.png) from its"
             " files")
  plot.add_argument("run_dir", metavar="RUN_DIR",
                    help="work directory of a natjax search or retrain run (reads its"
                    " tensorboard/ event files and, for a search, derived.json)")
  plot.add_argument("--out", default=None, metavar="DIR",
                    help="where the PNGs go (created with its parents; default: RUN_DIR)")
  plot.set_defaults(run=_cmd_plot)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  """Entry point of the `natjax` console script; returns the exit code (0, 1 for a file system
  failure while writing, 2 for bad input, as argparse does for bad flags, 130 after Ctrl-C)."""
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
  except KeyboardInterrupt as err:  # Ctrl-C (twice in a run's loop: `host_loop.Interrupted`).
    print(f"\nnatjax {args.command}: {str(err) or _INTERRUPTED}", file=sys.stderr)
    return 130
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
