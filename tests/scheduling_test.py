"""Tests for tests/scheduling.py: a shared-fixture module runs on one pytest-xdist worker with its
fixture made once, and the work is handed out longest first. Each runs pytest on a small project
written to a temporary directory, in a fresh process with two workers."""

import os
import subprocess
import sys

import conftest
import scheduling

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)

PROJECT = {
    "conftest.py": f"""
import sys
sys.path.insert(0, {TESTS!r})
import scheduling
SHARED = ("shared_test.py",)

def pytest_collection_modifyitems(items):
  scheduling.order(items, SHARED)

def pytest_xdist_make_scheduler(config, log):
  return scheduling.make_scheduler(config, log, SHARED)
""",
    # Four tests on one module-scoped fixture, between two other modules' tests.
    "a_test.py": "".join(f"def test_a{i}(): pass\n" for i in range(6)),
    "shared_test.py": """
import os, time, pytest

def _log(line):
  with open("log.txt", "a") as f:
    f.write(line + "\\n")

@pytest.fixture(scope="module")
def run():
  _log("fixture " + os.environ["PYTEST_XDIST_WORKER"])
  return 1

@pytest.mark.parametrize("i", range(4))
def test_shared(run, i):
  time.sleep(0.2)
  _log("test " + os.environ["PYTEST_XDIST_WORKER"])
""",
    "z_test.py": ("import pytest, time\n\n@pytest.mark.slow\ndef test_slow():\n"
                  "  time.sleep(0.5)\n\n" + "".join(f"def test_z{i}(): pass\n" for i in range(6))),
}


def _pytest(root, *args):
  for name, text in PROJECT.items():
    (root / name).write_text(text)
  env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "XDIST_"))}
  return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                         "-W", "ignore::pytest.PytestUnknownMarkWarning", *args],
                        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_a_shared_fixture_module_runs_on_one_worker_and_makes_its_fixture_once(tmp_path):
  proc = _pytest(tmp_path, "-q", "-n", "2")
  assert proc.returncode == 0, proc.stdout[-2000:]
  lines = (tmp_path / "log.txt").read_text().splitlines()
  fixtures = [l for l in lines if l.startswith("fixture ")]
  workers = {l.split()[1] for l in lines}
  assert len(fixtures) == 1, lines
  assert len(workers) == 1 and len(lines) == 5, lines


def test_the_modules_then_the_slow_tests_then_the_rest_each_in_collection_order(tmp_path):
  proc = _pytest(tmp_path, "-q", "--collect-only")
  assert proc.returncode == 0, proc.stdout[-2000:]
  ids = [l for l in proc.stdout.splitlines() if "::" in l]
  assert ids == ([f"shared_test.py::test_shared[{i}]" for i in range(4)] + ["z_test.py::test_slow"]
                 + [f"a_test.py::test_a{i}" for i in range(6)]
                 + [f"z_test.py::test_z{i}" for i in range(6)]), ids


def test_the_suite_names_modules_that_exist():
  for module in conftest.SHARED_FIXTURE_MODULES:
    assert os.path.isfile(os.path.join(REPO, module)), module
    assert scheduling.module_of(f"{module}::test_x[1-2]") == module
