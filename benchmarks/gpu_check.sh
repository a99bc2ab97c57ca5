#!/usr/bin/env bash
# One prepared check for a GPU machine (under 5 minutes): install the cuda12 extra, run the tests
# that depend on the backend, time the sinusoid and Omniglot outer steps (MAML, + TRLearner exact and
# top-1, + MetaMix) and write benchmarks/results/gpu_check.json. Commit what it writes.
#
#   benchmarks/gpu_check.sh            # on the GPU machine (needs the package index, or the extra
#                                      # installed already: GPU_CHECK_INSTALL=0)
#   benchmarks/gpu_check.sh --cpu      # the CPU-safe part (CI): no install, the same tests on the
#                                      # CPU, the timing script at tiny sizes (times mean nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mode=gpu
[[ "${1:-}" == "--cpu" ]] && mode=cpu

if [[ $mode == gpu && "${GPU_CHECK_INSTALL:-1}" == 1 ]]; then
  make install GPU=1
fi
$PY - <<EOF
import jax
from metareg.runtime import accelerator_expected
print("devices:", jax.devices(), "| accelerator expected before import:", accelerator_expected())
if "$mode" == "gpu" and jax.default_backend() == "cpu":
    raise SystemExit("gpu_check: JAX sees no GPU (is the cuda12 extra installed? make install GPU=1)")
EOF
# what depends on the backend: the convolution implementations agree, the per-backend choices, the
# chunked TRLearner, the sharded step on every visible device
$PY -m pytest -q -p no:cacheprovider tests/test_conv.py tests/test_runtime.py \
  tests/test_trlearner_chunks.py tests/test_sharding.py -m "not slow"
if [[ $mode == gpu ]]; then
  $PY benchmarks/gpu_check.py --out benchmarks/results/gpu_check.json
else
  $PY benchmarks/gpu_check.py --quick --out "${GPU_CHECK_OUT:-/tmp/gpu_check_quick.json}"
fi
