"""The offline quickstart: NAT on the 8x8 digits shipped with scikit-learn, a 3-cell supernet.

Command:
  natjax search --config configs/quickstart.py --workdir runs/quickstart
Hardware and runtime: a 2-core CPU, no accelerator, no download; measured 6-9 minutes including
compilation on a shared, loaded 2-core CPU. Transforms DARTS and the ResNet block and prints the
result with its cost change, then the held-out check. Result there: mean shared-weight accuracy
0.890 over 200 random architectures on the test split; the policy keeps every op (reward -0.001 +-
0.0004) against -0.224 +- 0.013 for uniformly random transformations (README, quickstart).

Settings measured for the supernet (C=8, 3 cells, PyTorch initialisation, mean test accuracy of
32 random architectures): lr 0.05 at batch 64 reaches 0.88 after 2,000 w-steps and 0.91 after
2,500; lr 0.1 learns far slower (0.57 after 2,500), lr 0.01 at batch 32 reaches 0.81 after 3,000.
C=16 compiled for 8 minutes on the loaded CPU.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default  # pylint: disable=g-import-not-at-top


def get_config():
  c = default.get_config()
  c.dataset = "digits"
  c.channels = 8
  c.num_cells = 3              # a normal cell and two reduction cells: 8x8 -> 4x4 -> 2x2
  c.epochs = 300               # epochs of 9 w-steps (600 images) + 14 theta-steps (900 images)
  c.theta_start_epoch = 150    # the supernet first learns alone: 1,350 w-steps (2,700 in all)
  c.batch_size = 64
  c.w_lr = 0.05
  c.theta_lr = 1e-3            # released 3e-4 (not measured here): only 2,100 theta-steps
  c.derive_samples = 10
  c.eval_archs = 200
  c.eval_batch_size = 100      # theta split: 9 batches; test split: 3 (297 images)
  c.checkpoint_every = 500
  c.checkpoint_epoch_end = False  # 300 short epochs: a save every 500 steps is enough
  c.log_every = 10
  return c
