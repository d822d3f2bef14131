"""Datasets, registered by name, and the w/θ split of the search.

Examples live on the host as numpy (`natjax.data.sources`); batches are a pure function of (seed,
epoch, step) (`natjax.data.batches`); augmentation runs on device (`natjax.data.augment`).

The search (spec section 7) splits the training set once, by a seeded permutation: its first 40 %
trains the supernet weights w, the remaining 60 % trains the policy θ. Retraining (spec section 9)
uses the whole training set. `load(name)` returns all of these as one `Dataset`.

Datasets:
  digits        scikit-learn's 1,797 real 8x8 handwritten digits, shipped inside the wheel: works
                offline and is the default of tests and quick runs (1,500 train, 297 test).
  cifar10       tfds `cifar10` prepared as `array_record` files (read without TensorFlow).
  imagenet2012  tfds `imagenet2012`, likewise; on the host, validation images are resized
                (shorter side to `image_size` / 0.875) and centre-cropped to `image_size`,
                training images get a random resized crop and flip seeded by (seed, epoch,
                example index).

Nothing here downloads: a tfds dataset that is not prepared raises `InputError` naming the
directory searched and the command that prepares it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from natjax.data.augment import random_resized_crop, resize_center_crop
from natjax.data.sources import ArraySource, Source, SubsetSource
from natjax.data.tfds import tfds_source
from natjax.errors import InputError
from natjax.registry import Registry

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DIGITS_NUM_TEST = 297
DIGITS_TEST_SEED = 0  # fixed: the digits test set never depends on the search's split seed


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A dataset split for the search (w, θ) and for retraining (train, test).

  Attributes:
    name: registry key ('digits', 'cifar10', 'imagenet2012', ...).
    w: the first `w_fraction` (40 %) of a seeded permutation of the training set: supernet weights.
    theta: the rest of that permutation (60 %): the policy.
    train: the whole training set, in its stored order (retraining).
    test: the held-out set (CIFAR-10 'test', ImageNet 'validation').
    num_classes: number of labels; labels are 0..num_classes-1.
    image_shape: (H, W, C) of every image a source returns.
    mean, std: float32[C], per-channel statistics in [0, 1] pixel units (for `normalize`).
    crop_padding: zero padding on each side for the random crop (4 for CIFAR, 1 for digits).
    flip: whether the on-device augmentation flips (False for digits, which a mirror changes,
      and for ImageNet, whose training images are flipped on the host).
  """
  name: str
  w: Source
  theta: Source
  train: Source
  test: Source
  num_classes: int
  image_shape: Tuple[int, int, int]
  mean: np.ndarray
  std: np.ndarray
  crop_padding: int
  flip: bool = True


@dataclasses.dataclass(frozen=True)
class Splits:
  """What a dataset loader returns: the train and test sources and the dataset's constants."""
  train: Source
  test: Source
  num_classes: int
  image_shape: Tuple[int, int, int]
  mean: Sequence[float]
  std: Sequence[float]
  crop_padding: int
  flip: bool = True


# A loader takes (data_dir or None, image_size or None, seed of host-side augmentation) and returns
# `Splits`.
Loader = Callable[[Optional[str], Optional[int], int], Splits]
DATASETS: Registry[Loader] = Registry("dataset")


def register_dataset(name: str, loader: Loader) -> Loader:
  """Registers `loader` so that `load(name)` finds it."""
  return DATASETS.add(name, loader)


def split_indices(num_examples: int, seed: int, w_fraction: float) -> Tuple[np.ndarray, np.ndarray]:
  """The search split: (w int64[round(w_fraction * n)], θ int64[rest]) of a seeded permutation."""
  if not 0.0 < w_fraction < 1.0:
    raise InputError(f"w_fraction must be in (0, 1), got {w_fraction}")
  num_w = int(round(w_fraction * num_examples))
  if not 0 < num_w < num_examples:
    raise InputError(f"w_fraction {w_fraction} of {num_examples} examples leaves w or θ empty")
  perm = np.random.default_rng(seed).permutation(num_examples)
  return perm[:num_w], perm[num_w:]


