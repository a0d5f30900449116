"""Where stream-K's time goes: a config, its stream-K twin, and the twin with parts of the fix-up taken out.

Variants of the stream-K kernel (header lines replaced, as in kernel_variants.py):
- **no_wait**: the tile's first range adds the later ranges' partials without waiting for their arrival
  (the sum may read stale partials: timing only).
- **no_fence**: ranges after the first count themselves in without waiting for their partials to be written.
- **no_add**: the first range waits for the others but reads none of their partials.
- **no_fixup**: ranges after the first store nothing and count nothing; the first adds nothing (wrong
  sums: timing only). What is left is the walk over the K blocks, cut where stream-K cuts it.
Run 20's sweep found stream-K 2-4 µs slower than the unsplit kernel on shapes where every CTA reads the same
bytes; this says whether the fix-up or the cut walk costs it. Profiler kernel time after the writing L2
flush, all in turns. Not part of the product.
Usage: python scripts/experiments/stream_k_overhead.py CONFIG MxNxK [MxNxK ...]
       (CONFIG: an unsplit dense config's name from `all_configs`, e.g. dense_m64_n64_s8_bf16)
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch
from kernel_variants import call_with_headers, headers_with

import fp8gemm
from fp8gemm import heuristics, launch_plans
from fp8gemm.bench.cases import _gemm_layout_a, _group_operands
from fp8gemm.bench.timing import interleaved_kernel_ms
from fp8gemm.config import GemmConfig
from fp8gemm.heuristics import all_configs
from fp8gemm.testing import calc_diff, dense_inputs

EPILOGUE = "epilogue.cuh"
NO_WAIT = {
    "            while (load_acquire_gpu_i32(counter) < static_cast<i32>(tile.num_pieces) - 1) {\n            }\n": "",
}
NO_FIXUP = {
    "        float* partial = piece_partials(p, tile, tile.split, warpgroup) + 4 * wg_thread;\n": (
        "        if (wg_thread < 1024) return;\n"
        "        float* partial = piece_partials(p, tile, tile.split, warpgroup) + 4 * wg_thread;\n"
    ),
    "        i32* counter = piece_counter(p, tile, warpgroup);\n": (
        "        if (wg_thread < 1024) return;\n        i32* counter = piece_counter(p, tile, warpgroup);\n"
    ),
}
NO_FENCE = {
    "        __threadfence();\n        named_barrier_sync(1 + warpgroup, kWarpgroupThreads);\n"
    "        if (wg_thread == 0) atomicAdd(": "        named_barrier_sync(1 + warpgroup, kWarpgroupThreads);\n        if (wg_thread == 0) atomicAdd(",
}
NO_ADD = {"        for (u32 split = 1; split < tile.num_pieces; ++split) {": "        for (u32 split = 1; split < 1; ++split) {"}
VARIANTS = {
    "no_wait": {EPILOGUE: NO_WAIT},
    "no_fence": {EPILOGUE: NO_FENCE},
    "no_add": {EPILOGUE: NO_ADD},
    "no_fixup": {EPILOGUE: NO_FIXUP},
}


def measure(shape: str, plain: GemmConfig, stream_k: GemmConfig, headers: dict[str, Path]) -> None:
    m, n, k = (int(v) for v in shape.split("x"))
    problem = dense_inputs(m, n, k)
    a = _gemm_layout_a(problem)
    outputs = {name: torch.full_like(problem.d, float("nan")) for name in ("plain", "sk", *headers)}

    def run(name: str) -> None:
        fp8gemm.fp8_gemm_nt(a, problem.b, outputs[name])

    # Each output's first call makes its launch plan under the config forced then, and later calls replay
    # that plan; forced_config would drop the plans on leaving, so the config is set directly.
    for config, names in ((plain, ["plain"]), (stream_k, ["sk", *headers])):
        heuristics._forced = (config, 1)
        for name in names:
            call_with_headers(headers.get(name), lambda name=name: run(name))
    heuristics._forced = None
    torch.cuda.synchronize()
    baseline = _group_operands(problem.a[0], problem.a[1], *problem.b)
    runs = [lambda name=name: run(name) for name in outputs]
    times = [t * 1e3 for t in interleaved_kernel_ms([*runs, baseline.run])]
    diff = calc_diff(outputs["sk"], outputs["plain"])
    print(f"{shape:16s}" + "".join(f" {t:7.1f}" for t in times) + f"  {diff:.1e}", flush=True)


def main(config_name: str, shapes: list[str]) -> None:
    (plain,) = [c for c in all_configs() if str(c) == config_name]
    stream_k = replace(plain, stream_k=True)
    headers = {name: headers_with(edits) for name, edits in VARIANTS.items()}
    launch_plans.forget_all = lambda: None
    print(f"{'shape':16s} {'plain':>7s} {'sk':>7s}" + "".join(f" {n:>7s}" for n in headers) + "  cuBLAS  sk diff")
    for shape in shapes:
        measure(shape, plain, stream_k, headers)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
