"""Tests for `natjax compare`: the table and plot of finished retraining runs."""

import json

import numpy as np
import PIL.Image
import pytest

from natjax import cli
from natjax.errors import InputError
from natjax.io import reports


def _run_dir(tmp_path, name, arch, params, madds, acc, best):
  directory = tmp_path / name
  directory.mkdir()
  result = {"arch": arch, "genotype": {}, "network": "cifar", "dataset": "cifar10",
            "params": params, "madds": madds, "epochs": 600, "final_test_accuracy": acc,
            "best_test_accuracy": best, "wall_time_s": 1.0}
  (directory / "retrain.json").write_text(json.dumps(result))
  return str(directory)


def test_table_and_plot_of_two_runs(tmp_path, capsys):
  a = _run_dir(tmp_path, "a", "DARTS", 3_349_342, 528_359_040, 0.9712, 0.9730)
  b = _run_dir(tmp_path, "b", "nat(DARTS)", 2_675_350, 415_000_000, 0.9748, 0.9751)
  png = str(tmp_path / "plot.png")
  assert cli.main(["compare", a, b, "--out", png]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert lines[0].split()[:2] == ["architecture", "params"]
  assert lines[1].split()[:5] == ["DARTS", "3.349", "528.4", "97.12", "97.30"]
  assert lines[2].split()[:5] == ["nat(DARTS)", "2.675", "415.0", "97.48", "97.51"]
  assert lines[3] == f"wrote {png}"
  image = np.asarray(PIL.Image.open(png).convert("RGB"))
  assert image.shape == (450, 600, 3)
  assert (image.min(axis=-1) < 128).mean() > 0.01  # axes, labels and points were drawn


def test_missing_or_corrupt_results_name_the_file(tmp_path, capsys):
  good = _run_dir(tmp_path, "good", "DARTS", 1, 2, 0.5, 0.5)
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(InputError, match=f"{empty}/retrain.json: not found"):
    reports.compare([good, str(empty)])
  corrupt = tmp_path / "corrupt"
  corrupt.mkdir()
  (corrupt / "retrain.json").write_text('{"arch": "DARTS", "params": ')
  with pytest.raises(InputError, match=f"{corrupt}/retrain.json: malformed JSON at line 1"):
    reports.compare([str(corrupt)])
  (corrupt / "retrain.json").write_text('{"arch": "DARTS", "params": 1, "madds": 2}')
  with pytest.raises(InputError, match="retrain.json: missing field 'final_test_accuracy'"):
    reports.compare([str(corrupt)])
  (corrupt / "retrain.json").write_text(
      '{"arch": "X", "params": "many", "madds": 2, "final_test_accuracy": 0.5}')
  with pytest.raises(InputError, match="field 'params' is not a number"):
    reports.compare([str(corrupt)])
  assert cli.main(["compare", good, str(corrupt)]) == 2
  err = capsys.readouterr().err
  assert err.startswith("natjax compare: error: ") and f"{corrupt}/retrain.json" in err
  assert err.count("\n") == 1
