"""Times a few shapes with both kernel timings (event-timed do_bench and profiler kernel time) next to cuBLAS.

Usage: python scripts/compare_timing.py [MxNxK ...]
"""

from __future__ import annotations

import sys

import torch

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.bench.timing import kernel_median_ms, profiled_kernel_ms

DEFAULT_SHAPES = ("64x2112x7168", "64x7168x16384", "128x4096x7168", "4096x4096x7168")


def main() -> None:
    shapes = sys.argv[1:] or DEFAULT_SHAPES
    print(f"{'shape':18s} {'ours event':>10s} {'ours prof':>10s} {'cublas event':>12s} {'cublas prof':>12s}"
          f" {'ratio event':>11s} {'ratio prof':>10s}")
    noop = torch.empty(1, device="cuda")
    print(f"{'trivial kernel':18s} {kernel_median_ms(noop.zero_) * 1e3:10.1f} {profiled_kernel_ms(noop.zero_) * 1e3:10.1f}")
    for text in shapes:
        m, n, k = (int(x) for x in text.split("x"))
        case = build_case(DenseShape(m, n, k))
        case.run_fp8gemm()
        times = [f(g) * 1e3 for g in (case.run_fp8gemm, case.run_cublas) for f in (kernel_median_ms, profiled_kernel_ms)]
        print(f"{text:18s} {times[0]:10.1f} {times[1]:10.1f} {times[2]:12.1f} {times[3]:12.1f}"
              f" {times[2] / times[0]:10.2f}x {times[3] / times[1]:9.2f}x", flush=True)
        del case
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