def load(name: str, data_dir: Optional[str] = None, split_seed: int = 1234,
         w_fraction: float = 0.4, image_size: Optional[int] = None) -> Dataset:
  """Loads dataset `name` and splits its training set into w (`w_fraction`) and θ (the rest).

  Args:
    name: a registered dataset: 'digits' (offline), 'cifar10', 'imagenet2012'.
    data_dir: where prepared tfds datasets live; default $TFDS_DATA_DIR or ~/tensorflow_datasets.
      Unused by 'digits'.
    split_seed: seed of the permutation that splits the training set into w and θ (and of
      host-side training augmentation, where a dataset has one).
    w_fraction: share of the training set that trains the supernet weights (0.4 in the papers).
    image_size: side of the square images, for datasets that resize (ImageNet, default 224).
  """
  splits = DATASETS.get(name)(data_dir, image_size, split_seed)
  w, theta = split_indices(len(splits.train), split_seed, w_fraction)
  return Dataset(
      name=name, w=SubsetSource(splits.train, w), theta=SubsetSource(splits.train, theta),
      train=splits.train, test=splits.test, num_classes=splits.num_classes,
      image_shape=tuple(splits.image_shape), mean=np.asarray(splits.mean, np.float32),
      std=np.asarray(splits.std, np.float32), crop_padding=splits.crop_padding, flip=splits.flip)


def load_digits(data_dir: Optional[str] = None, image_size: Optional[int] = None,
                seed: int = 0) -> Splits:
  """scikit-learn's digits: uint8[N, 8, 8, 1] (0..16 scaled to 0..255), 10 classes, offline.

  A fixed seeded permutation holds out 297 images as the test set; the other 1,500 are training.
  """
  del data_dir, seed  # shipped inside scikit-learn; no host-side randomness
  if image_size not in (None, 8):
    raise InputError(f"digits images are 8x8; image_size {image_size} is not supported")
  from sklearn import datasets as sk_datasets  # pylint: disable=g-import-not-at-top
  digits = sk_datasets.load_digits()
  images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  labels = digits.target.astype(np.int32)
  perm = np.random.default_rng(DIGITS_TEST_SEED).permutation(len(labels))
  test, train = perm[:DIGITS_NUM_TEST], perm[DIGITS_NUM_TEST:]
  train_images = images[train].astype(np.float64) / 255.0
  return Splits(
      train=ArraySource(images[train], labels[train]), test=ArraySource(images[test], labels[test]),
      num_classes=10, image_shape=(8, 8, 1), mean=train_images.mean(axis=(0, 1, 2)),
      std=train_images.std(axis=(0, 1, 2)), crop_padding=1, flip=False)


# ----------------------------------------------------------------------------------------------
# tfds datasets (array_record, no TensorFlow, never a download).


def _check_image_shape(image_shape: Tuple[int, ...], source: Source, what: str):
  image, _ = source.get(np.zeros((1,), np.int64))
  if image.shape[1:] != tuple(image_shape):
    raise InputError(f"{what} images have shape {list(image.shape[1:])},"
                     f" expected {list(image_shape)}")


def load_cifar10(data_dir: Optional[str] = None, image_size: Optional[int] = None,
                 seed: int = 0) -> Splits:
  """tfds cifar10: 50,000 train and 10,000 test images uint8[32, 32, 3], 10 classes."""
  del seed  # augmentation is on device
  if image_size not in (None, 32):
    raise InputError(f"cifar10 images are 32x32; image_size {image_size} is not supported")
  train = tfds_source("cifar10", "train", data_dir)
  test = tfds_source("cifar10", "test", data_dir)
  _check_image_shape((32, 32, 3), train, "cifar10")
  return Splits(train=train, test=test, num_classes=10, image_shape=(32, 32, 3),
                mean=CIFAR10_MEAN, std=CIFAR10_STD, crop_padding=4)


def load_imagenet2012(data_dir: Optional[str] = None, image_size: Optional[int] = None,
                      seed: int = 0) -> Splits:
  """tfds imagenet2012: 1,281,167 train and 50,000 validation images, 1000 classes.

  Training images (train, w, θ) get `random_resized_crop` with its flip on the host, seeded by
  (seed, epoch, example index); validation images are resized and centre-cropped
  (`resize_center_crop`). Both come out image_size x image_size (default 224). The on-device
  augmentation has nothing left to do: `crop_padding` is 0 and `flip` False.
  """
  image_size = image_size or 224
  train = tfds_source(
      "imagenet2012", "train", data_dir,
      lambda im, rng: random_resized_crop(im, image_size, rng), random=True, seed=seed)
  test = tfds_source("imagenet2012", "validation", data_dir,
                     lambda im, rng: resize_center_crop(im, image_size))
  return Splits(train=train, test=test, num_classes=1000, image_shape=(image_size, image_size, 3),
                mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_padding=0, flip=False)


register_dataset("digits", load_digits)
register_dataset("cifar10", load_cifar10)
register_dataset("imagenet2012", load_imagenet2012)
