"""Tests for tests/drivers.py's suite settings: the XLA flags every test process compiles with."""

import os
import subprocess
import sys

import drivers


def test_suite_flags_start_jax_and_are_probed_once(monkeypatch):
  monkeypatch.delenv(drivers.SUITE_FLAGS_ENV, raising=False)
  flags = drivers.suite_xla_flags()
  assert flags.split()[0] == drivers.LLVM_O0_FLAG
  assert set(flags.split()) <= {drivers.LLVM_O0_FLAG, drivers.OLDER_EMITTERS_FLAG}
  assert os.environ[drivers.SUITE_FLAGS_ENV] == flags  # kept for the processes started later
  # A process under these flags starts jax's CPU backend (XLA stops at a flag it does not know).
  env = drivers.fresh_env(JAX_PLATFORMS="cpu")
  assert env["XLA_FLAGS"] == flags and env[drivers.SUITE_FLAGS_ENV] == flags
  proc = subprocess.run([sys.executable, "-c", "import jax; print(jax.devices()[0].platform)"],
                        env=env, capture_output=True, text=True, check=False)
  assert proc.returncode == 0 and proc.stdout.strip() == "cpu", proc.stderr[-2000:]
