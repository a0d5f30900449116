"""Lever 71: the second math warpgroup a few blocks behind the first, on 128-row tiles with two product sets.

Both math warpgroups of a 128 x 128 tile walk the same blocks in step, so both reach a tile's end (the
last block's drain, the promotion, the epilogue, the next tile's start) at once and the tensor cores idle
through it. With FP8GEMM_WG_LAG = n (needs the kernel built with it; `wg_lag.patch`), warpgroup 1 starts
once warpgroup 0 has promoted n blocks.

Profiler kernel time, L2 flushed before each run, of the shipped build and lags 1 and 2, each build's D
checked bit for bit against the shipped one (NaN-poisoned first). The heuristic's problems first: every
dense benchmark problem whose chosen config has 128-row tiles with two product sets; then two more at
M = 4096 with 128 x 128 forced.

The last line is the verdict by a rule written before the run: ship the better lag if, over the
heuristic's problems, the geomean of its kernel time over the shipped build's is at most 0.98 and no
problem is above 1.01.
Usage: python scripts/experiments/wg_lag.py
"""

from __future__ import annotations

from source_builds import geomean, precompile, time_shape

from fp8gemm.bench.suites import DenseShape, dense_shapes
from fp8gemm.config import GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import choose_launch

BUILDS = {
    "shipped": "",
    "lag 1": "#define FP8GEMM_WG_LAG 1\n",
    "lag 2": "#define FP8GEMM_WG_LAG 2\n",
}
FORCED = [DenseShape(4096, 4096, 7168), DenseShape(4096, 7168, 2048)]
FORCED_CONFIG = GemmConfig(GemmType.DENSE, 128, 128, max_stages(128, 128))
SHIP_GEOMEAN = 0.98
SHIP_WORST = 1.01
# Two product sets fit up to 128 columns (fp8_gemm.cuh, kOverlap).
MAX_TWO_SET_BLOCK_N = 128


def main() -> None:
    chosen = {}
    for shape in dense_shapes():
        config, split_k = choose_launch(GemmType.DENSE, shape.m, shape.n, shape.k, 1, 132)
        if config.block_m == 128 and config.block_n <= MAX_TWO_SET_BLOCK_N:
            chosen[shape] = config
    precompile({*chosen.values(), FORCED_CONFIG}, BUILDS.values())

    ratios = {name: [] for name in BUILDS if name != "shipped"}
    for shape in [*chosen, *FORCED]:
        forced = shape not in chosen
        config = FORCED_CONFIG if forced else chosen[shape]
        ours, cublas, times = time_shape(shape, BUILDS, FORCED_CONFIG if forced else None)
        if not forced:
            for name in ratios:
                ratios[name].append(times[name] / times["shipped"])
        print(
            f"{shape.m}x{shape.n}x{shape.k:<6d} {str(config):28s} {'forced' if forced else 'chosen':6s} "
            f"fp8gemm {ours * 1e3:7.1f} cuBLAS {cublas * 1e3:7.1f} | "
            + "  ".join(f"{name} {t:7.1f} ({t / times['shipped']:.3f})" for name, t in times.items()),
            flush=True,
        )
    best = min(ratios, key=lambda name: geomean(ratios[name]))
    for name, values in ratios.items():
        print(f"{name} / shipped: geomean {geomean(values):.3f}, worst {max(values):.3f}")
    ship = geomean(ratios[best]) <= SHIP_GEOMEAN and max(ratios[best]) <= SHIP_WORST
    print(f"VERDICT {'ship ' + best if ship else 'keep'}")


if __name__ == "__main__":
    main()
