"""NAT++ on CIFAR-10: the two-level rule with the Binary-Masked Softmax over 13 ops, 200 epochs.

Commands:
  natjax search --config configs/natpp_cifar10.py:darts --workdir runs/natpp_darts
  natjax search --config configs/natpp_cifar10.py:enas --workdir runs/natpp_enas
Hardware and runtime: twice configs/nat_cifar10.py's epochs over a 15-21 M-parameter supernet:
about 2-3 GPU-days on one V100-class GPU (estimated, not measured).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default  # pylint: disable=g-import-not-at-top


def get_config(space: str = "darts"):
  c = default.get_config()
  if space not in ("darts", "enas"):
    raise ValueError(f"natpp_cifar10: space must be 'darts' or 'enas', got '{space}'")
  c.space = space + "_pp"
  c.rule = "natpp"
  c.epochs = 200
  c.derive_archs = ("DARTS", "ResBlock") if space == "darts" else ("ENAS",)
  return c
