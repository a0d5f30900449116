"""Where a warm fp8gemm call spends its host time, with the GPU kept busy so no call waits for it.

Prints µs per call for the whole warm call through the Python warm path and through the C one
(fp8gemm.jit.native), taking turns round by round; the launch-plan key alone; the plan's Python launch and
the bare cuda.bindings driver call it makes; the same for a masked call; torch's own trivial launch; then a
cProfile of the warm dense call on the Python path.
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
from fp8gemm.bench.timing import BUSY_CYCLES, LAUNCH_ROUNDS, host_us_per_call
from fp8gemm.jit import native
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


def _both_paths(label: str, call, calls: int, c_warm_launch) -> None:
    """Least of LAUNCH_ROUNDS rounds per path, the two paths taking turns round by round."""
    best = {"python": float("inf"), "c": float("inf")}
    for _ in range(LAUNCH_ROUNDS):
        for path in best:
            launch_plans.warm_launch = launch_plans.python_warm_launch if path == "python" else c_warm_launch
            best[path] = min(best[path], host_us_per_call(call, calls, rounds=1))
    launch_plans.warm_launch = c_warm_launch
    print(f"{label:12s} python {best['python']:6.2f} us   c {best['c']:6.2f} us")


def main(calls: int) -> None:
    p = dense_inputs(64, 2112, 7168)
    a = (p.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(p.a[1]))
    fp8gemm.fp8_gemm_nt(a, p.b, p.d)
    if not native.install():
        sys.exit("the C warm path did not install")
    c_warm_launch = launch_plans.warm_launch
    (plan,) = launch_plans._plans.values()
    _both_paths("warm call", lambda: fp8gemm.fp8_gemm_nt(a, p.b, p.d), calls, c_warm_launch)
    print(f"plan key     {_busy_us_per_call(lambda: launch_plans.plan_key(a, p.b, p.d), calls):6.2f} us (Python)")
    c_key = native.load().key
    print(f"plan key     {_busy_us_per_call(lambda: c_key(a, p.b, p.d, None, ()), calls):6.2f} us (C)")
    print(f"is_compiling {_busy_us_per_call(torch.compiler.is_compiling, calls):6.2f} us")
    print(f"plan launch  {_busy_us_per_call(plan.launch, calls):6.2f} us (Python)")
    # The same launch with every argument ready: cuda.bindings and the driver alone.
    stream = torch.cuda.current_stream().cuda_stream
    bare = (plan.function, plan.grid, 1, 1, plan.threads, 1, 1, plan.smem_bytes, stream, plan.args, 0)
    print(f"driver call  {_busy_us_per_call(lambda: driver.cuLaunchKernel(*bare), calls):6.2f} us (cuda.bindings)")
    # A masked call: one more tensor (masked_m) and a scalar in its key.
    masked = grouped_masked_inputs([256, 304, 192, 192], 4096, 4096, 7168)
    masked_a = (masked.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(masked.a[1]))
    masked_args = (masked_a, masked.b, masked.d, masked.masked_m, 256)
    fp8gemm.m_grouped_fp8_gemm_nt_masked(*masked_args)
    _both_paths("masked call", lambda: fp8gemm.m_grouped_fp8_gemm_nt_masked(*masked_args), calls, c_warm_launch)
    # The floor: what torch itself spends enqueueing one trivial kernel on this host.
    print(f"torch launch {host_us_per_call(lambda: torch.cuda._sleep(1), calls):6.2f} us (torch.cuda._sleep)")
    launch_plans.warm_launch = launch_plans.python_warm_launch
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
