"""Data for search and retraining: random-access sources, the w/θ split, batches, augmentation.

Examples live on the host as numpy. A `Source` hands out `(images uint8[B, H, W, C], labels
int32[B])` for any array of example indices, so the host loop can ask for exactly the batch it
wants. The batch order is a pure function of (seed, epoch, step) (`batch_indices`), so a run
resumed at any step reads the same batches it would have read without the interruption.

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

Augmentation runs on device inside the jitted steps, as pure functions of an explicit key
(`augment`, `cutout`, `train_transform`): random crop of the zero-padded image and horizontal flip
for the search, plus cutout for retraining.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
from typing import Callable, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from natjax.errors import InputError
from natjax.registry import Registry

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The ratio of the eval crop to the resized shorter side (224 of 256).
IMAGENET_CROP_FRACTION = 0.875

DIGITS_NUM_TEST = 297
DIGITS_TEST_SEED = 0  # fixed: the digits test set never depends on the search's split seed


# ----------------------------------------------------------------------------------------------
# Sources.


class Source:
  """Random-access examples: `len(source)` and `get(indices, epoch)`.

  `epoch` matters only to sources with host-side random augmentation (the ImageNet training
  crop), whose draws are a function of (seed, epoch, example index); the others ignore it.
  """

  def __len__(self) -> int:
    raise NotImplementedError

  def get(self, indices: np.ndarray, epoch: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Examples at `indices: int[B]` -> (images uint8[B, H, W, C], labels int32[B])."""
    raise NotImplementedError

  def _check(self, indices: np.ndarray) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
      raise InputError(f"example indices must be a 1-D integer array, got {indices.dtype}"
                       f"{list(indices.shape)}")
    if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
      raise InputError(f"example index out of range [0, {len(self)}):"
                       f" {indices.min()}..{indices.max()}")
    return indices.astype(np.int64)


