"""Tests for the install: pyproject.toml's ranges against the constraints files, the README's
install command, the single-sourced version, and a base install that runs without the tfds extra."""

import importlib.metadata
import json
import os
import pathlib
import re
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import drivers
import natjax

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCK = "constraints/lock.txt"
LOWEST = "constraints/lowest.txt"
PYTHONS = ("3.11", "3.12", "3.13")
ACCELERATOR_EXTRAS = ("cuda12", "tpu")  # pass-throughs to jax's own extras, not pinned here


def _pyproject() -> dict:
  return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements(extras=None):
  """natjax's own requirements: the base ones and those of `extras` (default: every extra but the
  accelerator pass-throughs), without the self-references (`natjax[tfds]` in `test`)."""
  project = _pyproject()["project"]
  optional = project["optional-dependencies"]
  if extras is None:
    extras = [e for e in optional if e not in ACCELERATOR_EXTRAS]
  lines = list(project["dependencies"]) + [r for e in extras for r in optional[e]]
  return [r for r in map(Requirement, lines) if canonicalize_name(r.name) != "natjax"]


def _environment(python: str) -> dict:
  return {"python_version": python, "python_full_version": python + ".0",
          "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}


def _pins(path: str, python: str) -> dict:
  """{canonical name: [Version, ...]} of the `name==version` lines of a constraints file whose
  markers hold on Linux with `python`."""
  pins = {}
  for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
    line = line.split("#", 1)[0].strip()
    if not line:
      continue
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate(_environment(python)):
      continue
    (spec,) = req.specifier
    assert spec.operator == "==", f"{path}: '{line}' is not an exact pin"
    pins.setdefault(canonicalize_name(req.name), []).append(Version(spec.version))
  return pins


def test_python_versions_are_the_supported_ones():
  requires = SpecifierSet(_pyproject()["project"]["requires-python"])
  assert [p for p in PYTHONS + ("3.10",) if requires.contains(p + ".0")] == list(PYTHONS)
  classifiers = _pyproject()["project"]["classifiers"]
  assert [p for p in PYTHONS if f"Programming Language :: Python :: {p}" in classifiers] == list(
      PYTHONS)


@pytest.mark.parametrize("python", PYTHONS)
def test_lock_pins_every_requirement_once_within_its_range(python):
  pins = _pins(LOCK, python)
  for req in _requirements():
    name = canonicalize_name(req.name)
    assert len(pins.get(name, [])) == 1, f"{LOCK} pins {name} {pins.get(name)} on Python {python}"
    assert req.specifier.contains(pins[name][0]), (
        f"{LOCK} pins {name}=={pins[name][0]} on Python {python}, outside pyproject's {req}")


@pytest.mark.parametrize("python", PYTHONS)
def test_lock_pins_each_package_once_per_python(python):
  """Markers split a package by Python version only where the newest release differs."""
  for name, versions in _pins(LOCK, python).items():
    assert len(versions) == 1, f"{LOCK} pins {name} {versions} on Python {python}"


def test_lowest_pins_every_direct_requirement_at_its_lower_bound():
  pins = _pins(LOWEST, "3.11")
  for req in _requirements():
    lower = [s.version for s in req.specifier if s.operator == ">="]
    assert len(lower) == 1, f"pyproject's {req} has no single lower bound"
    name = canonicalize_name(req.name)
    assert pins.get(name) == [Version(lower[0])], (
        f"{LOWEST} pins {name} {pins.get(name)}, not its lower bound {lower[0]}"
        " (run bash constraints/update.sh)")


def test_accelerator_extras_pass_through_to_jax():
  optional = _pyproject()["project"]["optional-dependencies"]
  for extra in ACCELERATOR_EXTRAS:
    (req,) = map(Requirement, optional[extra])
    assert (req.name, req.extras) == ("jax", {extra})


def test_base_install_has_no_tfds_and_test_has_it():
  base = {canonicalize_name(r.name) for r in _requirements(extras=[])}
  assert not base & {"tensorflow-datasets", "array-record", "chex", "pytest"}
  assert "natjax[tfds]" in _pyproject()["project"]["optional-dependencies"]["test"]


def _readme_block(n: int) -> str:
  """The Nth fenced code block of README.md, as .ci/run reads it."""
  blocks = re.findall(r"^```[^\n]*\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"),
                      re.S | re.M)
  return blocks[n - 1]


def test_readme_install_command_installs_from_the_lock():
  command = _readme_block(1)
  assert len(command.strip().splitlines()) == 1, "the README's first command is one line"
  assert f"pip install -c {LOCK} -e '.[test]'" in command
  assert "natjax search --config configs/quickstart.py" in command


def test_ci_installs_the_second_python_from_the_lock():
  ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
  assert f"LOCK={LOCK}\n" in ci and ci.count('pip" install --quiet -c "$LOCK"') == 2


def test_version_is_single_sourced():
  config = _pyproject()
  assert "version" in config["project"]["dynamic"]
  assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "natjax.__version__"}
  assert Version(natjax.__version__)
  assert importlib.metadata.version("natjax") == natjax.__version__


def test_digits_path_does_not_import_tfds():
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run(drivers.command("digits_path"), env=env, capture_output=True,
                        text=True, timeout=300, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  assert "natjax.data" in report["modules"] and "natjax.cli" in report["modules"]
  assert report["loaded"] == []


def test_cifar10_without_tfds_is_one_line_naming_the_extra(tmp_path):
  """`natjax search` on CIFAR-10 where tensorflow_datasets cannot be imported (as in the base
  install): exit code 2 and one line that names the extra to install."""
  command = [*drivers.command("without_tfds"), "search", "--config", "configs/test.py",
             "--workdir", str(tmp_path / "run"), "--config.dataset=cifar10",
             f"--config.data_dir={tmp_path / 'data'}"]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith("natjax search: error: reading cifar10 needs")
  assert "pip install 'natjax[tfds]'" in lines[0]
