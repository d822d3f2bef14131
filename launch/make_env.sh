#!/usr/bin/env bash
# Creates a virtual environment with a supported Python (3.11+) and installs natjax into it from
# the pinned constraints (constraints/lock.txt), with the given extras.
#
#   bash launch/make_env.sh VENV [EXTRAS]        e.g.  bash launch/make_env.sh .venv cuda12,tfds
#
# The machine's own Python may be older (a TPU VM image's python3 is 3.10), so the environment is
# made by uv, which uses a Python $PYTHON_VERSION found on the machine or else downloads a
# standalone CPython build of it once (into ~/.local/share/uv). uv itself comes from PyPI with
# the machine's python3 (any Python 3.8+ with pip) when it is not on PATH already.
# PYTHON_VERSION: 3.11 (default), 3.12 or 3.13; on 3.12+ the lock pins a newer jax and flax.
set -euo pipefail

VENV=${1:?usage: make_env.sh VENV [EXTRAS]}
EXTRAS=${2:-}
PYTHON_VERSION=${PYTHON_VERSION:-3.11}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  # --break-system-packages is needed only where the system Python refuses user installs (PEP 668).
  python3 -m pip install --user --quiet uv \
    || python3 -m pip install --user --quiet --break-system-packages uv
fi

uv venv --seed --clear --python "$PYTHON_VERSION" "$VENV"
uv pip install --python "$VENV/bin/python" -c "$REPO/constraints/lock.txt" \
  -e "$REPO${EXTRAS:+[$EXTRAS]}"
"$VENV/bin/python" -c 'import sys, jax, natjax
print(f"natjax {natjax.__version__}, Python {sys.version.split()[0]}, jax {jax.__version__}")'
