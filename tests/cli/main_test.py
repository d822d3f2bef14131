"""Tests for the natjax command line: outputs, and one clear line with exit code 2 on bad input."""

import importlib
import json
import os
import subprocess
import sys

import pytest

from natjax import cli
from natjax.core import genotypes
from natjax.io import notation

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(capsys, *argv):
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


def test_cost_json_matches_the_darts_reference(capsys):
  code, out, _ = _run(capsys, "cost", "--arch", "DARTS", "--json")
  assert code == 0
  assert json.loads(out) == {"params": 3349342, "madds": json.loads(out)["madds"]}
  assert round(json.loads(out)["madds"] / 1e6, 2) == 528.36


def test_cost_reads_a_notation_file(capsys, tmp_path):
  path = tmp_path / "d.txt"
  path.write_text(notation.format_notation(genotypes.DARTS))
  code, out, _ = _run(capsys, "cost", "--arch", str(path))
  assert code == 0 and "3,349,342 params" in out


def test_draw_writes_svg(capsys, tmp_path):
  code, out, _ = _run(capsys, "draw", "--arch", "ENAS", "--out", str(tmp_path / "e.svg"))
  assert code == 0 and (tmp_path / "e.svg").read_text().lstrip().startswith("<?xml")


def test_rules_json_lists_every_op(capsys):
  code, out, _ = _run(capsys, "rules", "--rule", "natpp", "--json")
  assert code == 0
  allowed = json.loads(out)["allowed"]
  assert allowed["sep_conv_3x3"] == ["sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3",
                                     "avg_pool_3x3", "skip_connect", "null"]


@pytest.mark.parametrize("argv, message", [
    (("cost", "--arch", "DART"), "did you mean 'DARTS'"),
    (("draw", "--arch", "DARTS", "--out", "x.bmp"), ".bmp"),
    (("rules", "--rule", "natp"), "did you mean 'natpp'"),
    (("--imports", "natjax_no_such_fork", "archs"), "cannot import module 'natjax_no_such_fork'"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
  code, out, err = _run(capsys, *argv)
  assert code == 2
  assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_file_through_the_console_entry(tmp_path):
  path = tmp_path / "bad.json"
  path.write_text('{"normal": [["sep_conv_3x3", 0, 2]]')
  proc = subprocess.run([sys.executable, "-m", "natjax", "cost", "--arch", str(path)],
                        capture_output=True, text=True, check=False)
  assert proc.returncode == 2
  assert proc.stderr.strip().endswith("malformed JSON at line 1, column 36: Expecting ',' "
                                      "delimiter") and "Traceback" not in proc.stderr


def test_imports_come_from_the_flag_and_the_environment(capsys, tmp_path, monkeypatch):
  for name in ("natjax_cli_fork_a", "natjax_cli_fork_b"):
    (tmp_path / f"{name}.py").write_text("SEEN = True\n")
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv("NATJAX_IMPORTS", "natjax_cli_fork_a")
  code, out, _ = _run(capsys, "--imports", "natjax_cli_fork_b", "archs")
  assert code == 0 and "DARTS" in out
  assert sys.modules["natjax_cli_fork_a"].SEEN and sys.modules["natjax_cli_fork_b"].SEEN


@pytest.mark.parametrize("command, config_file, module", [
    ("search", "test.py", "natjax.search"), ("retrain", "retrain_digits.py", "natjax.train.retrain")])
def test_search_and_retrain_record_the_imports_in_their_config(capsys, tmp_path, monkeypatch,
                                                                command, config_file, module):
  (tmp_path / "natjax_cli_fork_c.py").write_text("")
  monkeypatch.chdir(tmp_path)
  seen = []
  monkeypatch.setattr(importlib.import_module(module), "run",
                      lambda config, workdir: seen.append(tuple(config.imports)))
  config = os.path.join(REPO, "configs", config_file)
  code, _, err = _run(capsys, "--imports", "natjax_cli_fork_c", command, "--config", config,
                      "--workdir", str(tmp_path / "run"))
  assert code == 0, err
  assert seen == [("natjax_cli_fork_c",)]
