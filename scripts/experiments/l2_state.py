"""Does B's evict-first L2 hint pay only for the dirty L2 the benchmark's flush leaves behind?

Times the heuristic's kernel (B evict-first where one m block reads it) against `kernel_variants.py b_plain`
(no hint, as before run 17) in turns, after each of two L2 states:
- dirty: the benchmark's flush, a 256 MB write, leaves L2 full of dirty lines that a load must write back
  before it can take their place;
- clean: a read of another 256 MB buffer leaves L2 full of clean lines, dropped for free.
Kernel time from the profiler. Not part of the product. Measured in docs/performance.md, run 17.
Usage: python scripts/experiments/l2_state.py [MxNxK ...]
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable

import torch
from kernel_variants import VARIANTS, call_with_headers, headers_with
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

import fp8gemm
from fp8gemm.bench.cases import _gemm_layout_a
from fp8gemm.bench.timing import L2_FLUSH_BYTES
from fp8gemm.testing import dense_inputs

DEFAULT_SHAPES = ("64x7168x16384", "128x7168x16384", "64x7168x2048", "128x7168x2048", "128x24576x1536")
REPS = 30
GEMM_KERNEL = "fp8gemm_kernel"


def gemm_us_in_turns(fns: list[Callable[[], None]], before: Callable[[], object]) -> list[float]:
    """Median kernel time of each of `fns`, run in turns, each run after `before`."""
    for fn in fns:
        before()
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(REPS):
            for fn in fns:
                before()
                fn()
        torch.cuda.synchronize()
    events = sorted(
        (e for e in prof.events() if e.device_type == DeviceType.CUDA and e.name == GEMM_KERNEL),
        key=lambda e: e.time_range.start,
    )
    assert len(events) == REPS * len(fns), f"{len(events)} GEMM kernels profiled, expected {REPS * len(fns)}"
    return [statistics.median(e.time_range.elapsed_us() for e in events[i :: len(fns)]) for i in range(len(fns))]


def main() -> None:
    plain_headers = headers_with(VARIANTS["b_plain"].replacements)
    dirty = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    clean = torch.ones(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    states = {"dirty (benchmark)": dirty.zero_, "clean": lambda: torch.sum(clean)}
    print(f"{'shape':16s} {'L2 state':18s} {'kernel':>8s} {'b_plain':>8s} {'/plain':>7s}")
    for text in sys.argv[1:] or DEFAULT_SHAPES:
        m, n, k = (int(v) for v in text.split("x"))
        problem = dense_inputs(m, n, k)
        a = _gemm_layout_a(problem)
        outputs = [torch.full_like(problem.d, float("nan")) for _ in range(2)]
        runs = [lambda d=d, a=a, b=problem.b: fp8gemm.fp8_gemm_nt(a, b, d) for d in outputs]
        call_with_headers(None, runs[0])
        call_with_headers(plain_headers, runs[1])
        torch.cuda.synchronize()
        assert torch.equal(outputs[0], outputs[1]) and not outputs[0].isnan().any(), "outputs differ"
        for state, before in states.items():
            ours, plain = gemm_us_in_turns(runs, before)
            print(f"{text:16s} {state:18s} {ours:8.2f} {plain:8.2f} {ours / plain:7.3f}", flush=True)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
