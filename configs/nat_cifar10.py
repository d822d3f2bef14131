"""NAT on CIFAR-10 (released settings, spec section 7) in the DARTS or ENAS space.

Commands:
  natjax search --config configs/nat_cifar10.py:darts --workdir runs/nat_darts
  natjax search --config configs/nat_cifar10.py:enas --workdir runs/nat_enas
Hardware and runtime: as configs/default.py (a GPU/TPU job, about 1 GPU-day on one V100-class
GPU, estimated, not measured); 'enas' has N=5 cells and a 20.16 M-parameter supernet.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default  # pylint: disable=g-import-not-at-top


def get_config(space: str = "darts"):
  c = default.get_config()
  if space not in ("darts", "enas"):
    raise ValueError(f"nat_cifar10: space must be 'darts' or 'enas', got '{space}'")
  c.space = space
  c.derive_archs = ("DARTS", "ResBlock") if space == "darts" else ("ENAS",)
  return c
