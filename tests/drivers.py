"""Programs that tests run in fresh processes: `python tests/drivers.py NAME ARG...`.

A test runs one of these where it needs what only a new process gives: an environment read when
jax starts (8 fake devices, a persistent compilation cache), a process it can kill or signal, or a
clean `sys.modules`. Each driver is a function of string arguments; `command(NAME, ARG...)` is its
argument list for `subprocess`. Each driver imports what it needs itself, so a process imports
only the modules of the driver it runs (test_digits_path_does_not_import_tfds depends on it).

Run by path, this directory is `sys.path[0]`; the repository is put after it so that the process
imports the natjax of this checkout, as the test that started it does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
PATH = os.path.realpath(__file__)
TEST_CONFIG = os.path.join(REPO, "configs", "test.py")


# XLA flags of every test process (tests/conftest.py) and of the processes tests start
# (`suite_xla_flags`): the suite's programs are small and compile-bound. LLVM's optimisation level
# 0 compiles them several times faster; it changes no HLO (fusion, layout, buffers: memory figures
# are the same). XLA:CPU's older loop emitters for fused computations, in place of its MLIR fusion
# emitters, compile the test config's search in 29 s instead of 37 s (cold cache, 2-core AMD
# EPYC) and took the suite from 524 s to 410 s there; the fused HLO barely differs (the test
# config's w-step: 3,793 fusions instead of 3,791, temporary memory 64 bytes more). The newer
# jaxlibs (0.12, as locked for Python 3.12+) no longer have the older emitters, and XLA stops a
# process at a flag it does not know: that flag is added only where a probe process accepts it.
# Either flag changes results by rounding at most; every comparison between XLA programs that a
# test makes is under these same flags, and CI's quickstart runs with XLA's defaults.
LLVM_O0_FLAG = "--xla_backend_optimization_level=0"
OLDER_EMITTERS_FLAG = "--xla_cpu_use_fusion_emitters=false"
# Where the first test process leaves the flags for the others (pytest-xdist's workers and every
# process a test starts inherit it), so that the probe runs once per run.
SUITE_FLAGS_ENV = "NATJAX_TEST_XLA_FLAGS"
# The run's compilation cache (tests/conftest.py): its directory, and the compile time from which
# a program is cached.
CACHE_DIR_ENV, CACHE_MIN_SECS_ENV = ("JAX_COMPILATION_CACHE_DIR",
                                     "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")
CACHE_SETTINGS = (CACHE_DIR_ENV, CACHE_MIN_SECS_ENV)


def suite_xla_flags() -> str:
  """The suite's XLA flags: LLVM_O0_FLAG, and OLDER_EMITTERS_FLAG where this jaxlib has it (a
  probe process; its answer is kept in the environment as SUITE_FLAGS_ENV)."""
  flags = os.environ.get(SUITE_FLAGS_ENV)
  if flags is None:
    probe = subprocess.run(
        [sys.executable, "-c", "import jax; jax.devices('cpu')"], capture_output=True,
        check=False, env={**os.environ, "XLA_FLAGS": OLDER_EMITTERS_FLAG, "JAX_PLATFORMS": "cpu"})
    flags = LLVM_O0_FLAG + (f" {OLDER_EMITTERS_FLAG}" if probe.returncode == 0 else "")
    os.environ[SUITE_FLAGS_ENV] = flags
  return flags


def fresh_env(**settings: str) -> dict[str, str]:
  """This process's environment without its XLA_*, JAX_* and NATJAX_* settings, plus the suite's
  XLA flags and `settings`.

  A child process then starts from jax's defaults, except for the suite's flags and the run's
  compilation cache (tests/conftest.py), which it keeps unless `settings` name others.
  """
  flags = suite_xla_flags()
  env = {k: v for k, v in os.environ.items()
         if k in CACHE_SETTINGS + (SUITE_FLAGS_ENV,)
         or not k.startswith(("XLA_", "JAX_", "NATJAX_"))}
  env["XLA_FLAGS"] = flags
  env.update(settings)
  return env


def eight_device_env() -> dict[str, str]:
  """`fresh_env` for a CPU process with 8 fake devices (the suite's flags kept)."""
  return fresh_env(XLA_FLAGS=f"{suite_xla_flags()} --xla_force_host_platform_device_count=8",
                   JAX_PLATFORMS="cpu")


def command(name: str, *args: str) -> list[str]:
  """The argument list that runs driver `name` with `args` in a fresh Python process."""
  if name not in DRIVERS:
    raise KeyError(f"no driver {name!r}; drivers: {', '.join(sorted(DRIVERS))}")
  return [sys.executable, PATH, name, *args]


def load_config(**overrides):
  """configs/test.py's config with `overrides` (lists become tuples, as config fields hold)."""
  spec = importlib.util.spec_from_file_location("natjax_test_config", TEST_CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  for field, value in overrides.items():
    config[field] = tuple(value) if isinstance(value, list) else value
  return config


# ---------------------------------------------------------------------------------- the search


def search(workdir: str, overrides: str) -> int:
  """`search.run` of configs/test.py with the JSON `overrides` into `workdir`.

  Exit code 0 when the run ends, 2 with one line 'INPUT_ERROR: ...' on stderr for bad input; the
  run's own exit on SIGTERM (143) or Ctrl-C (130) passes through.
  """
  from natjax import search as natjax_search  # pylint: disable=g-import-not-at-top
  from natjax.errors import InputError  # pylint: disable=g-import-not-at-top
  config = load_config(**json.loads(overrides))
  try:
    natjax_search.run(config, workdir)
  except InputError as e:
    print("INPUT_ERROR:", e, file=sys.stderr)
    return 2
  return 0


def search_steps(out: str, overrides: str) -> int:
  """One w-step and one theta-step of configs/test.py with the JSON `overrides`, each twice from
  the same initial state and batch, pickled to `out` as a dict: host_state (the initial state, as
  `natjax.search.loop.run` makes it), w_batch and theta_batch (the first batch of each split), and
  w and theta (a list of two (state, metrics) results each)."""
  import pickle  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from natjax import data  # pylint: disable=g-import-not-at-top
  from natjax.registry import import_modules  # pylint: disable=g-import-not-at-top
  from natjax.search import steps as natjax_steps  # pylint: disable=g-import-not-at-top
  from natjax.train import sharding  # pylint: disable=g-import-not-at-top
  config = load_config(**json.loads(overrides))
  import_modules(config.imports)  # as natjax.search.loop.run
  dataset = data.load(config.dataset, split_seed=config.split_seed, w_fraction=config.w_fraction)
  setup = natjax_steps.make_setup(config, dataset)
  mesh = sharding.data_mesh()
  steps = natjax_steps.make_steps(setup, mesh)
  key = jax.random.fold_in(jax.random.key(config.seed), 0)  # as natjax.search.loop.run
  host_state = jax.device_get(natjax_steps.init_state(key, setup, dataset.image_shape))
  result = {"host_state": host_state}
  for name, split, step in (("w", dataset.w, steps.w_step),
                            ("theta", dataset.theta, steps.theta_step)):
    indices = data.batch_indices(len(split), config.batch_size, config.seed, 0, 0)
    result[name + "_batch"] = data.batch(split, indices)
    runs = []
    for _ in range(2):  # the steps donate their state: a fresh device copy each time
      state = sharding.replicate(host_state, mesh)
      batch = sharding.global_batch(result[name + "_batch"], mesh)
      runs.append(jax.device_get(step(state, batch)))
    result[name] = runs
  with open(out, "wb") as f:
    pickle.dump(result, f)
  return 0


def restored_held_out(workdir: str) -> int:
  """`search.restore` of the search in `workdir`, then the held-out check of
  `natjax.search.loop.finish` again on what it restored. Prints one JSON line: step (of the
  restored state) and held_out (the check's summary figures)."""
  import jax  # pylint: disable=g-import-not-at-top
  from natjax import search as natjax_search  # pylint: disable=g-import-not-at-top
  from natjax.search import derive  # pylint: disable=g-import-not-at-top
  run = natjax_search.restore(workdir)
  key = jax.random.fold_in(jax.random.key(run.config.seed), 2)  # as natjax.search.loop.finish
  held_out, _ = derive.evaluate_policy(run.setup, run.scorers["held_out"],
                                       run.state.theta_params, key, run.config.eval_archs)
  print(json.dumps({"step": int(run.state.step),
                    "held_out": {k: v.item() if hasattr(v, "item") else v
                                 for k, v in held_out.items()}}))
  return 0


# A small search space for tests of the search machinery rather than of ops (the loop end to end,
# 8 devices = 1, bfloat16 compute): a separable conv (with its BatchNorms), an average pool, skip
# (at stride 2 a factorized reduction, with a BatchNorm) and null. Every computation whose meaning
# depends on the devices or the compute dtype (convolutions, batch statistics, means of gradients
# and metrics) is in its supernet, whose steps compile in less than half the time of the darts
# space's (8 ops). Not a max pool: it sends each gradient to one element of its window, and where
# two tie up to rounding, two meshes may pick different ones (with max_pool_3x3 in this space, the
# 8-device and 1-device states differed by 1e-2 after 20 steps; by 5e-7 with the average pool).
SMALL_SPACE_OPS = ("sep_conv_3x3", "avg_pool_3x3", "skip_connect", "null")


def small_space():
  """The SearchSpace 'small' of SMALL_SPACE_OPS (4 nodes, fully concatenated), not registered."""
  from natjax.core import spaces  # pylint: disable=g-import-not-at-top
  return spaces.SearchSpace("small", SMALL_SPACE_OPS, 4, "fully_concat")


def eight_devices(batch_size: str, num_steps: str) -> int:
  """The search steps and the scoring on 8 devices and on 1 (tests/multidevice_test.py).

  Needs XLA_FLAGS=--xla_force_host_platform_device_count=8 in the environment. From one initial
  state of configs/test.py in the space `small_space()` at global batch `batch_size`, runs
  `num_steps` steps (w and theta alternating, fixed batches) on an 8-device mesh and on a
  1-device mesh, scores 3 sampled architectures on the test split with both, and runs one w-step
  through natjax's wrapper and through a plain `jax.shard_map`. Prints one line 'RESULT {json}':
  eight and one (every step's metrics), state_rel_diff (largest relative difference of the final
  states' leaves), scores_eight and scores_one, plain_vs_wrapper (largest absolute difference of
  the two w-steps' outputs).
  """
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jax.sharding import PartitionSpec as P  # pylint: disable=g-import-not-at-top
  from natjax import data  # pylint: disable=g-import-not-at-top
  from natjax.core import sampler, spaces  # pylint: disable=g-import-not-at-top
  from natjax.search import derive, loop  # pylint: disable=g-import-not-at-top
  from natjax.search import steps as natjax_steps  # pylint: disable=g-import-not-at-top
  from natjax.train import sharding  # pylint: disable=g-import-not-at-top

  assert jax.device_count() == 8, jax.devices()
  space = spaces.register_space(small_space())
  config = load_config(batch_size=int(batch_size), space=space.name)
  dataset = data.load(config.dataset, split_seed=config.split_seed, w_fraction=config.w_fraction)
  setup = natjax_steps.make_setup(config, dataset)
  init = jax.jit(natjax_steps.init_state, static_argnums=(1, 2))
  host_state = jax.device_get(init(jax.random.key(config.seed), setup, dataset.image_shape))

  def run(mesh, steps):
    state = sharding.replicate(host_state, mesh)
    out = []
    for i in range(int(num_steps)):
      theta = i % 2 == 1
      split = dataset.theta if theta else dataset.w
      indices = data.batch_indices(len(split), config.batch_size, config.seed, 0, i // 2)
      batch = sharding.global_batch(data.batch(split, indices), mesh)
      state, metrics = (steps.theta_step if theta else steps.w_step)(state, batch)
      # Reads a metric after every step: on a 2-core CPU, collectives dispatched without waiting
      # deadlock.
      out.append({k: float(v) for k, v in jax.device_get(metrics).items()})
    leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(jax.device_get(
        (state.w_params, state.theta_params, state.baseline)))]
    return out, leaves

  def wrapper_vs_plain(mesh, wrapped):
    """Largest difference between a w-step through natjax's wrapper (`wrapped`, compiled already
    by `run`) and through a plain shard_map of the same step."""
    indices = data.batch_indices(len(dataset.w), config.batch_size, config.seed, 0, 0)
    batch = sharding.global_batch(data.batch(dataset.w, indices), mesh)
    plain = jax.jit(jax.shard_map(lambda state, batch: natjax_steps.w_step(setup, state, batch),
                                  mesh=mesh, in_specs=(P(), P(sharding.AXIS)), out_specs=P()))
    outs = [jax.device_get(step(sharding.replicate(host_state, mesh), batch))
            for step in (wrapped, plain)]
    return max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
               for a, b in zip(*(jax.tree.leaves(o) for o in outs)))

  def scores(mesh, steps):
    """The whole test split in batches of 16, 2 rows per device on 8 devices."""
    held_out = loop.scoring_sets(config, dataset, mesh)["held_out"]
    archs = jax.tree.map(np.asarray, sampler.sample_archs(jax.random.key(1), setup.space, 3))
    return derive.Scorer(steps.score_archs, host_state.w_params, held_out)(archs).tolist()

  eight_mesh, one_mesh = sharding.data_mesh(), sharding.data_mesh(jax.devices()[:1])
  eight_steps, one_steps = (natjax_steps.make_steps(setup, m) for m in (eight_mesh, one_mesh))
  many, many_leaves = run(eight_mesh, eight_steps)
  one, one_leaves = run(one_mesh, one_steps)
  scores_many, scores_one = scores(eight_mesh, eight_steps), scores(one_mesh, one_steps)
  worst = max(float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12))
              for a, b in zip(many_leaves, one_leaves))
  print("RESULT", json.dumps({"eight": many, "one": one, "state_rel_diff": worst,
                              "scores_eight": scores_many, "scores_one": scores_one,
                              "plain_vs_wrapper": wrapper_vs_plain(eight_mesh,
                                                                   eight_steps.w_step)}))
  return 0


