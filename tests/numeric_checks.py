"""Random test inputs and closeness to a reference, shared by the kernel and op-family tests."""

import numpy as np


def random_normal(seed, shape):
  """f32[shape] standard normal draws from numpy (jax.random would compile per shape)."""
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def assert_close(actual, expected, rtol=1e-5):
  """Equal to `rtol` relative to the reference's largest magnitude (elementwise rtol as well)."""
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape
  scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
  np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)
