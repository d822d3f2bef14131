"""Shared by every test directory: this directory is on `sys.path` (pytest puts a conftest's
directory there), so tests import the helpers beside it (numeric_checks.py, toy_extension.py).

One JAX compilation cache serves the whole run: the test processes (pytest-xdist's workers too)
and every subprocess they start (the README's commands, the example fork, the search drivers)
share one directory, so a program that several of them compile, such as the test config's
w-step, is compiled once and loaded from the cache after that. The cache holds XLA's executables
keyed by the program, the compile options and the XLA flags, so what runs is what would have
been compiled; traces still happen in every process. The directory is made for the run and
removed after it; set JAX_COMPILATION_CACHE_DIR to keep one across runs.

Every test process and the processes tests start compile with `drivers.suite_xla_flags()` (LLVM's
optimisation level 0 and XLA:CPU's older loop emitters: the suite's programs are small, and
compiling them dominates its time).

With -n, each module of SHARED_FIXTURE_MODULES goes to one pytest-xdist worker whole (its tests
share a search, a retraining run or the 8-device runs, made once), and the longest work is handed
out first: those modules, then the tests marked `slow`, then the rest (tests/scheduling.py).
"""

import os
import shutil
import tempfile

import drivers
import scheduling

SHARED_FIXTURE_MODULES = ("tests/readme_test.py", "tests/search/loop_test.py",
                          "tests/multidevice_test.py", "tests/train/retrain_test.py")

_CACHE_ENV = drivers.CACHE_DIR_ENV
_OWNED = "_natjax_owned_cache_dir"


def pytest_configure(config):
  """Points JAX (here and in every child process) at the run's compilation cache and flags."""
  flags = os.environ.get("XLA_FLAGS", "")
  suite_flags = drivers.suite_xla_flags()
  if suite_flags not in flags:  # read when jax's CPU backend starts: not yet
    os.environ["XLA_FLAGS"] = f"{flags} {suite_flags}".strip()
  if _CACHE_ENV not in os.environ:  # the controller, or a run without xdist: make the directory
    os.environ[_CACHE_ENV] = tempfile.mkdtemp(prefix="natjax-tests-jax-cache-")
    setattr(config, _OWNED, os.environ[_CACHE_ENV])
  # Cache every program, however quick to compile (the default skips those under a second).
  os.environ[drivers.CACHE_MIN_SECS_ENV] = "0"
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def pytest_unconfigure(config):
  owned = getattr(config, _OWNED, None)
  if owned:
    shutil.rmtree(owned, ignore_errors=True)


def pytest_collection_modifyitems(items):
  scheduling.order(items, SHARED_FIXTURE_MODULES)


def pytest_xdist_make_scheduler(config, log):
  return scheduling.make_scheduler(config, log, SHARED_FIXTURE_MODULES)
