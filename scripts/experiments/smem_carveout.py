"""Does a masked 128 x 128 kernel slow down when launched with more dynamic shared memory than it uses?

Run 10 found the 128-wide path of the multi-width masked kernels 0.3-2.6 µs slower than the 128 x 128 kernel
alone, while their 144- and 256-wide paths ran at the single-width times. The multi-width kernels request the
shared memory of their widest width (211-226 KB against 195 KB), which moves the SM's shared-memory carveout
up a step and shrinks L1. This times the same 128 x 128 cubin launched with its own size and with the
multi-width sizes, on the masked problems of the run 10 sweep, by the profiler's kernel time.

Usage: PYTHONPATH=. python scripts/experiments/smem_carveout.py
"""

from __future__ import annotations

from dataclasses import replace

import torch

from fp8gemm import launch_plans
from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import MaskedShape
from fp8gemm.bench.timing import profiled_kernel_ms
from fp8gemm.config import GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import forced_config
from fp8gemm.jit import build
from fp8gemm.testing import calc_diff

SHAPES = (
    MaskedShape(1, 1024, 4096, 7168),
    MaskedShape(1, 1024, 7168, 2048),
    MaskedShape(2, 512, 4096, 7168),
    MaskedShape(4, 256, 4096, 7168),
    MaskedShape(8, 128, 4096, 7168),
    MaskedShape(8, 128, 7168, 2048),
)


def main() -> None:
    config = GemmConfig(GemmType.GROUPED_MASKED, 128, 128, max_stages(128, 128))
    sizes = {
        "own": config.smem_bytes,
        "as with 144": replace(config, alt_widths=((144, max_stages(128, 144)),)).smem_bytes,
        "as with 256": replace(config, alt_widths=((256, max_stages(128, 256)),)).smem_bytes,
    }
    kernel = build.get_kernel(config)
    for shape in SHAPES:
        case = build_case(shape)
        reference = torch.cat(case.run_cublas())
        line = []
        for label, smem in sizes.items():
            launch_plans.forget_all()
            build._loaded[config] = replace(kernel, smem_bytes=smem, _devices_ready=set(), _functions={})
            with forced_config(config):
                case.output.fill_(float("nan"))
                case.run_fp8gemm()
                diff = calc_diff(case.fp8gemm_rows(), reference)
                us = profiled_kernel_ms(case.run_fp8gemm) * 1e3
            line.append(f"{label} ({smem} B) {us:6.1f} us{'' if diff < 1e-3 else ' FAILED'}")
        print(f"{shape.label:38s} " + " | ".join(line), flush=True)
        del case
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
