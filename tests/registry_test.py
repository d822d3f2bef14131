"""Tests for natjax.registry: registries fail loudly, and a fork's modules import by name, from
the current directory too, with one-line errors."""

import sys

import pytest

from natjax import registry
from natjax.errors import InputError


def test_registry_refuses_a_second_object_under_a_name_and_suggests_names():
  reg = registry.Registry("widget")
  reg.add("gear", 1)
  reg.add("gear", 1)
  with pytest.raises(InputError, match="widget 'gear' is already registered differently"):
    reg.add("gear", 2)
  with pytest.raises(InputError, match=r"unknown widget 'geer' \(did you mean 'gear'\?\)"):
    reg.get("geer")


def test_split_modules():
  assert registry.split_modules(" a.b, c,,a.b ") == ("a.b", "c")
  assert registry.split_modules(["x", "x", "y"]) == ("x", "y")
  assert registry.split_modules(None) == ()


def test_modules_import_from_the_current_directory(tmp_path, monkeypatch):
  (tmp_path / "natjax_fork_probe.py").write_text("LOADED = True\n")
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
  assert registry.import_modules("natjax_fork_probe") == ("natjax_fork_probe",)
  assert sys.modules["natjax_fork_probe"].LOADED
  assert "natjax_fork_probe" in registry.imported_modules()


def test_a_module_that_fails_is_one_line_naming_it(tmp_path, monkeypatch):
  (tmp_path / "natjax_broken_fork.py").write_text("raise RuntimeError('no GPU here\\nsecond line')\n")
  monkeypatch.chdir(tmp_path)
  with pytest.raises(InputError) as err:
    registry.import_modules(["natjax_broken_fork"])
  assert str(err.value) == ("cannot import module 'natjax_broken_fork' (RuntimeError: no GPU"
                            " here)")
  with pytest.raises(InputError, match=r"cannot import module 'natjax_missing_fork'"
                     r" \(ModuleNotFoundError"):
    registry.import_modules("natjax_missing_fork")
