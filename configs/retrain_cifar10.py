"""Retrain an architecture on CIFAR-10 from scratch (spec section 9: the DARTS protocol).

Every retraining config starts from this one and overrides a few fields. It is returned locked: a
config building on it sets these fields and cannot add one (a misspelt field is an error).

Command:
  natjax retrain --config configs/retrain_cifar10.py --workdir runs/retrain_darts \
      --arch DARTS            (or --arch runs/nat_darts/derived.json:DARTS)
Hardware and runtime: 600 epochs of 520 steps at batch 96 in the C=36, 20-cell network (DARTS: 3.35
M params, 528 M MAdds by the cost model). An estimate from the DARTS protocol, not measured here:
about 1.5 days on one V100 (impl 'auto' picks the 'lax' kernels there). Not a CPU job. Needs CIFAR-10 prepared for tfds
(README, Data). Expected test accuracy for DARTS-like cells: about 97 %.
"""

import ml_collections


def get_config(arg=None) -> ml_collections.ConfigDict:
  del arg  # no variants
  c = ml_collections.ConfigDict()
  # Data.
  c.dataset = "cifar10"          # 'cifar10', 'imagenet2012' (tfds, prepared) or 'digits' (shipped)
  c.data_dir = ml_collections.config_dict.placeholder(str)  # tfds data directory (None:
                                 # $TFDS_DATA_DIR, ~/tensorflow_datasets)
  c.image_size = ml_collections.config_dict.placeholder(int)  # input side (pixels) of resizing
                                 # datasets (ImageNet); None: native
  c.split_seed = 1234            # seed of host-side augmentation (ImageNet crops); no split is used
  c.seed = 0                     # weights, batch order, augmentation and drop-path draws
  # Architecture and network.
  c.arch = "DARTS"               # built-in name, genotype file, or a search's derived.json[:NAME]
  c.imports = ()                 # modules imported first (a fork's registered ops, spaces, rules)
  c.network = "cifar"            # macro-architecture: 'cifar' (one-conv stem) or 'imagenet'
  c.channels = 36                # C of the first cells (channels; doubles at each reduction)
  c.num_cells = 20               # cells; reductions at num_cells // 3 and 2 * num_cells // 3
  c.auxiliary = True             # auxiliary head after cell 2 * num_cells // 3 (training only)
  c.impl = "auto"                # kernel implementation: 'shift' (CPU), 'lax' (GPU/TPU) or 'auto'
                                 # (the one for the backend; config.json records the choice)
  # Schedule.
  c.epochs = 600                 # epochs (passes over the training set)
  c.batch_size = 96              # global training batch (examples), split over all devices
  c.max_steps_per_epoch = 0      # steps-per-epoch cap (0: whole train set; partial batch dropped)
  c.eval_batch_size = 500        # test batch (examples); the last partial batch is masked
  # Optimiser: SGD with momentum, coupled weight decay, cosine learning rate stepped per epoch.
  c.learning_rate = 0.025        # learning rate at epoch 0
  c.lr_min = 0.001               # learning rate the cosine reaches at the last epoch
  c.momentum = 0.9               # SGD momentum (PyTorch form)
  c.weight_decay = 3e-4          # added to the gradient times the parameter (all parameters)
  c.grad_clip = 5.0              # global gradient-norm clip (before weight decay)
  # Regularisation.
  c.cutout_size = 16             # side of the cutout square in pixels (0: none)
  c.label_smoothing = 0.0        # target smoothing eps (0.1 on ImageNet)
  c.drop_path_prob = 0.2         # drop-path probability at the last epoch (ramped linearly from 0)
  c.aux_weight = 0.4             # weight of the auxiliary loss (ignored without c.auxiliary)
  # Run.
  c.checkpoint_every_steps = 1000  # steps between checkpoints (also at every epoch end and SIGTERM)
  c.log_every_steps = 50         # steps between TensorBoard training scalars
  c.progress = True              # progress bar (steps/s, ETA) on stderr
  return c.lock()
