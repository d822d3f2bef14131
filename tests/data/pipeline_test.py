"""Tests for natjax.data.pipeline: grain's batches are the single-threaded batches, per process."""

import sys

import numpy as np
import PIL.Image
import psutil
import pytest

import tfds_fakes
from natjax import data
from natjax.errors import InputError

GLOBAL_BATCH = 4
IMAGE_SIZE = 8
SIZES = {"train": 24, "validation": 6}


def _examples(split):
  """JPEGs of different sizes; the label names the example."""
  rng = np.random.default_rng(len(split))
  for i in range(SIZES[split]):
    image = rng.integers(0, 256, size=tuple(rng.integers(9, 20, size=2)) + (3,), dtype=np.uint8)
    yield f"{split}_{i}", {"file_name": f"{i}.jpg", "image": PIL.Image.fromarray(image),
                           "label": i}


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds")
  tfds_fakes.imagenet2012(data_dir, SIZES, _examples, encoding="jpeg")
  return data.load("imagenet2012", data_dir=str(data_dir), split_seed=3, image_size=IMAGE_SIZE)


def _cifar_examples(split):
  rng = np.random.default_rng(0)
  for i in range(10):
    yield f"{split}_{i}", {"id": str(i), "image": PIL.Image.fromarray(
        rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)), "label": i}


