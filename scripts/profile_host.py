"""Where a warm fp8gemm call spends its host time: cProfile over many back-to-back calls.

Usage: python scripts/profile_host.py [calls]
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time

import torch

import fp8gemm
from fp8gemm.testing import dense_inputs


def main(calls: int) -> None:
    p = dense_inputs(64, 2112, 7168)
    a = (p.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(p.a[1]))
    fp8gemm.fp8_gemm_nt(a, p.b, p.d)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fp8gemm.fp8_gemm_nt(a, p.b, p.d)
    print(f"{(time.perf_counter() - start) / calls * 1e6:.1f} us per call (unprofiled)")
    torch.cuda.synchronize()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fp8gemm.fp8_gemm_nt(a, p.b, p.d)
    profiler.disable()
    torch.cuda.synchronize()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
