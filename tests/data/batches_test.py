"""Tests for natjax.data.batches: the batch order as a pure function of (seed, epoch, step)."""

import chex
import numpy as np
import pytest

from natjax import data
from natjax.errors import InputError


@pytest.mark.parametrize("n,b", [(37, 8), (64, 8), (10, 3)])
def test_epoch_is_a_permutation_prefix_without_repeats(n, b):
  steps = data.steps_per_epoch(n, b)
  assert steps == n // b
  for epoch in range(3):
    got = np.concatenate([data.batch_indices(n, b, 5, epoch, s) for s in range(steps)])
    chex.assert_type(got, np.int64)
    assert len(np.unique(got)) == steps * b and got.min() >= 0 and got.max() < n
    expected = np.random.default_rng([5, epoch]).permutation(n)[:steps * b]
    np.testing.assert_array_equal(got, expected)


def test_batch_order_depends_only_on_seed_and_epoch():
  # Any call order (a resumed run) gives the same batch.
  first = data.batch_indices(100, 8, 3, 2, 5)
  for epoch in range(5):
    data.batch_indices(100, 8, 3, epoch, 0)
  np.testing.assert_array_equal(data.batch_indices(100, 8, 3, 2, 5), first)
  assert not np.array_equal(data.batch_indices(100, 8, 3, 3, 5), first)
  assert not np.array_equal(data.batch_indices(100, 8, 4, 2, 5), first)


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_process_slices_tile_the_global_batch(count):
  whole = data.batch_indices(50, 8, 0, 1, 3)
  parts = [data.batch_indices(50, 8, 0, 1, 3, p, count) for p in range(count)]
  chex.assert_shape(parts, (8 // count,))
  np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_batch_indices_validation():
  with pytest.raises(InputError, match="divisible"):
    data.batch_indices(50, 8, 0, 0, 0, 0, 3)
  with pytest.raises(InputError, match="step 6"):
    data.batch_indices(50, 8, 0, 0, 6)
  with pytest.raises(InputError, match="process_index"):
    data.batch_indices(50, 8, 0, 0, 0, 2, 2)
