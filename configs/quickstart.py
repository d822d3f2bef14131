"""The offline quickstart: NAT on the 8x8 digits shipped with scikit-learn, a 3-cell supernet.

Command:
  natjax search --config configs/quickstart.py --workdir runs/quickstart
Hardware and runtime: a 2-core CPU, no accelerator, no download; about 5 minutes including
compilation. Transforms DARTS and the ResNet block and prints the result with its cost change.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default  # pylint: disable=g-import-not-at-top


def get_config():
  c = default.get_config()
  c.dataset = "digits"
  c.channels = 16
  c.num_cells = 3              # a normal cell and two reduction cells: 8x8 -> 4x4 -> 2x2
  c.epochs = 40
  c.batch_size = 32
  c.derive_samples = 10
  c.derive_batches = 8
  c.eval_archs = 100
  c.eval_batches = 2
  c.checkpoint_every = 200
  c.log_every = 10
  return c
