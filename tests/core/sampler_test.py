"""Tests for natjax.core.sampler: the uniform input sampler (shapes, validity, uniformity)."""

import chex
import jax
import numpy as np
import pytest
from scipy import stats

from natjax.core import arch, sampler, spaces

SPACES = spaces.registered_spaces()


@pytest.mark.parametrize("name", SPACES)
def test_sampler_shapes_validity_and_no_null(name):
  space = spaces.get_space(name)
  batch = jax.jit(lambda k: sampler.sample_archs(k, space, 4096))(jax.random.key(0))
  for cell in batch:
    chex.assert_shape([cell.op, cell.src], (4096, space.num_edges))
    chex.assert_type([cell.op, cell.src], np.int32)
    op, src = np.asarray(cell.op), np.asarray(cell.src)
    assert op.min() >= 0 and op.max() < space.null_index  # null is never sampled
    assert (src >= 0).all() and (src < arch.destinations(space.num_nodes)).all()
    np.testing.assert_array_equal(cell.concat, space.output_mask(src))
  # Every sample converts to a valid genotype and back.
  for i in range(50):
    a = jax.tree.map(lambda x: np.asarray(x[i]), batch)
    g = arch.arch_to_genotype(a, space)
    arch.make_genotype(*g)
    np.testing.assert_array_equal(arch.genotype_to_arch(g, space).normal.op, a.normal.op)


@pytest.mark.parametrize("name", ["darts", "enas_pp"])
def test_sampler_is_uniform(name):
  """Chi-square: ops uniform over the V-1 non-null ops, sources uniform over {0..k+1}."""
  space = spaces.get_space(name)
  batch = sampler.sample_archs(jax.random.key(1), space, 20000)
  op = np.asarray(batch.normal.op).ravel()
  counts = np.bincount(op, minlength=space.num_ops)[:-1]
  assert stats.chisquare(counts).pvalue > 1e-3
  src = np.asarray(batch.reduce.src)
  for e in range(space.num_edges):
    counts = np.bincount(src[:, e], minlength=e // 2 + 2)
    assert len(counts) == e // 2 + 2
    assert stats.chisquare(counts).pvalue > 1e-3, e
  # Normal and reduce cells are drawn independently.
  assert not np.array_equal(batch.normal.op, batch.reduce.op)


def test_sampler_same_key_same_archs():
  space = spaces.get_space("darts")
  a = sampler.sample_archs(jax.random.key(7), space, 8)
  b = sampler.sample_archs(jax.random.key(7), space, 8)
  chex.assert_trees_all_equal(a, b)
