#!/usr/bin/env bash
# A natjax search on every GPU of one machine (one process; the batch is split over the GPUs).
#
#   bash launch/gpu_single_host.sh configs/nat_cifar10.py runs/nat_darts [--config.FIELD=VALUE ...]
#
# Creates ./.venv with Python 3.11 (launch/make_env.sh: PYTHON_VERSION=3.12 or 3.13 for another)
# and installs natjax with CUDA 12 jax wheels and the tfds extra from the pinned constraints
# (INSTALL=0 to skip), then runs the search with the library convolutions (impl=lax), which are
# the fast ones on GPU. CIFAR-10 must be prepared under $TFDS_DATA_DIR (default
# ~/tensorflow_datasets; README, Data).
# config.batch_size must be divisible by the number of GPUs (CUDA_VISIBLE_DEVICES selects them).
set -euo pipefail

CONFIG=${1:?usage: gpu_single_host.sh CONFIG WORKDIR [--config.FIELD=VALUE ...]}
WORKDIR=${2:?usage: gpu_single_host.sh CONFIG WORKDIR [--config.FIELD=VALUE ...]}
shift 2
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
INSTALL=${INSTALL:-1}

if [[ "$INSTALL" == 1 ]]; then
  bash "$REPO/launch/make_env.sh" "$VENV" cuda12,tfds
fi

# Let XLA take the GPU memory it needs as it goes rather than 75 % up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
"$VENV/bin/python" -c 'import jax; print("devices:", jax.devices())'
exec "$VENV/bin/natjax" search --config "$CONFIG" --workdir "$WORKDIR" --config.impl=lax "$@"
