"""orbax_files: leaf names and shapes of a tree, and the first difference between two."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import pytest

from natjax.io import orbax_files


class _State(NamedTuple):
  params: dict
  step: jax.Array


def test_leaf_shapes_name_fields_keys_and_indices():
  state = _State({"w": [jnp.zeros((2, 3)), jnp.zeros((4,), jnp.int32)]}, jnp.zeros((), jnp.int32))
  assert orbax_files.leaf_shapes(state) == {
      "params/w/0": ((2, 3), "float32"), "params/w/1": ((4,), "int32"),
      "step": ((), "int32")}


A, B = ((2,), "float32"), ((3,), "float32")


@pytest.mark.parametrize("found, wanted, mismatch", [
    ({"a": A, "b": A}, {"a": A, "b": A}, None),
    ({"a": A}, {"a": A, "b": A, "c": A}, ("missing", "b")),
    ({"a": A, "z": A, "y": A}, {"a": A}, ("unexpected", "y")),
    ({"a": B, "b": B}, {"a": A, "b": A}, ("shape", "a")),
    ({"a": A, "b": ((2,), "int32")}, {"a": A, "b": A}, ("shape", "b")),
    # A missing leaf is named before an unexpected one, which is named before a shape.
    ({"a": B, "x": A}, {"a": A, "b": A}, ("missing", "b")),
    ({"a": B, "x": A}, {"a": A}, ("unexpected", "x")),
])
def test_first_mismatch(found, wanted, mismatch):
  assert orbax_files.first_mismatch(found, wanted) == mismatch
