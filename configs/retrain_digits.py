"""Retrain DARTS on the 8x8 digits shipped with scikit-learn: offline, small, on a CPU.

The CIFAR-10 protocol (configs/retrain_cifar10.py) scaled down to 8x8 single-channel images.

Command:
  natjax retrain --config configs/retrain_digits.py --workdir runs/retrain_digits
Hardware and runtime: a 2-core CPU, no accelerator, no download. Measured on a shared 2-core
CPU: 20-90 s wall time including compilation, 15 epochs of 23 steps; DARTS final test accuracy
99.33 / 98.99 / 98.99 % with seeds 0 / 1 / 2 (36,586 trained parameters, C=8, 5 cells; PyTorch's
default initialisation, as released: with He-normal convs it was 98.32 / 98.32 / 97.98 %).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import retrain_cifar10  # pylint: disable=g-import-not-at-top


def get_config(arg=None):
  c = retrain_cifar10.get_config(arg)
  c.dataset = "digits"           # scikit-learn's 8x8 digits: 1,500 train, 297 test, offline
  c.channels = 8                 # C of the first cells (channels)
  c.num_cells = 5                # cells; reductions at 1 and 3
  c.auxiliary = False            # the 8x8 input leaves the aux head no room for its 5x5 pool
  c.epochs = 15                  # epochs of 1,500 // 64 = 23 steps
  c.batch_size = 64              # training batch (examples)
  c.eval_batch_size = 100        # test batch (examples); 297 = 2 full batches + a masked one
  c.learning_rate = 0.05         # learning rate at epoch 0 (cosine to lr_min = 0.001)
  c.cutout_size = 0              # 8x8 images: a 16-pixel square would erase them
  c.checkpoint_every_steps = 100  # steps between checkpoints (also at every epoch end)
  c.log_every_steps = 10         # steps between TensorBoard training scalars
  return c
