"""Compiles, in parallel, the kernels the benchmark's problems choose on a 132-SM GPU, into the disk cache.

A/B runs of several checkouts (kernel_ab.py) otherwise compile each checkout's kernels one at a time inside
the timed processes, minutes of device time. Run it with each checkout first on PYTHONPATH and its own
FP8GEMM_CACHE_DIR; it needs no GPU. A masked problem's multi-width kernel and its stand-in are both built.
Usage: [PYTHONPATH=<checkout>] python scripts/experiments/precompile_bench.py [num_sms]
"""

from __future__ import annotations

import sys

from fp8gemm.bench.suites import ContiguousShape, DenseShape, MaskedShape, dense_shapes, grouped_shapes
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.heuristics import select_launch
from fp8gemm.jit.build import precompile


def bench_configs(num_sms: int) -> list[GemmConfig]:
    configs: set[GemmConfig] = set()
    for shape in [*dense_shapes(), *grouped_shapes()]:
        if isinstance(shape, DenseShape):
            config, _ = select_launch(GemmType.DENSE, shape.m, shape.n, shape.k, 1, num_sms)
            configs.add(config)
        elif isinstance(shape, ContiguousShape):
            rows = shape.num_groups * shape.m_per_group
            config, _ = select_launch(
                GemmType.GROUPED_CONTIGUOUS, rows, shape.n, shape.k, shape.num_groups, num_sms
            )
            configs.add(config)
        elif isinstance(shape, MaskedShape):
            m = min(shape.expected_m, shape.m_max)
            config, _ = select_launch(GemmType.GROUPED_MASKED, m, shape.n, shape.k, shape.num_groups, num_sms)
            configs.update({config, config.main_width_only()} if config.alt_widths else {config})
    return sorted(configs, key=str)


if __name__ == "__main__":
    configs = bench_configs(int(sys.argv[1]) if len(sys.argv) > 1 else 132)
    print(" ".join(str(c) for c in configs))
    precompile(configs)
