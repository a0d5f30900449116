#!/usr/bin/env bash
# Run 35's device measurements (docs/performance.md, "Run 35"), in two calls of under 10 minutes, most
# informative first. Logs go to $OUT/<name>.txt.
#   part 1 (about 6 min): smem_contention.py (does TMA traffic slow 64-wide wgmmas; does register A help),
#                         lever 74 (register_a.py), lever 73 (epilogue_cost.py lever73), first pass
#   part 2 (about 6 min): the epilogue split (epilogue_cost.py split), lever 73's second pass
# Usage: bash scripts/experiments/run35_call.sh 1|2
set -u
: "${OUT:?set OUT to the folder for the logs}"
part=${1:?part 1 or 2}
cd "$(dirname "$0")/../.."
python3 -m pip install -e . --no-deps --no-build-isolation -q >"$OUT/install-$part.txt" 2>&1
nvidia-smi --query-gpu=name,clocks.sm,power.draw --format=csv >"$OUT/env-$part.txt"
experiments=scripts/experiments

run() {
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date -u +%T))"
    timeout "$limit" python3 "$@" 2>&1 | tee "$OUT/$name.txt"
}

with_patches() {  # with_patches "<patch> ..." <run arguments...>: the patches on for one run only
    local patches=() name
    for name in $1; do patches+=("$experiments/$name"); done
    shift
    # From the repository root: in a subdirectory, git apply skips the paths outside it.
    git apply "${patches[@]}" || { echo "could not apply ${patches[*]}"; return 1; }
    run "$@"
    git apply -R "${patches[@]}"
}

if [ "$part" = 1 ]; then
    run smem-contention 60 "$experiments/smem_contention.py"
    with_patches "register_a.patch" register-a 200 "$experiments/register_a.py"
    with_patches "d_store_variants.patch epilogue_interleave.patch" lever73 150 "$experiments/epilogue_cost.py" lever73
else
    with_patches "d_store_variants.patch epilogue_interleave.patch" split 230 "$experiments/epilogue_cost.py" split
    with_patches "d_store_variants.patch epilogue_interleave.patch" lever73-pass2 150 "$experiments/epilogue_cost.py" lever73
fi
cat "$OUT/env-$part.txt"
