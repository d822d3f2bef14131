"""Tests for natjax.io.plots: the event file reader (against records framed here by hand, with
an independent CRC-32C), the curves of a search and of a retraining, the derivation candidates,
and `draw_run` on run directories written here (event files by tensorboardX.SummaryWriter)."""

import json
import os
import struct

import numpy as np
import pytest
import tensorboardX
from tensorboardX.proto import event_pb2, summary_pb2

from natjax.core import costs, genotypes
from natjax.errors import InputError
from natjax.io import plots
from natjax.search import transform

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEARCH_TAGS = ("w/loss", "w/accuracy", "theta/loss", "theta/reward", "theta/baseline",
               "theta/entropy", "theta/acc_alpha", "theta/acc_beta")
RETRAIN_TAGS = ("train/loss", "train/accuracy", "train/grad_norm", "train/learning_rate",
                "train/drop_path_prob", "test/accuracy", "test/loss")


# ----------------------------------------------------------------------------------------------
# TFRecord framing, written independently of tensorboardX's writer.


def _crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit."""
  crc = 0xFFFFFFFF
  for byte in data:
    crc ^= byte
    for _ in range(8):
      crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
  return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
  """TFRecord's masking of a CRC: rotate right by 15, add a constant."""
  return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _record(payload: bytes) -> bytes:
  length = struct.pack("<Q", len(payload))
  return (length + struct.pack("<I", _masked(_crc32c(length))) + payload
          + struct.pack("<I", _masked(_crc32c(payload))))


def _scalar_event(step: int, **values: float) -> bytes:
  summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=t.replace("__", "/"),
                                                                simple_value=v)
                                       for t, v in values.items()])
  return event_pb2.Event(step=step, wall_time=1.0, summary=summary).SerializeToString()


def test_crc32c_of_the_standard_check_string():
  assert _crc32c(b"123456789") == 0xE3069283  # the CRC-32C catalogue's check value


def _hand_file(path, events):
  first = event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()
  data = b"".join(_record(e) for e in [first] + list(events))
  path.write_bytes(data)
  return data


def test_reader_reads_hand_framed_events(tmp_path):
  _hand_file(tmp_path / "events.out.tfevents.100.host",
             [_scalar_event(1, theta__reward=0.5, w__loss=2.0),
              _scalar_event(3, theta__reward=-0.25), _scalar_event(2, theta__reward=0.125)])
  events = plots.read_events(str(tmp_path / "events.out.tfevents.100.host"))
  assert len(events) == 4 and events[0].file_version == "brain.Event:2"
  scalars = plots.read_scalars(str(tmp_path))
  assert set(scalars) == {"theta/reward", "w/loss"}
  steps, values = scalars["theta/reward"]
  assert steps.tolist() == [1, 2, 3] and values.tolist() == [0.5, 0.125, -0.25]
  assert scalars["w/loss"][1].tolist() == [2.0]


@pytest.mark.parametrize("where, what", [(3, "length checksum"), (20, "record checksum")])
def test_a_damaged_record_is_one_line_naming_file_and_offset(tmp_path, where, what):
  path = tmp_path / "events.out.tfevents.1.h"
  data = bytearray(_hand_file(path, [_scalar_event(1, reward=1.0)]))
  second = len(_record(event_pb2.Event(wall_time=1.0,
                                       file_version="brain.Event:2").SerializeToString()))
  data[second + where] ^= 0x40
  path.write_bytes(bytes(data))
  with pytest.raises(InputError, match=f"{what} at byte {second}") as err:
    plots.read_events(str(path))
  assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_record_that_is_not_an_event_is_damaged(tmp_path):
  path = tmp_path / "events.out.tfevents.1.h"
  path.write_bytes(_record(b"\xff\xff\xff"))
  with pytest.raises(InputError, match="not an event"):
    plots.read_events(str(path))


