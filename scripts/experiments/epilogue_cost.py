"""What a tile's epilogue costs, per tile, on the large problems: the shipped build against one without D's
stores, one that does not wait for a TMA store's reads before rewriting the staging rows, and one without any
epilogue (`d_store_variants.patch`: FP8GEMM_NO_D_STORE, FP8GEMM_NO_STAGING_WAIT, FP8GEMM_NO_EPILOGUE).

Run 33 fitted about 7k cycles a tile beyond the tile's blocks on 4096x7168x2048 (16 K blocks a tile),
against the same kernel at K = 7168. This splits that: profiler kernel time, L2 flushed before each run, for
each problem's config, and the difference over the CTAs' tile count (the longest CTA's: ceil(tiles / 132))
as µs per tile. The shipped build's D is checked against itself only (the others leave D unwritten or racy),
except lever 73's (`epilogue_interleave.patch`, FP8GEMM_EPILOGUE_INTERLEAVE), which must match it bit for bit:
128 x 256 tiles run the next tile's whole first block under the epilogue (128-wide tiles are unchanged by
it, a control for the noise).
Usage (both patches applied): python scripts/experiments/epilogue_cost.py [split|lever73]
"""

from __future__ import annotations

import sys

from source_builds import precompile, time_shape

from fp8gemm.bench.suites import DenseShape
from fp8gemm.config import GemmConfig, GemmType, max_stages

BUILDS = {
    "shipped": "",
    "no D store": "#define FP8GEMM_NO_D_STORE\n",
    "no staging wait": "#define FP8GEMM_NO_STAGING_WAIT\n",
    "no epilogue": "#define FP8GEMM_NO_EPILOGUE\n",
    "interleaved": "#define FP8GEMM_EPILOGUE_INTERLEAVE\n",
}
UNCHECKED = ("no D store", "no staging wait", "no epilogue")
# What each run times: the split, or lever 73 against the shipped build (its own process: a kernel that traps
# would take the split's figures with it).
BUILD_SETS = {
    "split": ("shipped", "no D store", "no staging wait", "no epilogue"),
    "lever73": ("shipped", "interleaved"),
}
NUM_SMS = 132
# problem, tile width (128-row tiles, no cluster, deepest ring)
PROBLEMS = [
    (DenseShape(4096, 7168, 1024), 256),
    (DenseShape(4096, 7168, 2048), 256),
    (DenseShape(4096, 7168, 4096), 256),
    (DenseShape(4096, 4096, 7168), 256),
    (DenseShape(4096, 32768, 512), 128),
    (DenseShape(4096, 24576, 1536), 128),
    (DenseShape(1024, 7168, 2048), 224),
    (DenseShape(1024, 4096, 7168), 256),
]


def main(which: str) -> None:
    builds = {name: BUILDS[name] for name in BUILD_SETS[which]}
    configs = {
        block_n: GemmConfig(GemmType.DENSE, 128, block_n, max_stages(128, block_n)) for _, block_n in PROBLEMS
    }
    precompile(configs.values(), builds.values())
    for shape, block_n in PROBLEMS:
        config = configs[block_n]
        ours, cublas, times = time_shape(shape, builds, config, unchecked=UNCHECKED)
        tiles = config.num_tiles(shape.m, shape.n)
        per_cta = -(-tiles // NUM_SMS)
        shipped = times["shipped"]
        if which == "split":
            summary = (
                f"per tile: D store {(shipped - times['no D store']) / per_cta:.2f} us, "
                f"staging wait {(shipped - times['no staging wait']) / per_cta:.2f} us, "
                f"epilogue {(shipped - times['no epilogue']) / per_cta:.2f} us"
            )
        else:
            summary = f"interleaved/shipped {times['interleaved'] / shipped:.3f}"
        print(
            f"{shape.m}x{shape.n}x{shape.k:<6d} {str(config):24s} tiles {tiles:5d} ({per_cta:2d} a CTA) "
            f"fp8gemm {ours * 1e3:7.1f} cuBLAS {cublas * 1e3:7.1f} | "
            + "  ".join(f"{name} {t:7.1f}" for name, t in times.items())
            + f" | {summary}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "split")
