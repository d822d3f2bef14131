"""Random-access example sources: `(images uint8[B, H, W, C], labels int32[B])` for any array of
example indices, so the host loop can ask for exactly the batch it wants."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from natjax.errors import InputError


class Source:
  """Random-access examples: `len(source)` and `get(indices, epoch)`.

  `epoch` matters only to sources with host-side random augmentation (the ImageNet training
  crop), whose draws are a function of (seed, epoch, example index); the others ignore it.
  `in_memory` sources hold decoded examples, which the host pipeline reads directly.
  """
  in_memory: bool = False

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
  in_memory = True

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
    self.in_memory = base.in_memory

  def __len__(self) -> int:
    return self.indices.shape[0]

  def get(self, indices: np.ndarray, epoch: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    return self.base.get(self.indices[self._check(indices)], epoch)


def batch(source: Source, indices: np.ndarray, epoch: int = 0) -> dict:
  """The examples at `indices: int[B]` as {'image': uint8[B, H, W, C], 'label': int32[B]}."""
  images, labels = source.get(indices, epoch)
  return {"image": images, "label": labels}
