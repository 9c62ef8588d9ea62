#!/usr/bin/env bash
# The GPU checks of BUILD.md in one command: the main job cold and warm, the benchmark, then test files.
#
# Usage (from anywhere, in the environment BUILD.md installs for GPU, with torch for the PyTorch rows):
#   bash scripts/bench_gpu.sh [OUT]          # OUT defaults to outputs/benchmark/gpu
#
# Steps, each under its own `timeout` (seconds; the defaults add up to 540, so that the whole fits a 10-minute
# slot on a borrowed machine), each run even if an earlier one failed:
# 1. The main job at 10 seeds, cold (empty compilation and source-model caches, made here under $TMPDIR) and then
#    warm (--overwrite, both caches filled): MAIN_TIMEOUT each, default 90. Writes OUT/main_job.json (each run's
#    seconds, exit status and environment.json: its compile seconds and programs) and OUT/main_job.md (the table).
# 2. The benchmark with GPU settings: lane counts up to 8192 (bench.lane_counts), bfloat16 on (bench.bf16),
#    PyTorch on where torch is installed (its loop runs on CPU and, when torch sees CUDA, on the GPU), larger
#    matmuls for the peak (bench.peak_sizes). BENCH_TIMEOUT, default 270. Writes OUT/benchmark.json and
#    OUT/benchmark.md (their machine line names the device). It reuses the source models step 1 pre-trained.
# 3. python -m pytest -q -x on TEST_FILES (default: the files whose programs run on the default device and were
#    not run on a GPU before, BUILD.md): TEST_TIMEOUT, default 90. TEST_FILES=tests runs the whole suite.
# Everything printed goes to OUT/bench_gpu.log too; the script exits non-zero if any step did.
#
# A machine without ml-collections, rich, matplotlib, tensorboardX, pytest or pytest-xdist but with their wheels in
# .whl/ (fetched by `bash scripts/bench_gpu.sh --wheels` on a machine with the package registry) gets them installed
# into a temporary folder, which PYTHONPATH then names. JAX may take XLA_PYTHON_CLIENT_MEM_FRACTION of the GPU
# (default here 0.85, jax's own 0.75: the 8192-lane call is the largest). Stops at once if JAX sees no GPU, unless
# BENCH_GPU_REHEARSE=1, which runs every step on CPU with the smoke variants and one test file (to check this
# script: under 2 minutes on 2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3 || command -v python)}
WHEELS=(ml_collections==1.1.0 PyYAML rich markdown-it-py mdurl pygments tensorboardX protobuf matplotlib contourpy
        cycler fonttools kiwisolver pillow pyparsing python-dateutil six packaging pytest pluggy iniconfig
        pytest-xdist execnet)

if [[ "${1:-}" == --wheels ]]; then  # run where the registry is reachable; carry .whl/ to the GPU machine
  exec "${PY}" -m pip download --no-deps --only-binary=:all: --python-version "${WHEEL_PYTHON:-3.12}" \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
      --platform any -d .whl "${WHEELS[@]}"
fi

out=${1:-outputs/benchmark/gpu}
mkdir -p "${out}"
log="${out}/bench_gpu.log"
: > "${log}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-gpu-XXXXXX")
trap 'rm -rf "${tmp}"' EXIT
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.85}
rehearse=${BENCH_GPU_REHEARSE:-0}
smoke=$([[ ${rehearse} == 1 ]] && echo ':smoke' || true)

say() { echo "$*" | tee -a "${log}"; }

say "bench_gpu.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! "${PY}" -c 'import ml_collections, rich, matplotlib, tensorboardX, pytest, xdist' 2> /dev/null \
    && compgen -G '.whl/*.whl' > /dev/null; then
  say "installing the wheels in .whl/ into ${tmp}/site"
  "${PY}" -m pip install -q --no-index --no-deps --target "${tmp}/site" .whl/*.whl 2>&1 | tee -a "${log}"
  export PYTHONPATH="${tmp}/site${PYTHONPATH:+:${PYTHONPATH}}"
fi
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"
command -v nvidia-smi > /dev/null && { nvidia-smi 2>&1 | tee -a "${log}" || true; }
gpu='import jax, sys; print("jax", jax.__version__, jax.devices()); sys.exit(jax.default_backend() == "cpu")'
if ! "${PY}" -c "${gpu}" 2>&1 | tee -a "${log}" && [[ ${rehearse} != 1 ]]; then
  say "JAX sees no GPU: install the CUDA extra first (BUILD.md, GPU). Nothing was run."
  exit 1
fi

# step NAME TIMEOUT COMMAND...: runs COMMAND under `timeout`, its output into the log; its exit status in `rc`.
failed=0
step() {
  local name=$1 limit=$2 start=${SECONDS}
  shift 2
  rc=0
  timeout "${limit}" "$@" 2>&1 | tee -a "${log}" || rc=$?
  say "${name}: exit ${rc}$([[ ${rc} == 124 ]] && echo " (timed out after ${limit}s)"), $((SECONDS - start))s"
  (( rc == 0 )) || failed=1
  return 0
}

# 1. The main job at 10 seeds, cold then warm; each run's wall time and its environment.json into main_job.json.
main=(env TRANSFER_JAX_CACHE="${tmp}/jax-cache" "${PY}" -m scripts.run --config="configs/domain_shift.py${smoke}"
      --config.seeds=10 --config.pretrain.cache_dir="${tmp}/pretrained" --workdir="${tmp}/main")
for run in cold warm; do
  start=$(date +%s.%N)
  step "main job (${run})" "${MAIN_TIMEOUT:-90}" "${main[@]}" $([[ ${run} == warm ]] && echo --overwrite)
  "${PY}" - "${tmp}" "${run}" "${start}" "${rc}" "${out}" <<'EOF' 2>&1 | tee -a "${log}"
import json, os, sys, time
tmp, run, start, rc, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
path = os.path.join(out, 'main_job.json')
found = json.load(open(path)) if os.path.exists(path) else {}
env = os.path.join(tmp, 'main', 'environment.json')
found[run] = {'seconds': round(time.time() - start, 2), 'exit': rc,
              'environment': json.load(open(env)) if os.path.exists(env) else None}
json.dump(found, open(path, 'w'), indent=1)
print(f'main job ({run}): {found[run]["seconds"]} s')
EOF
done
[[ -f "${tmp}/main/table.md" ]] && cp "${tmp}/main/table.md" "${out}/main_job.md"

# 2. The benchmark.
if [[ ${rehearse} == 1 ]]; then
  bench=(--config=configs/bench.py:smoke --config.bench.torch=False)
else
  bench=(--config=configs/bench.py --config.bench.lane_counts='(1, 256, 2048, 8192)' --config.bench.bf16=True
         --config.bench.torch=True --config.bench.peak_sizes='(2048, 4096, 8192)')
fi
step benchmark "${BENCH_TIMEOUT:-270}" "${PY}" -m scripts.bench "${bench[@]}" \
    --config.pretrain.cache_dir="${tmp}/pretrained" --out="${out}"

# 3. Test files.
default_tests='tests/test_bench.py tests/test_groups.py'
[[ ${rehearse} == 1 ]] && default_tests=tests/test_groups.py
read -r -a tests <<< "${TEST_FILES:-${default_tests}}"
step tests "${TEST_TIMEOUT:-90}" "${PY}" -m pytest -q -x -p no:cacheprovider "${tests[@]}"

exit "${failed}"
