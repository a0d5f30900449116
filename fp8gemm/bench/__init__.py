"""Benchmarks of fp8gemm against cuBLASLt blockwise-scaled FP8 GEMMs (torch._scaled_mm) on a Hopper GPU.

    python -m fp8gemm.bench [--suite dense|grouped|quant|all] [--shapes full|small] [--out DIR] [--json PATH]
                            [--plot] [--no-jit]

The quant suite times the FP8 casts instead, against the HBM copy bandwidth measured in the same run; both
with L2 emptied by a read before each run (timing.clean_l2_median_ms), since do_bench's writing flush leaves
dirty lines whose write-back lands in a short memory-bound kernel's time.

Modules: suites (shapes, FLOPs and bytes), cublas (the baseline's scale layouts), cases (inputs and the
timed calls per shape), timing (kernel, launch and JIT times), runner (one result row per shape), report
(table, geomeans, JSON, plot), cli (the command line).
"""

from .cli import main

__all__ = ["main"]
