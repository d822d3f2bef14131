"""What natjax's two kinds of orbax checkpoint (a run's state, an exported policy) share: absl's
warnings muted while orbax runs (a damaged directory is reported by the caller in one line), and
a stored tree compared leaf by leaf with the tree the current code builds."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Dict, Iterator, Optional, Tuple

import jax
import numpy as np

Leaves = Dict[str, Tuple[Tuple[int, ...], str]]


@contextlib.contextmanager
def quiet_absl() -> Iterator[None]:
  """absl (orbax's logger) at ERROR for the length of a `with` block."""
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    absl_logger.setLevel(level)


def _key_name(key: Any) -> str:
  return str(getattr(key, "name", getattr(key, "key", getattr(key, "idx", key))))


def path_name(path: Any) -> str:
  """A leaf's path as a name: 'w_params/cells/0/pre0/w' (NamedTuple fields by name, dict keys,
  sequence indices)."""
  return "/".join(_key_name(k) for k in path)


def leaf_shapes(tree: Any) -> Leaves:
  """'w_params/cells/0/pre0/w' -> (shape, dtype name) for every leaf of a tree of arrays or of
  orbax metadata (`path_name`)."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {path_name(path): (tuple(x.shape), np.dtype(x.dtype).name) for path, x in leaves}


def first_mismatch(found: Leaves, wanted: Leaves) -> Optional[Tuple[str, str]]:
  """('missing' | 'unexpected' | 'shape', leaf name) of the first difference (missing leaves
  first, then unexpected ones, then shapes or dtypes, each in name order), or None."""
  for name in sorted(wanted):
    if name not in found:
      return "missing", name
  for name in sorted(found):
    if name not in wanted:
      return "unexpected", name
  for name in sorted(wanted):
    if found[name] != wanted[name]:
      return "shape", name
  return None
