"""What the operand loads alone cost at M = 4096: a floor for any kernel that loads these tiles.

Needs two experiment patches, in order (git apply): b_multicast_cluster_m.patch (clusters along M) and
loads_only.patch, whose FP8GEMM_LOADS_ONLY macro leaves the producer's TMA loads and the stage handshake
(no wgmma, promotion or epilogue) and whose FP8GEMM_MATH_ONLY leaves everything but the loads after the
ring's first fill. For each problem the heuristic's kernel and cuBLAS are timed in turns (kernel time)
before and after the three variants of 128 x 128 and the wide tiles, each without a cluster, sharing A
(cluster_n = 2) and sharing B (cluster_m = 2).

Usage: python scripts/experiments/loads_bound.py
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from fp8gemm import launch_plans
from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.bench.timing import interleaved_kernel_ms, profiled_kernel_ms
from fp8gemm.config import GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import choose_launch, forced_config
from fp8gemm.jit import build
from fp8gemm.jit.build import compile_source
from fp8gemm.jit.codegen import gemm_source

# problem, tile widths
PROBLEMS = [
    ((4096, 4096, 7168), (128, 256)),
    ((4096, 7168, 2048), (128, 224, 256)),
    ((4096, 7168, 16384), (128, 256)),
    ((4096, 24576, 1536), (128, 256)),
    ((4096, 32768, 512), (128, 256)),
    ((4096, 2112, 7168), (128, 176)),
]
CLUSTERS = ((1, 1), (2, 1), (1, 2))  # (cluster_n, cluster_m)


def loads_only_source(config: GemmConfig) -> str:
    return "#define FP8GEMM_LOADS_ONLY\n" + gemm_source(config)


def math_only_source(config: GemmConfig) -> str:
    return "#define FP8GEMM_MATH_ONLY\n" + gemm_source(config)


SOURCES = (gemm_source, loads_only_source, math_only_source)


def configs(widths: tuple[int, ...]) -> list[GemmConfig]:
    return [
        GemmConfig(GemmType.DENSE, 128, block_n, max_stages(128, block_n), cluster_n=cn, cluster_m=cm)
        for block_n in widths
        for cn, cm in CLUSTERS
    ]


def use_source(source) -> None:
    build.gemm_source = source
    build._loaded.clear()
    launch_plans.forget_all()


def main() -> None:
    every = sorted({c for _, widths in PROBLEMS for c in configs(widths)}, key=str)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(compile_source, [source(c) for c in every for source in SOURCES]))
    for (m, n, k), widths in PROBLEMS:
        case = build_case(DenseShape(m, n, k))
        chosen = choose_launch(GemmType.DENSE, m, n, k, 1, 132)
        use_source(gemm_source)
        before = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
        print(
            f"== {m}x{n}x{k}: fp8gemm {before[0] * 1e3:.1f} us ({chosen[0]} split {chosen[1]}), cuBLAS {before[1] * 1e3:.1f} us"
        )
        for config in configs(widths):
            times = []
            for source in SOURCES:
                use_source(source)
                with forced_config(config):
                    case.run_fp8gemm()
                    torch.cuda.synchronize()
                    times.append(profiled_kernel_ms(case.run_fp8gemm) * 1e3)
            print(
                f"   {str(config):32s} whole {times[0]:7.1f} us  loads only {times[1]:7.1f}  math only {times[2]:7.1f}"
                f"   cuBLAS / loads only {before[1] * 1e3 / times[1]:5.2f}x",
                flush=True,
            )
        use_source(gemm_source)
        after = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
        print(f"   after: fp8gemm {after[0] * 1e3:.1f} us, cuBLAS {after[1] * 1e3:.1f} us", flush=True)
        del case
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
