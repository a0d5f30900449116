#!/usr/bin/env bash
# Run 37's second device call (docs/performance.md): the staging microbenchmark again with the epilogue
# test off the issue stream, then ncu's per-instruction stall samples of two large problems' kernels.
set -uo pipefail
OUT=${OUT:-/tmp/run37}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,clocks.sm,power.draw,temperature.gpu --format=csv,noheader | tee "$OUT/env.txt"
python3 -m pip install -e . --no-deps --no-build-isolation -q >"$OUT/install.txt" 2>&1 || { cat "$OUT/install.txt"; exit 1; }
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
echo "ncu: ${NCU:-none}"; [[ -n $NCU ]] && "$NCU" --version | tail -n 1
cd scripts/experiments
for tile in wide narrow; do
  PYTHONPATH=../.. python3 smem_contention.py $tile >"$OUT/smem-$tile.txt" 2>&1
  grep "same\|written" "$OUT/smem-$tile.txt"
done
[[ -n $NCU ]] || exit 1
for shape in "4096 4096 7168" "4096 32768 512"; do
  tag=${shape// /x}
  "$NCU" --clock-control none --set full --import-source no -k fp8gemm_kernel --launch-skip 2 --launch-count 1 \
    -f -o /tmp/ncu-$tag python3 ncu_stalls.py $shape >"$OUT/ncu-$tag.log" 2>&1
  tail -n 3 "$OUT/ncu-$tag.log"
  "$NCU" -i /tmp/ncu-$tag.ncu-rep --page source --csv --print-source sass >"$OUT/ncu-$tag-sass.csv" 2>&1
  "$NCU" -i /tmp/ncu-$tag.ncu-rep --page details --csv >"$OUT/ncu-$tag-details.csv" 2>&1
  "$NCU" -i /tmp/ncu-$tag.ncu-rep --page raw --csv >"$OUT/ncu-$tag-raw.csv" 2>&1
  wc -c "$OUT"/ncu-$tag-*.csv
done
