#!/usr/bin/env bash
# Run 37's third device call (docs/performance.md): levers 76-78's A/B, then ncu's stall samples with 78.
set -uo pipefail
OUT=${OUT:-/tmp/run37}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,clocks.sm,power.draw,temperature.gpu --format=csv,noheader | tee "$OUT/env.txt"
python3 -m pip install -e . --no-deps --no-build-isolation -q >"$OUT/install.txt" 2>&1 || { cat "$OUT/install.txt"; exit 1; }
git apply scripts/experiments/scales_ahead.patch
grep -q FP8GEMM_SCALES_AHEAD fp8gemm/kernels/fp8_gemm.cuh || { echo "lever 76's patch did not apply"; exit 1; }
cd scripts/experiments
PYTHONPATH=../.. python3 macro_ab.py FP8GEMM_SCALES_AHEAD 2>&1 | grep -v Warn | tee "$OUT/lever76.txt" | tail -n 11
PYTHONPATH=../.. python3 macro_ab.py FP8GEMM_SCALES_AFTER_WAIT 2>&1 | grep -v Warn | tee "$OUT/lever77.txt" | tail -n 11
PYTHONPATH=../.. python3 macro_ab.py FP8GEMM_SCALES_BLOCK_AHEAD 2>&1 | grep -v Warn | tee "$OUT/lever78.txt" | tail -n 11
NCU=/usr/local/cuda/bin/ncu
"$NCU" --clock-control none --set full --import-source no -k fp8gemm_kernel --launch-skip 2 --launch-count 1 \
  -f -o /tmp/ncu-ahead python3 ncu_stalls.py run 4096 4096 7168 FP8GEMM_SCALES_BLOCK_AHEAD >"$OUT/ncu-ahead.log" 2>&1
"$NCU" -i /tmp/ncu-ahead.ncu-rep --page source --csv --print-source sass >"$OUT/ncu-ahead-sass.csv" 2>&1
python3 ncu_stalls.py summary "$OUT/ncu-ahead-sass.csv"
"$NCU" -i /tmp/ncu-ahead.ncu-rep --page raw --csv >/tmp/raw.csv 2>&1
python3 -c "
import csv; r=list(csv.reader(open('/tmp/raw.csv'))); h,v=r[0],r[2]
for a,b in zip(h,v):
    if a in ('sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active','gpu__time_duration.sum','sm__cycles_elapsed.avg.per_second'): print(a,b)
" | tee "$OUT/ncu-ahead-tensor.txt"