def test_a_record_cut_short_at_the_end_is_not_read_yet(tmp_path):
  path = tmp_path / "events.out.tfevents.1.h"
  data = _hand_file(path, [_scalar_event(1, reward=1.0), _scalar_event(2, reward=2.0)])
  path.write_bytes(data[:-3])
  assert plots.read_scalars(str(tmp_path))["theta/reward"][1].tolist() == [1.0]


def test_a_missing_file_is_one_line(tmp_path):
  with pytest.raises(InputError, match="not found"):
    plots.read_events(str(tmp_path / "events.out.tfevents.1.h"))


def test_later_files_replace_repeated_steps_and_legacy_tags_are_renamed(tmp_path):
  _hand_file(tmp_path / "events.out.tfevents.99.h", [_scalar_event(s, reward=float(s))
                                                      for s in (1, 2, 3)])
  _hand_file(tmp_path / "events.out.tfevents.100.h", [_scalar_event(s, reward=10.0 * s)
                                                       for s in (3, 4)])
  steps, values = plots.read_scalars(str(tmp_path))["theta/reward"]
  assert steps.tolist() == [1, 2, 3, 4] and values.tolist() == [1.0, 2.0, 30.0, 40.0]


def test_reader_reads_what_tensorboardx_writes(tmp_path):
  writer = tensorboardX.SummaryWriter(str(tmp_path))
  for step in range(1, 6):
    for i, tag in enumerate(SEARCH_TAGS):
      writer.add_scalar(tag, step / 4 + i, step)
  writer.close()
  scalars = plots.read_scalars(str(tmp_path))
  assert set(scalars) == set(SEARCH_TAGS)
  for i, tag in enumerate(SEARCH_TAGS):
    assert scalars[tag][0].tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(scalars[tag][1], np.arange(1, 6) / 4 + i)


# ----------------------------------------------------------------------------------------------
# Figures.


def _series(n=5, offset=0.0):
  return np.arange(1, n + 1, dtype=np.int64) * 10, np.linspace(0, 1, n) + offset


def test_search_curves_have_one_line_per_logged_tag():
  scalars = {tag: _series(offset=i) for i, tag in enumerate(SEARCH_TAGS)}
  fig = plots.curves_figure(scalars, "run")
  axes = fig.axes
  assert [ax.get_title() for ax in axes] == [p[0] for p in plots.SEARCH_PANELS]
  assert [len(ax.lines) for ax in axes] == [2, 3, 1, 1]
  reward, baseline = axes[0].lines
  np.testing.assert_array_equal(reward.get_xdata(), scalars["theta/reward"][0])
  np.testing.assert_array_equal(reward.get_ydata(), scalars["theta/reward"][1])
  np.testing.assert_array_equal(baseline.get_ydata(), scalars["theta/baseline"][1])
  np.testing.assert_array_equal(axes[1].lines[0].get_ydata(), scalars["w/accuracy"][1])
  np.testing.assert_array_equal(axes[2].lines[0].get_ydata(), scalars["theta/entropy"][1])


def test_a_search_in_its_warm_up_says_which_curves_are_not_logged_yet():
  fig = plots.curves_figure({"w/loss": _series(), "w/accuracy": _series()})
  assert [len(ax.lines) for ax in fig.axes] == [0, 1, 0, 1]
  assert "not logged" in fig.axes[0].texts[0].get_text()


def test_retrain_curves():
  scalars = {tag: _series() for tag in RETRAIN_TAGS}
  fig = plots.curves_figure(scalars)
  assert [ax.get_title() for ax in fig.axes] == [p[0] for p in plots.RETRAIN_PANELS]
  assert [len(ax.lines) for ax in fig.axes] == [2, 2, 1, 2]


def test_scalars_of_neither_kind_are_refused_naming_the_tags():
  with pytest.raises(InputError, match="found: loss, lr"):
    plots.curves_figure({"loss": _series(), "lr": _series()})


