"""Tests for `natjax transform`: JSON output, summary, drawings and one-line errors (exit 2)."""

import json
import re

import pytest

from natjax import cli
from natjax.core import arch, genotypes
from natjax.errors import InputError
from natjax.io import genotype_files, notation


def _run(capsys, *argv):
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


def _genotype(entry):
  """The genotype of a report entry (its other keys are costs and flags)."""
  return notation.genotype_from_json({f: entry[f] for f in arch.Genotype._fields})


def _parses(entry):
  try:
    _genotype(entry)
  except InputError:
    return False
  return True


def test_out_json_round_trips_and_keeps_the_input(capsys, tmp_path):
  out_path = tmp_path / "t.json"
  code, out, _ = _run(capsys, "transform", "--arch", "DARTS", "--arch", "NAT_DARTS", "--rule",
                      "natpp", "--policy", "init", "--samples", "3", "--seed", "4", "--out",
                      str(out_path))
  assert code == 0
  assert "DARTS" in out and "3,349,342" in out and "space darts_pp" in out and "connected" in out
  report = json.loads(out_path.read_text())
  assert [e["name"] for e in report] == ["DARTS", "NAT_DARTS"]
  darts = report[0]
  assert _genotype(darts["input"]) == genotypes.DARTS
  assert darts["input"]["log_prob"] is None and darts["input"]["params"] == 3349342
  assert darts["input"]["connected"] is True
  assert len(darts["outputs"]) == 3
  for entry in report:
    for g in entry["outputs"]:
      assert g["connected"] is _parses(g)
      assert g["normal_concat"] == entry["input"]["normal_concat"]
      assert isinstance(g["params"], int) and isinstance(g["madds"], int)
      assert isinstance(g["log_prob"], float) and g["log_prob"] <= 0
      more = g["params"] > entry["input"]["params"] or g["madds"] > entry["input"]["madds"]
      assert g["cost_ok"] is (not more)


def test_greedy_and_seed_are_deterministic(capsys, tmp_path):
  paths = [tmp_path / f"{i}.json" for i in range(2)]
  for path, seed in zip(paths, (1, 1)):
    code, _, _ = _run(capsys, "transform", "--arch", "DARTS", "--rule", "nat", "--policy", "init",
                      "--mode", "greedy", "--samples", "2", "--seed", str(seed), "--out",
                      str(path))
    assert code == 0
  first, second = (json.loads(p.read_text()) for p in paths)
  assert first == second
  outs = first[0]["outputs"]
  assert outs[0] == outs[1]


