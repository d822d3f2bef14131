"""Tests for natjax.data.datasets, sources and tfds: digits, the w/θ split, tfds without TF."""

import sys

import chex
import numpy as np
import PIL.Image
import pytest
import tensorflow_datasets as tfds
from sklearn import datasets as sk_datasets

import tfds_fakes
from natjax import data
from natjax.errors import InputError

# ---------------------------------------------------------------------------------------------
# digits (offline default).


@pytest.fixture(scope="module")
def digits():
  return data.load("digits")


def _rows(images, labels):
  """Each example as one sortable row (label first), sorted: a multiset of examples."""
  flat = np.concatenate([labels[:, None].astype(np.int64),
                         images.reshape(len(labels), -1).astype(np.int64)], axis=1)
  return flat[np.lexsort(flat.T[::-1])]


def _all(source):
  return source.get(np.arange(len(source)))


def test_digits_shapes_dtypes_and_sizes(digits):
  assert (len(digits.train), len(digits.test), len(digits.w), len(digits.theta)) == (
      1500, 297, 600, 900)
  assert digits.image_shape == (8, 8, 1) and digits.num_classes == 10
  assert digits.crop_padding == 1 and not digits.flip
  for source in (digits.train, digits.test, digits.w, digits.theta):
    images, labels = source.get(np.array([0, 5, 3]))
    chex.assert_shape(images, (3, 8, 8, 1))
    chex.assert_type(images, np.uint8)
    chex.assert_shape(labels, (3,))
    chex.assert_type(labels, np.int32)
  chex.assert_shape([digits.mean, digits.std], (1,))
  chex.assert_type([digits.mean, digits.std], np.float32)
  train_images, train_labels = _all(digits.train)
  test_labels = _all(digits.test)[1]
  assert set(np.unique(train_labels)) == set(range(10))
  assert test_labels.min() >= 0 and test_labels.max() <= 9
  # mean/std are the training pixels' in [0, 1] units.
  np.testing.assert_allclose(digits.mean, [train_images.mean() / 255], rtol=1e-5)
  np.testing.assert_allclose(digits.std, [train_images.std() / 255], rtol=1e-5)


def test_digits_train_and_test_partition_the_scaled_sklearn_digits(digits):
  raw = sk_datasets.load_digits()
  expected = _rows(np.round(raw.images * 255 / 16).astype(np.uint8), raw.target)
  train, test = _all(digits.train), _all(digits.test)
  got = _rows(np.concatenate([train[0], test[0]]), np.concatenate([train[1], test[1]]))
  np.testing.assert_array_equal(got, expected)
  assert _all(digits.train)[0].max() == 255


def test_w_and_theta_split_the_training_set(digits):
  w, theta = digits.w.indices, digits.theta.indices
  assert len(np.intersect1d(w, theta)) == 0
  np.testing.assert_array_equal(np.sort(np.concatenate([w, theta])), np.arange(1500))
  np.testing.assert_array_equal(w, np.random.default_rng(1234).permutation(1500)[:600])
  # The subset sources read the training examples at those indices.
  for subset, idx in ((digits.w, w), (digits.theta, theta)):
    for a, b in zip(_all(subset), digits.train.get(idx)):
      np.testing.assert_array_equal(a, b)


def test_split_depends_on_the_seed_only(digits):
  again = data.load("digits")
  other = data.load("digits", split_seed=7)
  np.testing.assert_array_equal(again.w.indices, digits.w.indices)
  assert not np.array_equal(other.w.indices, digits.w.indices)
  # The test set is fixed whatever the search's split seed.
  np.testing.assert_array_equal(_all(other.test)[0], _all(digits.test)[0])
  half = data.load("digits", w_fraction=0.5)
  assert (len(half.w), len(half.theta)) == (750, 750)


def test_bad_inputs_raise_input_error(digits):
  with pytest.raises(InputError, match="did you mean 'cifar10'"):
    data.load("cifar1")
  with pytest.raises(InputError, match="w_fraction"):
    data.load("digits", w_fraction=1.0)
  with pytest.raises(InputError, match="out of range"):
    digits.w.get(np.array([600]))


def test_batch_dict(digits):
  out = data.batch(digits.theta, np.array([2, 1]))
  assert set(out) == {"image", "label"}
  np.testing.assert_array_equal(out["image"], digits.train.get(digits.theta.indices[[2, 1]])[0])


# ---------------------------------------------------------------------------------------------
# tfds datasets, written as array_record into a temporary directory (no network, no TensorFlow).


def _cifar_like(n, seed):
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
  images[:, 0, 0, 0] = np.arange(n)  # all distinct
  return images, rng.integers(0, 10, size=n)


CIFAR_SIZES = {"train": 20, "test": 6}


def _cifar_examples(split):
  images, labels = _cifar_like(CIFAR_SIZES[split], seed=len(split))
  for i, (image, label) in enumerate(zip(images, labels)):
    yield f"{split}_{i}", {"id": f"{split}_{i}", "image": PIL.Image.fromarray(image),
                           "label": int(label)}


IMAGENET_SIZES = [(9, 9), (9, 14), (12, 9), (20, 11), (10, 10), (9, 30)]


def _imagenet_like(split):
  rng = np.random.default_rng(len(split))
  return [(rng.integers(0, 256, size=hw + (3,), dtype=np.uint8), int(rng.integers(0, 1000)))
          for hw in IMAGENET_SIZES]


