"""Times every kernel config on a few dense shapes next to cuBLAS: the data behind heuristic choices.

Usage: python scripts/sweep_configs.py [MxNxK ...] [--block-m 128] [--block-n 112,128,160] [--split-k 1,4]
                                       [--cluster 1,2] [--stages 4,5] [--max-waves 2] [--kernel-time]
                                       [--stream-k 0,1]
                                       [--grouped [contiguous|masked]]
Prints one line per (shape, config): µs, TFLOPS, speed-up vs cuBLAS, and marks the heuristic's choice.
--grouped sweeps the benchmark's grouped shapes (contiguous and masked, or the one layout named) instead of
dense MxNxK ones; with it, GxMxNxK arguments replace them with masked shapes (G experts of about M valid rows
each), or with --grouped contiguous, contiguous ones (G experts of M rows each).
Configs are built directly (not only those the heuristic can return), so a new variant can be measured
before the heuristic learns it; --stages replaces each config's deepest ring with the depths listed that fit;
--max-waves drops launches with more work units than that many waves;
--stream-k 0,1 adds each dense unclustered config's stream-K twin (unsplit: it deals out K blocks itself);
--kernel-time times by the profiler's kernel execution time instead of events (which add ~3 µs a launch).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

import fp8gemm
from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import ContiguousShape, DenseShape, MaskedShape, grouped_shapes
from fp8gemm.bench.timing import kernel_median_ms, profiled_kernel_ms
from fp8gemm.config import BLOCK_N_CHOICES, GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import (
    MASKED_ALT_BLOCK_N,
    WIDE_TILE_BLOCK_N,
    choose_launch,
    effective_splits,
    forced_config,
)
from fp8gemm.jit.build import precompile
from fp8gemm.testing import calc_diff

DEFAULT_SHAPES = ("4096x4096x7168", "4096x7168x16384", "4096x32768x512", "64x2112x7168", "128x4096x7168")


def launch_problem(shape: DenseShape | ContiguousShape | MaskedShape) -> tuple[GemmType, int, int, int, int]:
    """(gemm type, rows, n, k, groups) as the op hands them to the heuristic."""
    if isinstance(shape, DenseShape):
        return GemmType.DENSE, shape.m, shape.n, shape.k, 1
    if isinstance(shape, ContiguousShape):
        return GemmType.GROUPED_CONTIGUOUS, shape.num_groups * shape.m_per_group, shape.n, shape.k, shape.num_groups
    return GemmType.GROUPED_MASKED, shape.expected_m, shape.n, shape.k, shape.num_groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("shapes", nargs="*")
    parser.add_argument("--block-m", default="64,128")
    parser.add_argument("--block-n", default="")
    parser.add_argument("--split-k", default="1")
    parser.add_argument("--cluster", default="1,2")
    parser.add_argument("--stages", default="", help="ring depths to try (default: the deepest that fits)")
    parser.add_argument("--max-waves", type=float, default=float("inf"))
    parser.add_argument("--kernel-time", action="store_true")
    parser.add_argument("--grouped", nargs="?", const="all", choices=("all", "contiguous", "masked"))
    parser.add_argument("--stream-k", default="0")
    args = parser.parse_args()
    timed_ms = profiled_kernel_ms if args.kernel_time else kernel_median_ms
    block_ms = [int(x) for x in args.block_m.split(",")]
    block_ns = [int(x) for x in args.block_n.split(",")] if args.block_n else list(BLOCK_N_CHOICES)
    splits = [int(x) for x in args.split_k.split(",")]
    clusters = [int(x) for x in args.cluster.split(",")]
    stream_ks = [bool(int(x)) for x in args.stream_k.split(",")]

    def ring_depths(block_m: int, block_n: int) -> list[int]:
        deepest = max_stages(block_m, block_n)
        return [s for s in map(int, args.stages.split(",")) if s <= deepest] if args.stages else [deepest]

    if args.grouped:
        wanted = {"all": (ContiguousShape, MaskedShape), "contiguous": ContiguousShape, "masked": MaskedShape}
        listed = ContiguousShape if args.grouped == "contiguous" else MaskedShape
        shapes = [listed(*(int(x) for x in text.split("x"))) for text in args.shapes] or [
            shape for shape in grouped_shapes() if isinstance(shape, wanted[args.grouped])
        ]
    else:
        shapes = [DenseShape(*(int(x) for x in text.split("x"))) for text in args.shapes or DEFAULT_SHAPES]
    gemm_types = sorted({launch_problem(shape)[0] for shape in shapes})
    configs = {
        gemm_type: [
            GemmConfig(gemm_type, block_m, block_n, num_stages, False, cluster_n, stream_k=stream_k)
            for block_m in block_ms
            for block_n in block_ns
            for num_stages in ring_depths(block_m, block_n)
            for cluster_n in clusters
            for stream_k in stream_ks
            if not stream_k or (gemm_type == GemmType.DENSE and cluster_n == 1)
        ]
        for gemm_type in gemm_types
    }
    # Masked 128 x 128 tiles also run with the wider alternatives compiled in (the GPU picks one).
    masked = configs.get(GemmType.GROUPED_MASKED, [])
    masked += [
        replace(config, alt_widths=tuple((block_n, max_stages(128, block_n)) for block_n in alts))
        for config in masked
        if (config.block_m, config.block_n, config.cluster_n) == (128, 128, 1)
        for alts in ((MASKED_ALT_BLOCK_N,), (WIDE_TILE_BLOCK_N,), (MASKED_ALT_BLOCK_N, WIDE_TILE_BLOCK_N))
    ]
    precompile([config for group in configs.values() for config in group])
    num_sms = fp8gemm.get_num_sms()
    for shape in shapes:
        gemm_type, m, n, k, num_groups = launch_problem(shape)
        case = build_case(shape)
        cublas_us = timed_ms(case.run_cublas) * 1e3
        reference = torch.cat(case.run_cublas())
        chosen = choose_launch(gemm_type, m, n, k, num_groups, num_sms)
        label = shape.label if args.grouped else f"{m}x{n}x{k}"
        print(f"== {label}: cuBLAS {cublas_us:.1f} us", flush=True)
        for config in configs[gemm_type]:
            if m <= 64 and config.block_m > 64:
                continue
            allowed_splits = splits if gemm_type == GemmType.DENSE and not config.stream_k else [1]
            for split_k in sorted({effective_splits(k, s) for s in allowed_splits}):
                units = num_sms if config.stream_k else config.num_tiles(m, n) * split_k
                if gemm_type == GemmType.DENSE and units > args.max_waves * num_sms:
                    continue
                with forced_config(config, split_k):
                    # Every config's output is checked, on a NaN-poisoned D, before it is timed.
                    case.output.fill_(float("nan"))
                    case.run_fp8gemm()
                    diff = calc_diff(case.fp8gemm_rows(), reference)
                    us = timed_ms(case.run_fp8gemm) * 1e3
                mark = "  <- heuristic" if (config, split_k) == chosen else ""
                tflops = case.workload.flops / us / 1e6
                print(
                    f"{str(config):54s} split {split_k} {us:8.1f} us {tflops:6.0f} TFLOPS {cublas_us / us:5.2f}x"
                    f" diff {diff:.1e}{' FAILED' if not diff < 1e-3 else ''}{mark}",
                    flush=True,
                )
        del case
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
