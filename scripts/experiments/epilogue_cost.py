"""What a tile's epilogue costs, per tile, on the large problems: the shipped build against one without D's
stores and one without any epilogue (`d_store_variants.patch`: FP8GEMM_NO_D_STORE, FP8GEMM_NO_EPILOGUE).

Run 33 fitted about 7k cycles a tile beyond the tile's blocks on 4096x7168x2048 (16 K blocks a tile),
against the same kernel at K = 7168. This splits that: profiler kernel time, L2 flushed before each run, for
each problem's config, and the difference over the CTAs' tile count (the longest CTA's: ceil(tiles / 132))
as µs per tile. The shipped build's D is checked against itself only (the other two leave D unwritten).
Usage: python scripts/experiments/epilogue_cost.py
"""

from __future__ import annotations

import torch
from source_builds import precompile, time_builds, use_build

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.bench.timing import interleaved_kernel_ms
from fp8gemm.config import GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import forced_config

BUILDS = {
    "shipped": "",
    "no D store": "#define FP8GEMM_NO_D_STORE\n",
    "no epilogue": "#define FP8GEMM_NO_EPILOGUE\n",
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


def main() -> None:
    configs = {
        block_n: GemmConfig(GemmType.DENSE, 128, block_n, max_stages(128, block_n)) for _, block_n in PROBLEMS
    }
    precompile(configs.values(), BUILDS.values())
    for shape, block_n in PROBLEMS:
        config = configs[block_n]
        with forced_config(config):
            case = build_case(shape)
            use_build(BUILDS["shipped"])
            ours, cublas = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
            times = time_builds(case, BUILDS, unchecked=("no D store", "no epilogue"))
        del case
        torch.cuda.empty_cache()
        tiles = config.num_tiles(shape.m, shape.n)
        per_cta = -(-tiles // NUM_SMS)
        shipped = times["shipped"]
        print(
            f"{shape.m}x{shape.n}x{shape.k:<6d} {str(config):24s} tiles {tiles:5d} ({per_cta:2d} a CTA) "
            f"fp8gemm {ours * 1e3:7.1f} cuBLAS {cublas * 1e3:7.1f} | "
            + "  ".join(f"{name} {t:7.1f}" for name, t in times.items())
            + f" | per tile: D store {(shipped - times['no D store']) / per_cta:.2f} us, "
            f"epilogue {(shipped - times['no epilogue']) / per_cta:.2f} us",
            flush=True,
        )


if __name__ == "__main__":
    main()
