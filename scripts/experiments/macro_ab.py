"""A kernel lever behind a macro, timed against the shipped build: `register_a.patch` (lever 74,
FP8GEMM_REGISTER_A), `segment_stores.patch` (lever 75, FP8GEMM_SEGMENT_STORES) or `scales_ahead.patch`
(lever 76, FP8GEMM_SCALES_AHEAD; lever 77, FP8GEMM_SCALES_AFTER_WAIT; lever 78, FP8GEMM_SCALES_BLOCK_AHEAD;
lever 79, both FP8GEMM_SCALES_AHEAD+FP8GEMM_SCALES_BLOCK_AHEAD: MACRO may join several with '+'; lever 80,
FP8GEMM_SCALES_AFTER_LAST_ISSUE).

Profiler kernel time, L2 flushed before each run, of the shipped build and the lever's, the lever's D
checked bit for bit against the shipped one (NaN-poisoned first): the heuristic's dense problems with
128 x 256 tiles, the same tile forced on shorter K and on one wave (1024 rows), a contiguous problem, and
two 128 x 128 problems.

The last lines are the geomean over all problems (`ALL`) and the verdict by the rule each lever's notes wrote
before its run, over the problems whose tile the lever changes: pursue it (its tests, the full benchmark) if
the geomean of its kernel time over the shipped build's is at most the rule's and no problem is above 1.01.
  lever 74: 128 x 256 problems, geomean <= 0.98
  lever 75: 128 x 256 problems, geomean <= 0.99
  lever 76: every problem (both tiles change), geomean <= 0.99
  lever 77: 128 x 256 problems, geomean <= 0.99
  lever 78: 128 x 256 problems, geomean <= 0.99
  lever 79: every problem, geomean <= 0.99
  lever 80: 128 x 256 problems, geomean <= 0.99
Levers 74, 75, 77, 78 and 80 leave the 128 x 128 kernels unchanged: there they are the noise control.
Usage (with the lever's patch applied): python scripts/experiments/macro_ab.py MACRO
"""

from __future__ import annotations

import sys

from source_builds import geomean, precompile, time_shape

from fp8gemm.bench.suites import ContiguousShape, DenseShape
from fp8gemm.config import GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import choose_launch

# macro: (tile widths the rule covers, geomean the rule asks)
RULES = {
    "FP8GEMM_REGISTER_A": ((256,), 0.98),
    "FP8GEMM_SEGMENT_STORES": ((256,), 0.99),
    "FP8GEMM_SCALES_AHEAD": ((128, 256), 0.99),
    "FP8GEMM_SCALES_AFTER_WAIT": ((256,), 0.99),
    "FP8GEMM_SCALES_BLOCK_AHEAD": ((256,), 0.99),
    "FP8GEMM_SCALES_AHEAD+FP8GEMM_SCALES_BLOCK_AHEAD": ((128, 256), 0.99),
    "FP8GEMM_SCALES_AFTER_LAST_ISSUE": ((256,), 0.99),
}
SHIP_WORST = 1.01
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


def chosen_config(shape: DenseShape | ContiguousShape) -> GemmConfig:
    if isinstance(shape, ContiguousShape):
        rows = shape.num_groups * shape.m_per_group
        return choose_launch(GemmType.GROUPED_CONTIGUOUS, rows, shape.n, shape.k, shape.num_groups, 132)[0]
    return choose_launch(GemmType.DENSE, shape.m, shape.n, shape.k, 1, 132)[0]


def main(macro: str) -> None:
    widths, ship_geomean = RULES[macro]
    builds = {"shipped": "", "lever": "".join(f"#define {name}\n" for name in macro.split("+"))}
    configs = {shape: forced or chosen_config(shape) for shape, forced in PROBLEMS}
    precompile(set(configs.values()), builds.values())
    ruled, every = [], []
    for shape, forced in PROBLEMS:
        config = configs[shape]
        ours, cublas, times = time_shape(shape, builds, forced)
        ratio = times["lever"] / times["shipped"]
        every.append(ratio)
        if config.block_n in widths:
            ruled.append(ratio)
        print(
            f"{shape.label:42s} {str(config):40s} fp8gemm {ours * 1e3:7.1f} cuBLAS {cublas * 1e3:7.1f} | "
            + "  ".join(f"{name} {t:7.1f}" for name, t in times.items())
            + f" | lever / shipped {ratio:.3f}",
            flush=True,
        )
    print(f"{macro}, tiles {widths}: lever / shipped geomean {geomean(ruled):.3f}, worst {max(ruled):.3f}")
    # Over every problem too, so that levers ruled on different tiles compare on one footing.
    print(f"ALL {geomean(every):.4f}")
    pursue = geomean(ruled) <= ship_geomean and max(ruled) <= SHIP_WORST
    print(f"VERDICT {'pursue' if pursue else 'keep'}")


if __name__ == "__main__":
    main(sys.argv[1])
