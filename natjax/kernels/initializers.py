"""Initial weights: the one place that says how a weight is drawn.

`he_normal` draws a convolution weight from N(0, 2 / fan_in) (He et al.), the initialisation of
every convolution of the supernet and of the retraining networks.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def he_normal(key: jax.Array, shape: Sequence[int], fan_in: int) -> jax.Array:
  """f32[shape] from N(0, 2 / fan_in); fan_in = k*k*Cin for a conv, k*k for a depthwise one."""
  return jax.random.normal(key, tuple(shape), jnp.float32) * np.float32(np.sqrt(2.0 / fan_in))
