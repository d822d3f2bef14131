"""Retrain an architecture on ImageNet from scratch (spec section 9: the DARTS mobile setting).

Command (one host, all its devices):
  natjax retrain --config configs/retrain_imagenet.py --workdir runs/retrain_darts_imagenet \
      --arch DARTS
Hardware and runtime: 250 epochs of 10,009 steps at batch 128, 224x224 input, the C=48, 14-cell
network (DARTS: 4.72 M params, 530 M MAdds by the cost model). An estimate from the DARTS protocol,
not measured here: about 3 days on 8 V100s (some 25 V100-days). Needs imagenet2012 prepared for tfds
(README, Data). Expected top-1 for DARTS-like cells: about 73-74 %.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import retrain_cifar10  # pylint: disable=g-import-not-at-top


def get_config(arg=None):
  c = retrain_cifar10.get_config(arg)
  c.dataset = "imagenet2012"
  c.image_size = 224             # train crops and eval centre crops, pixels
  c.network = "imagenet"
  c.channels = 48
  c.num_cells = 14
  c.epochs = 250
  c.batch_size = 128
  c.eval_batch_size = 500
  c.learning_rate = 0.1
  c.lr_min = 0.001
  c.weight_decay = 3e-5
  c.cutout_size = 0              # no cutout on ImageNet
  c.label_smoothing = 0.1
  c.checkpoint_every_steps = 2000
  return c
