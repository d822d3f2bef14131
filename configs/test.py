"""The smallest search, for tests: digits, a 3-cell C=4 supernet, 2 epochs.

Command:
  natjax search --config configs/test.py --workdir /tmp/natjax_test
Hardware and runtime: a 2-core CPU, about a minute (mostly compilation).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default  # pylint: disable=g-import-not-at-top


def get_config():
  c = default.get_config()
  c.dataset = "digits"
  c.channels = 4
  c.num_cells = 3
  c.epochs = 2
  c.batch_size = 64
  c.derive_archs = ("DARTS",)
  c.derive_samples = 2
  c.derive_batches = 0          # the whole theta split
  c.eval_archs = 4
  c.eval_batches = 0            # the whole test split
  c.checkpoint_every = 5
  c.log_every = 5
  c.progress = False
  return c
