#!/usr/bin/env bash
# A natjax search on a Cloud TPU VM pod slice: one process per TPU VM host, all hosts in one job.
#
#   TPU_NAME=natjax-v4-32 ZONE=us-central2-b ACCELERATOR=v4-32 \
#   REPO_URL=https://github.com/OWNER/natjax.git SHARED=/mnt/natjax \
#   bash launch/tpu_pod.sh configs/nat_cifar10.py runs/nat_darts [--config.FIELD=VALUE ...]
#
# Creates the slice if it does not exist (CREATE=0 to skip), installs natjax on every worker and
# runs `natjax search` on every worker at once (--worker=all). The TPU VM image's python3 is 3.10,
# older than natjax supports: launch/make_env.sh creates ~/natjax/.venv with Python 3.11 through uv
# (PYTHON_VERSION=3.12 or 3.13 for another) and installs natjax with `jax[tpu]` and the tfds extra
# from the pinned constraints (INSTALL=0 to skip). NATJAX_DISTRIBUTED=1 makes the CLI
# call jax.distributed.initialize(), which on TPU VMs finds the coordinator by itself.
#
# The work directory and the tfds data directory must be one shared filesystem seen by every
# host at the same path (e.g. a Filestore NFS share or a gcsfuse mount at $SHARED): the search
# writes its checkpoints, config.json and summary.json with ordinary file I/O, so a gs:// URL
# cannot be given as --workdir. CIFAR-10 must already be prepared under $SHARED/tensorflow_datasets
# (README, Data).
set -euo pipefail

CONFIG=${1:?usage: tpu_pod.sh CONFIG WORKDIR [--config.FIELD=VALUE ...]}
WORKDIR=${2:?usage: tpu_pod.sh CONFIG WORKDIR [--config.FIELD=VALUE ...]}
shift 2
TPU_NAME=${TPU_NAME:-natjax-pod}
ZONE=${ZONE:-us-central2-b}
ACCELERATOR=${ACCELERATOR:-v4-32}
VERSION=${VERSION:-tpu-ubuntu2204-base}
REPO_URL=${REPO_URL:?set REPO_URL to a git URL of natjax}
SHARED=${SHARED:-/mnt/natjax}
CREATE=${CREATE:-1}
INSTALL=${INSTALL:-1}
PYTHON_VERSION=${PYTHON_VERSION:-3.11}

if [[ "$CREATE" == 1 ]] && ! gcloud compute tpus tpu-vm describe "$TPU_NAME" --zone "$ZONE" \
    >/dev/null 2>&1; then
  gcloud compute tpus tpu-vm create "$TPU_NAME" --zone "$ZONE" \
    --accelerator-type "$ACCELERATOR" --version "$VERSION"
fi

run_all() {
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all --command "$1"
}

# jax[tpu] pulls the libtpu that matches the pinned jax.
if [[ "$INSTALL" == 1 ]]; then
  run_all "set -e
    if [ ! -d ~/natjax ]; then git clone '$REPO_URL' ~/natjax; fi
    cd ~/natjax && git pull --ff-only
    PYTHON_VERSION='$PYTHON_VERSION' bash launch/make_env.sh ~/natjax/.venv tpu,tfds"
fi

# The global batch (config.batch_size) must divide by the slice's device count.
run_all "cd ~/natjax && NATJAX_DISTRIBUTED=1 TFDS_DATA_DIR='$SHARED/tensorflow_datasets' \
  .venv/bin/natjax search --config '$CONFIG' --workdir '$SHARED/$WORKDIR' \
  --config.impl=lax --config.progress=False $*"
