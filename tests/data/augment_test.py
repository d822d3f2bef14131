"""Tests for natjax.data.augment: on-device crop, flip, cutout and normalisation against numpy, and
ImageNet's host-side crops."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from natjax import data


def np_crop_and_flip(images, offsets, flips, padding):
  _, h, w, _ = images.shape
  padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  out = []
  for im, (dy, dx), f in zip(padded, offsets, flips):
    crop = im[dy:dy + h, dx:dx + w]
    out.append(crop[:, ::-1] if f else crop)
  return np.stack(out)


def np_cutout(images, centres, size):
  out = images.copy()
  _, h, w, _ = images.shape
  for im, (y, x) in zip(out, centres):
    y1, y2 = np.clip(y - size // 2, 0, h), np.clip(y + size // 2, 0, h)
    x1, x2 = np.clip(x - size // 2, 0, w), np.clip(x + size // 2, 0, w)
    im[y1:y2, x1:x2] = 0.0
  return out


@pytest.mark.parametrize("padding", [0, 1, 2, 4])
def test_crop_and_flip_matches_numpy(padding):
  rng = np.random.default_rng(padding)
  images = rng.normal(size=(8, 5, 7, 3)).astype(np.float32)
  fn = jax.jit(data.crop_and_flip, static_argnums=3)
  for _ in range(5):
    offsets = rng.integers(0, 2 * padding + 1, size=(8, 2)).astype(np.int32)
    flips = rng.random(8) < 0.5
    np.testing.assert_array_equal(fn(images, offsets, flips, padding),
                                  np_crop_and_flip(images, offsets, flips, padding))


def test_augment_draws_its_offsets_and_flips_from_the_key():
  images = np.random.default_rng(0).normal(size=(8, 6, 6, 2)).astype(np.float32)
  aug = jax.jit(data.augment, static_argnums=(2, 3))
  for seed in range(5):
    key = jax.random.key(seed)
    offsets, flips = data.augment_params(key, 8, 2, True)
    expected = np_crop_and_flip(images, np.asarray(offsets), np.asarray(flips), 2)
    np.testing.assert_array_equal(aug(key, images, 2, True), expected)
    np.testing.assert_array_equal(aug(key, images, 2, True), expected)  # deterministic
  assert not np.array_equal(aug(jax.random.key(0), images, 2), aug(jax.random.key(1), images, 2))
  # Over many draws every offset in [0, 2p] occurs and about half the images are flipped.
  offsets, flips = data.augment_params(jax.random.key(9), 4096, 4, True)
  assert set(np.unique(np.asarray(offsets))) == set(range(9))
  assert abs(float(np.mean(flips)) - 0.5) < 0.05
  assert not np.asarray(data.augment_params(jax.random.key(9), 64, 4, False)[1]).any()


def test_augment_identity_and_pixel_multiset():
  images = np.random.default_rng(1).normal(size=(8, 6, 6, 3)).astype(np.float32)
  np.testing.assert_array_equal(data.augment(jax.random.key(0), images, 0, flip=False), images)
  key = jax.random.key(3)
  out = np.asarray(data.augment(key, images, 2))
  offsets = np.asarray(data.augment_params(key, 8, 2)[0])
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
  for i, (dy, dx) in enumerate(offsets):
    window = padded[i, dy:dy + 6, dx:dx + 6]
    np.testing.assert_array_equal(np.sort(out[i], axis=None), np.sort(window, axis=None))


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 6])
def test_cutout_zeroes_the_expected_square(size):
  rng = np.random.default_rng(size)
  images = rng.uniform(1.0, 2.0, size=(8, 6, 7, 2)).astype(np.float32)  # no zeros to start with
  for _ in range(5):
    centres = np.stack([rng.integers(0, 6, 8), rng.integers(0, 7, 8)], axis=1).astype(np.int32)
    np.testing.assert_array_equal(data.cutout_with(images, centres, size),
                                  np_cutout(images, centres, size))
  key = jax.random.key(size)
  centres = np.asarray(data.cutout_centres(key, 8, 6, 7))
  assert centres[:, 0].max() < 6 and centres[:, 1].max() < 7 and centres.min() >= 0
  out = jax.jit(data.cutout, static_argnums=2)(key, images, size)
  np.testing.assert_array_equal(out, np_cutout(images, centres, size))


def test_normalize_and_train_transform():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(4, 6, 6, 3), dtype=np.uint8)
  mean, std = np.float32([0.4, 0.5, 0.6]), np.float32([0.2, 0.25, 0.3])
  expected = (images / 255.0 - mean) / std
  np.testing.assert_allclose(data.normalize(images, mean, std), expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(data.normalize(jnp.asarray(images), mean, std), expected, rtol=1e-5,
                             atol=1e-6)
  chex.assert_type(data.normalize(images, mean, std), jnp.float32)
  # The pipeline: crop/flip on pixels (black padding), normalise, then cutout.
  key = jax.random.key(4)
  fn = jax.jit(data.train_transform, static_argnums=(4, 5, 6))
  got = fn(key, images, mean, std, 2, True, 3)
  crop_key, cutout_key = jax.random.split(key)
  offsets, flips = data.augment_params(crop_key, 4, 2)
  x = np_crop_and_flip(images.astype(np.float32), np.asarray(offsets), np.asarray(flips), 2)
  x = (x / 255.0 - mean) / std
  x = np_cutout(x, np.asarray(data.cutout_centres(cutout_key, 4, 6, 6)), 3)
  np.testing.assert_allclose(got, x, rtol=1e-5, atol=1e-5)


def test_random_resized_crop():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
  # Whole-image box (area fraction 1, aspect 1) of an image already S x S: itself or its mirror.
  flips = []
  for seed in range(40):
    out = data.random_resized_crop(image, 8, np.random.default_rng(seed), scale=(1, 1),
                                   ratio=(1, 1))
    flips.append(np.array_equal(out, image[:, ::-1]))
    assert flips[-1] or np.array_equal(out, image)
  assert 5 < sum(flips) < 35
  # An impossible area falls back to the centre box with the aspect ratio clamped: 16 x 8 -> 8 x 8.
  tall = rng.integers(0, 256, size=(16, 8, 3), dtype=np.uint8)
  out = data.random_resized_crop(tall, 8, np.random.default_rng(1), scale=(2, 2), ratio=(1, 1),
                                 flip=False)
  np.testing.assert_array_equal(out, tall[4:12])
  # Deterministic for a generator state; the output is always S x S.
  big = rng.integers(0, 256, size=(30, 20, 3), dtype=np.uint8)
  outs = [data.random_resized_crop(big, 8, np.random.default_rng(s)) for s in (3, 3, 4)]
  chex.assert_shape(outs, (8, 8, 3))
  np.testing.assert_array_equal(outs[0], outs[1])
  assert not np.array_equal(outs[0], outs[2])


def test_resize_center_crop():
  # Shorter side already 256: the centre 224 x 224 crop, nothing else.
  image = np.random.default_rng(0).integers(0, 256, size=(256, 300, 3), dtype=np.uint8)
  np.testing.assert_array_equal(data.resize_center_crop(image, 224), image[16:240, 38:262])
  # A constant image stays constant; a left-to-right ramp stays non-decreasing.
  out = data.resize_center_crop(np.full((15, 40, 3), 77, np.uint8), 8)
  chex.assert_shape(out, (8, 8, 3))
  assert (out == 77).all()
  ramp = np.broadcast_to(np.arange(40, dtype=np.uint8)[None, :, None] * 6, (20, 40, 1)).copy()
  out = data.resize_center_crop(ramp, 8)
  chex.assert_shape(out, (8, 8, 1))
  assert (np.diff(out[..., 0].astype(int), axis=1) >= 0).all() and (out == out[:1]).all()
