"""Does using torch.profiler (CUPTI) in a process slow every later kernel launch on the host?

Times torch's own trivial launch and a warm fp8gemm call (as the benchmark's `launch us` column does) in a
fresh process, then once more after one `profiled_kernel_ms` measurement, as the benchmark takes for every
shape before it times that shape's host cost.
Usage: python scripts/experiments/host_after_profiler.py
"""

from __future__ import annotations

import fp8gemm
from fp8gemm.bench.timing import host_us_per_call, profiled_kernel_ms, torch_launch_us
from fp8gemm.testing import dense_inputs


def main() -> None:
    p = dense_inputs(64, 2112, 7168)
    a = (p.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(p.a[1]))

    def call() -> None:
        fp8gemm.fp8_gemm_nt(a, p.b, p.d)

    for when in ("before any profiling", "after one profiled_kernel_ms"):
        if when.startswith("after"):
            profiled_kernel_ms(call)
        print(f"{when:30s} torch launch {torch_launch_us():5.2f} us, warm fp8gemm call {host_us_per_call(call):5.2f} us")


if __name__ == "__main__":
    main()