def _derived_entries():
  """Two derived.json entries as `natjax.search.derive.derive` builds them."""
  def entry(name, before, chosen, candidates):
    cost = lambda g: costs.genotype_cost(g)
    inp = transform.report_entry(before, **cost(before), accuracy=0.5)
    cands = [transform.report_entry(g, **cost(g), source=s, log_prob=-1.0, cost_ok=acc is not None,
                                    connected=True, accuracy=acc) for g, s, acc in candidates]
    return {"name": name, "input": inp, "output": cands[chosen], "candidates": cands}
  d, nat = genotypes.DARTS, genotypes.NAT_DARTS
  return [entry("DARTS", d, 1, [(d, "sample 0", 0.5), (nat, "sample 1", 0.625),
                                (nat, "sample 2", 0.625), (nat, "sample 3", 0.625),
                                (genotypes.VGG, "sample 4", None), (d, "greedy", 0.5)]),
          entry("ENAS", genotypes.ENAS, 0, [(genotypes.NAT_ENAS, "greedy", 0.25)])]


def test_candidates_mark_input_chosen_and_every_scored_candidate():
  entries = _derived_entries()
  fig = plots.candidates_figure(entries, "t")
  first = fig.axes[0]
  assert first.get_title() == "DARTS: 5 of 6 candidates scored"
  offsets = {c.get_label(): c.get_offsets().tolist() for c in first.collections}
  darts, nat = (costs.genotype_cost(g)["madds"] / 1e6
                for g in (genotypes.DARTS, genotypes.NAT_DARTS))
  assert offsets["input"] == [[darts, 0.5]]
  assert offsets["chosen"] == [[nat, 0.625]]
  assert offsets["sampled candidate"] == [[darts, 0.5]] + [[nat, 0.625]] * 3
  assert offsets["greedy candidate"] == [[darts, 0.5]]
  assert [t.get_text() for t in first.texts] == ["x2", "x3"]
  assert fig.axes[1].get_title() == "ENAS: 1 of 1 candidates scored"


# ----------------------------------------------------------------------------------------------
# Run directories.


def _search_run(root):
  writer = tensorboardX.SummaryWriter(str(root / "tensorboard"))
  for step in range(10, 60, 10):
    for tag in SEARCH_TAGS:
      writer.add_scalar(tag, step / 100, step)
  writer.close()
  (root / "derived.json").write_text(json.dumps(_derived_entries()))
  return root


def test_draw_run_of_a_search_writes_both_plots(tmp_path):
  run = _search_run(tmp_path / "run")
  written = plots.draw_run(str(run))
  assert written == [str(run / "curves.png"), str(run / "candidates.png")]
  for path in written:
    data = open(path, "rb").read()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
  out = tmp_path / "new" / "plots"
  assert plots.draw_run(str(run), str(out)) == [str(out / "curves.png"),
                                                str(out / "candidates.png")]


def test_draw_run_of_a_retraining_writes_its_curves(tmp_path):
  writer = tensorboardX.SummaryWriter(str(tmp_path / "tensorboard"))
  for step in range(1, 4):
    for tag in RETRAIN_TAGS:
      writer.add_scalar(tag, step, step)
  writer.close()
  assert plots.draw_run(str(tmp_path)) == [str(tmp_path / "curves.png")]
  assert os.path.getsize(tmp_path / "curves.png") > 10_000


def test_draw_run_errors_are_one_line_and_write_nothing(tmp_path):
  with pytest.raises(InputError, match="missing: not found"):
    plots.draw_run(str(tmp_path / "missing"))
  (tmp_path / "file").write_text("x")
  with pytest.raises(InputError, match="is a file"):
    plots.draw_run(str(tmp_path / "file"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(InputError, match="no scalars in .*empty/tensorboard"):
    plots.draw_run(str(tmp_path / "empty"))
  run = _search_run(tmp_path / "run")
  entries = _derived_entries()
  del entries[1]["input"]["madds"]
  (run / "derived.json").write_text(json.dumps(entries))
  with pytest.raises(InputError, match=r"derived.json: entry 1 \(ENAS\): input has no number"
                     " 'madds'"):
    plots.draw_run(str(run))
  (run / "derived.json").write_text("[")
  with pytest.raises(InputError, match="malformed JSON"):
    plots.draw_run(str(run))
  assert not list(run.glob("*.png"))
