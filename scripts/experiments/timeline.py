"""Where a small-M kernel's time goes, CTA by CTA: global-timer stamps at its entry, first TMA issue, first and
last full stage, and exit.

The heuristic's kernel is rebuilt from a copy of the headers (`kernel_variants.headers_with`) in which math
thread 0 and the producer thread write `%globaltimer` stamps into the unused split-K workspace pointer of an
unsplit dense launch, 8 words per CTA:
  0 entry (math thread 0)
  1 the producer's first TMA issue
  2 math thread 0's first full stage (its bytes have landed)
  3 its last full stage
  4 its return from the K loops and epilogue (its TMA stores have completed)
  5 the producer thread past barrier set-up and the CTA-wide sync
  6 the producer's scheduler built (after setmaxnreg)
  7 the producer's first tile's coordinates and B-scale rows computed
Each run follows the benchmark's writing L2 flush, as the kernel-time figures do. The script prints the
median over runs of each phase's median (and maximum) over CTAs, and the profiler's kernel time with and
without the stamps, which shows what the stamps themselves cost.
Not part of the product. Measured in docs/performance.md, run 16.
Usage: python scripts/experiments/timeline.py [--variant NAME] [MxNxK ...]
"""

from __future__ import annotations

import statistics
import sys

import torch
from kernel_variants import VARIANTS, call_with_headers, headers_with

import fp8gemm
from fp8gemm.api import gemm_launch
from fp8gemm.bench.cases import _gemm_layout_a
from fp8gemm.bench.timing import L2_FLUSH_BYTES, interleaved_kernel_ms
from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_launch
from fp8gemm.testing import dense_inputs

DEFAULT_SHAPES = ("128x7168x2048", "64x7168x2048", "128x7168x16384", "64x7168x16384", "64x2112x7168")
WORDS_PER_CTA = 8
RUNS = 30
STAMPS = {
    "namespace fp8gemm {": (
        "namespace fp8gemm {\n"
        "__device__ __forceinline__ unsigned long long timeline_now() {\n"
        '    unsigned long long t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); return t;\n'
        "}\n"
        "__device__ __forceinline__ unsigned long long* timeline_of_cta(float* workspace) {\n"
        "    return reinterpret_cast<unsigned long long*>(workspace) + blockIdx.x * 8;\n"
        "}"
    ),
    "const u32 thread = threadIdx.x;": (
        "const u32 thread = threadIdx.x;\nif (thread == 0) timeline_of_cta(p.workspace)[0] = timeline_now();"
    ),
    "// Everything the two roles keep is built after setmaxnreg": (
        "if (thread == kNumMathThreads) timeline_of_cta(p.workspace)[5] = timeline_now();\n"
        "// Everything the two roles keep is built after setmaxnreg"
    ),
    "const u32 cluster_rank = kClusterN > 1 ? cluster_cta_rank() : 0u;": (
        "timeline_of_cta(p.workspace)[6] = timeline_now();\n"
        "const u32 cluster_rank = kClusterN > 1 ? cluster_cta_rank() : 0u;"
    ),
    "StageCursor<kNumStages> fill_at;": "StageCursor<kNumStages> fill_at;\nbool timeline_first = true;",
    "const BScaleRows sfb = b_scale_rows(p, tile, num_k_blocks);": (
        "const BScaleRows sfb = b_scale_rows(p, tile, num_k_blocks);\n"
        "if (timeline_first) timeline_of_cta(p.workspace)[7] = timeline_now();"
    ),
    "mbarrier_arrive_expect_tx(full, kStageTxBytes);": (
        "mbarrier_arrive_expect_tx(full, kStageTxBytes);\n"
        "if (timeline_first) { timeline_first = false; timeline_of_cta(p.workspace)[1] = timeline_now(); }"
    ),
    "float prod1[kOverlap ? kPartRegs : 1];": "float prod1[kOverlap ? kPartRegs : 1];\nu32 timeline_waits = 0;",
    "mbarrier_wait(smem.full_bar(s), issue_at.phase);": (
        "mbarrier_wait(smem.full_bar(s), issue_at.phase);\n"
        "if (threadIdx.x == 0) {\n"
        "    const unsigned long long t = timeline_now();\n"
        "    if (timeline_waits == 0) timeline_of_cta(p.workspace)[2] = t;\n"
        "    timeline_of_cta(p.workspace)[3] = t;\n"
        "}\n"
        "++timeline_waits;"
    ),
    "consume(p, smem_parts, thread);": (
        "consume(p, smem_parts, thread);\nif (thread == 0) timeline_of_cta(p.workspace)[4] = timeline_now();"
    ),
}
PHASES = (
    ("entry skew (latest entry - earliest)", None),
    ("entry -> first TMA issue", (0, 1)),
    ("  entry -> barriers set up, CTA synced", (0, 5)),
    ("  -> producer's scheduler built", (5, 6)),
    ("  -> its first tile's coordinates", (6, 7)),
    ("  -> stage 0 free, first TMA issue", (7, 1)),
    ("first issue -> first full stage", (1, 2)),
    ("first -> last full stage", (2, 3)),
    ("last full stage -> exit", (3, 4)),
)


