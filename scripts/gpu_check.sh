#!/usr/bin/env bash
# One device call: install fp8gemm, run the GPU tests and the benchmark, keep every log under $OUT.
#   scripts/gpu_check.sh [tests|sanitize|bench|all] [pytest paths/args, default: tests]
# Prints a short summary last (the device runner returns only the end of the output).
set -uo pipefail
what=${1:-all}; shift || true
OUT=${OUT:-/tmp/fp8gemm-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
status=0

{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'
  which nvcc && nvcc --version | tail -1
} >"$OUT/env.txt" 2>&1
python3 -m pip install -e . --no-deps --no-build-isolation -q >"$OUT/install.txt" 2>&1 || { cat "$OUT/install.txt"; exit 1; }

# Every variant compiled in parallel first: the tests would otherwise compile them one at a time.
precompile() { python3 -c 'from fp8gemm.heuristics import all_configs; from fp8gemm.jit.build import precompile; precompile(all_configs())'; }
if [[ $what == tests || $what == all ]]; then
  precompile
  python3 -m pytest -m gpu -q --durations=15 -p no:cacheprovider "${@:-tests}" >"$OUT/gpu_tests.txt" 2>&1 || status=1
  python3 scripts/inspect_sass.py dense_m128_n128_ dense_m64_n16_ dense_m128_n144_ grouped_masked_m64_n160_ >"$OUT/sass.txt" 2>&1 || status=1
fi
if [[ $what == sanitize || $what == all ]]; then
  precompile
  compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 1 python3 scripts/sanitize_cases.py >"$OUT/memcheck.txt" 2>&1 || status=1
  compute-sanitizer --tool racecheck --error-exitcode 1 python3 scripts/sanitize_cases.py _n16_ _n128_ _n144_ _n176_ _n192_ _n224_ _n256_ \
    >"$OUT/racecheck.txt" 2>&1 || status=1
fi
if [[ $what == bench || $what == all ]]; then
  python3 -m fp8gemm.bench --suite all --out "$OUT" --plot >"$OUT/bench.txt" 2>&1 || status=1
fi

cat "$OUT/env.txt"
for f in gpu_tests sass memcheck racecheck bench; do
  [[ -f $OUT/$f.txt ]] && { echo "=== $f (tail)"; tail -n 40 "$OUT/$f.txt"; }
done
exit $status
