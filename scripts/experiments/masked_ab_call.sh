#!/usr/bin/env bash
# One device call: is the masked multi-width kernel slower with lever 69's quarter parts on its 256 path
# (docs/performance.md, run 32)? Kernel time of the six masked problems, HEAD against the tree before lever 69,
# two passes; then the rule below decides, and the benchmark runs. Before the call, here (the device copy has
# no git history; .ab/ is untracked, so it travels):
#   mkdir -p .ab/pre && git archive 5a3b588 fp8gemm | tar -x -C .ab/pre
# Logs under $OUT.
set -u
python3 -m pip install -e . --no-deps --no-build-isolation -q > $OUT/install.txt 2>&1 || { tail $OUT/install.txt; exit 1; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/env.txt
for i in 1 2; do for v in head pre; do
  PYTHONPATH=$([ $v = head ] && echo $PWD || echo $PWD/.ab/$v) python3 scripts/experiments/kernel_ab.py $v masked 2>&1 | grep -v Warn
done; done | tee $OUT/masked-ab.txt
# Rule written before the run: the masked 256 path goes back to two halves if pre/head kernel time has a
# geomean <= 0.99 over the six problems (both passes) and no problem above 1.02.
verdict=$(python3 - <<'P'
import math, re, collections, os
t = collections.defaultdict(list)
for line in open(os.environ["OUT"] + "/masked-ab.txt"):
    m = re.match(r"(head|pre)\s+(masked.*?)\s+([\d.]+) us", line)
    if m: t[(m[1], m[2])].append(float(m[3]))
shapes = sorted({s for _, s in t})
r = [sum(t[("pre", s)]) / sum(t[("head", s)]) for s in shapes]
g = math.exp(sum(map(math.log, r)) / len(r))
print("halves" if g <= 0.99 and max(r) <= 1.02 else "keep", f"geomean {g:.4f}", " ".join(f"{x:.3f}" for x in r))
P
)
echo "verdict: $verdict" | tee -a $OUT/masked-ab.txt
if [[ $verdict == halves* ]]; then
  sed -i 's/kBlockN % 64 == 0 \&\& kBlockM == 128 ? 4 : 2;/kBlockN % 64 == 0 \&\& kBlockM == 128 \&\& kType != GemmType::GroupedMasked ? 4 : 2;/' fp8gemm/kernels/fp8_gemm.cuh
  grep -n "kWideParts =" fp8gemm/kernels/fp8_gemm.cuh
  python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_configs_gpu.py -k "masked and n256" > $OUT/gpu-tests-masked.txt 2>&1; tail -3 $OUT/gpu-tests-masked.txt
fi
python3 -m fp8gemm.bench --suite all --out $OUT --plot > $OUT/bench.txt 2>&1; grep -A60 "^kernel us" $OUT/bench.txt | grep -v "^per_\|^FP8\|^quant"