# ---------------------------------------------------------------------------------- the install


def digits_path() -> int:
  """Imports every natjax module and reads 8 digits images; prints one JSON line: modules (the
  names imported) and loaded (which of tensorflow_datasets, array_record, tensorflow that
  imported)."""
  import importlib  # pylint: disable=g-import-not-at-top
  import pkgutil  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import natjax  # pylint: disable=g-import-not-at-top
  modules = sorted(m.name for m in pkgutil.walk_packages(natjax.__path__, "natjax.")
                   if not m.name.endswith("__main__"))
  for name in modules:
    importlib.import_module(name)
  from natjax import data  # pylint: disable=g-import-not-at-top
  ds = data.load("digits")
  images, _ = ds.w.get(np.arange(8))
  assert images.shape == (8, 8, 8, 1), images.shape
  print(json.dumps({"modules": modules,
                    "loaded": sorted(m for m in ("tensorflow_datasets", "array_record",
                                                 "tensorflow") if m in sys.modules)}))
  return 0


def checkpoint_on_eight_devices(workdir: str) -> int:
  """A state on an 8-device mesh (replicated leaves, as a data-parallel run's, and one leaf split
  over the devices) saved by `StateCheckpointer` and restored into a template of other values
  (tests/train/checkpoints_test.py). Needs XLA_FLAGS=--xla_force_host_platform_device_count=8.
  Prints one JSON line: devices, same_values, same_shardings (per leaf)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jax.sharding import NamedSharding, PartitionSpec  # pylint: disable=g-import-not-at-top
  from natjax.train import checkpoints  # pylint: disable=g-import-not-at-top
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  replicated = NamedSharding(mesh, PartitionSpec())
  split = NamedSharding(mesh, PartitionSpec("data"))

  def state(scale):
    weights = scale * np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    return {"w": jax.device_put(weights, replicated),
            "step": jax.device_put(np.int32(3 * scale), replicated),
            "per_device": jax.device_put(scale * np.arange(16, dtype=np.float32), split)}

  checkpointer = checkpoints.StateCheckpointer(workdir)
  checkpointer.save(1, state(2))
  restored, want = checkpointer.restore(state(0)), state(2)
  names = sorted(want)
  print(json.dumps({
      "devices": jax.device_count(),
      "same_values": [bool(np.array_equal(restored[n], want[n])) for n in names],
      "same_shardings": [restored[n].sharding == want[n].sharding for n in names]}))
  return 0


def without_tfds(*argv: str) -> int:
  """The `natjax` command line `argv` in a process where tensorflow_datasets cannot be imported
  (as in the base install)."""
  sys.modules["tensorflow_datasets"] = None
  from natjax.cli import main  # pylint: disable=g-import-not-at-top
  return main(list(argv))


DRIVERS: dict[str, Callable[..., int]] = {
    "search": search, "search_steps": search_steps, "restored_held_out": restored_held_out,
    "eight_devices": eight_devices, "checkpoint_on_eight_devices": checkpoint_on_eight_devices,
    "digits_path": digits_path, "without_tfds": without_tfds}


if __name__ == "__main__":
  sys.path.insert(1, REPO)
  sys.exit(DRIVERS[sys.argv[1]](*sys.argv[2:]))
