"""Augmentation and normalisation.

On device, inside the jitted steps, as pure functions of an explicit key (`augment`, `cutout`,
`train_transform`): random crop of the zero-padded image and horizontal flip for the search, plus
cutout for retraining. On the host, ImageNet's resized crops (`resize_center_crop`,
`random_resized_crop`), seeded by (seed, epoch, example index).
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# The ratio of the eval crop to the resized shorter side (224 of 256).
IMAGENET_CROP_FRACTION = 0.875


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


# ----------------------------------------------------------------------------------------------
# On the host: ImageNet crops.


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
