"""Tests for the natjax command line: outputs, and one clear line with exit code 2 on bad input."""

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from natjax import cli
from natjax.core import genotypes, zoo
from natjax.io import notation
from natjax.train import host_loop

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(capsys, *argv):
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


def test_cost_json_matches_the_darts_reference(capsys):
  code, out, _ = _run(capsys, "cost", "--arch", "DARTS", "--json")
  assert code == 0
  assert json.loads(out) == {"name": "DARTS", "network": "cifar", "channels": 36,
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
  text = tmp_path / "g.txt"  # neither form: refused, nothing written
  code, out, err = _run(capsys, "export", "--arch", "DARTS", "--out", str(text))
  assert code == 2 and out == "" and err.count("\n") == 1 and "FILE.py" in err
  assert str(text) in err and not text.exists()


def test_cost_help_says_what_each_network_is(capsys):
  with pytest.raises(SystemExit):
    cli.main(["cost", "--help"])
  out = " ".join(capsys.readouterr().out.split())
  assert "cifar (20 cells, C=36" in out and "imagenet (14 cells, C=48" in out


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


@pytest.mark.parametrize("name", ["g.svg", "g.PNG", "g.pdf"])
def test_draw_several_to_a_file_name_is_refused(capsys, tmp_path, monkeypatch, name):
  monkeypatch.chdir(tmp_path)  # a short relative --out: messages quote at most 80 characters
  code, out, err = _run(capsys, "draw", "--archs-file", str(_several(tmp_path)), "--arch",
                        "AMOEBANET", "--out", f"out/{name}")
  assert code == 2 and out == "" and err.count("\n") == 1
  assert (f"3 architectures need a directory for --out, got the file name out/{name};"
          " pick one with --arch FILE:NAME or give a directory") in err
  assert not (tmp_path / "out").exists()


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


def test_draw_writes_pdf(capsys, tmp_path):
  code, out, _ = _run(capsys, "draw", "--arch", "ENAS", "--out", str(tmp_path / "e.pdf"))
  assert code == 0 and (tmp_path / "e.pdf").read_bytes().startswith(b"%PDF-")
  assert out == f"wrote {tmp_path / 'e.pdf'}\n"


def test_plot_redraws_a_runs_curves(capsys, tmp_path):
  import tensorboardX  # pylint: disable=g-import-not-at-top
  writer = tensorboardX.SummaryWriter(str(tmp_path / "run" / "tensorboard"))
  for step in (1, 2, 3):
    writer.add_scalar("train/loss", 1.0 / step, step)
  writer.close()
  code, out, err = _run(capsys, "plot", str(tmp_path / "run"), "--out", str(tmp_path / "p"))
  assert code == 0, err
  assert out == f"wrote {tmp_path / 'p' / 'curves.png'}\n"
  assert (tmp_path / "p" / "curves.png").read_bytes().startswith(b"\x89PNG")
  (tmp_path / "empty").mkdir()
  code, out, err = _run(capsys, "plot", str(tmp_path / "empty"))
  assert code == 2 and not out and err.count("\n") == 1
  assert err.startswith(f"natjax plot: error: run directory {tmp_path / 'empty'}: no scalars")


def test_rules_json_lists_every_op(capsys):
  code, out, _ = _run(capsys, "rules", "--rule", "natpp", "--json")
  assert code == 0
  allowed = json.loads(out)["allowed"]
  assert allowed["sep_conv_3x3"] == ["sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3",
                                     "avg_pool_3x3", "skip_connect", "null"]


@pytest.mark.parametrize("argv, message", [
    (("cost", "--arch", "DART"), "did you mean 'DARTS'"),
    (("cost", "--arch", "NAONET"), "conv_1x3_3x1 and 2x2 max and average pools"),
    (("draw", "--arch", "DARTS", "--out", "x.bmp"), "must end in one of .svg, .png, .pdf"),
    (("plot", "no_such_run_dir"), "natjax plot: error: run directory no_such_run_dir: not found"),
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


@pytest.mark.parametrize("command, config_file, module", [
    ("search", "test.py", "natjax.search"), ("retrain", "retrain_digits.py", "natjax.train.retrain")])
def test_search_and_retrain_exit_143_on_preemption_and_1_on_a_non_finite_loss(
    capsys, tmp_path, monkeypatch, command, config_file, module):
  """The loop has printed the preemption line (the library's `Preempted` is SystemExit(143));
  a non-finite metric is one line on stderr and code 1."""
  config = os.path.join(REPO, "configs", config_file)
  argv = [command, "--config", config, "--workdir", str(tmp_path / "run")]

  def preempted(config, workdir):
    raise host_loop.Preempted("SIGTERM: saved step 5 in DIR; run the same command to resume", 5)

  monkeypatch.setattr(importlib.import_module(module), "run", preempted)
  with pytest.raises(SystemExit) as exit_info:
    cli.main(argv)
  assert exit_info.value.code == 143

  def diverged(config, workdir):
    raise host_loop.NonFiniteError("w/loss became nan at step 7 (epoch 0); ...")

  monkeypatch.setattr(importlib.import_module(module), "run", diverged)
  capsys.readouterr()
  with pytest.raises(SystemExit) as exit_info:
    cli.main(argv)
  _, err = capsys.readouterr()
  assert exit_info.value.code == 1
  assert err == f"natjax {command}: stopped: w/loss became nan at step 7 (epoch 0); ...\n"


@pytest.mark.parametrize("raised, line", [
    (KeyboardInterrupt(), "interrupted; a search or retraining resumes from its newest checkpoint"
     " when the same command runs again"),
    (host_loop.Interrupted("interrupted; the same command resumes from step 8, the newest"
                           " checkpoint in DIR"),
     "interrupted; the same command resumes from step 8, the newest checkpoint in DIR")])
def test_ctrl_c_is_one_line_and_exit_130(capsys, tmp_path, monkeypatch, raised, line):
  """A second Ctrl-C in a run's loop (`host_loop.Interrupted`) names the step it resumes from."""
  def interrupted(config, workdir):
    raise raised

  monkeypatch.setattr(importlib.import_module("natjax.search"), "run", interrupted)
  code = cli.main(["search", "--config", os.path.join(REPO, "configs", "test.py"), "--workdir",
                   str(tmp_path / "run")])
  _, err = capsys.readouterr()
  assert code == 130
  assert err.strip().splitlines() == [f"natjax search: {line}"]


SEED_ONLY = ("import ml_collections\n\ndef get_config():\n"
             "  return ml_collections.ConfigDict({'seed': 1})\n")


@pytest.mark.parametrize("command, config_file, message", [
    ("retrain", "CONFIGS/quickstart.py", "config file CONFIGS/quickstart.py: no field 'arch' (a"
     " search config, not a retrain config; see configs/retrain_digits.py)"),
    ("search", "CONFIGS/retrain_digits.py", "config file CONFIGS/retrain_digits.py: no field"
     " 'baseline_decay' (a retrain config, not a search config; see configs/quickstart.py)"),
    ("search", "seed.py", "config file seed.py: no field 'baseline_decay' (a search config sets"
     " every field; see configs/quickstart.py)"),
    ("retrain", "seed.py", "config file seed.py: no field 'arch' (a retrain config sets every"
     " field; see configs/retrain_digits.py)"),
    ("search", "CONFIGS/quickstart.py:foo", "config file CONFIGS/quickstart.py: takes no argument"
     " (its get_config() has no parameter), got ':foo'; drop it"),
])
def test_a_config_the_command_cannot_run_is_one_line(capsys, tmp_path, monkeypatch, command,
                                                     config_file, message):
  """Another command's config, one missing fields, an argument to a file taking none: exit 2."""
  (tmp_path / "seed.py").write_text(SEED_ONLY)
  monkeypatch.chdir(tmp_path)
  configs_dir = os.path.join(REPO, "configs")
  err = _one_error_line(*_run(capsys, command, "--config",
                              config_file.replace("CONFIGS", configs_dir), "--workdir",
                              str(tmp_path / "run")), message.replace("CONFIGS", configs_dir))
  assert err == f"natjax {command}: error: {message.replace('CONFIGS', configs_dir)}\n"
  assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("module, config_file", [("natjax.search.loop", "default.py"),
                                                 ("natjax.train.retrain", "retrain_cifar10.py")])
def test_config_fields_are_those_the_documenting_config_sets(module, config_file):
  spec = importlib.util.spec_from_file_location("documenting", os.path.join(REPO, "configs",
                                                                            config_file))
  documenting = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(documenting)
  fields = importlib.import_module(module).CONFIG_FIELDS
  assert tuple(fields) == tuple(documenting.get_config().keys())


@pytest.mark.parametrize("argv, flag", [
    (["transform", "--arch", "https://example.com/g.json", "--policy", "init"], "--arch"),
    (["cost", "--arch", "gs://bucket/g.json:DARTS"], "--arch"),
    (["draw", "--archs-file", "http://example.com/g.py", "--out", "d.svg"], "--archs-file"),
    (["export", "--arch", "DARTS", "--archs-file", "s3://bucket/g.json"], "--archs-file"),
    (["retrain", "--config", "CONFIGS/retrain_digits.py", "--workdir", "run", "--arch",
      "https://example.com/g.json"], "--arch"),
])
def test_an_arch_url_is_refused_by_name(capsys, tmp_path, monkeypatch, argv, flag):
  monkeypatch.chdir(tmp_path)
  argv = [a.replace("CONFIGS", os.path.join(REPO, "configs")) for a in argv]
  url = next(a for a in argv if "://" in a)
  err = _one_error_line(*_run(capsys, *argv), f"{flag} '{url}': {url.split(':')[0]}:// paths are"
                        " not supported")
  assert "neither a built-in" not in err
  assert os.listdir(tmp_path) == []


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
# ----------------------------------------------------------------------------------------------
# Every file read and every path written: one line, no traceback, nothing left behind.

DEEP = 5000  # nesting levels, far beyond Python's recursion limit


def _one_error_line(code, out, err, needle, exit_code=2):
  assert code == exit_code, err
  assert len(err.splitlines()) == 1 and "Traceback" not in err, err
  assert needle in err, err
  return err


def _deep_files(tmp_path):
  """name -> (argv, needle): a JSON file nested DEEP levels where each command reads one."""
  deep = "[" * DEEP + "]" * DEEP
  genotype = tmp_path / "deep_genotype.json"
  rule = tmp_path / "deep_rule.json"
  derived_dir = tmp_path / "search"
  policy_dir = tmp_path / "policy"
  run_dir = tmp_path / "retrain"
  for d in (derived_dir, policy_dir, run_dir):
    d.mkdir()
  for path in (genotype, rule, derived_dir / "derived.json", policy_dir / "policy.json",
               run_dir / "retrain.json"):
    path.write_text(deep)
  notation_file = tmp_path / "deep_notation.txt"
  notation_file.write_text("Genotype(normal=" + "-" * 20000 + "1)")
  long_sum = tmp_path / "long_sum.txt"
  long_sum.write_text("Genotype(normal=" + "+".join(["1"] * 100000) + ")")
  nested = "JSON nested too deeply"
  return {
      "genotype": (["cost", "--arch", str(genotype)], nested),
      "derived": (["cost", "--arch", str(derived_dir)], nested),
      "rule": (["rules", "--rule", str(rule)], nested),
      "policy": (["transform", "--arch", "DARTS", "--policy", str(policy_dir)], nested),
      "retrain.json": (["compare", str(run_dir)], nested),
      "notation": (["cost", "--arch", str(notation_file)], "nested too deeply"),
      "long sum": (["draw", "--arch", str(long_sum), "--out", str(tmp_path / "x.svg")],
                   "nested too deeply"),
  }


@pytest.mark.parametrize("kind", ["genotype", "derived", "rule", "policy", "retrain.json",
                                  "notation", "long sum"])
def test_input_nested_thousands_of_levels_is_one_line(capsys, tmp_path, kind):
  argv, needle = _deep_files(tmp_path)[kind]
  _one_error_line(*_run(capsys, *argv), needle)


def test_a_resumed_run_with_a_deeply_nested_config_json(tmp_path):
  from natjax.train import checkpoints  # pylint: disable=import-outside-toplevel
  (tmp_path / "config.json").write_text("{" + '"a":{' * DEEP + "}" * (DEEP + 1))
  with pytest.raises(checkpoints.InputError, match="config.json: JSON nested too deeply"):
    checkpoints.check_resumable(str(tmp_path), None, frozenset())


def test_out_into_missing_folders_creates_them(capsys, tmp_path):
  svg = tmp_path / "new" / "deeper" / "e.svg"
  code, out, err = _run(capsys, "draw", "--arch", "ENAS", "--out", str(svg))
  assert code == 0 and svg.read_text().lstrip().startswith("<?xml"), err
  report = tmp_path / "made" / "t.json"
  code, _, err = _run(capsys, "transform", "--arch", "DARTS", "--rule", "nat", "--policy", "init",
                      "--out", str(report), "--draw", str(tmp_path / "drawings" / "now"))
  assert code == 0, err
  entry = json.loads(report.read_text())[0]
  assert entry["name"] == "DARTS"
  out = entry["outputs"][0]
  svg = ET.parse(tmp_path / "drawings" / "now" / "DARTS.svg").getroot()
  title = [t.text for t in svg.iter() if t.tag.endswith("text") and t.text][-1]
  assert title.startswith(f"params 3.35 M -> {out['params'] / 1e6:.2f} M (")  # the report's costs


@pytest.mark.parametrize("argv, needle", [
    (["draw", "--arch", "ENAS", "--out", "A_FILE/x.svg"], "A_FILE is a file, not a folder"),
    (["draw", "--arch", "ENAS", "--out", "A_DIR.svg"], "is an existing directory"),
    (["transform", "--arch", "DARTS", "--rule", "nat", "--policy", "init", "--out",
      "A_FILE/sub/t.json"], "A_FILE is a file, not a folder"),
    (["transform", "--arch", "DARTS", "--rule", "nat", "--policy", "init", "--draw", "A_FILE"],
     "--draw 'A_FILE': is an existing file, not a directory"),
    (["search", "--config", "CONFIGS/test.py", "--workdir", "A_FILE"],
     "work directory 'A_FILE': is an existing file, not a directory"),
    (["retrain", "--config", "CONFIGS/retrain_digits.py", "--workdir", "A_FILE"],
     "work directory 'A_FILE': is an existing file, not a directory"),
    (["search", "--config", "CONFIGS/test.py", "--workdir", "A_FILE/run"],
     "A_FILE is a file, not a folder"),
    (["transform", "--arch", "DARTS", "--policy", "gs://bucket/policy"],
     "gs:// paths are not supported"),
    (["plot", "A_DIR.svg", "--out", "A_FILE"],
     "output directory 'A_FILE': is an existing file, not a directory"),
    (["plot", "A_FILE"], "run directory A_FILE: is a file, not a directory"),
    (["transform", "--arch", "DARTS", "--rule", "nat", "--policy", "init", "--out",
      "gs://bucket/t.json"], "gs:// paths are not supported"),
])
def test_paths_that_cannot_be_written_are_one_line(capsys, tmp_path, monkeypatch, argv, needle):
  a_file = tmp_path / "A_FILE"
  a_file.write_text("not a folder")
  (tmp_path / "A_DIR.svg").mkdir()
  monkeypatch.chdir(tmp_path)
  argv = [a.replace("CONFIGS", os.path.join(REPO, "configs")) for a in argv]
  _one_error_line(*_run(capsys, *argv), needle)
  assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize("command, config_file", [("search", "test.py"),
                                                  ("retrain", "retrain_digits.py")])
def test_a_gs_work_directory_is_refused_not_made_local(capsys, tmp_path, monkeypatch, command,
                                                        config_file):
  monkeypatch.chdir(tmp_path)
  err = _one_error_line(*_run(capsys, command, "--config",
                              os.path.join(REPO, "configs", config_file), "--workdir",
                              "gs://bucket/run"), "gs:// paths are not supported")
  assert "mount the bucket" in err
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command, config_file, overrides, needle", [
    ("search", "test.py", ["--config.epochs=0"], "config.epochs must be >= 1"),
    ("search", "test.py", ["--config.dataset=cifar10", "--config.data_dir=NO_DATA"], "cifar10"),
    ("search", "test.py", ["--config.derive_archs=DARTZ"], "did you mean 'DARTS'"),
    ("search", "test.py", ["--config.derive_archs=DARTS,ResBlock"],
     "is one name; give several as a tuple: --config.derive_archs=\"('DARTS', 'ResBlock')\""),
    ("search", "test.py", ["--config.batch_size=2000"], "larger than the smallest split"),
    ("retrain", "retrain_digits.py", ["--config.epochs=0"], "config.epochs must be >= 1"),
    ("retrain", "retrain_digits.py", ["--config.arch=DARTZ"], "did you mean 'DARTS'"),
    ("retrain", "retrain_digits.py", ["--config.dataset=cifar11"],
     "config.dataset: unknown dataset 'cifar11' (did you mean 'cifar10'?)"),
    ("retrain", "retrain_cifar10.py", ["--config.data_dir=NO_DATA"], "cifar10"),
])
def test_a_failed_run_leaves_no_work_directory(capsys, tmp_path, command, config_file,
                                               overrides, needle):
  workdir = tmp_path / "runs" / "new"
  overrides = [o.replace("NO_DATA", str(tmp_path / "no_data")) for o in overrides]
  _one_error_line(*_run(capsys, command, "--config", os.path.join(REPO, "configs", config_file),
                        "--workdir", str(workdir), *overrides), needle)
  assert os.listdir(tmp_path) == []


def test_long_input_is_quoted_short(capsys, tmp_path):
  long_name = "DARTS_" + "x" * 400
  err = _one_error_line(*_run(capsys, "cost", "--arch", long_name), "(406 characters)")
  assert len(err) < 200
  notation_file = tmp_path / "n.txt"
  notation_file.write_text("Genotype(normal=[f(" + ", ".join(["'sep_conv_3x3'"] * 40) + ")])")
  err = _one_error_line(*_run(capsys, "cost", "--arch", str(notation_file)), "characters)")
  assert len(err) < len(str(notation_file)) + 200
  json_file = tmp_path / "g.json"
  json_file.write_text(json.dumps({"normal": [["sep_conv_3x3"] * 100] * 8,
                                   "normal_concat": [2, 3, 4, 5], "reduce": [],
                                   "reduce_concat": [2, 3, 4, 5]}))
  err = _one_error_line(*_run(capsys, "cost", "--arch", str(json_file)), "characters)")
  assert len(err) < len(str(json_file)) + 200
  err = _one_error_line(*_run(capsys, "search", "--config", os.path.join(REPO, "configs", "test.py"),
                              "--workdir", str(tmp_path / "w"), "--config.epochs=" + "x" * 300),
                        "expected an int")
  assert len(err) < 200


# ----------------------------------------------------------------------------------------------
# Manners: --version, defaults in every option's help.


def test_version(capsys):
  from importlib import metadata  # pylint: disable=import-outside-toplevel
  import natjax  # pylint: disable=import-outside-toplevel
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["--version"])
  out = capsys.readouterr().out
  assert exit_info.value.code == 0
  assert out.startswith(f"natjax {natjax.__version__} (jax {metadata.version('jax')}, flax ")
  assert metadata.version("natjax") == natjax.__version__  # setup.py and the package agree


def _subparsers():
  parser = importlib.import_module("natjax.cli.main")._parser()  # pylint: disable=protected-access
  subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # pylint: disable=protected-access
  return [("natjax", parser)] + list(subs[0].choices.items())


def test_every_option_help_shows_its_default():
  checked = 0
  for name, parser in _subparsers():
    formatter = parser._get_formatter()  # pylint: disable=protected-access
    for action in parser._actions:  # pylint: disable=protected-access
      if not action.option_strings or action.required or action.default is argparse.SUPPRESS:
        continue
      text = formatter._get_help_string(action) % vars(action)  # pylint: disable=protected-access
      assert "default" in text, f"natjax {name} {action.option_strings[0]}: {text}"
      checked += 1
  assert checked >= 15
  help_text = dict(_subparsers())["transform"].format_help()
  assert "(default: sample)" in " ".join(help_text.split())
  assert "(default: off)" in " ".join(dict(_subparsers())["cost"].format_help().split())
