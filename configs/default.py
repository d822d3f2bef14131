"""NAT on CIFAR-10, DARTS space (spec sections 6 and 7: the released settings).

Every search config starts from this one and overrides a few fields. It is returned locked: a
config building on it sets these fields and cannot add one (a misspelt field is an error).

Command (one host, all its devices):
  natjax search --config configs/default.py --workdir runs/nat_darts
Hardware and runtime: 100 epochs of 312 w-steps + 468 theta-steps at batch 64. The supernet step
is ~1.6 s on a 2-core CPU (design.md), so this is a GPU/TPU job: an estimate from the released
code's compute is about 1 GPU-day on one V100-class GPU (not measured here). Needs CIFAR-10
prepared for tfds (see README, Data).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Data.
  c.dataset = "cifar10"        # 'cifar10', 'imagenet2012' (tfds, prepared) or 'digits' (shipped)
  c.data_dir = ml_collections.config_dict.placeholder(str)  # tfds data directory; None:
                               # $TFDS_DATA_DIR or ~/tensorflow_datasets
  c.split_seed = 1234          # seed of the w / theta split of the training set
  c.w_fraction = 0.4           # fraction of the training set for the supernet weights (rest: theta)
  c.seed = 1234                # weights, architectures, policy draws, augmentation, batch order
  # Search space, rule and networks.
  c.space = "darts"            # registered search space (darts, enas, darts_pp, enas_pp)
  c.rule = "nat"               # registered rule name or a rule JSON file (nat, natpp)
  c.imports = ()               # modules imported first (a fork's registered rules, ops, spaces)
  c.channels = 20              # supernet C of the first cells
  c.num_cells = 8              # supernet cells; reductions at 1/3 and 2/3
  c.stem_multiplier = 3        # stem width = stem_multiplier * channels
  c.impl = "auto"              # kernel implementation: 'shift' (CPU), 'lax' (GPU/TPU) or 'auto'
                               # (the one for the backend; config.json records the choice)
  c.compute_dtype = "float32"  # supernet arithmetic: 'float32' or 'bfloat16' (weights and
                               # optimiser states stay float32)
  # Schedule.
  c.epochs = 100               # each epoch: a pass of w-steps, then a pass of theta-steps
  c.theta_start_epoch = 0      # epochs of w-steps only before the policy trains (released
                               # --controller_start_training: 0, no warm-up)
  c.batch_size = 64            # global batch (examples), split over all devices
  # Supernet optimiser: SGD, momentum, coupled weight decay, constant learning rate.
  c.w_lr = 0.01                # learning rate
  c.w_momentum = 0.9
  c.w_weight_decay = 3e-4      # added to the gradient (PyTorch-style L2)
  # Policy optimiser: Adam with coupled weight decay.
  c.theta_lr = 3e-4
  c.theta_b1 = 0.5
  c.theta_b2 = 0.999
  c.theta_weight_decay = 5e-4  # added to the gradient before the Adam moments
  # REINFORCE.
  c.entropy_coef = 0.003       # per cell (normal and reduce)
  c.baseline_decay = 0.99      # moving-average baseline decay
  c.released_baseline = False  # True: the released advantage-fed baseline (spec 2.3 item 7)
  c.released_quirk = False     # True: the released +1e-5 on probabilities
  c.cost_penalty = 0.0         # lambda of the cost-aware reward (0: the released reward)
  c.cost_measure = "madds"     # cost of the cost-aware reward: 'madds' or 'params'
  # Derivation (spec 8) and the held-out check.
  c.derive_archs = ("DARTS", "ResBlock")  # built-in names or genotype files, in this space
  c.derive_samples = 10        # sampled candidates per input (plus the greedy one)
  c.derive_batches = 0         # theta-split batches candidates are scored on (0: the whole split)
  c.derive_every = 0           # also derive every this many epochs (0: only at the end)
  c.eval_archs = 100           # held-out random inputs: policy, greedy, random, random without
                               # null and no change, paired on the same images (>= 2)
  c.eval_batches = 0           # test-split batches of that check (0: the whole split)
  c.eval_batch_size = 0        # batch (examples) of both scoring passes (0: batch_size); BN uses
                               # each batch's statistics
  # Run.
  c.checkpoint_every = 500     # steps between checkpoints (also on SIGTERM, after the last epoch)
  c.checkpoint_epoch_end = True  # also save at every epoch end (False: for many short epochs)
  c.log_every = 50             # steps between TensorBoard scalars
  c.progress = True            # progress bar (steps/s, ETA) on stderr
  return c.lock()