def test_archs_file_and_draw(capsys, tmp_path):
  archs_file = tmp_path / "archs.json"
  genotype_files.write_archs({"one": genotypes.ENAS, "two": genotypes.NAT_ENAS}, str(archs_file))
  code, out, _ = _run(capsys, "transform", "--archs-file", str(archs_file), "--rule", "nat",
                      "--policy", "init", "--draw", str(tmp_path / "d"))
  assert code == 0 and "space enas" in out
  for name in ("one", "two"):
    assert (tmp_path / "d" / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_nat_rule_falls_back_to_the_13_op_space(capsys):
  code, out, _ = _run(capsys, "transform", "--arch", "MobileNetV2", "--rule", "nat", "--policy",
                      "init")
  assert code == 0 and "space darts_pp" in out


def _bad_rule_file(tmp_path):
  path = tmp_path / "bad_rule.json"
  path.write_text(json.dumps({"conv_1x1": ["conv_5x5"]}))  # Raises cost, undeclared.
  return str(path)


@pytest.mark.parametrize("argv,needle", [
    (["--rule", "natqq"], "unknown transition rule"),
    (["--rule", "BAD_RULE_FILE"], "bad_rule"),
    (["--rule", "nat", "--space", "darts", "--arch", "MobileNetV2"], "conv_1x1"),
    (["--rule", "natpp", "--samples", "0"], "--samples"),
    (["--rule", "natpp", "--policy", "TMP_DIR"], "no policy.json"),
    (["--rule", "natpp", "--arch", "NASNET"], "'sep_conv_7x7' is not in the vocabulary of space"),
    (["--rule", "natpp", "--out", "TMP_DIR"], "is an existing directory"),
    (["--rule", "natpp", "--space", "enas_pp"], "intermediate nodes"),
])
def test_bad_input_gives_one_line_and_exit_2(capsys, tmp_path, argv, needle):
  argv = [str(tmp_path) if a == "TMP_DIR" else _bad_rule_file(tmp_path) if a == "BAD_RULE_FILE"
          else a for a in argv]
  if "--policy" not in argv:
    argv += ["--policy", "init"]
  code, out, err = _run(capsys, "transform", "--arch", "DARTS", *argv)
  assert code == 2
  assert out == "" and len(err.strip().splitlines()) == 1
  assert err.startswith("natjax transform: error:") and needle in err


def test_no_architecture_is_an_input_error(capsys):
  code, _, err = _run(capsys, "transform", "--rule", "nat", "--policy", "init")
  assert code == 2 and "--arch" in err


def test_connected_flag_and_dead_outputs_do_not_break_the_cli(capsys, tmp_path):
  # Under 'nat' about a third of the edges become null: dead outputs are common. VGG's first
  # output with seed 2 is one; drawing it must still work.
  out_path = tmp_path / "t.json"
  code, out, err = _run(capsys, "transform", "--arch", "DARTS", "--arch", "VGG", "--rule", "nat",
                        "--policy", "init", "--samples", "3", "--seed", "2", "--out",
                        str(out_path), "--draw", str(tmp_path / "d"))
  assert code == 0, err
  report = json.loads(out_path.read_text())
  flags = [g["connected"] for entry in report for g in entry["outputs"]]
  assert True in flags and False in flags
  for entry in report:
    for g in entry["outputs"]:
      assert g["connected"] is _parses(g)
  vgg = report[1]["outputs"][0]
  assert vgg["connected"] is False
  row = [line for line in out.splitlines() if line.startswith("VGG")][0]
  assert row.split()[-2:] == [str(vgg["cost_ok"]), "False"]
  assert (tmp_path / "d" / "VGG.svg").read_text().lstrip().startswith("<?xml")


def test_mixed_spaces_one_batch_per_space_in_input_order(capsys, tmp_path):
  """DARTS and ResBlock are darts_pp cells, ENAS an enas_pp one: each group is transformed as if
  alone, and the report keeps the input order."""
  def report(*names):
    out_path = tmp_path / f"{'_'.join(names)}.json"
    argv = [a for n in names for a in ("--arch", n)]
    code, out, err = _run(capsys, "transform", *argv, "--rule", "natpp", "--policy", "init",
                          "--samples", "2", "--seed", "3", "--out", str(out_path))
    assert code == 0, err
    return out, json.loads(out_path.read_text())
  out, mixed = report("DARTS", "ENAS", "ResBlock")
  assert "space darts_pp, enas_pp" in out
  assert [(e["name"], e["space"]) for e in mixed] == [
      ("DARTS", "darts_pp"), ("ENAS", "enas_pp"), ("ResBlock", "darts_pp")]
  _, alone_pp = report("DARTS", "ResBlock")
  _, alone_enas = report("ENAS")
  assert mixed[0] == alone_pp[0] and mixed[2] == alone_pp[1] and mixed[1] == alone_enas[0]
# ----------------------------------------------------------------------------------------------
# Manners: the default rule, one line per sample, compact or indented --out.


@pytest.mark.parametrize("argv, rule, space", [
    (["--arch", "DARTS"], "nat", "darts"),
    (["--arch", "ENAS"], "nat", "enas"),
    (["--arch", "MobileNetV2"], "natpp", "darts_pp"),  # conv_1x1: only in the 13-op space
    (["--arch", "DARTS", "--space", "darts_pp"], "natpp", "darts_pp"),
])
def test_policy_init_without_rule_uses_the_space_default_and_says_so(capsys, tmp_path, argv, rule,
                                                                     space):
  paths = [tmp_path / "default.json", tmp_path / "explicit.json"]
  code, out, err = _run(capsys, "transform", *argv, "--policy", "init", "--samples", "2",
                        "--out", str(paths[0]))
  assert code == 0, err
  assert err == (f"natjax transform: no --rule given: using '{rule}', the default rule of space"
                 f" '{space}' (nat for darts and enas, natpp for the 13-op spaces)\n")
  assert out.startswith(f"rule {rule}, space {space},")
  code, _, err = _run(capsys, "transform", *argv, "--policy", "init", "--samples", "2",
                      "--rule", rule, "--out", str(paths[1]))
  assert code == 0 and err == ""
  assert paths[0].read_text() == paths[1].read_text()  # the same policy, the same samples


_ROW = re.compile(r"(\S+) +(\d+) +[\d,]+ -> +([\d,]+) \( *([-+][\d.]+) %\) +[\d.]+ -> +([\d.]+)"
                  r" \( *[-+][\d.]+ %\) +(\d+) of (\d+) +-?[\d.]+ (True|False) +(True|False)$")


def _sample_rows(out):
  """(name, sample, params after, params change %, MAdds after (M), edges changed, edges) of
  each sample line."""
  rows = []
  for line in out.splitlines()[2:]:
    if not line.startswith("wrote "):
      m = _ROW.match(line)
      assert m, line
      rows.append((m[1], int(m[2]), int(m[3].replace(",", "")), float(m[4]), float(m[5]),
                   int(m[6]), int(m[7])))
  return rows


def test_samples_print_one_summary_line_each(capsys, tmp_path):
  out_path = tmp_path / "t.json"
  code, out, err = _run(capsys, "transform", "--arch", "DARTS", "--arch", "ResBlock", "--rule",
                        "natpp", "--policy", "init", "--samples", "4", "--seed", "3", "--out",
                        str(out_path))
  assert code == 0, err
  report = json.loads(out_path.read_text())
  rows = _sample_rows(out)
  assert [(r[0], r[1]) for r in rows] == [(n, k) for n in ("DARTS", "ResBlock") for k in range(4)]
  for row, (entry, k) in zip(rows, [(e, k) for e in report for k in range(4)]):
    changed = sum(a[0] != b[0] for cell in ("normal", "reduce")  # outputs may be dead: raw JSON
                  for a, b in zip(entry["input"][cell], entry["outputs"][k][cell]))
    output, params_in = entry["outputs"][k], entry["input"]["params"]
    assert row[2:] == (output["params"], round(100.0 * (output["params"] / params_in - 1), 1),
                       round(output["madds"] / 1e6, 2), changed, 16)
  assert len({r[2:] for r in rows}) > 2  # the samples differ


def test_out_is_compact_unless_indent_is_given(capsys, tmp_path):
  compact, indented = tmp_path / "c.json", tmp_path / "i.json"
  args = ["transform", "--arch", "DARTS", "--rule", "nat", "--policy", "init", "--samples", "2"]
  assert _run(capsys, *args, "--out", str(compact))[0] == 0
  assert _run(capsys, *args, "--out", str(indented), "--indent", "2")[0] == 0
  report = json.loads(compact.read_text())
  assert compact.read_text() == json.dumps(report, separators=(",", ":")) + "\n"
  assert indented.read_text() == json.dumps(report, indent=2) + "\n"
  code, _, err = _run(capsys, *args, "--indent", "2")
  assert code == 2 and "--indent applies to the --out file" in err
