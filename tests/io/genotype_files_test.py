"""Tests for natjax.io.notation and natjax.io.genotype_files: JSON and DARTS notation, reading files,
and the one resolver of architecture arguments (built-in names, files, FILE:NAME, derived.json)."""

import json
import os
import re

import pytest

from natjax.core import genotypes, zoo
from natjax.errors import InputError
from natjax.io import genotype_files, notation


@pytest.mark.parametrize("name", genotypes.builtin_names())
def test_builtin_files_round_trip(name, tmp_path):
  genotype = genotypes.builtin(name)
  genotype_files.write_archs({name: genotype}, str(tmp_path / "a.json"))
  assert genotype_files.read_archs(str(tmp_path / "a.json")) == {name: genotype}
  (tmp_path / "a.txt").write_text(notation.format_notation(genotype))
  assert genotype_files.read_archs(str(tmp_path / "a.txt")) == {"a": genotype}


def test_notation_with_assignments_and_range():
  text = ("from collections import namedtuple\n"
          "A = Genotype(normal=[('sep_conv_3x3', 0, 2), ('skip_connect', 1, 2)],"
          " normal_concat=range(2, 3), reduce=[('max_pool_3x3', 0, 2), ('max_pool_3x3', 1, 2)],"
          " reduce_concat=[2])\n")
  found = notation.parse_notation(text)
  assert found["A"].normal_concat == (2,)
  assert found["A"].reduce[1] == ("max_pool_3x3", 1, 2)


def test_json_list_and_mapping(tmp_path):
  g = notation.genotype_to_json(genotypes.DARTS)
  (tmp_path / "m.json").write_text(json.dumps({"x": g, "y": notation.genotype_to_json(genotypes.VGG)}))
  assert genotype_files.read_archs(str(tmp_path / "m.json")) == {"x": genotypes.DARTS, "y": genotypes.VGG}


def test_resolve_arch_builtin_and_file(tmp_path):
  assert genotype_files.resolve_arch("DARTS") == ("DARTS", genotypes.DARTS)
  path = tmp_path / "mine.json"
  path.write_text(json.dumps(notation.genotype_to_json(genotypes.ENAS)))
  assert genotype_files.resolve_arch(str(path)) == ("mine", genotypes.ENAS)


def test_error_empty_file(tmp_path):
  (tmp_path / "e.json").write_text("  \n")
  with pytest.raises(InputError, match=r"e.json: file is empty"):
    genotype_files.read_archs(str(tmp_path / "e.json"))


@pytest.mark.parametrize("text", ["[]", "{}", " [ ]\n"])
def test_error_json_without_genotypes(tmp_path, text):
  path = tmp_path / "none.json"
  path.write_text(text)
  for read in (genotype_files.read_archs, genotype_files.resolve_arch, genotype_files.archs_in_file):
    with pytest.raises(InputError, match=r"^.*none.json: holds no genotype$"):
      read(str(path))


@pytest.mark.parametrize("resolve, message", [
    (lambda: genotype_files.resolve_arch("gs://bucket/g.json:DARTS"),
     "architecture 'gs://bucket/g.json:DARTS': gs:// paths are not supported"),
    (lambda: genotype_files.resolve_arch("https://example.com/g.py", "config.arch"),
     "config.arch 'https://example.com/g.py': https:// paths are not supported"),
    (lambda: genotype_files.resolve_archs(["DARTS"], ["s3://bucket/g.json"]),
     "--archs-file 's3://bucket/g.json': s3:// paths are not supported")])
def test_error_url_is_refused_by_where_it_was_written(resolve, message):
  with pytest.raises(InputError, match=r"^" + re.escape(message) + r" \(natjax reads"):
    resolve()


def test_error_malformed_json(tmp_path):
  (tmp_path / "m.json").write_text('{"normal": [["sep_conv_3x3", 0, 2],')
  with pytest.raises(InputError, match=r"m.json: malformed JSON at line 1"):
    genotype_files.read_archs(str(tmp_path / "m.json"))


def test_error_json_missing_key(tmp_path):
  g = notation.genotype_to_json(genotypes.DARTS)
  del g["reduce_concat"]
  (tmp_path / "k.json").write_text(json.dumps(g))
  with pytest.raises(InputError, match=r"k.json: genotype is missing key 'reduce_concat'"):
    genotype_files.read_archs(str(tmp_path / "k.json"))


