"""The 128 x 256 tile through four 64-wide parts and two product sets, against two 128-wide parts with the
warpgroups taking turns (FP8GEMM_WIDE_TURNS, the kernel before run 29).

Run 28 found the shipped wide tile bound by its math path (165.6 us with no loads on 4096x4096x7168, where
128 x 128's two-product-set path took 154.2). With quarter parts, acc (128 registers a thread) and two
32-register product sets fit the math warpgroups' 232 registers, so each part's wgmmas run while the part
before is promoted, as in 128 x 128, with no turn handshake. The cost: a 64-wide wgmma reads as many A bytes
as B bytes from shared memory. "sets" runs a tile's epilogue with nothing in flight; "sets+epi" issues the
next tile's first part before it, as the shipped wide tile does.

Each variant's output is checked against cuBLAS (D poisoned with NaN first) on the timed problems and on
small ones with 1 to 5 K blocks (the loop's tails), then timed by kernel time; the heuristic's kernel and
cuBLAS are timed in turns before and after.

Needs wide_sets.patch applied (git apply scripts/experiments/wide_sets.patch): its kernel is "sets+epi", its
FP8GEMM_WIDE_TURNS build the shipped kernel.

The last line is the verdict, decided by a rule written before any measurement (run 30): "VERDICT ship" when
every check passed and, comparing each build's better cluster per problem, sets+epi's time over turns' has a
geomean of at most SHIP_GEOMEAN over the timed problems with no problem above SHIP_WORST; else "VERDICT keep".
wide_sets_call.sh reads it to choose the rest of its call.

Usage: python scripts/experiments/wide_sets.py [number of timed problems, default all]
"""

from __future__ import annotations

import math
import sys
from concurrent.futures import ThreadPoolExecutor

import torch

from fp8gemm import launch_plans
from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import ContiguousShape, DenseShape
from fp8gemm.bench.timing import interleaved_kernel_ms, profiled_kernel_ms
from fp8gemm.config import GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import forced_config
from fp8gemm.jit import build
from fp8gemm.jit.build import compile_source
from fp8gemm.jit.codegen import gemm_source
from fp8gemm.testing.numerics import calc_diff

# In order of need: the call may be cut short.
TIMED = [
    DenseShape(4096, 4096, 7168),
    DenseShape(4096, 7168, 16384),
    ContiguousShape(4, 8192, 4096, 7168),
    DenseShape(4096, 7168, 2048),
    DenseShape(4096, 24576, 1536),
    ContiguousShape(4, 8192, 7168, 2048),
    DenseShape(4096, 32768, 512),
]
# Run-to-run spread of one problem's kernel time is about 2% (docs/performance.md, run 28), so a geomean gain
# under 2% is not one; a single problem may lose up to 1%.
SHIP_GEOMEAN = 0.98
SHIP_WORST = 1.01
CHECKED_ONLY = [
    DenseShape(1000, 2000, 128),
    DenseShape(4100, 7000, 256),
    DenseShape(3000, 4000, 384),
    DenseShape(777, 3333, 512),
    DenseShape(2048, 1536, 640),
    ContiguousShape(3, 700, 3000, 384),
]


def turns_source(config: GemmConfig) -> str:
    """The wide tile as shipped before run 29: two 128-wide parts, the warpgroups taking turns."""
    return "#define FP8GEMM_WIDE_TURNS\n" + gemm_source(config)


def sets_source(config: GemmConfig) -> str:
    """Quarter parts through two sets, with nothing in flight during a tile's epilogue."""
    return "#define FP8GEMM_WIDE_SETS_NO_EPI\n" + gemm_source(config)


# sets+epi: the tree's own kernel (quarter parts, the next tile's first part issued before the epilogue).
SOURCES = {"turns": turns_source, "sets": sets_source, "sets+epi": gemm_source}


def use_source(source) -> None:
    build.gemm_source = source
    build._loaded.clear()
    launch_plans.forget_all()


def configs(shape) -> list[GemmConfig]:
    gemm_type = GemmType.DENSE if isinstance(shape, DenseShape) else GemmType.GROUPED_CONTIGUOUS
    clusters = (1, 2) if gemm_type == GemmType.DENSE else (2,)
    return [GemmConfig(gemm_type, 128, 256, max_stages(128, 256), cluster_n=cn) for cn in clusters]


def check(case, config: GemmConfig) -> float:
    with forced_config(config):
        case.output.fill_(float("nan"))
        case.run_fp8gemm()
        torch.cuda.synchronize()
        got = case.fp8gemm_rows()
    want = torch.cat([t.reshape(-1) for t in case.run_cublas()])
    return calc_diff(got.reshape(-1).float(), want.float())


def main(num_timed: int) -> None:
    timed = TIMED[:num_timed]
    every = {config for shape in CHECKED_ONLY + timed for config in configs(shape)}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(compile_source, [source(c) for c in every for source in SOURCES.values()]))
    worst = 0.0
    for shape in CHECKED_ONLY:
        case = build_case(shape)
        for config in configs(shape):
            for name, source in SOURCES.items():
                use_source(source)
                diff = check(case, config)
                worst = max(worst, diff)
                print(f"check {shape} {config} {name}: diff {diff:.2e}", flush=True)
    # Per timed problem: sets+epi's best time over turns' best, each over the cluster choices.
    best_ratios = []
    for shape in timed:
        case = build_case(shape)
        use_source(gemm_source)
        before = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
        print(f"== {shape}: fp8gemm {before[0] * 1e3:.1f} us, cuBLAS {before[1] * 1e3:.1f} us", flush=True)
        best = {}
        for config in configs(shape):
            times = {}
            for name, source in SOURCES.items():
                use_source(source)
                diff = check(case, config)
                worst = max(worst, diff)
                with forced_config(config):
                    times[name] = profiled_kernel_ms(case.run_fp8gemm) * 1e3
                print(f"   {config} {name:8s} {times[name]:7.1f} us  diff {diff:.2e}", flush=True)
                best[name] = min(best.get(name, math.inf), times[name])
            ratios = "  ".join(
                f"{name} {times[name] / times['turns']:.3f}" for name in SOURCES if name != "turns"
            )
            print(f"   {config} against turns: {ratios}", flush=True)
        best_ratios.append(best["sets+epi"] / best["turns"])
        print(f"   best sets+epi over best turns: {best_ratios[-1]:.3f}", flush=True)
        use_source(gemm_source)
        after = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
        print(f"   after: fp8gemm {after[0] * 1e3:.1f} us, cuBLAS {after[1] * 1e3:.1f} us", flush=True)
        del case
        torch.cuda.empty_cache()
    print(f"worst diff {worst:.2e}: {'ok' if worst < 1e-3 else 'FAILED'}")
    geomean = math.exp(sum(map(math.log, best_ratios)) / len(best_ratios))
    print(
        f"sets+epi over turns: geomean {geomean:.3f}, worst {max(best_ratios):.3f} over {len(best_ratios)} problems"
    )
    ship = worst < 1e-3 and geomean <= SHIP_GEOMEAN and max(best_ratios) <= SHIP_WORST
    print("VERDICT ship" if ship else "VERDICT keep")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else len(TIMED))
