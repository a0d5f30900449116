#!/usr/bin/env bash
# Run 37's device call (docs/performance.md): the staging microbenchmark on both tiles, then lever 75's A/B.
set -uo pipefail
OUT=${OUT:-/tmp/run37}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,clocks.sm,power.draw,temperature.gpu --format=csv,noheader | tee "$OUT/env.txt"
python3 -m pip install -e . --no-deps --no-build-isolation -q >"$OUT/install.txt" 2>&1 || { cat "$OUT/install.txt"; exit 1; }
cd scripts/experiments
for tile in wide narrow; do
  PYTHONPATH=../.. python3 smem_contention.py $tile >"$OUT/smem-$tile.txt" 2>&1
  grep -v "Compiling entry\|registers\|bytes stack" "$OUT/smem-$tile.txt"
done
(cd ../.. && git apply scripts/experiments/segment_stores.patch)
grep -q FP8GEMM_SEGMENT_STORES ../../fp8gemm/kernels/epilogue.cuh || { echo "lever 75's patch did not apply"; exit 1; }
PYTHONPATH=../.. python3 macro_ab.py FP8GEMM_SEGMENT_STORES 2>&1 | tee "$OUT/lever75.txt" | tail -n 12
