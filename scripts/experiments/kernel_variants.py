"""The heuristic's kernel against variants of it with a few lines replaced: is this what holds small M?

Variants (lines of the kernel headers replaced in a copy of them, which gives each its own include path and so
its own cache key):
- **tiled**: B pre-tiled in HBM. Row-major B (N x K) puts each stage's block_n x 128-byte box on block_n rows,
  K bytes apart: every 128-byte piece (256 with the descriptor's L2 promotion) sits in a DRAM page of its own.
  Pre-tiled, each (n block, K block) box is contiguous and a tile's K blocks follow each other, so each CTA
  streams one contiguous region, as a plain read does. The producer addresses B's box as rows
  (n_block * num_k_blocks + k) * block_n of a [N * K / 128, 128] view. Same sums in the same order.
- **rotated**: each tile walks its K range starting n_block blocks in, so the CTAs of a small-M GEMM read
  different A blocks at any moment instead of all asking L2 for the same one. The consumer is unchanged (it
  reads both scales from the stage); the sums run in another order, so the output matches to rounding.
- **fast_scheduler**: no runtime division on the way to a CTA's first tile where none is needed (unsplit dense
  launches skip the split arithmetic; a single m block maps the walk index straight to its n block).
- **first_lap**: the producer's first lap over the ring skips the empty-barrier waits.
- **read_wait**: before leaving, the CTA waits only until its last TMA stores have read shared memory
  (`cp.async.bulk.wait_group.read`), not until their writes are done: all that smem's lifetime needs.
- **checks_off_path**, **init_fence_cluster_only**, **prefetch_after_init**, and all three as **prologue**:
  the producer's way to its first TMA issue shortened (run 17).
- **a_evict_last**: A's loads marked evict-last in L2; **b_plain**: B's loads with no L2 hint, as before run 17.

Each variant's output is checked on a NaN-poisoned buffer against the kernel's (bit for bit where the sums
are the same), then the kernel and the variants are timed in turns beside cuBLAS (profiler kernel time, L2
flushed before each run). Not part of the product. Measured in docs/performance.md, runs 16 and 17.
Usage: python scripts/experiments/kernel_variants.py [--variants tiled,rotated,...] [MxNxK ...]
       (default shapes: the benchmark's dense shapes with M <= 128)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

import fp8gemm
from fp8gemm.api import gemm_launch
from fp8gemm.bench.cases import _gemm_layout_a, _group_operands
from fp8gemm.bench.suites import dense_shapes
from fp8gemm.bench.timing import interleaved_kernel_ms
from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_launch
from fp8gemm.jit import build, compiler, launcher
from fp8gemm.testing import calc_diff, dense_inputs

BLOCK_K = 128
SUM_ORDER_TOLERANCE = 1e-6
MAIN = "fp8_gemm.cuh"
SCHEDULER = "common/scheduler.cuh"
PTX = "common/ptx.cuh"
# No runtime division on the way to a CTA's first tile where none is needed: an unsplit dense launch skips
# the split arithmetic, and a single m block maps the walk index straight to its n block.
FAST_SCHEDULER = {
    "split_k_blocks(ceil_div(num_k_blocks_, kType == GemmType::Dense ? num_splits_ : 1u)),": (
        "split_k_blocks(kType == GemmType::Dense && num_splits_ > 1 ? ceil_div(num_k_blocks_, num_splits_)"
        " : num_k_blocks_),"
    ),
    "            tile.split = index % num_splits;\n            index /= num_splits;\n": (
        "            if (num_splits > 1) {\n            tile.split = index % num_splits;\n"
        "            index /= num_splits;\n            }\n"
    ),
    "        constexpr u32 kBand = kGroupN / kClusterN;\n": (
        "        if (num_m_blocks == 1) {\n"
        "            tile.m_block = 0;\n"
        "            tile.n_block = index * kClusterN + cluster_rank;\n"
        "            return;\n"
        "        }\n"
        "        constexpr u32 kBand = kGroupN / kClusterN;\n"
    ),
}
# The producer's first lap over the ring does not wait on the empty barriers, which no consumer has used yet.
FIRST_LAP = {
    "StageCursor<kNumStages> fill_at;": "StageCursor<kNumStages> fill_at;\nu32 fills = 0;",
    "mbarrier_wait(smem.empty_bar(s), fill_at.phase ^ 1u);": (
        "if (fills >= kNumStages) mbarrier_wait(smem.empty_bar(s), fill_at.phase ^ 1u);\n++fills;"
    ),
}

# The launch-config checks, each a constant-bank read the producer's path waits on, made by math thread 0.
CHECKS_OFF_PATH = {
    "            if (dynamic_smem_bytes() < kSmemBytes) __trap();  // launched with the wrong config\n"
    "            if (smem_u32(smem_raw) % kSwizzleAtomBytes != 0) __trap();  // no slack to align it ourselves\n": "",
    "        const u32 thread = threadIdx.x;\n": (
        "        const u32 thread = threadIdx.x;\n"
        "        if (thread == 0) {\n"
        "            if (dynamic_smem_bytes() < kSmemBytes) __trap();\n"
        "            if (smem_u32(smem_raw) % kSwizzleAtomBytes != 0) __trap();\n"
        "        }\n"
    ),
}
# fence.mbarrier_init (a MEMBAR.ALL.CTA in the SASS) only where a peer CTA arrives on the barriers.
INIT_FENCE_CLUSTER_ONLY = {
    "            fence_barrier_init();\n": "            if constexpr (kClusterN > 1) fence_barrier_init();\n",
}
# The descriptor prefetches issued after the barrier set-up and its fences, so no fence can wait on them.
PREFETCH_AFTER_INIT = {
    "            tma_prefetch_descriptor(&p.tma_a);\n"
    "            tma_prefetch_descriptor(&tma_b);\n"
    "            tma_prefetch_descriptor(&p.tma_sfa);\n"
    "            if (p.tma_store) tma_prefetch_descriptor(&p.tma_d);\n": "",
    "            fence_proxy_async_shared();\n        }\n": (
        "            fence_proxy_async_shared();\n"
        "            tma_prefetch_descriptor(&p.tma_a);\n"
        "            tma_prefetch_descriptor(&tma_b);\n"
        "            tma_prefetch_descriptor(&p.tma_sfa);\n"
        "            if (p.tma_store) tma_prefetch_descriptor(&p.tma_d);\n"
        "        }\n"
    ),
}
# A's loads marked evict-last in L2 (every CTA of a small-M GEMM reads all of A).
A_EVICT_LAST = {
    "// Same box, written to the same smem offset in every CTA of `cta_mask`": (
        "__device__ __forceinline__ u64 l2_policy_evict_last() {\n"
        "    u64 policy;\n"
        '    asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(policy));\n'
        "    return policy;\n"
        "}\n"
        "// Same box, written to the same smem offset in every CTA of `cta_mask`"
    ),
}
A_EVICT_LAST_MAIN = {
    "                    tma_load_2d(a_part, &p.tma_a, full, k_elem, a_part_row);\n": (
        "                    tma_load_2d(a_part, &p.tma_a, full, k_elem, a_part_row, l2_policy_evict_last());\n"
    ),
}
# B's loads without an L2 hint, as before run 17 (the kernel loads B evict-first where one m block reads it).
B_PLAIN = {
    "tma_load_2d(smem.b() + s * kSmemB, &tma_b, full, k_elem, b_row, b_policy);": (
        "tma_load_2d(smem.b() + s * kSmemB, &tma_b, full, k_elem, b_row);"
    ),
}


@dataclass(frozen=True)
class Variant:
    replacements: dict[str, dict[str, str]]  # header (relative to kernels/) -> {old text: new text}
    tiles_b: bool = False  # B is passed pre-tiled (and its descriptor views it so)
    same_sums: bool = True  # the output must match the kernel's bit for bit


VARIANTS = {
    "tiled": Variant(
        {
            MAIN: {
                "tma_load_2d(smem.b() + s * kSmemB, &tma_b, full, k_elem, b_row, b_policy);": (
                    "tma_load_2d(smem.b() + s * kSmemB, &tma_b, full, 0, "
                    "(b_row / i32(kBlockN) * i32(num_k_blocks) + i32(k)) * i32(kBlockN), b_policy);"
                ),
            },
        },
        tiles_b=True,
    ),
    "rotated": Variant(
        {
            MAIN: {
                "const u32 s = fill_at.stage;": (
                    "const u32 s = fill_at.stage;\n"
                    "const u32 kr = tile.k_begin + (k - tile.k_begin + tile.n_block) % (tile.k_end - tile.k_begin);"
                ),
                "const i32 k_elem = k * kBlockK;": "const i32 k_elem = kr * kBlockK;",
                "sfa_row + k);": "sfa_row + kr);",
                "p.sfb + sfb.first + k);": "p.sfb + sfb.first + kr);",
                "p.sfb + sfb.second + k);": "p.sfb + sfb.second + kr);",
            },
        },
        same_sums=False,
    ),
    "read_wait": Variant(
        {
            MAIN: {
                "if (thread % kWarpgroupThreads == 0) bulk_wait_group<0>();": (
                    "if (thread % kWarpgroupThreads == 0) bulk_wait_group_read<0>();"
                ),
            },
        },
    ),
    "fast_scheduler": Variant({SCHEDULER: FAST_SCHEDULER}),
    "first_lap": Variant({MAIN: FIRST_LAP}),
    "fast_scheduler+first_lap": Variant({SCHEDULER: FAST_SCHEDULER, MAIN: FIRST_LAP}),
    "checks_off_path": Variant({MAIN: CHECKS_OFF_PATH}),
    "init_fence_cluster_only": Variant({MAIN: INIT_FENCE_CLUSTER_ONLY}),
    "prefetch_after_init": Variant({MAIN: PREFETCH_AFTER_INIT}),
    "prologue": Variant({MAIN: CHECKS_OFF_PATH | INIT_FENCE_CLUSTER_ONLY | PREFETCH_AFTER_INIT}),
    "a_evict_last": Variant({PTX: A_EVICT_LAST, MAIN: A_EVICT_LAST_MAIN}),
    "b_plain": Variant({MAIN: B_PLAIN}),
}


def headers_with(replacements: dict[str, dict[str, str]]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="fp8gemm-kernel-variant-")) / "kernels"
    shutil.copytree(compiler.KERNELS_DIR, root)
    for header, edits in replacements.items():
        path = root / header
        text = path.read_text()
        for old, new in edits.items():
            assert text.count(old) == 1, f"{header} changed ({old!r}): update this experiment"
            text = text.replace(old, new)
        path.write_text(text)
    return root


def tiled_b(b: torch.Tensor, block_n: int) -> torch.Tensor:
    n, k = b.shape
    return b.view(n // block_n, block_n, k // BLOCK_K, BLOCK_K).permute(0, 2, 1, 3).contiguous().view(n, k)


def call_with_headers(headers: Path | None, run: Callable[[], None]) -> None:
    """First call of `run`: its launch plan keeps the kernel compiled from `headers` (None: the product's)."""
    product_headers = compiler.KERNELS_DIR
    build._loaded.clear()
    compiler.KERNELS_DIR = headers or product_headers
    try:
        run()
    finally:
        compiler.KERNELS_DIR = product_headers
        build._loaded.clear()


def measure(m: int, n: int, k: int, variants: dict[str, tuple[Variant, Path]], tiled_ptrs: set[int]) -> None:
    config, split = choose_launch(GemmType.DENSE, m, n, k, 1, fp8gemm.get_num_sms())
    if n % config.block_n or k % BLOCK_K:
        print(f"{m}x{n}x{k}: {config} does not tile N evenly; skipped", flush=True)
        return
    problem = dense_inputs(m, n, k)
    a = _gemm_layout_a(problem)
    b, sfb = problem.b
    b_tiled = tiled_b(b, config.block_n) if any(v.tiles_b for v, _ in variants.values()) else None
    if b_tiled is not None:
        tiled_ptrs.add(b_tiled.data_ptr())
    operands = {"kernel": b} | {name: b_tiled if v.tiles_b else b for name, (v, _) in variants.items()}
    outputs = {name: torch.empty_like(problem.d) for name in operands}
    runs = {
        name: (lambda name=name: fp8gemm.fp8_gemm_nt(a, (operands[name], sfb), outputs[name]))
        for name in operands
    }
    for name, run in runs.items():
        outputs[name].fill_(float("nan"))
        call_with_headers(variants[name][1] if name in variants else None, run)
    torch.cuda.synchronize()
    checks = []
    for name, (variant, _) in variants.items():
        out, ref = outputs[name], outputs["kernel"]
        ok = torch.equal(out, ref) if variant.same_sums else calc_diff(out, ref) < SUM_ORDER_TOLERANCE
        checks.append(ok and not bool(out.isnan().any()))
    baseline = _group_operands(problem.a[0], problem.a[1], b, sfb)
    kernel_us, *variant_us, cublas_us = (
        t * 1e3 for t in interleaved_kernel_ms([*runs.values(), baseline.run])
    )
    print(
        f"{f'{m}x{n}x{k}':16s} {str(config):26s} {split:5d} {kernel_us:7.1f} {cublas_us:7.1f} {cublas_us / kernel_us:6.2f}"
        + "".join(
            f" {us:9.1f} {us / kernel_us:6.3f} {str(ok):5s}"
            for us, ok in zip(variant_us, checks, strict=True)
        ),
        flush=True,
    )
    tiled_ptrs.clear()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("shapes", nargs="*")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes] or [
        (s.m, s.n, s.k) for s in dense_shapes() if s.m <= 128
    ]
    variants = {
        name: (VARIANTS[name], headers_with(VARIANTS[name].replacements)) for name in args.variants.split(",")
    }
    tiled_ptrs: set[int] = set()
    product_tma_2d = gemm_launch.tma_2d

    def tma_2d(tensor, rows, cols, row_stride, box_cols, box_rows, swizzle_128b):
        if tensor.data_ptr() in tiled_ptrs:
            # [rows * cols / 128, 128]: each box is block_n consecutive 128-byte rows.
            return launcher.tma_2d(tensor, rows * cols // BLOCK_K, BLOCK_K, BLOCK_K, box_cols, box_rows, True)
        return product_tma_2d(tensor, rows, cols, row_stride, box_cols, box_rows, swizzle_128b)

    gemm_launch.tma_2d = tma_2d
    print(
        f"{'shape':16s} {'config':26s} split {'kernel':>7s} {'cuBLAS':>7s} {'ratio':>6s}"
        + "".join(f" {name:>9s} {'/kernel':>6s} {'ok':5s}" for name in variants)
        + "   (ok: the output matched the kernel's, bit for bit where the sums are the same)",
        flush=True,
    )
    for m, n, k in shapes:
        measure(m, n, k, variants, tiled_ptrs)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
