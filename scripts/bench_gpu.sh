#!/usr/bin/env bash
# The benchmark and the test suite on a GPU machine, in one command.
#
# Usage (from anywhere, in the environment BUILD.md installs for GPU, with torch for the PyTorch rows):
#   bash scripts/bench_gpu.sh [OUT]          # OUT defaults to outputs/benchmark/gpu
#
# 1. The benchmark with GPU settings: lane counts up to 8192 (bench.lane_counts), bfloat16 on (bench.bf16),
#    PyTorch on (its loop runs on CPU and, when torch sees CUDA, on the GPU), larger matmuls for the peak
#    (bench.peak_sizes). Writes OUT/benchmark.json and OUT/benchmark.md (their machine line names the device).
# 2. The test suite: python -m pytest -q -x.
# Each runs under its own `timeout` (seconds: BENCH_TIMEOUT, default 1200; TEST_TIMEOUT, default 1200); both run
# even if the first fails, and the script exits non-zero if either did. Everything printed goes to OUT/bench_gpu.log
# too. JAX may take XLA_PYTHON_CLIENT_MEM_FRACTION of the GPU (default here 0.85, jax's own 0.75: the 8192-lane call
# is the largest; torch's loop needs little). Stops at once if JAX sees no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-outputs/benchmark/gpu}
mkdir -p "${out}"
log="${out}/bench_gpu.log"
: > "${log}"
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.85}

say() { echo "$*" | tee -a "${log}"; }

say "bench_gpu.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
command -v nvidia-smi > /dev/null && { nvidia-smi 2>&1 | tee -a "${log}" || true; }
if ! python -c 'import jax, sys; print("jax", jax.__version__, jax.devices()); sys.exit(jax.default_backend() == "cpu")' \
    2>&1 | tee -a "${log}"; then
  say "JAX sees no GPU: install the CUDA extra first (BUILD.md, GPU). Nothing was run."
  exit 1
fi

bench_rc=0
timeout "${BENCH_TIMEOUT:-1200}" python -m scripts.bench --config=configs/bench.py \
    --config.bench.lane_counts='(1, 256, 2048, 8192)' --config.bench.bf16=True --config.bench.torch=True \
    --config.bench.peak_sizes='(2048, 4096, 8192)' --out="${out}" 2>&1 | tee -a "${log}" || bench_rc=$?
say "benchmark: exit ${bench_rc}$([[ ${bench_rc} == 124 ]] && echo ' (timed out)')"

test_rc=0
timeout "${TEST_TIMEOUT:-1200}" python -m pytest -q -x 2>&1 | tee -a "${log}" || test_rc=$?
say "tests: exit ${test_rc}$([[ ${test_rc} == 124 ]] && echo ' (timed out)')"

(( bench_rc == 0 && test_rc == 0 ))