def stamp_phases(stamps: torch.Tensor) -> dict[str, tuple[float, float]]:
    """(median, max) over CTAs of each phase in µs, and the whole span from the earliest entry to the last exit."""
    us = (stamps - stamps[:, 0].min()).double() / 1e3
    phases = {}
    for name, pair in PHASES:
        values = us[:, 0] if pair is None else us[:, pair[1]] - us[:, pair[0]]
        phases[name] = (values.median().item(), values.max().item())
    phases["earliest entry -> last exit"] = (us[:, 4].max().item(), us[:, 4].max().item())
    return phases


def measure(m: int, n: int, k: int, stamped_headers) -> None:
    config, split = choose_launch(GemmType.DENSE, m, n, k, 1, fp8gemm.get_num_sms())
    if split != 1:
        print(f"{m}x{n}x{k}: split {split} uses the workspace; skipped", flush=True)
        return
    problem = dense_inputs(m, n, k)
    a = _gemm_layout_a(problem)
    d_plain, d_stamped = problem.d, torch.empty_like(problem.d)
    stamps = torch.zeros(fp8gemm.get_num_sms() * WORDS_PER_CTA, dtype=torch.int64, device="cuda")
    pack = gemm_launch.pack_gemm_params

    def pack_with_stamps(*args, **kwargs):
        return pack(*args, **{**kwargs, "workspace": stamps.data_ptr()})

    def run_plain() -> None:
        fp8gemm.fp8_gemm_nt(a, problem.b, d_plain)

    def run_stamped() -> None:
        fp8gemm.fp8_gemm_nt(a, problem.b, d_stamped)

    call_with_headers(None, run_plain)
    gemm_launch.pack_gemm_params = pack_with_stamps
    try:
        call_with_headers(stamped_headers, run_stamped)
    finally:
        gemm_launch.pack_gemm_params = pack
    torch.cuda.synchronize()
    grid = int((stamps.view(-1, WORDS_PER_CTA)[:, 0] != 0).sum())
    flush = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    runs = []
    for _ in range(RUNS):
        flush.zero_()
        run_stamped()
        torch.cuda.synchronize()
        runs.append(stamp_phases(stamps.view(-1, WORDS_PER_CTA)[:grid].cpu()))
    plain_us, stamped_us = (t * 1e3 for t in interleaved_kernel_ms([run_plain, run_stamped]))
    print(
        f"== {m}x{n}x{k} {config}, {grid} CTAs: kernel time {plain_us:.2f} us, with stamps {stamped_us:.2f} us"
    )
    for name in runs[0]:
        median = statistics.median(r[name][0] for r in runs)
        worst = statistics.median(r[name][1] for r in runs)
        print(f"  {name:40s} median CTA {median:6.2f} us   slowest CTA {worst:6.2f} us", flush=True)


def main() -> None:
    args = sys.argv[1:]
    # --variant NAME: stamp that variant of kernel_variants.py instead of the product's kernel.
    variant = {}
    if args[:1] == ["--variant"]:
        variant, args = VARIANTS[args[1]].replacements, args[2:]
    replacements = {header: dict(edits) for header, edits in variant.items()}
    replacements.setdefault("fp8_gemm.cuh", {}).update(STAMPS)
    stamped_headers = headers_with(replacements)
    for text in args or DEFAULT_SHAPES:
        measure(*(int(v) for v in text.split("x")), stamped_headers)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