def test_error_malformed_notation(tmp_path):
  (tmp_path / "n.txt").write_text("Genotype(normal=[('sep_conv_3x3', 0, 2)")
  with pytest.raises(InputError, match=r"n.txt: malformed genotype notation at line 1"):
    genotype_files.read_archs(str(tmp_path / "n.txt"))


@pytest.mark.parametrize("prefix, hint", [
    ("10/09 09:19:10 AM genotype = ", "the line has '10/09 09:19:10 AM genotype =' before"),
    ("epoch 3 ", "the line has 'epoch 3' before"),
    ("DARTS = ", None),  # a genotypes.py assignment reads as it is
])
def test_a_search_log_line_is_named_as_such(tmp_path, prefix, hint):
  """A line copied from a DARTS-family search log keeps its time stamp: the message says what
  stands before Genotype(...)."""
  (tmp_path / "log.txt").write_text(prefix + notation.format_notation(genotypes.DARTS, "darts"))
  if hint is None:
    assert genotype_files.read_archs(str(tmp_path / "log.txt")) == {"DARTS": genotypes.DARTS}
    return
  with pytest.raises(InputError) as info:
    genotype_files.read_archs(str(tmp_path / "log.txt"))
  message = str(info.value)
  assert "log.txt: malformed genotype notation at line 1" in message and hint in message, message
  assert "\n" not in message


def test_notation_refuses_code(tmp_path):
  (tmp_path / "x.txt").write_text("Genotype(normal=__import__('os').system('true'),"
                                  " normal_concat=[2], reduce=[], reduce_concat=[2])")
  with pytest.raises(InputError, match=r"only literals and range\(a, b\) are allowed"):
    genotype_files.read_archs(str(tmp_path / "x.txt"))


def test_error_unknown_name_or_missing_file():
  with pytest.raises(InputError, match=r"'DART' is neither a built-in architecture \(did you mean "
                     r"'DARTS'\?\) nor an existing file"):
    genotype_files.resolve_arch("DART")


def _write_derived(directory, rule="natpp"):
  entries = [{"name": n, "input": {**notation.genotype_to_json(getattr(genotypes, n)), "params": 1},
              "output": {**notation.genotype_to_json(getattr(genotypes, "NATv2_" + n)),
                         "params": 2, "madds": 3, "source": "sample", "accuracy": 0.5}}
             for n in ("DARTS", "ResBlock")]
  path = os.path.join(directory, "derived.json")
  with open(path, "w", encoding="utf-8") as f:
    json.dump(entries, f)
  if rule:
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
      json.dump({"rule": rule}, f)
  return path


def test_derived_json_entries_and_work_directory(tmp_path):
  path = _write_derived(str(tmp_path))
  assert genotype_files.resolve_arch(path) == ("natpp(DARTS)", genotypes.NATv2_DARTS)
  assert genotype_files.resolve_arch(path + ":ResBlock") == ("natpp(ResBlock)", genotypes.NATv2_ResBlock)
  assert genotype_files.resolve_arch(str(tmp_path) + ":ResBlock")[1] == genotypes.NATv2_ResBlock
  with pytest.raises(InputError, match=r"derived.json: no entry 'Resblok' \(did you mean"
                     r" 'ResBlock'\?\)"):
    genotype_files.resolve_arch(path + ":Resblok")


def test_builtin_and_genotype_file(tmp_path):
  assert genotype_files.resolve_arch("nat_darts") == ("NAT_DARTS", genotypes.NAT_DARTS)
  path = str(tmp_path / "mine.json")
  genotype_files.write_archs({"mine": genotypes.R1}, path)
  assert genotype_files.resolve_arch(path) == ("mine", genotypes.R1)
  assert genotype_files.resolve_arch(path + ":mine") == ("mine", genotypes.R1)
  with pytest.raises(InputError, match="DARTZ"):
    genotype_files.resolve_arch("DARTZ")


