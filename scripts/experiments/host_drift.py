"""Why a warm call's host time rises through the benchmark (run 12: 8.6 µs on the first shapes, 13-16 µs
later, with the same launch path).

Candidates, each measured next to torch's own trivial launch at the same moment:
  - loaded libraries: the benchmark loads ~30 kernels; launching a library's CUkernel handle may cost a
    per-launch lookup that grows with them. Measured after loading 8, 32 and 96 more copies of the kernel.
  - the handle: the same launch through the CUfunction that cuKernelGetFunction resolves once.
  - the profiler, GPU work and allocator churn between shapes, as the benchmark does them.
Usage: python scripts/experiments/host_drift.py
"""

from __future__ import annotations

import gc

import torch
from cuda.bindings import driver

import fp8gemm
from fp8gemm import launch_plans
from fp8gemm.bench.timing import host_us_per_call, kernel_median_ms, profiled_kernel_ms, torch_launch_us
from fp8gemm.jit.build import _loaded
from fp8gemm.jit.launcher import LoadedKernel, check, launch_kernel
from fp8gemm.testing import dense_inputs


def main() -> None:
    problem = dense_inputs(64, 2112, 7168)
    a = (problem.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(problem.a[1]))

    def call() -> None:
        fp8gemm.fp8_gemm_nt(a, problem.b, problem.d)

    call()
    (plan,) = launch_plans._plans.values()
    (kernel,) = _loaded.values()
    resolved = check(driver.cuKernelGetFunction(kernel.handle(0)), "cuKernelGetFunction")

    def via_resolved() -> None:
        launch_kernel(resolved, 0, plan.grid, plan.threads, plan.smem_bytes, plan.args, None)

    def row(label: str) -> None:
        print(
            f"{label:34s} torch {torch_launch_us():5.2f}  call {host_us_per_call(call):5.2f}  "
            f"plan {host_us_per_call(plan.launch):5.2f}  resolved function {host_us_per_call(via_resolved):5.2f}",
            flush=True,
        )

    row("start")
    row("start, again")
    extra = []
    for total in (8, 32, 96):
        while len(extra) < total:
            copy = LoadedKernel(kernel.cubin, kernel.entry_point, kernel.smem_bytes, kernel.num_threads)
            copy.launch(0, plan.grid, plan.params)  # lazy loading: the first launch loads it into the context
            extra.append(copy)
        torch.cuda.synchronize()
        row(f"{total} more libraries loaded")
    for step in range(4):
        kernel_median_ms(call)
        profiled_kernel_ms(call)
        gc.collect()
        torch.cuda.empty_cache()
        row(f"after bench-like work, step {step}")
    big = dense_inputs(4096, 7168, 16384)
    fp8gemm.fp8_gemm_nt(big.a, big.b, big.d)
    del big
    gc.collect()
    torch.cuda.empty_cache()
    row("after a large problem")


if __name__ == "__main__":
    main()
