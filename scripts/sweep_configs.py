"""Times every kernel config on a few dense shapes next to cuBLAS: the data behind heuristic choices.

Usage: python scripts/sweep_configs.py [MxNxK ...] [--block-m 128] [--block-n 112,128,160] [--split-k 1,4]
Prints one line per (shape, config): µs, TFLOPS, speed-up vs cuBLAS, and marks the heuristic's choice.
"""

from __future__ import annotations

import argparse

import torch

import fp8gemm
from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.bench.timing import kernel_median_ms
from fp8gemm.config import GemmType
from fp8gemm.heuristics import all_configs, choose_launch, effective_splits, forced_config
from fp8gemm.jit.build import precompile

DEFAULT_SHAPES = ("4096x4096x7168", "4096x7168x16384", "4096x32768x512", "64x2112x7168", "128x4096x7168")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("shapes", nargs="*", default=DEFAULT_SHAPES)
    parser.add_argument("--block-m", default="64,128")
    parser.add_argument("--block-n", default="")
    parser.add_argument("--split-k", default="1")
    args = parser.parse_args()
    block_ms = {int(x) for x in args.block_m.split(",")}
    block_ns = {int(x) for x in args.block_n.split(",")} if args.block_n else None
    splits = [int(x) for x in args.split_k.split(",")]
    configs = [
        c
        for c in all_configs()
        if c.gemm_type == GemmType.DENSE and not c.output_f32 and c.block_m in block_ms
        and (block_ns is None or c.block_n in block_ns)
    ]
    precompile(configs)
    for text in args.shapes:
        m, n, k = (int(x) for x in text.split("x"))
        case = build_case(DenseShape(m, n, k))
        cublas_us = kernel_median_ms(case.run_cublas) * 1e3
        chosen = choose_launch(GemmType.DENSE, m, n, k, 1, fp8gemm.get_num_sms())
        print(f"== {m}x{n}x{k}: cuBLAS {cublas_us:.1f} us", flush=True)
        for config in configs:
            if m <= 64 and config.block_m > 64:
                continue
            for split_k in sorted({effective_splits(k, s) for s in splits}):
                if split_k > 1 and config.cluster_n > 1:
                    continue
                with forced_config(config, split_k):
                    us = kernel_median_ms(case.run_fp8gemm) * 1e3
                mark = "  <- heuristic" if (config, split_k) == chosen else ""
                tflops = case.workload.flops / us / 1e6
                print(
                    f"{str(config):28s} split {split_k} {us:8.1f} us {tflops:6.0f} TFLOPS {cublas_us / us:5.2f}x{mark}",
                    flush=True,
                )
        del case
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
