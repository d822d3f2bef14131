#!/usr/bin/env bash
# A natjax search on every GPU of one machine (one process; the batch is split over the GPUs).
#
#   bash launch/gpu_single_host.sh configs/nat_cifar10.py runs/nat_darts [--config.FIELD=VALUE ...]
#
# Installs natjax with CUDA 12 jax wheels into ./.venv (INSTALL=0 to skip), then runs the search
# with the library convolutions (impl=lax), which are the fast ones on GPU. CIFAR-10 must be
# prepared under $TFDS_DATA_DIR (default ~/tensorflow_datasets; README, Data).
# config.batch_size must be divisible by the number of GPUs (CUDA_VISIBLE_DEVICES selects them).
set -euo pipefail

CONFIG=${1:?usage: gpu_single_host.sh CONFIG WORKDIR [--config.FIELD=VALUE ...]}
WORKDIR=${2:?usage: gpu_single_host.sh CONFIG WORKDIR [--config.FIELD=VALUE ...]}
shift 2
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
INSTALL=${INSTALL:-1}

if [[ "$INSTALL" == 1 ]]; then
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install --upgrade pip
  "$VENV/bin/pip" install -e "$REPO" 'jax[cuda12]==0.10.2'
fi

# Let XLA take the GPU memory it needs as it goes rather than 75 % up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
"$VENV/bin/python" -c 'import jax; print("devices:", jax.devices())'
exec "$VENV/bin/natjax" search --config "$CONFIG" --workdir "$WORKDIR" --config.impl=lax "$@"