@pytest.fixture(scope="module")
def cifar10(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds")
  tfds_fakes.cifar10(data_dir, ("train", "test"), _cifar_examples)
  return data.load("cifar10", data_dir=str(data_dir), split_seed=3, w_fraction=0.5)


def _reference(source, seed, epoch, step, process_index=0, process_count=1):
  """The single-threaded path: data.batch of data.batch_indices."""
  indices = data.batch_indices(len(source), GLOBAL_BATCH, seed, epoch, step, process_index,
                               process_count)
  return data.batch(source, indices, epoch)


def _assert_same(got, want):
  assert set(got) == {"image", "label"}
  for key in got:
    assert got[key].dtype == want[key].dtype
    np.testing.assert_array_equal(got[key], want[key])


OPTIONS = [data.PipelineOptions(threads=1, prefetch=1), data.PipelineOptions(threads=3, prefetch=5)]


@pytest.mark.parametrize("options", OPTIONS, ids=["1 thread", "3 threads"])
@pytest.mark.parametrize("split", ["train", "w"])
def test_batches_equal_the_single_threaded_path(imagenet, split, options):
  source = getattr(imagenet, split)
  steps = data.steps_per_epoch(len(source), GLOBAL_BATCH)
  assert steps >= 2
  with data.HostBatches(source, GLOBAL_BATCH, seed=7, process_index=0, process_count=1,
                        options=options) as batches:
    for epoch in (0, 1):
      for step in range(steps):
        got = batches(epoch, step)
        assert got["image"].shape == (GLOBAL_BATCH, IMAGE_SIZE, IMAGE_SIZE, 3)
        _assert_same(got, _reference(source, 7, epoch, step))
  # Training crops differ between epochs, so the equality above covers the epoch's crops too.
  first = [_reference(source, 7, epoch, 0) for epoch in (0, 1)]
  assert not np.array_equal(first[0]["image"], first[1]["image"])


def test_cifar10_batches_equal_the_single_threaded_path(cifar10):
  with data.HostBatches(cifar10.theta, GLOBAL_BATCH, 1, None, 0, 1,
                        data.PipelineOptions(threads=2)) as batches:
    _assert_same(batches(3, 0), _reference(cifar10.theta, 1, 3, 0))
    _assert_same(batches(3, 0), _reference(cifar10.theta, 1, 3, 0))  # asked for again


def test_same_seed_epoch_step_same_batch_in_any_order_of_calls(imagenet):
  source = imagenet.train
  options = data.PipelineOptions(threads=2, prefetch=3)
  steps = data.steps_per_epoch(len(source), GLOBAL_BATCH)
  with data.HostBatches(source, GLOBAL_BATCH, 5, None, 0, 1, options) as run:
    straight = {(e, s): run(e, s) for e in range(2) for s in range(steps)}
  # A resumed run: fresh objects, starting mid-epoch, jumping back, repeating a step.
  order = [(1, 3), (1, 4), (0, 2), (0, 2), (1, 0), (0, 5), (0, 4)]
  with data.HostBatches(source, GLOBAL_BATCH, 5, None, 0, 1, options) as resumed:
    for epoch, step in order:
      _assert_same(resumed(epoch, step), straight[(epoch, step)])
  # The same examples in the same order: the labels name the examples.
  labels = np.concatenate([straight[(0, s)]["label"] for s in range(steps)])
  np.testing.assert_array_equal(np.sort(labels), np.arange(len(source)))
  other_seed = data.HostBatches(source, GLOBAL_BATCH, 6, None, 0, 1, options)
  assert not np.array_equal(other_seed(0, 0)["label"], straight[(0, 0)]["label"])
  other_seed.close()


def test_two_processes_read_disjoint_halves_of_the_global_batch(imagenet):
  source = imagenet.theta
  options = data.PipelineOptions(threads=2, prefetch=2)
  steps = data.steps_per_epoch(len(source), GLOBAL_BATCH)
  whole = data.HostBatches(source, GLOBAL_BATCH, 11, None, 0, 1, options)
  halves = [data.HostBatches(source, GLOBAL_BATCH, 11, None, p, 2, options) for p in (0, 1)]
  for epoch in (0, 1):
    for step in range(steps):
      parts = [half(epoch, step) for half in halves]
      assert [p["label"].shape for p in parts] == [(GLOBAL_BATCH // 2,)] * 2
      assert not set(parts[0]["label"].tolist()) & set(parts[1]["label"].tolist())
      glued = {k: np.concatenate([parts[0][k], parts[1][k]]) for k in parts[0]}
      _assert_same(glued, whole(epoch, step))
      _assert_same(parts[1], _reference(source, 11, epoch, step, 1, 2))
  for b in [whole] + halves:
    b.close()


def test_a_step_cap_and_bad_requests(imagenet):
  batches = data.HostBatches(imagenet.train, GLOBAL_BATCH, 0, steps=2, process_index=0,
                             process_count=1, options=data.PipelineOptions(threads=2))
  _assert_same(batches(0, 1), _reference(imagenet.train, 0, 0, 1))
  with pytest.raises(InputError, match=r"step 2 not in \[0, 2\)"):
    batches(0, 2)
  with pytest.raises(InputError, match="not divisible"):
    data.HostBatches(imagenet.train, 3, 0, process_index=0, process_count=2)
  with pytest.raises(InputError, match="make no batch of 64"):
    data.HostBatches(imagenet.train, 64, 0, process_index=0, process_count=1)
  with pytest.raises(InputError, match="threads must be >= 0, got -1"):
    data.PipelineOptions(threads=-1)


def _children():
  """This process's descendants but multiprocessing's resource tracker (it lives as long as we
  do, whoever started it)."""
  return {p.pid for p in psutil.Process().children(recursive=True)
          if "resource_tracker" not in " ".join(p.cmdline())}


def test_worker_processes_give_the_same_batches_and_end_on_close(imagenet):
  source = imagenet.train
  before = _children()
  options = data.PipelineOptions(threads=1, workers=2, prefetch=2)
  with data.HostBatches(source, GLOBAL_BATCH, 2, 4, 0, 1, options) as batches:
    for step in range(3):  # batches alternate between the two workers
      _assert_same(batches(1, step), _reference(source, 2, 1, step))
    workers = _children() - before
    assert len(workers) == 2
  assert not workers & _children()


def test_prefetch_and_read_equal_direct_reads(imagenet):
  source = imagenet.test
  index_batches = [np.array([5, 0, 2]), np.array([1]), np.array([4, 3])]
  options = data.PipelineOptions(threads=2)
  got = list(data.prefetch(source, index_batches, epoch=3, options=options))
  assert len(got) == 3
  for g, indices in zip(got, index_batches):
    _assert_same(g, data.batch(source, indices))
  order = np.array([3, 1, 4, 0, 5, 2])
  _assert_same(data.read(imagenet.train, order, epoch=2, chunk=4, options=options),
               data.batch(imagenet.train, order, epoch=2))


def test_in_memory_sources_never_import_grain(monkeypatch, imagenet):
  monkeypatch.setitem(sys.modules, "grain", None)  # `import grain` raises ImportError
  digits = data.load("digits")
  batches = data.HostBatches(digits.w, GLOBAL_BATCH, 1, process_index=0, process_count=1)
  indices = data.batch_indices(len(digits.w), GLOBAL_BATCH, 1, 2, 3)
  _assert_same(batches(2, 3), data.batch(digits.w, indices))
  with pytest.raises(InputError, match=r"needs natjax's tfds extra \(grain\).*natjax\[tfds\]"):
    data.HostBatches(imagenet.train, GLOBAL_BATCH, 1, process_index=0, process_count=1)(0, 0)
