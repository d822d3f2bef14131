"""Tests for the natjax command line: outputs, and one clear line with exit code 2 on bad input."""

import importlib
import json
import os
import subprocess
import sys

import pytest

from natjax import cli
from natjax.core import genotypes, zoo
from natjax.io import notation

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(capsys, *argv):
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


def test_cost_json_matches_the_darts_reference(capsys):
  code, out, _ = _run(capsys, "cost", "--arch", "DARTS", "--json")
  assert code == 0
  assert json.loads(out) == {"name": "DARTS", "network": "cifar", "channels": None,
                             "params": 3349342, "madds": 528359040,
                             "madds_convention": "conv_linear"}


DARTS_V2_TWO_TUPLES = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0),"
                       " ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0),"
                       " ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5],"
                       " reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2),"
                       " ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2),"
                       " ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))")


def _cost_json(capsys, *argv):
  code, out, err = _run(capsys, "cost", *argv, "--json")
  assert code == 0, err
  return json.loads(out)


def test_cost_of_darts_v2_in_every_written_form(capsys, tmp_path):
  """2-tuples (DARTS's own notation), 3-tuples, and an entry of a file of several genotypes."""
  two = tmp_path / "two.py"
  two.write_text(DARTS_V2_TWO_TUPLES)
  three = tmp_path / "three.json"
  three.write_text(json.dumps(notation.genotype_to_json(genotypes.DARTS)))
  several = tmp_path / "genotypes.py"
  several.write_text("from collections import namedtuple\n"
                     "Genotype = namedtuple('Genotype', 'normal normal_concat reduce"
                     " reduce_concat')\nPRIMITIVES = ['none', 'skip_connect']\n"
                     f"ENAS = {notation.format_notation(genotypes.ENAS)}\n"
                     f"DARTS_V2 = {DARTS_V2_TWO_TUPLES}\nDARTS = DARTS_V2\n")
  for arch in (str(two), str(three), f"{several}:DARTS_V2", f"{several}:DARTS", "DARTS_V2"):
    cost = _cost_json(capsys, "--arch", arch)
    assert (cost["params"], cost["madds"]) == (3_349_342, 528_359_040), arch
  rows = _cost_json(capsys, "--archs-file", str(several))
  assert [r["name"] for r in rows] == ["ENAS", "DARTS_V2", "DARTS"]


def test_none_costs_what_null_costs(capsys, tmp_path):
  with_null = tmp_path / "null.py"
  with_null.write_text(notation.format_notation(genotypes.NAT_DARTS))
  with_none = tmp_path / "none.py"
  with_none.write_text(notation.format_notation(genotypes.NAT_DARTS, "darts"))
  assert "'none'" in with_none.read_text()
  null, none = (_cost_json(capsys, "--arch", str(p)) for p in (with_null, with_none))
  assert (null["params"], null["madds"]) == (none["params"], none["madds"])


def test_cost_names_its_convention_with_every_figure(capsys):
  code, out, _ = _run(capsys, "cost", "--arch", "DARTS", "--arch", "PDARTS", "--network",
                      "imagenet", "--convention", "ptflops")
  assert code == 0
  lines = out.splitlines()
  assert lines[0].endswith("4,718,752 params (4.72 M), 544.59 M MAdds (ptflops)")
  assert lines[1].startswith("PDARTS") and "557.38 M MAdds (ptflops)" in lines[1]
  assert lines[2].startswith("MAdds convention ptflops: ")
  code, out, _ = _run(capsys, "cost", "--arch", "GDAS_V1", "--network", "imagenet", "--channels",
                      "50")
  assert "imagenet (C=50) network: 5,345,075 params" in out and "581.01 M MAdds (conv_linear)" in out


def test_export_writes_the_darts_form(capsys, tmp_path):
  code, out, _ = _run(capsys, "export", "--arch", "NAT_DARTS", "--arch", "NASNET", "--form", "darts")
  assert code == 0
  assert "NAT_DARTS = Genotype(normal=[('sep_conv_3x3', 0), " in out and "('none', 2)" in out
  assert notation.parse_notation(out)["NASNET"] == zoo.genotype("NASNET")
  path = tmp_path / "g.py"
  code, _, _ = _run(capsys, "export", "--archs-file", str(_several(tmp_path)), "--out", str(path))
  assert code == 0 and set(notation.parse_notation(path.read_text())) == {"a", "b"}


def _several(tmp_path):
  path = tmp_path / "several.json"
  path.write_text(json.dumps({"a": notation.genotype_to_json(genotypes.R1),
                              "b": notation.genotype_to_json(genotypes.VGG)}))
  return path


def test_draw_several_into_a_directory(capsys, tmp_path):
  code, out, _ = _run(capsys, "draw", "--archs-file", str(_several(tmp_path)), "--arch",
                      "AMOEBANET", "--out", str(tmp_path / "d"))
  assert code == 0 and out.count("wrote") == 3
  for name in ("a", "b", "AMOEBANET"):
    assert (tmp_path / "d" / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_archs_lists_the_published_cells(capsys):
  code, out, _ = _run(capsys, "archs")
  assert code == 0
  assert "PC_DARTS_IMAGENET" in out and "yuhuixu1993/PC-DARTS" in out
  assert "SETN                 not representable: it uses conv_3x1_1x3" in out


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
    (("cost", "--arch", "NAONET"), "conv_1x3_3x1 and 2x2 max and average pools"),
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


@pytest.mark.parametrize("text, message", [
    ("Genotype(normal=[('sep_conv_3x3', 2, 0), ('sep_conv_3x3', 2, 1)], normal_concat=[2],"
     " reduce=[('max_pool_3x3', 2, 0), ('max_pool_3x3', 2, 1)], reduce_concat=[2])",
     "the nodes look swapped"),
    ("Genotype(normal=[('conv_1x3_3x1', 0), ('sep_conv_3x3', 1)], normal_concat=[2],"
     " reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])",
     "op 'conv_1x3_3x1' (NAONet's factorised conv (1x3 then 3x1)) is a known op outside"),
    ("Genotype(normal=[('sep_conv_3x3', 0, 2), ('sep_conv_3x3', 1, 2), ('skip_connect', 0, 2)],"
     " normal_concat=[2], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])",
     "node 2 has 3 inputs"),
])
def test_genotypes_written_wrong_get_one_line_that_says_how(capsys, tmp_path, text, message):
  path = tmp_path / "g.py"
  path.write_text(text)
  code, out, err = _run(capsys, "cost", "--arch", str(path))
  assert code == 2 and out == "" and err.count("\n") == 1 and message in err
