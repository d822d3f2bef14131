#!/usr/bin/env bash
# The benchmarks on whatever backend JAX finds (CPU, GPU or TPU), one JSON line each, after one
# line naming the backend and device kind. The kernel form is 'auto' everywhere ('shift' on CPU,
# 'lax' on GPU/TPU; each line's "impl" says which ran).
#
#   bench/device.sh                          # search config (C=20, 8 cells, 32x32, batch 64)
#   NATJAX_BENCH_SIZE=small bench/device.sh  # C=8, 5 cells, 16x16: end to end in minutes on CPU
#   NATJAX_BENCH_SIZE=tiny bench/device.sh   # C=4, 3 cells, 8x8: a smoke run (the tests run it)
#
# PYTHON picks the interpreter (default: python). The supernet benchmark skips the all-ops
# mixture (minutes of compile on its own: run bench/supernet.py without --no-all-ops for it).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"
SIZE="${NATJAX_BENCH_SIZE:-search}"
# glibc would mmap (and page-fault) every XLA:CPU temp buffer over 32 MB afresh on each step.
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000

"$PYTHON" -c 'import json, jax; d = jax.devices()[0]
print(json.dumps({"backend": jax.default_backend(), "device_kind": d.device_kind,
                  "devices": jax.device_count(), "jax": jax.__version__}))'
case "$SIZE" in
  search)
    "$PYTHON" supernet.py --config search --no-all-ops
    "$PYTHON" search_step.py
    "$PYTHON" transform.py --max-batch 4096 --repeats 3
    "$PYTHON" derive.py
    ;;
  small)
    "$PYTHON" supernet.py --config small --no-all-ops --archs 2 --rounds 1
    "$PYTHON" search_step.py --small --steps 2
    "$PYTHON" transform.py --max-batch 256 --repeats 2
    "$PYTHON" derive.py --small --samples 2 --batches 2 --repeats 1
    ;;
  tiny)  # tests/readme_test.py reruns the first two with these arguments, to load their programs
    "$PYTHON" supernet.py --config tiny --no-all-ops --archs 1 --rounds 1
    "$PYTHON" search_step.py --size tiny --batch 16 --steps 1
    "$PYTHON" transform.py --max-batch 16 --repeats 1
    "$PYTHON" derive.py --size tiny --samples 1 --batches 1 --batch 16 --repeats 1
    ;;
  *)
    echo "NATJAX_BENCH_SIZE must be 'search', 'small' or 'tiny', got '$SIZE'" >&2
    exit 2
    ;;
esac
