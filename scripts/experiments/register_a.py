"""Lever 74: A from registers for quarter parts 1-3 of the 128 x 256 tile (`register_a.patch`,
FP8GEMM_REGISTER_A).

Each of the wide tile's four 64-wide parts reads its warpgroup's whole 8 KB of A again from shared memory.
With the lever, parts 1-3 take A from registers, loaded once per K block by ldmatrix; part 0 keeps reading
shared memory, since it is issued while the block before still reads the registers. A's shared-memory reads
per block and warpgroup fall from 32 KB to 16 KB (operands 64 KB -> 48 KB). `smem_contention.py` asks the
hardware question apart from the kernel.

Profiler kernel time, L2 flushed before each run, of the shipped build and the lever's, the lever's D
checked bit for bit against the shipped one (NaN-poisoned first): the heuristic's dense problems with
128 x 256 tiles, the same tile forced on shorter K and on one wave (1024 rows), a contiguous problem, and
two 128 x 128 problems that the lever leaves unchanged (the noise control).

The last line is the verdict by a rule written before the run: pursue the lever (its spills, the grouped
kernels' tests, the full benchmark) if, over the 128 x 256 problems, the geomean of its kernel time over the
shipped build's is at most 0.98 and none is above 1.01.
Usage (with the patch applied): python scripts/experiments/register_a.py
"""

from __future__ import annotations

from source_builds import geomean, precompile, time_shape

from fp8gemm.bench.suites import ContiguousShape, DenseShape
from fp8gemm.config import GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import choose_launch

BUILDS = {"shipped": "", "register A": "#define FP8GEMM_REGISTER_A\n"}
WIDE = GemmConfig(GemmType.DENSE, 128, 256, max_stages(128, 256))
NARROW = GemmConfig(GemmType.DENSE, 128, 128, max_stages(128, 128))
# (shape, forced config or None for the heuristic's)
PROBLEMS = [
    (DenseShape(4096, 4096, 7168), None),
    (DenseShape(4096, 7168, 2048), None),
    (DenseShape(4096, 7168, 16384), None),
    (DenseShape(4096, 7168, 1024), WIDE),
    (DenseShape(1024, 4096, 7168), WIDE),
    (ContiguousShape(4, 8192, 4096, 7168), None),
    (DenseShape(4096, 32768, 512), NARROW),
    (DenseShape(4096, 24576, 1536), NARROW),
]
SHIP_GEOMEAN = 0.98
SHIP_WORST = 1.01


def chosen_config(shape: DenseShape | ContiguousShape) -> GemmConfig:
    if isinstance(shape, ContiguousShape):
        rows = shape.num_groups * shape.m_per_group
        return choose_launch(GemmType.GROUPED_CONTIGUOUS, rows, shape.n, shape.k, shape.num_groups, 132)[0]
    return choose_launch(GemmType.DENSE, shape.m, shape.n, shape.k, 1, 132)[0]


def main() -> None:
    configs = {shape: forced or chosen_config(shape) for shape, forced in PROBLEMS}
    precompile(set(configs.values()), BUILDS.values())
    wide_ratios = []
    for shape, forced in PROBLEMS:
        config = configs[shape]
        ours, cublas, times = time_shape(shape, BUILDS, forced)
        ratio = times["register A"] / times["shipped"]
        if config.block_n == 256:
            wide_ratios.append(ratio)
        print(
            f"{shape.label:42s} {str(config):40s} fp8gemm {ours * 1e3:7.1f} cuBLAS {cublas * 1e3:7.1f} | "
            + "  ".join(f"{name} {t:7.1f}" for name, t in times.items())
            + f" | register A / shipped {ratio:.3f}",
            flush=True,
        )
    print(f"128 x 256: register A / shipped geomean {geomean(wide_ratios):.3f}, worst {max(wide_ratios):.3f}")
    pursue = geomean(wide_ratios) <= SHIP_GEOMEAN and max(wide_ratios) <= SHIP_WORST
    print(f"VERDICT {'pursue' if pursue else 'keep'}")


if __name__ == "__main__":
    main()
