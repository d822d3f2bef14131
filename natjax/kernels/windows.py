"""Windows of an NHWC image: the kernel implementations, PyTorch padding, output sizes and the
shifted slices ("taps") that the 'shift' forms of convolutions and pools are built from.

Padding follows PyTorch: a kxk window with dilation d is padded by d*(k-1)//2 on every side, and a
stride-s output has floor((H + 2p - d(k-1) - 1) / s) + 1 rows, i.e. ceil(H/2) for every op here at
s = 2.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from jax import lax

from natjax.errors import InputError, closest

IMPLS = ("lax", "shift")
AUTO = "auto"  # a config's default: the form that suits the backend (`resolve_impl`)
CHOICES = (AUTO,) + IMPLS


def check_impl(impl: str) -> None:
  """Raises InputError (with the closest name) unless `impl` is one of IMPLS."""
  if impl not in IMPLS:
    raise InputError(f"unknown kernel impl '{impl}'{closest(impl, IMPLS)}; choose one of {', '.join(IMPLS)}")


def resolve_impl(impl: str, backend: Optional[str] = None) -> str:
  """The kernel form a config's `impl` names: 'shift' or 'lax' as given, and for 'auto' 'shift'
  on CPU, 'lax' on GPU and TPU.

  XLA:CPU runs the gradient of a library convolution inside control flow 25-70x slower than the
  shift taps (design.md); GPU and TPU compilers are built around the library convolutions.

  Args:
    impl: 'auto', 'shift' or 'lax'.
    backend: the platform to choose for; None: `jax.default_backend()` ('cpu', 'gpu', 'tpu').

  Raises:
    InputError: any other `impl` (with the closest name).
  """
  if impl == AUTO:
    return "shift" if (backend or jax.default_backend()) == "cpu" else "lax"
  if impl not in IMPLS:
    raise InputError(f"unknown kernel impl '{impl}'{closest(impl, CHOICES)}; choose one of"
                     f" {', '.join(CHOICES)}")
  return impl


def same_padding(k: int, dilation: int = 1) -> int:
  """PyTorch-style symmetric padding d*(k-1)//2 of a kxk window with dilation d."""
  return dilation * (k - 1) // 2


def out_size(size: int, k: int, stride: int, dilation: int = 1) -> int:
  """Output length floor((size + 2p - d(k-1) - 1) / s) + 1 with p = same_padding(k, d)."""
  return (size + 2 * same_padding(k, dilation) - dilation * (k - 1) - 1) // stride + 1


def pad_hw(x: jax.Array, p: int, value: float = 0.0) -> jax.Array:
  """Pads the H and W axes of NHWC x by p on every side with a constant."""
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=value)


def taps(xp: jax.Array, k: int, stride: int, dilation: int, ho: int, wo: int):
  """Yields ((i, j), tap) for the k*k window offsets of padded NHWC xp.

  tap[n, a, b, c] = xp[n, a*stride + i*dilation, b*stride + j*dilation, c]; f32[N, ho, wo, C].
  """
  n, _, _, c = xp.shape
  for i in range(k):
    for j in range(k):
      start = (0, i * dilation, j * dilation, 0)
      limit = (n, i * dilation + (ho - 1) * stride + 1, j * dilation + (wo - 1) * stride + 1, c)
      yield (i, j), lax.slice(xp, start, limit, (1, stride, stride, 1))
