#!/usr/bin/env bash
# A natjax search over several GPU nodes under Slurm: one task (process) per node, each driving
# all GPUs of its node.
#
#   sbatch --nodes=4 launch/slurm_multinode.sh configs/nat_cifar10.py /shared/runs/nat_darts \
#     [--config.FIELD=VALUE ...]
#
# The work directory and $TFDS_DATA_DIR must be on a filesystem shared by all nodes. natjax must be
# installed in $VENV, seen by every node: bash launch/make_env.sh "$VENV" cuda12,tfds (and
# UV_PYTHON_INSTALL_DIR on the shared filesystem where home directories are not shared).
# jax.distributed.initialize() (enabled by NATJAX_DISTRIBUTED=1) takes the process count and id
# from Slurm (SLURM_NTASKS, SLURM_PROCID) and the coordinator from JAX_COORDINATOR_ADDRESS: the
# first node of the allocation, port $COORDINATOR_PORT. With one task per node jax would
# otherwise give each process only GPU $SLURM_LOCALID (= 0), so JAX_LOCAL_DEVICE_IDS lists all of
# the node's GPUs.
# config.batch_size must be divisible by the total number of GPUs.
#SBATCH --job-name=natjax-search
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=16
#SBATCH --time=24:00:00
#SBATCH --output=natjax-search-%j.log
set -euo pipefail

CONFIG=${1:?usage: sbatch slurm_multinode.sh CONFIG WORKDIR [--config.FIELD=VALUE ...]}
WORKDIR=${2:?usage: sbatch slurm_multinode.sh CONFIG WORKDIR [--config.FIELD=VALUE ...]}
shift 2
REPO=${REPO:-$SLURM_SUBMIT_DIR}
VENV=${VENV:-$REPO/.venv}
COORDINATOR_PORT=${COORDINATOR_PORT:-12345}

COORDINATOR_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export JAX_COORDINATOR_ADDRESS="$COORDINATOR_HOST:$COORDINATOR_PORT"
export NATJAX_DISTRIBUTED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false

# SIGTERM before the time limit (scancel, or sbatch --signal=TERM@120) makes the search save a
# checkpoint and exit 143; resubmitting the same command resumes it.
srun --ntasks="$SLURM_NNODES" --ntasks-per-node=1 --kill-on-bad-exit=1 \
  bash -c 'export JAX_LOCAL_DEVICE_IDS=$(seq -s, 0 $(( $(nvidia-smi -L | wc -l) - 1 )))
    exec "$0"/bin/natjax search --config "$1" --workdir "$2" --config.impl=lax \
      --config.progress=False "${@:3}"' \
  "$VENV" "$CONFIG" "$WORKDIR" "$@"
