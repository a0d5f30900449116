"""HBM read ceiling, and how the small-M kernels' time follows the depth of the stage ring.

Needs the ablation patch (git apply scripts/experiments/ablation.patch): "loads only" is the kernel with
its wgmmas, promotion and epilogue compiled out, so only the producer's TMA loads and the barrier round
trips remain. Usage: python scripts/experiments/ring_depth.py
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.bench.timing import profiled_kernel_ms
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.heuristics import forced_config
from fp8gemm.jit import build
from fp8gemm.jit.build import compile_source
from fp8gemm.jit.codegen import gemm_source

LOADS_ONLY = ("ABLATE_MMA", "ABLATE_PROMOTE", "ABLATE_EPILOGUE")
CASES = (("64x7168x16384", 64, 64), ("64x2112x7168", 64, 16), ("64x4096x7168", 64, 32))
STAGES = (2, 3, 4, 6, 8)


def source_with(defines: tuple[str, ...]):
    return lambda config: "".join(f"#define {d}\n" for d in defines) + gemm_source(config)


def hbm_ceilings() -> None:
    x = torch.randn(1 << 28, device="cuda")  # 1 GiB
    read_ms = profiled_kernel_ms(lambda: x.sum())
    y = torch.empty_like(x)
    copy_ms = profiled_kernel_ms(lambda: y.copy_(x))
    nbytes = x.numel() * x.element_size()
    print(f"HBM read (torch.sum over 1 GiB): {nbytes / read_ms / 1e9:.2f} TB/s")
    print(f"HBM copy (1 GiB, read + write): {2 * nbytes / copy_ms / 1e9:.2f} TB/s")


def main() -> None:
    configs = [GemmConfig(GemmType.DENSE, bm, bn, s, False, 1) for _, bm, bn in CASES for s in STAGES]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(compile_source, [source_with(d)(c) for c in configs for d in ((), LOADS_ONLY)]))
    hbm_ceilings()
    for text, block_m, block_n in CASES:
        m, n, k = (int(v) for v in text.split("x"))
        case = build_case(DenseShape(m, n, k))
        for stages in STAGES:
            config = GemmConfig(GemmType.DENSE, block_m, block_n, stages, False, 1)
            times = []
            for defines in ((), LOADS_ONLY):
                build.gemm_source = source_with(defines)
                build._loaded.clear()
                with forced_config(config):
                    case.run_fp8gemm()
                    times.append(profiled_kernel_ms(case.run_fp8gemm) * 1e3)
            print(f"{text} {config}: kernel {times[0]:.1f} us, loads only {times[1]:.1f} us "
                  f"({(m * k + n * k) / times[1] / 1e3:.0f} GB/s of operands)", flush=True)
        del case


if __name__ == "__main__":
    main()
