"""Tests for natjax.files and natjax.errors.quote: every bad path or file is one InputError line."""

import os

import pytest

from natjax import files
from natjax.errors import InputError, quote

DEEP = 5000  # levels of nesting: far beyond Python's recursion limit (1000)


def _one_line(err):
  text = str(err.value)
  assert "\n" not in text
  return text


def test_quote_keeps_short_input_and_cuts_long_input_to_the_limit():
  assert quote("sep_conv_3x3") == "sep_conv_3x3"
  assert quote(("sep_conv_3x3", 0)) == "('sep_conv_3x3', 0)"
  long = "x" * 450
  quoted = quote(long)
  assert len(quoted) <= 80 + len(" (450 characters)")
  assert quoted.startswith("x" * 77 + "...") and quoted.endswith("(450 characters)")
  assert quote("a\nb\n  c") == "a b c"  # one line


@pytest.mark.parametrize("text, where", [
    ("[" * DEEP + "]" * DEEP, "arrays"),
    ('{"a":' * DEEP + "1" + "}" * DEEP, "objects"),
])
def test_json_nested_thousands_of_levels_is_one_line(tmp_path, text, where):
  path = tmp_path / f"{where}.json"
  path.write_text(text)
  with pytest.raises(InputError) as err:
    files.read_json(path, "rule file")
  assert _one_line(err) == (f"rule file {path}: JSON nested too deeply (more than"
                            f" {files.MAX_JSON_DEPTH} levels) to read")


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    ("", "file is empty"),
    (b"\xff\xfe\x00", "not a UTF-8 text file (byte 0)"),
    ('{"a": 1', "malformed JSON at line 1, column 8: Expecting ',' delimiter"),
    ("DIR", "is a directory, not a file"),
])
def test_read_json_failures_name_the_file(tmp_path, content, message):
  path = tmp_path / "f.json"
  if content == "DIR":
    path.mkdir()
  elif isinstance(content, bytes):
    path.write_bytes(content)
  elif content is not None:
    path.write_text(content)
  with pytest.raises(InputError) as err:
    files.read_json(path)
  assert _one_line(err) == f"{path}: {message}"


def test_read_json_of_a_good_file():
  assert files.parse_json('{"a": [1, 2]}', "x") == {"a": [1, 2]}


@pytest.mark.parametrize("url", ["gs://bucket/run", "s3://b/x", "GS://bucket/run",
                                 "file:///tmp/x"])
def test_urls_are_refused_not_made_local(tmp_path, monkeypatch, url):
  monkeypatch.chdir(tmp_path)
  for fn in (files.check_output_dir, files.output_dir, files.output_file, files.read_text):
    with pytest.raises(InputError) as err:
      fn(url, "--workdir")
    scheme = url.split("://")[0]
    assert _one_line(err).startswith(f"--workdir '{url}': {scheme}:// paths are not supported")
  assert os.listdir(tmp_path) == []  # nothing like ./gs:/bucket was made


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert files.local_path("runs/x") == os.path.join(str(tmp_path), "runs", "x")
  assert files.local_path("~/x") == os.path.join(os.path.expanduser("~"), "x")
  with pytest.raises(InputError, match="--out: empty path"):
    files.local_path(" ", "--out")


def test_output_file_makes_missing_folders(tmp_path):
  path = tmp_path / "a" / "b" / "out.json"
  assert files.output_file(str(path)) == str(path)
  assert (tmp_path / "a" / "b").is_dir() and not path.exists()
  files.write_text(str(tmp_path / "c" / "t.txt"), "hi")
  assert (tmp_path / "c" / "t.txt").read_text() == "hi"


def test_output_paths_that_cannot_be_made(tmp_path):
  a_file = tmp_path / "f"
  a_file.write_text("x")
  cases = [
      (files.output_file, str(tmp_path), f"--out '{tmp_path}': is an existing directory"),
      (files.output_file, str(a_file / "x.json"), f"--out '{a_file}/x.json': {a_file} is a file"),
      (files.output_dir, str(a_file), f"--out '{a_file}': is an existing file, not a directory"),
      (files.output_dir, str(a_file / "d" / "e"), f"--out '{a_file}/d/e': {a_file} is a file"),
  ]
  for fn, path, message in cases:
    with pytest.raises(InputError) as err:
      fn(path, "--out")
    assert _one_line(err).startswith(message)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_without_permission(tmp_path):
  locked = tmp_path / "locked"
  locked.mkdir(mode=0o500)
  with pytest.raises(InputError, match="cannot create"):
    files.output_dir(str(locked / "run"), "--workdir")


def test_removed_if_unused_removes_only_what_it_made_and_only_while_empty(tmp_path):
  run = tmp_path / "new" / "deeper" / "run"
  with pytest.raises(RuntimeError):
    with files.removed_if_unused(str(run)):
      files.output_dir(str(run))
      os.makedirs(run / "checkpoints")  # empty folders count as unused
      raise RuntimeError("bad input")
  assert os.listdir(tmp_path) == []
  # Something written: kept, so that it can be resumed.
  with pytest.raises(RuntimeError):
    with files.removed_if_unused(str(run)):
      files.output_dir(str(run))
      (run / "config.json").write_text("{}")
      raise RuntimeError("later failure")
  assert (run / "config.json").exists()
  # A directory that existed before is never removed, empty or not.
  existing = tmp_path / "existing"
  existing.mkdir()
  with pytest.raises(RuntimeError):
    with files.removed_if_unused(str(existing)):
      raise RuntimeError("bad input")
  assert existing.is_dir()
  # No failure: kept.
  fresh = tmp_path / "fresh"
  with files.removed_if_unused(str(fresh)):
    files.output_dir(str(fresh))
  assert fresh.is_dir()
