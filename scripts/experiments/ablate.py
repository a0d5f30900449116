"""Where the kernel's time goes: profiler kernel time of variants with parts compiled out.

Needs the ablation patch (git apply scripts/experiments/ablation.patch), whose macros remove one part each:
ABLATE_LOAD (the producer arrives on the full barriers without loading), ABLATE_MMA (no wgmmas),
ABLATE_PROMOTE (no promotion), ABLATE_EPILOGUE (no stores; the accumulators are kept alive by a compare).

Usage: python scripts/experiments/ablate.py          every variant on small- and large-M configs
       python scripts/experiments/ablate.py loads    TMA loads alone for 128, 192 and 256-wide tiles
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import torch

import fp8gemm.config
from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.bench.timing import profiled_kernel_ms
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.heuristics import forced_config
from fp8gemm.jit import build
from fp8gemm.jit.build import compile_source
from fp8gemm.jit.codegen import gemm_source

VARIANTS = {
    "base": (),
    "no_load": ("ABLATE_LOAD",),
    "no_mma": ("ABLATE_MMA",),
    "no_promote": ("ABLATE_PROMOTE",),
    "no_epi": ("ABLATE_EPILOGUE",),
    "no_load_mma": ("ABLATE_LOAD", "ABLATE_MMA"),
    "skeleton": ("ABLATE_LOAD", "ABLATE_MMA", "ABLATE_EPILOGUE"),
}
# shape, block_m, block_n, cluster_n, split_k, stages
CASES = [
    ("64x2112x7168", 64, 16, 1, 1, 8),
    ("64x2112x7168", 64, 32, 1, 2, 8),
    ("64x2112x7168", 64, 64, 1, 4, 8),
    ("64x2112x7168", 64, 64, 1, 1, 8),
    ("64x7168x16384", 64, 64, 1, 1, 8),
    ("64x4096x7168", 64, 32, 1, 1, 8),
    ("128x4096x7168", 128, 32, 1, 1, 8),
    ("4096x4096x7168", 128, 128, 1, 1, 5),
    ("4096x7168x16384", 128, 128, 2, 1, 5),
]

LOAD_VARIANTS = {
    "loads": ("ABLATE_MMA", "ABLATE_PROMOTE"),
    "loads_noepi": ("ABLATE_MMA", "ABLATE_PROMOTE", "ABLATE_EPILOGUE"),
    "no_load": ("ABLATE_LOAD",),
    "base": (),
}
LOAD_CASES = [
    ("4096x4096x7168", 128, 128, 1, 1, 5),
    ("4096x4096x7168", 128, 128, 1, 1, 3),
    ("4096x4096x7168", 128, 128, 2, 1, 5),
    ("4096x4096x7168", 128, 192, 1, 1, 4),
    ("4096x4096x7168", 128, 256, 1, 1, 3),
    ("4096x7168x16384", 128, 128, 1, 1, 5),
    ("4096x7168x16384", 128, 256, 1, 1, 3),
    ("4096x7168x16384", 128, 256, 2, 1, 3),
    ("64x7168x16384", 64, 64, 1, 1, 8),
    ("64x7168x16384", 64, 128, 1, 2, 8),
    ("64x7168x16384", 64, 256, 1, 4, 4),
]
# Wider than the kernel's tiles can promote: measured with the math compiled out only.
MATH_MAX_BLOCK_N = 160


def source_with(defines: tuple[str, ...]):
    return lambda config: "".join(f"#define {d}\n" for d in defines) + gemm_source(config)


def run(variants: dict[str, tuple[str, ...]], cases: list[tuple]) -> None:
    # The loads-only variants also time tile widths the heuristic does not offer.
    fp8gemm.config.BLOCK_N_CHOICES = (*fp8gemm.config.BLOCK_N_CHOICES, 192, 256)
    configs = {c: GemmConfig(GemmType.DENSE, c[1], c[2], c[5], False, c[3]) for c in cases}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(compile_source, [source_with(d)(c) for d in variants.values() for c in configs.values()]))
    print(f"{'case':44s}" + "".join(f"{v:>12s}" for v in variants) + f"{'cublas':>10s}")
    for key, config in configs.items():
        text, split = key[0], key[4]
        m, n, k = (int(v) for v in text.split("x"))
        case = build_case(DenseShape(m, n, k))
        row = []
        for defines in variants.values():
            needs_math = "ABLATE_MMA" not in defines or "ABLATE_PROMOTE" not in defines
            if needs_math and config.block_n > MATH_MAX_BLOCK_N:
                row.append(float("nan"))
                continue
            build.gemm_source = source_with(defines)
            build._loaded.clear()
            with forced_config(config, split):
                case.run_fp8gemm()
                torch.cuda.synchronize()
                row.append(profiled_kernel_ms(case.run_fp8gemm) * 1e3)
        cublas = profiled_kernel_ms(case.run_cublas) * 1e3
        label = f"{text} {config} split {split}"
        print(f"{label:44s}" + "".join(f"{t:12.1f}" for t in row) + f"{cublas:10.1f}", flush=True)
        del case
        torch.cuda.empty_cache()


if __name__ == "__main__":
    if "loads" in sys.argv[1:]:
        run(LOAD_VARIANTS, LOAD_CASES)
    else:
        run(VARIANTS, CASES)
