#!/usr/bin/env bash
# Regenerates the two constraints files from pyproject.toml; needs uv (pip install uv).
#
#   lock.txt    the newest release within pyproject's ranges of everything `natjax[test]` installs,
#               for every supported Python at once (an environment marker where the newest
#               release differs: Python >= 3.12 gets a newer jax and flax). The README and CI
#               install with `pip install -c constraints/lock.txt ...`.
#   lowest.txt  every direct dependency at its lower bound (Python 3.11), the set that proves the
#               lower bounds: pip install -c constraints/lowest.txt -e '.[test]', then the tests.
#
#   bash constraints/update.sh [--upgrade]
#
# lock.txt keeps its pins where pyproject still allows them; --upgrade moves every one to the
# newest release (then run CI). lowest.txt is always recomputed from the lower bounds.
set -euo pipefail
cd "$(dirname "$0")/.."
uv pip compile pyproject.toml --extra test --universal --python-version 3.11 --quiet \
  --custom-compile-command "bash constraints/update.sh" -o constraints/lock.txt "$@"
uv pip compile pyproject.toml --extra test --python-version 3.11 --resolution lowest-direct \
  --upgrade --quiet --custom-compile-command "bash constraints/update.sh" \
  -o constraints/lowest.txt