class ArraySource(Source):
  """Examples held in memory: images uint8[N, H, W, C], labels int[N]."""

  def __init__(self, images: np.ndarray, labels: np.ndarray):
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4:
      raise InputError(f"images must be uint8[N, H, W, C], got {images.dtype}{list(images.shape)}")
    if labels.shape != images.shape[:1]:
      raise InputError(f"labels must be int[{images.shape[0]}], got {list(labels.shape)}")
    self.images = images
    self.labels = labels.astype(np.int32)

  def __len__(self) -> int:
    return self.images.shape[0]

  def get(self, indices: np.ndarray, epoch: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    del epoch  # no host-side randomness
    indices = self._check(indices)
    return self.images[indices], self.labels[indices]


class SubsetSource(Source):
  """The examples `base[indices[i]]`, i = 0..len(indices)-1, of another source."""

  def __init__(self, base: Source, indices: np.ndarray):
    self.base = base
    self.indices = base._check(indices)

  def __len__(self) -> int:
    return self.indices.shape[0]

  def get(self, indices: np.ndarray, epoch: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    return self.base.get(self.indices[self._check(indices)], epoch)


# A host-side image transform: (image uint8[h, w, C], rng or None) -> uint8[H, W, C].
HostTransform = Callable[[np.ndarray, Optional[np.random.Generator]], np.ndarray]


class TfdsSource(Source):
  """A split of a prepared tfds dataset, read from `array_record` files without TensorFlow.

  Each example is decoded on the host (PIL) and passed through `transform`, which must produce
  one shape. A random transform (`random=True`, e.g. ImageNet's training crop) gets a generator
  seeded by (seed, epoch, example index), so any batch can be re-read exactly.
  """

  def __init__(self, records: Sequence, transform: Optional[HostTransform] = None,
               random: bool = False, seed: int = 0):
    """`records`: a tfds data source (`tfds.data_source(...)`) of {'image', 'label', ...} dicts."""
    self.records = records
    self.transform = transform
    self.random = random
    self.seed = seed

  def __len__(self) -> int:
    return len(self.records)

  def get(self, indices: np.ndarray, epoch: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    indices = self._check(indices)
    if hasattr(self.records, "__getitems__"):
      examples = self.records.__getitems__(indices.tolist())
    else:
      examples = [self.records[i] for i in indices.tolist()]
    images = [np.asarray(e["image"], np.uint8) for e in examples]
    if self.transform is not None:
      rngs = [np.random.default_rng([self.seed, epoch, i]) if self.random else None
              for i in indices.tolist()]
      images = [self.transform(im, rng) for im, rng in zip(images, rngs)]
    labels = np.array([e["label"] for e in examples], np.int32)
    if not images:
      return np.zeros((0,) + self.get(np.zeros((1,), np.int64))[0].shape[1:], np.uint8), labels
    return np.stack(images), labels


def batch(source: Source, indices: np.ndarray, epoch: int = 0) -> dict:
  """The examples at `indices: int[B]` as {'image': uint8[B, H, W, C], 'label': int32[B]}."""
  images, labels = source.get(indices, epoch)
  return {"image": images, "label": labels}


# ----------------------------------------------------------------------------------------------
# Datasets.


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


def default_data_dir(data_dir: Optional[str] = None) -> str:
  """`data_dir`, else $TFDS_DATA_DIR, else ~/tensorflow_datasets (tfds' own default)."""
  if data_dir:
    return os.path.expanduser(data_dir)
  return os.path.expanduser(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets")


def _version_key(text: str) -> Tuple[int, ...]:
  return tuple(int(part) for part in text.split("."))


def prepared_version(data_dir: str, tfds_name: str, split: str) -> Optional[str]:
  """The newest version of `tfds_name` prepared under `data_dir` with `split` in array_record form.

  Raises InputError when the dataset is prepared, but only in another file format.
  """
  root = pathlib.Path(data_dir) / tfds_name
  if not root.is_dir():
    return None
  versions = []
  for child in root.iterdir():
    if child.is_dir() and all(p.isdigit() for p in child.name.split(".")) and (
        child / "dataset_info.json").is_file():
      versions.append(child)
  if not versions:
    return None
  newest = max(versions, key=lambda p: _version_key(p.name))
  if not any(newest.glob(f"{tfds_name}-{split}.array_record*")):
    if any(newest.glob(f"{tfds_name}-{split}.*")):
      raise InputError(f"{newest} holds {tfds_name} in another file format than array_record; "
                       + _prepare_hint(tfds_name, data_dir))
    return None
  return newest.name


def prepare_command(tfds_name: str, data_dir: str) -> str:
  """The command that prepares a dataset as array_record files (it needs TensorFlow)."""
  command = f"tfds build {tfds_name} --file_format=array_record --data_dir {data_dir}"
  if tfds_name == "imagenet2012":
    command += " --manual_dir MANUAL_DIR"
  return command


def _prepare_hint(tfds_name: str, data_dir: str) -> str:
  if tfds_name == "imagenet2012":
    where = "with ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in MANUAL_DIR"
  else:
    where = "with network access"
  return (f"{where} and TensorFlow installed (pip install tensorflow), run:"
          f" {prepare_command(tfds_name, data_dir)}")


def _import_tfds(tfds_name: str):
  """tensorflow_datasets, imported only here: the base install (digits) does without it."""
  try:
    import array_record  # pylint: disable=g-import-not-at-top,unused-import
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise InputError(f"reading {tfds_name} needs natjax's tfds extra (tensorflow-datasets,"
                     f" array-record): {e}; install it with: pip install 'natjax[tfds]'") from None
  return tfds


def tfds_source(tfds_name: str, split: str, data_dir: Optional[str] = None,
                transform: Optional[HostTransform] = None, random: bool = False,
                seed: int = 0) -> TfdsSource:
  """A split of a tfds dataset prepared as array_record under `data_dir`; never downloads."""
  tfds = _import_tfds(tfds_name)
  data_dir = default_data_dir(data_dir)
  version = prepared_version(data_dir, tfds_name, split)
  if version is None:
    raise InputError(
        f"no prepared {tfds_name} '{split}' split (array_record) under {data_dir}; "
        + _prepare_hint(tfds_name, data_dir))
  records = tfds.data_source(f"{tfds_name}:{version}", split=split, data_dir=data_dir,
                             download=False, try_gcs=False)
  return TfdsSource(records, transform, random, seed)


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


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bilinear (PIL) resize of uint8[h, w, C] to uint8[height, width, C]."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  c = image.shape[-1]
  pil = Image.fromarray(np.ascontiguousarray(image[..., 0] if c == 1 else image))
  return np.asarray(pil.resize((width, height), Image.BILINEAR), np.uint8).reshape(
      height, width, c)


def resize_center_crop(image: np.ndarray, image_size: int,
                       crop_fraction: float = IMAGENET_CROP_FRACTION) -> np.ndarray:
  """ImageNet eval transform: shorter side to round(image_size / crop_fraction), centre crop.

  Args:
    image: uint8[h, w, C] of any size.
    image_size: side S of the output.
    crop_fraction: S over the resized shorter side (0.875: 224 of 256).

  Returns:
    uint8[S, S, C]. Bilinear resampling (PIL); the crop starts at ((h' - S) // 2, (w' - S) // 2)
    of the resized h' x w' image. An image whose shorter side already has the resized length
    is only cropped.
  """
  image = np.asarray(image, np.uint8)
  h, w, _ = image.shape
  short = max(image_size, int(round(image_size / crop_fraction)))
  if min(h, w) != short:
    new_h = short if h <= w else max(short, int(round(h * short / w)))
    new_w = short if w < h else max(short, int(round(w * short / h)))
    image = _resize(image, new_h, new_w)
    h, w = new_h, new_w
  top, left = (h - image_size) // 2, (w - image_size) // 2
  return image[top:top + image_size, left:left + image_size]


def random_resized_crop(image: np.ndarray, image_size: int, rng: np.random.Generator,
                        scale: Tuple[float, float] = (0.08, 1.0),
                        ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                        flip: bool = True) -> np.ndarray:
  """ImageNet training crop: a random box of random area and aspect ratio, resized, maybe mirrored.

  Up to 10 tries draw an area fraction uniform in `scale` and an aspect ratio (width / height)
  log-uniform in `ratio`, and keep the first box that fits; the box's corner is uniform. If none
  fits, the centre box of the whole image with its aspect ratio clamped to `ratio`. The box is
  resized (bilinear) to image_size x image_size, then mirrored left-right with probability 1/2.

  Args:
    image: uint8[h, w, C].
    image_size: side S of the output.
    rng: the only source of randomness (seeded per (seed, epoch, example) by `TfdsSource`).
    scale: range of the box's area as a fraction of the image's.
    ratio: range of the box's width / height.
    flip: draw the mirror.

  Returns:
    uint8[S, S, C].
  """
  image = np.asarray(image, np.uint8)
  h, w, _ = image.shape
  log_ratio = np.log(ratio)
  for _ in range(10):
    area = h * w * rng.uniform(*scale)
    aspect = float(np.exp(rng.uniform(*log_ratio)))
    box_w = int(round(np.sqrt(area * aspect)))
    box_h = int(round(np.sqrt(area / aspect)))
    if 0 < box_w <= w and 0 < box_h <= h:
      top = int(rng.integers(0, h - box_h + 1))
      left = int(rng.integers(0, w - box_w + 1))
      break
  else:
    aspect = w / h
    if aspect < ratio[0]:
      box_w, box_h = w, int(round(w / ratio[0]))
    elif aspect > ratio[1]:
      box_w, box_h = int(round(h * ratio[1])), h
    else:
      box_w, box_h = w, h
    top, left = (h - box_h) // 2, (w - box_w) // 2
  out = _resize(image[top:top + box_h, left:left + box_w], image_size, image_size)
  if flip and rng.random() < 0.5:
    out = out[:, ::-1]
  return np.ascontiguousarray(out)


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


# ----------------------------------------------------------------------------------------------
# Batches: a pure function of (seed, epoch, step).


def steps_per_epoch(num_examples: int, global_batch: int) -> int:
  """Full batches per epoch, `num_examples // global_batch`.

  The last partial batch is dropped so every step has the same shapes under jit (the released
  PyTorch code keeps it: 313 w-steps per CIFAR-10 epoch there, 312 here).
  """
  if global_batch <= 0:
    raise InputError(f"global batch must be positive, got {global_batch}")
  return num_examples // global_batch


@functools.lru_cache(maxsize=4)
def _epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  perm = np.random.default_rng([seed, epoch]).permutation(num_examples)
  perm.flags.writeable = False
  return perm


def batch_indices(num_examples: int, global_batch: int, seed: int, epoch: int, step: int,
                  process_index: int = 0, process_count: int = 1) -> np.ndarray:
  """Example indices of this process's share of batch `step` of epoch `epoch`.

  The epoch's order is a permutation drawn from `np.random.default_rng([seed, epoch])` alone, so a
  run resumed at any (epoch, step) reads exactly the batches of an uninterrupted run. Batch `step`
  is positions [step * global_batch, (step + 1) * global_batch) of that permutation; process p of
  P takes the p-th contiguous slice of global_batch // P of them.

  Returns:
    int64[global_batch // process_count].
  """
  if process_count <= 0 or not 0 <= process_index < process_count:
    raise InputError(f"process_index {process_index} not in [0, process_count={process_count})")
  if global_batch % process_count:
    raise InputError(f"global batch {global_batch} is not divisible by the"
                     f" {process_count} processes")
  steps = steps_per_epoch(num_examples, global_batch)
  if not 0 <= step < steps:
    raise InputError(f"step {step} not in [0, {steps}) for {num_examples} examples in batches"
                     f" of {global_batch}")
  per_process = global_batch // process_count
  start = step * global_batch + process_index * per_process
  return np.array(_epoch_permutation(num_examples, seed, epoch)[start:start + per_process],
                  np.int64)


# ----------------------------------------------------------------------------------------------
# On-device preprocessing (pure, jittable, fixed shapes).


def normalize(images: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
  """(images / 255 - mean) / std as float32; images in 0..255 pixel units (uint8 or float).

  Args:
    images: [B, H, W, C], numpy or jax.
    mean, std: float32[C] in [0, 1] pixel units.
  """
  x = jnp.asarray(images).astype(jnp.float32) / 255.0
  return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def augment_params(key: jax.Array, batch_size: int, padding: int,
                   flip: bool = True) -> Tuple[jax.Array, jax.Array]:
  """The random draws of `augment`: (offsets int32[B, 2] in [0, 2 * padding], flips bool[B])."""
  offset_key, flip_key = jax.random.split(key)
  offsets = jax.random.randint(offset_key, (batch_size, 2), 0, 2 * padding + 1, jnp.int32)
  if flip:
    flips = jax.random.bernoulli(flip_key, 0.5, (batch_size,))
  else:
    flips = jnp.zeros((batch_size,), jnp.bool_)
  return offsets, flips


def crop_and_flip(images: jax.Array, offsets: jax.Array, flips: jax.Array,
                  padding: int) -> jax.Array:
  """Crops each zero-padded image at a given offset, then mirrors it where `flips` is set.

  Args:
    images: f32[B, H, W, C].
    offsets: int32[B, 2], the (row, column) of the crop's top-left corner in the image padded by
      `padding` zeros on each side; in [0, 2 * padding]. (padding, padding) is the image itself.
    flips: bool[B], mirror left-right after cropping.
    padding: pixels of zero padding on each side.

  Returns:
    f32[B, H, W, C].
  """
  _, h, w, c = images.shape
  padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  crop = jax.vmap(lambda im, o: lax.dynamic_slice(im, (o[0], o[1], 0), (h, w, c)))
  cropped = crop(padded, offsets.astype(jnp.int32))
  return jnp.where(flips[:, None, None, None], cropped[:, :, ::-1], cropped)


def augment(key: jax.Array, images: jax.Array, padding: int, flip: bool = True) -> jax.Array:
  """Random crop of the zero-padded image and random horizontal flip, per image.

  Pad `padding` zeros on each side, crop back to H x W at a uniform offset, mirror with
  probability 1/2. The draws come from `key` alone (`augment_params`), so a step replays exactly.
  Apply it to pixel values (0..255) before `normalize` to pad with black, as torchvision's
  RandomCrop does; on normalised images the padding is the mean colour.

  Args:
    key: PRNG key.
    images: f32[B, H, W, C].
    padding: pixels of padding on each side (4 for CIFAR); 0 disables the crop.
    flip: draw horizontal flips (False for digits).

  Returns:
    f32[B, H, W, C].
  """
  offsets, flips = augment_params(key, images.shape[0], padding, flip)
  return crop_and_flip(images, offsets, flips, padding)


def cutout_with(images: jax.Array, centres: jax.Array, size: int) -> jax.Array:
  """Zeroes one square per image: rows [y - size // 2, y + size // 2) clipped to the image,
  and the same for columns around x.

  Args:
    images: f32[B, H, W, C].
    centres: int32[B, 2], (y, x) of each square's centre, in [0, H) x [0, W).
    size: side of the square (an odd size gives side size - 1, as in DARTS' cutout).

  Returns:
    f32[B, H, W, C].
  """
  _, h, w, _ = images.shape
  half = size // 2
  rows = jnp.arange(h)[None, :]
  cols = jnp.arange(w)[None, :]
  y, x = centres[:, :1], centres[:, 1:]
  in_rows = (rows >= y - half) & (rows < y + half)  # [B, H]
  in_cols = (cols >= x - half) & (cols < x + half)  # [B, W]
  hole = in_rows[:, :, None] & in_cols[:, None, :]
  return jnp.where(hole[..., None], jnp.zeros((), images.dtype), images)


def cutout_centres(key: jax.Array, batch_size: int, height: int, width: int) -> jax.Array:
  """The random draws of `cutout`: int32[B, 2] centres, uniform over [0, H) x [0, W)."""
  y_key, x_key = jax.random.split(key)
  y = jax.random.randint(y_key, (batch_size,), 0, height, jnp.int32)
  x = jax.random.randint(x_key, (batch_size,), 0, width, jnp.int32)
  return jnp.stack([y, x], axis=1)


def cutout(key: jax.Array, images: jax.Array, size: int) -> jax.Array:
  """DARTS' cutout: one square of side `size` zeroed per image, centre uniform over the image,
  clipped at the border (so near an edge less than size x size is zeroed).

  Args:
    key: PRNG key.
    images: f32[B, H, W, C] (normalised: zero is the mean colour).
    size: side of the square in pixels (16 for CIFAR-10); 0 is the identity.
  """
  b, h, w, _ = images.shape
  return cutout_with(images, cutout_centres(key, b, h, w), size)


def train_transform(key: jax.Array, images: jax.Array, mean: jax.Array, std: jax.Array,
                    padding: int, flip: bool = True, cutout_size: int = 0) -> jax.Array:
  """The training input pipeline: crop + flip on pixels, normalise, then cutout (if size > 0).

  Args:
    key: PRNG key.
    images: uint8[B, H, W, C] (a batch's 'image').
    mean, std: float32[C] in [0, 1] pixel units.
    padding, flip: as `augment`.
    cutout_size: side of the cutout square; 0 for none (the search), 16 for CIFAR retraining.

  Returns:
    f32[B, H, W, C], normalised.
  """
  crop_key, cutout_key = jax.random.split(key)
  x = augment(crop_key, jnp.asarray(images).astype(jnp.float32), padding, flip)
  x = normalize(x, mean, std)
  if cutout_size > 0:
    x = cutout(cutout_key, x, cutout_size)
  return x


def eval_transform(images: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
  """The evaluation input pipeline: uint8[B, H, W, C] -> normalised f32[B, H, W, C]."""
  return normalize(images, mean, std)