def test_file_name_picks_an_entry_of_a_file_with_several(tmp_path):
  path = str(tmp_path / "several.json")
  genotype_files.write_archs({"a": genotypes.R1, "b": genotypes.R2}, path)
  assert genotype_files.resolve_arch(path + ":b") == ("b", genotypes.R2)
  with pytest.raises(InputError, match=r"holds 2 genotypes \(a, b\); pick one with .*several.json:NAME"):
    genotype_files.resolve_arch(path)
  with pytest.raises(InputError, match=r"several.json: no entry 'c'; entries: a, b"):
    genotype_files.resolve_arch(path + ":c")
  notation_file = tmp_path / "genotypes.py"
  notation_file.write_text(f"X = {notation.format_notation(genotypes.VGG)}\n"
                           f"Y = {notation.format_notation(genotypes.DARTS)}\n")
  assert genotype_files.resolve_arch(f"{notation_file}:Y") == ("Y", genotypes.DARTS)


# ---------------------------------------------------------------- genotypes as repositories write them

# The layout of the DARTS family's genotypes.py (cells: DARTS_V2 of quark0/darts, GDAS_V1 of
# D-X-Y/AutoDL-Projects, SNAS's mild cell with 'none' pads dropped).
GENOTYPES_PY = '''"""Genotypes of the searched cells."""
from collections import namedtuple

Genotype = namedtuple('Genotype', 'normal normal_concat reduce reduce_concat')

PRIMITIVES = [
    'none',
    'max_pool_3x3',
    'skip_connect',
    'sep_conv_3x3',
]

# DARTS (second order)
DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0),
  ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0),
  ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0),
  ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0),
  ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])
GDAS_V1 = Genotype(
  normal=[
    (('skip_connect', 0), ('skip_connect', 1)),
    (('skip_connect', 0), ('sep_conv_5x5', 2)),
    (('sep_conv_3x3', 3), ('skip_connect', 0)),
    (('sep_conv_5x5', 4), ('sep_conv_3x3', 3))],
  normal_concat=[2, 3, 4, 5],
  reduce=[
    (('sep_conv_5x5', 0), ('sep_conv_3x3', 1)),
    (('sep_conv_5x5', 2), ('sep_conv_5x5', 1)),
    (('dil_conv_5x5', 2), ('sep_conv_3x3', 1)),
    (('sep_conv_5x5', 0), ('sep_conv_5x5', 1))],
  reduce_concat=[2, 3, 4, 5],
  connectN=None, connects=None
)

DARTS = DARTS_V2
'''


def test_a_repository_genotypes_py_reads_as_is(tmp_path):
  path = tmp_path / "genotypes.py"
  path.write_text(GENOTYPES_PY)
  found = genotype_files.read_archs(str(path))
  assert list(found) == ["DARTS_V2", "GDAS_V1", "DARTS"]
  assert found["DARTS_V2"] == found["DARTS"] == genotypes.DARTS
  assert found["GDAS_V1"] == zoo.genotype("GDAS_V1")
  assert genotype_files.resolve_arch(f"{path}:GDAS_V1") == ("GDAS_V1", zoo.genotype("GDAS_V1"))
  with pytest.raises(InputError, match=r"holds 3 genotypes .* pick one with .*genotypes.py:NAME,"
                     r" or take them all with --archs-file"):
    genotype_files.resolve_arch(str(path))
  assert [n for n, _ in genotype_files.resolve_archs(["DARTS"], [str(path)])] == [
      "DARTS", "DARTS_V2", "GDAS_V1", "DARTS"]


@pytest.mark.parametrize("form", notation.FORMS)
def test_both_forms_round_trip_through_json_and_genotypes_py(form, tmp_path):
  named = {"A": genotypes.NAT_DARTS, "B": genotypes.ENAS, "C": zoo.genotype("AMOEBANET")}
  for name in ("out.json", "out.py"):
    path = str(tmp_path / name)
    genotype_files.write_archs(named, path, form=form)
    assert genotype_files.read_archs(path) == named
  text = notation.format_notation(genotypes.NAT_DARTS, form)
  if form == "darts":  # (op, from) edges and DARTS's name of the zero op.
    assert "('none', 2)" in text and "'null'" not in text
    assert notation.genotype_to_json(genotypes.DARTS, form)["normal"][0] == ["sep_conv_3x3", 0]
  else:
    assert "('null', 2, 4)" in text


