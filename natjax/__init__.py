"""natjax: Neural Architecture Transformer (NAT and NAT++) in JAX.

What a user needs, from one place (names load on first use, so `import natjax` stays cheap):

  architectures   Arch, Cell, Genotype, genotype_to_arch, arch_to_genotype, sample_arch,
                  sample_archs, builtin, zoo (published cells: `zoo.genotype('PDARTS')`)
  files           read_archs, resolve_arch, resolve_archs, save_policy, load_policy
  costs           network_cost, genotype_cost
  the method      transform, policy_for_rule, search (`search.run(config, workdir)`), retrain
                  (`retrain.run(config, workdir)`), load_config (a config file and its
                  `--config.FIELD=VALUE` overrides, as the command line takes them)
  extension       register_op_family, OpFamily, register_op, OpSpec, register_space, SearchSpace,
                  register_rule, Rule, get_space, get_rule, get_op, import_modules, temporary
  errors          InputError (bad input: one line that names the problem), Preempted (SIGTERM
                  stopped a search or retraining after saving: a SystemExit with code 143)

Everything else lives in the sub-packages (layers, each importing only those below it): `cli`,
`search`, `train`, `io`, `nn`, `data`, `core`, `kernels`; their other names are private by
convention.
"""

import importlib
from typing import Any, List

__version__ = "0.1.0"

_EXPORTS = {
    "Arch": "natjax.core.arch", "Cell": "natjax.core.arch", "Genotype": "natjax.core.arch",
    "genotype_to_arch": "natjax.core.arch", "arch_to_genotype": "natjax.core.arch",
    "sample_arch": "natjax.core.sampler", "sample_archs": "natjax.core.sampler",
    "builtin": "natjax.core.genotypes", "zoo": "natjax.core.zoo:",
    "read_archs": "natjax.io.genotype_files", "resolve_arch": "natjax.io.genotype_files",
    "resolve_archs": "natjax.io.genotype_files",
    "save_policy": "natjax.io.policy_files", "load_policy": "natjax.io.policy_files",
    "network_cost": "natjax.core.costs", "genotype_cost": "natjax.core.costs",
    "transform": "natjax.search.transform", "policy_for_rule": "natjax.nn.policy:for_rule",
    "search": "natjax.search:", "retrain": "natjax.train.retrain:",
    "register_op_family": "natjax.core.families", "OpFamily": "natjax.core.families",
    "register_op": "natjax.core.ops", "OpSpec": "natjax.core.ops", "get_op": "natjax.core.ops",
    "register_space": "natjax.core.spaces", "SearchSpace": "natjax.core.spaces",
    "get_space": "natjax.core.spaces",
    "register_rule": "natjax.core.rules", "Rule": "natjax.core.rules",
    "get_rule": "natjax.core.rules",
    "import_modules": "natjax.registry", "temporary": "natjax.core.extend",
    "InputError": "natjax.errors", "load_config": "natjax.cli.configs",
    "Preempted": "natjax.train.host_loop",
}
__all__ = ["__version__"] + sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
  """Loads an exported name on first use (`_EXPORTS`: 'module', 'module:attr' or 'module:' for
  the module itself)."""
  if name not in _EXPORTS:
    raise AttributeError(f"module 'natjax' has no attribute '{name}'")
  module, _, attr = _EXPORTS[name].partition(":")
  value = importlib.import_module(module)
  if attr or not _EXPORTS[name].endswith(":"):
    value = getattr(value, attr or name)
  globals()[name] = value
  return value


def __dir__() -> List[str]:
  return sorted(set(globals()) | set(__all__))
