#!/usr/bin/env bash
# One device call for lever 69 (docs/performance.md, runs 29-30) that decides on the spot, by the rule written
# in wide_sets.py before any measurement, so that a session which gets one call can still ship the lever:
#   1. with the patch applied, check and time the 128 x 256 tile through quarter parts and two product sets
#      against the shipped turns on the first four timed problems (wide-sets.txt, last line the verdict);
#   2. "VERDICT ship": the GPU tests of every 256-wide config with the patch, then, if they pass, the full
#      benchmark with the patch (bench.*), the lever's recorded run;
#      "VERDICT keep": take the patch off, sweep the sample of contiguous wide-tile moves left by run 28 on the
#      shipped kernel, and measure the wgmma rates by part width and scheme.
#   bash scripts/experiments/wide_sets_call.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.draw --format=csv >"$OUT/env.txt" 2>&1
apply() { git apply "$@" scripts/experiments/wide_sets.patch 2>>"$OUT/apply.txt" \
  || patch -p1 "$@" <scripts/experiments/wide_sets.patch >>"$OUT/apply.txt" 2>&1 \
  || { cat "$OUT/apply.txt"; exit 1; }; }
apply
python3 -m pip install -e . --no-deps --no-build-isolation -q >"$OUT/install.txt" 2>&1 || { cat "$OUT/install.txt"; exit 1; }
timeout 170 python3 scripts/experiments/wide_sets.py 4 >"$OUT/wide-sets.txt" 2>&1
grep -v "^check" "$OUT/wide-sets.txt" | tail -n 40; grep -c "^check" "$OUT/wide-sets.txt"
if grep -q "^VERDICT ship" "$OUT/wide-sets.txt"; then
  python3 -c 'from fp8gemm.heuristics import all_configs; from fp8gemm.jit.build import precompile; precompile([c for c in all_configs() if "n256" in str(c)])'
  timeout 90 python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_configs_gpu.py -k n256 >"$OUT/gpu-tests-n256.txt" 2>&1 \
    && timeout 240 python3 -m fp8gemm.bench --suite all --out "$OUT" --plot >"$OUT/bench.txt" 2>&1
  tail -n 4 "$OUT/gpu-tests-n256.txt"; tail -n 30 "$OUT/bench.txt" 2>/dev/null
else
  apply -R
  timeout 150 python3 scripts/sweep_configs.py --kernel-time --grouped contiguous --block-m 128 --block-n 128,256 --cluster 2 \
    4x3072x2496x7168 8x1536x2496x4096 4x768x7168x7168 8x384x7168x2048 8x768x3584x4096 2x384x24576x4096 \
    2x768x12288x16384 4x768x6144x7168 8x1536x1536x7168 4x384x12288x4096 4x512x7168x7168 8x512x3584x4096 \
    2x1024x7168x16384 4x1024x2496x7168 >"$OUT/sweep-contiguous-rule.txt" 2>&1
  tail -n 32 "$OUT/sweep-contiguous-rule.txt"
  PYTHONPATH=. timeout 45 python3 scripts/experiments/wgmma_rate.py >"$OUT/wgmma-rate.txt" 2>&1
  tail -n 12 "$OUT/wgmma-rate.txt"
fi
