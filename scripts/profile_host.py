"""Where a warm fp8gemm call spends its host time, with the GPU kept busy so no call waits for it.

Prints µs per call for the whole warm call, for the launch-plan key alone, for the plan's launch alone and
for the bare driver call it makes; the whole call and the key of a masked call; then a cProfile of the
warm dense call.
Usage: python scripts/profile_host.py [calls]   (calls stay below the driver's launch queue depth)
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time

import torch
from cuda.bindings import driver

import fp8gemm
from fp8gemm import launch_plans
from fp8gemm.api.gemm_launch import plan_key
from fp8gemm.bench.timing import BUSY_CYCLES, host_us_per_call
from fp8gemm.testing import dense_inputs, grouped_masked_inputs


def _busy_us_per_call(fn, calls: int) -> float:
    torch.cuda.synchronize()
    torch.cuda._sleep(BUSY_CYCLES)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    elapsed = time.perf_counter() - start
    torch.cuda.synchronize()
    return elapsed / calls * 1e6


def main(calls: int) -> None:
    p = dense_inputs(64, 2112, 7168)
    a = (p.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(p.a[1]))
    fp8gemm.fp8_gemm_nt(a, p.b, p.d)
    (plan,) = launch_plans._plans.values()
    print(f"warm call   {host_us_per_call(lambda: fp8gemm.fp8_gemm_nt(a, p.b, p.d), calls):6.2f} us")
    print(f"plan key    {_busy_us_per_call(lambda: plan_key(a, p.b, p.d), calls):6.2f} us")
    print(f"plan launch {_busy_us_per_call(plan.launch, calls):6.2f} us")
    # The same launch with every argument ready: cuda.bindings and the driver alone.
    stream = torch.cuda.current_stream().cuda_stream
    bare = (plan.function, plan.grid, 1, 1, plan.threads, 1, 1, plan.smem_bytes, stream, plan.args, 0)
    print(f"driver call {_busy_us_per_call(lambda: driver.cuLaunchKernel(*bare), calls):6.2f} us")
    # A masked call: one more tensor (masked_m) and a scalar in its key.
    masked = grouped_masked_inputs([256, 304, 192, 192], 4096, 4096, 7168)
    masked_a = (masked.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(masked.a[1]))
    masked_args = (masked_a, masked.b, masked.d, masked.masked_m, 256)
    fp8gemm.m_grouped_fp8_gemm_nt_masked(*masked_args)
    print(f"masked call {host_us_per_call(lambda: fp8gemm.m_grouped_fp8_gemm_nt_masked(*masked_args), calls):6.2f} us")
    masked_key = (masked_a, masked.b, masked.d, masked.masked_m, (int, 256))
    print(f"masked key  {_busy_us_per_call(lambda: plan_key(*masked_key), calls):6.2f} us")
    # The floor: what torch itself spends enqueueing one trivial kernel on this host.
    print(f"torch launch {_busy_us_per_call(lambda: torch.cuda._sleep(1), calls):5.2f} us (torch.cuda._sleep)")
    torch.cuda.synchronize()
    torch.cuda._sleep(BUSY_CYCLES)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fp8gemm.fp8_gemm_nt(a, p.b, p.d)
    profiler.disable()
    torch.cuda.synchronize()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
