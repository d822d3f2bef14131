"""tfds datasets read from prepared `array_record` files, without TensorFlow and never downloading.

A dataset that is not prepared under the data directory raises `InputError` naming the directory
searched and the command that prepares it (which needs TensorFlow, once). tensorflow-datasets and
array-record (natjax's `tfds` extra) are imported on first use only, so the base install, which
runs the offline digits quickstart, does without them.
"""

from __future__ import annotations

import os
import pathlib
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from natjax.data.sources import Source
from natjax.errors import InputError

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
  """A split of a tfds dataset prepared as array_record under `data_dir`; never downloads.

  Raises:
    InputError: tensorflow-datasets or array-record missing (one line naming the `tfds` extra),
      or the split not prepared under `data_dir`.
  """
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