def test_json_two_tuples_and_none(tmp_path):
  g = {"normal": [[op, src] for op, src, _ in genotypes.NAT_DARTS.normal],
       "normal_concat": [2, 3, 4, 5],
       "reduce": [["none" if op == "null" else op, src, dst]
                  for op, src, dst in genotypes.NAT_DARTS.reduce],
       "reduce_concat": [2, 3, 4, 5]}
  (tmp_path / "g.json").write_text(json.dumps([{"name": "x", **g}]))
  assert genotype_files.read_archs(str(tmp_path / "g.json")) == {"x": genotypes.NAT_DARTS}


def test_published_cells_resolve_by_name():
  assert genotype_files.resolve_arch("darts_v1") == ("DARTS_V1", zoo.genotype("DARTS_V1"))
  with pytest.raises(InputError, match=r"'SETN' is not representable in natjax"):
    genotype_files.resolve_arch("SETN")
  with pytest.raises(InputError, match=r"'PDART' is neither a built-in architecture \(did you"
                     r" mean 'PDARTS'\?\)"):
    genotype_files.resolve_arch("PDART")


def test_archs_file_takes_every_output_of_a_derived_json(tmp_path):
  path = _write_derived(str(tmp_path))
  expected = [("natpp(DARTS)", genotypes.NATv2_DARTS), ("natpp(ResBlock)", genotypes.NATv2_ResBlock)]
  assert genotype_files.resolve_archs([], [path]) == expected
  assert genotype_files.resolve_archs([], [str(tmp_path)]) == expected
  with pytest.raises(InputError, match=r"give at least one architecture"):
    genotype_files.resolve_archs([], [])


@pytest.mark.parametrize("form", ["notation", "json"])
def test_file_name_reads_its_entry_when_another_entry_is_invalid(form, tmp_path):
  """A repository's genotypes.py may hold an entry natjax refuses (a swapped edge): FILE:NAME of
  another entry still reads; the bad entry, the whole file and a misspelt name say which."""
  good = genotypes.DARTS
  bad = good._replace(normal=(("sep_conv_3x3", 2, 0),) + tuple(good.normal[1:]))
  if form == "notation":
    path = tmp_path / "genotypes.py"
    path.write_text(f"BAD = {notation.format_notation(bad)}\nPDARTS = "
                    f"{notation.format_notation(good)}\n")
  else:
    path = tmp_path / "genotypes.json"
    raw_bad = notation.genotype_to_json(good)
    raw_bad["normal"][0] = ["sep_conv_3x3", 2, 0]
    path.write_text(json.dumps({"BAD": raw_bad, "PDARTS": notation.genotype_to_json(good)}))
  assert genotype_files.resolve_arch(f"{path}:PDARTS") == ("PDARTS", good)
  with pytest.raises(InputError, match=r"no entry 'PDART' \(did you mean 'PDARTS'\?\)"):
    genotype_files.resolve_arch(f"{path}:PDART")
  with pytest.raises(InputError, match=r"BAD.*edge 0.*swapped"):
    genotype_files.resolve_arch(f"{path}:BAD")
  with pytest.raises(InputError, match=r"BAD.*edge 0"):
    genotype_files.read_archs(str(path))


def test_a_search_output_imports_the_modules_its_search_imported(tmp_path, monkeypatch):
  """`natjax retrain --arch SEARCH_DIR` of a fork's search: the fork's module (recorded in the
  search's config.json) is imported before the genotype is read; a bad field is one line."""
  import sys
  search = tmp_path / "search"
  search.mkdir()
  path = _write_derived(str(search))
  (tmp_path / "fork_marker_mod.py").write_text("IMPORTED = True\n")
  (search / "config.json").write_text(json.dumps({"rule": "natpp",
                                                  "imports": ["fork_marker_mod"]}))
  monkeypatch.chdir(tmp_path)
  monkeypatch.delitem(sys.modules, "fork_marker_mod", raising=False)
  assert genotype_files.resolve_arch(str(search))[1] == genotypes.NATv2_DARTS
  assert sys.modules.pop("fork_marker_mod").IMPORTED
  (search / "config.json").write_text(json.dumps({"rule": "natpp", "imports": "fork"}))
  with pytest.raises(InputError, match=r"config.json: field 'imports' must be a list"):
    genotype_files.resolve_arch(path)