def _imagenet_examples(split):
  for i, (image, label) in enumerate(_imagenet_like(split)):
    yield f"{split}_{i}", {"file_name": f"{i}.png", "image": PIL.Image.fromarray(image),
                           "label": label}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds")
  tfds_fakes.cifar10(data_dir, CIFAR_SIZES, _cifar_examples)
  tfds_fakes.imagenet2012(data_dir, ("train", "validation"), _imagenet_examples)
  return data_dir


@pytest.fixture
def no_downloads(monkeypatch):
  """Makes every tfds download path fail the test."""
  def fail(*args, **kwargs):
    raise AssertionError("a download was attempted")
  for name in ("download", "download_and_extract", "download_checksums", "extract"):
    monkeypatch.setattr(tfds.download.DownloadManager, name, fail)
  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fail)


def _by_image(images, labels):
  return {im.tobytes(): int(lab) for im, lab in zip(images, labels)}


def test_cifar10_from_array_record_reads_exactly_what_was_written(tfds_dir, no_downloads):
  ds = data.load("cifar10", data_dir=str(tfds_dir))
  assert (ds.num_classes, ds.image_shape, ds.crop_padding, ds.flip) == (10, (32, 32, 3), 4, True)
  np.testing.assert_allclose(ds.mean, data.CIFAR10_MEAN)
  for source, split in ((ds.train, "train"), (ds.test, "test")):
    written = _by_image(*_cifar_like(CIFAR_SIZES[split], seed=len(split)))
    images, labels = _all(source)
    chex.assert_shape(images, (len(written), 32, 32, 3))
    chex.assert_type([images, labels], [np.uint8, np.int32])
    assert _by_image(images, labels) == written  # every written example, once, with its label
  assert (len(ds.w), len(ds.theta)) == (8, 12)
  np.testing.assert_array_equal(ds.w.indices, np.random.default_rng(1234).permutation(20)[:8])
  np.testing.assert_array_equal(_all(ds.theta)[0], ds.train.get(ds.theta.indices)[0])
  step = data.batch(ds.w, data.batch_indices(len(ds.w), 4, 0, 0, 1))
  chex.assert_shape(step["image"], (4, 32, 32, 3))


def test_imagenet2012_resizes_variable_size_images(tfds_dir, no_downloads):
  ds = data.load("imagenet2012", data_dir=str(tfds_dir), image_size=8)
  assert ds.image_shape == (8, 8, 3) and ds.num_classes == 1000
  written = _imagenet_like("validation")
  images, labels = _all(ds.test)
  chex.assert_shape(images, (len(IMAGENET_SIZES), 8, 8, 3))
  assert sorted(labels.tolist()) == sorted(label for _, label in written)
  # Shorter side 9 = round(8 / 0.875): no resampling, only the centre crop.
  got = _by_image(images, labels)
  for image, label in written:
    h, w, _ = image.shape
    if min(h, w) == 9:
      top, left = (h - 8) // 2, (w - 8) // 2
      assert got[image[top:top + 8, left:left + 8].tobytes()] == label
  assert len(ds.train) == len(IMAGENET_SIZES) and (ds.crop_padding, ds.flip) == (0, False)
  # Training crops are random, a function of (seed, epoch, index) alone.
  idx = np.arange(len(ds.train))
  first = ds.train.get(idx, epoch=0)[0]
  chex.assert_shape(first, (len(IMAGENET_SIZES), 8, 8, 3))
  np.testing.assert_array_equal(ds.train.get(idx[::-1], epoch=0)[0], first[::-1])
  np.testing.assert_array_equal(data.batch(ds.w, np.arange(len(ds.w)), epoch=0)["image"],
                                first[ds.w.indices])
  assert not np.array_equal(ds.train.get(idx, epoch=1)[0], first)
  assert not np.array_equal(
      data.load("imagenet2012", str(tfds_dir), split_seed=5, image_size=8).train.get(idx)[0], first)
  np.testing.assert_array_equal(ds.test.get(idx, epoch=3)[0], images)  # no randomness in eval


def test_missing_tfds_data_raises_one_line_without_downloading(tmp_path, no_downloads):
  for name, split in (("cifar10", "train"), ("imagenet2012", "train")):
    with pytest.raises(InputError) as err:
      data.load(name, data_dir=str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and str(tmp_path) in message and split in message
    assert f"tfds build {name} --file_format=array_record --data_dir {tmp_path}" in message
  assert not any(tmp_path.iterdir())  # nothing was created there


@pytest.mark.parametrize("missing", ["tensorflow_datasets", "array_record"])
def test_tfds_datasets_without_the_tfds_extra_name_it(monkeypatch, tmp_path, missing):
  monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now raises ImportError
  for name in ("cifar10", "imagenet2012"):
    with pytest.raises(InputError) as err:
      data.load(name, data_dir=str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and f"reading {name} needs" in message and missing in message
    assert message.endswith("pip install 'natjax[tfds]'")


def test_data_dir_defaults_to_tfds_data_dir(monkeypatch, tmp_path, no_downloads):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  assert data.default_data_dir() == str(tmp_path)
  with pytest.raises(InputError, match=str(tmp_path)):
    data.load("cifar10")


def test_data_in_another_file_format_is_named(tmp_path, no_downloads):
  version_dir = tmp_path / "cifar10" / "3.0.2"
  version_dir.mkdir(parents=True)
  (version_dir / "dataset_info.json").write_text("{}")
  (version_dir / "cifar10-train.tfrecord-00000-of-00001").write_bytes(b"")
  with pytest.raises(InputError, match="another file format than array_record.*tfds build"):
    data.load("cifar10", data_dir=str(tmp_path))
