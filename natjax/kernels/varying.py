"""Values under `jax.shard_map`: which mesh axes a value varies over, and how a hand-written
cotangent is summed like autodiff sums it.

Outside `shard_map` every function here is the identity.
"""

from __future__ import annotations

import jax
from jax import lax


def _varying_axes(x: jax.Array) -> frozenset:
  """The `shard_map` axes over which the traced value `x` varies (empty outside shard_map)."""
  manual = getattr(jax.typeof(x), "manual_axis_type", None)
  return frozenset(manual.varying) if manual is not None else frozenset()


def vary_like(y: jax.Array, x: jax.Array) -> jax.Array:
  """`y` marked as varying over the same `shard_map` axes as `x` (a no-op outside shard_map).

  Inside a data-parallel step activations vary over the 'data' axis; a value built from
  constants (zeros) does not, and the branches of `lax.cond` / `lax.switch` must agree.
  """
  missing = tuple(sorted(_varying_axes(x) - _varying_axes(y)))
  return lax.pcast(y, missing, to="varying") if missing else y


def sum_like(ct: jax.Array, primal: jax.Array) -> jax.Array:
  """A hand-written cotangent summed over the `shard_map` axes where it varies but its primal does
  not (a replicated weight used on every device's slice): what autodiff does for such weights.
  A no-op outside shard_map."""
  extra = tuple(sorted(_varying_axes(ct) - _varying_axes(primal)))
  return lax.psum(ct, extra) if extra else ct
