"""What D's write costs the large GEMMs, and the floor a plain write of D's bytes sets.

Profiler kernel time, L2 flushed before each run as `fp8gemm.bench` does. For each dense benchmark shape with
M = 4096:
- fp8gemm and blockwise cuBLAS, taking turns, before and after the rest;
- fp8gemm's chosen config built three ways (needs scripts/experiments/d_store_variants.patch): as shipped, with
  D's stores compiled out (everything else runs, the staging writes included), and with D's TMA stores marked
  evict-first in L2. Each build's D is checked against the shipped build's (NaN-poisoned first);
- the same M and N with K = 128: one K block, so the kernel is mostly its epilogue and D's write;
- plain writes of D's bytes: torch's fill_, and a Triton store kernel (best of a few block sizes), plain and
  with streaming (.cs) stores. The fastest is the floor any kernel writing D meets at this size.
The contiguous benchmark shapes get the three builds only.

The last line is the verdict on the evict-first build, by a rule written before the run: ship it if the
geomean of its kernel time over the shipped build's is at most 0.98 over all the problems and no problem is
above 1.01 (run 28's pass-to-pass spread is 2%).
Usage: python scripts/experiments/write_bound.py
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from source_builds import geomean, precompile, time_builds, use_build

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import GROUPED_CONTIGUOUS, ContiguousShape, DenseShape, dense_shapes
from fp8gemm.bench.timing import interleaved_kernel_ms, profiled_kernel_ms
from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_launch

TARGET_RATIO = 1.25
ONE_BLOCK_K = 128
STORE_BLOCKS = (2048, 4096, 8192, 16384)  # int32 words per Triton program
SHIP_GEOMEAN = 0.98
SHIP_WORST = 1.01
BUILDS = {
    "shipped": "",
    "no D store": "#define FP8GEMM_NO_D_STORE\n",
    "D evict-first": "#define FP8GEMM_D_EVICT_FIRST\n",
}


@triton.jit
def _stream_out(dst, words, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(dst + offsets, offsets * 7 + 3, mask=offsets < words)


@triton.jit
def _stream_out_cs(dst, words, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(dst + offsets, offsets * 7 + 3, mask=offsets < words, cache_modifier=".cs")


def _triton_write_us(words: torch.Tensor, kernel) -> float:
    best = float("inf")
    for block in STORE_BLOCKS:
        grid = (triton.cdiv(words.numel(), block),)

        def launch(block: int = block, grid: tuple[int] = grid) -> None:
            kernel[grid](words, words.numel(), BLOCK=block)

        best = min(best, profiled_kernel_ms(launch) * 1e3)
    return best


def plain_write_us(nbytes: int) -> dict[str, float]:
    words = torch.empty(nbytes // 4, dtype=torch.int32, device="cuda")
    # As BF16 (D's type): an int32 fill_ would share its kernel's name with the L2 flush, which the profiler
    # timing tells apart by name.
    values = words.view(torch.bfloat16)
    times = {"fill": profiled_kernel_ms(lambda: values.fill_(1.5)) * 1e3}
    times["triton"] = _triton_write_us(words, _stream_out)
    times["triton cs"] = _triton_write_us(words, _stream_out_cs)
    return times


def chosen_config(shape: DenseShape | ContiguousShape):
    if isinstance(shape, DenseShape):
        return choose_launch(GemmType.DENSE, shape.m, shape.n, shape.k, 1, 132)[0]
    m = shape.num_groups * shape.m_per_group
    return choose_launch(GemmType.GROUPED_CONTIGUOUS, m, shape.n, shape.k, shape.num_groups, 132)[0]


def main() -> None:
    large = [s for s in dense_shapes() if s.m == 4096]
    one_block = [DenseShape(s.m, s.n, ONE_BLOCK_K) for s in large]
    configs = {chosen_config(s) for s in [*large, *one_block, *GROUPED_CONTIGUOUS]}
    precompile(configs, BUILDS.values())

    ratios: list[float] = []
    print(
        f"{'problem':34s} {'fp8gemm':>8s} {'cuBLAS':>7s} {'shipped':>8s} {'no D':>7s} {'D ef':>7s} "
        f"{'K=128 ours':>10s} {'cuBLAS':>7s} {'D MB':>6s} {'fill':>6s} {'triton':>6s} {'tri cs':>6s} "
        f"{'TB/s':>5s} {'1.25x needs':>11s}"
    )
    for shape in [*large, *GROUPED_CONTIGUOUS]:
        case = build_case(shape)
        use_build(BUILDS["shipped"])
        before = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
        builds = time_builds(case, BUILDS, unchecked=("no D store",))
        after = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
        ratios.append(builds["D evict-first"] / builds["shipped"])
        d_bytes = case.output.numel() * case.output.element_size()
        name = (
            f"contig {shape.num_groups}x{shape.m_per_group}x{shape.n}x{shape.k}"
            if isinstance(shape, ContiguousShape)
            else f"{shape.m}x{shape.n}x{shape.k}"
        )
        line = (
            f"{name:34s} {before[0] * 1e3:8.1f} {before[1] * 1e3:7.1f} {builds['shipped']:8.1f} "
            f"{builds['no D store']:7.1f} {builds['D evict-first']:7.1f}"
        )
        del case
        torch.cuda.empty_cache()
        print(line, end="", flush=True)
        if isinstance(shape, DenseShape):
            small = build_case(DenseShape(shape.m, shape.n, ONE_BLOCK_K))
            k128 = interleaved_kernel_ms([small.run_fp8gemm, small.run_cublas])
            del small
            writes = plain_write_us(d_bytes)
            floor = min(writes.values())
            line = (
                f" {k128[0] * 1e3:10.1f} {k128[1] * 1e3:7.1f} {d_bytes / 1e6:6.1f} {writes['fill']:6.1f} "
                f"{writes['triton']:6.1f} {writes['triton cs']:6.1f} {d_bytes / floor / 1e6:5.2f} "
                f"{before[1] * 1e3 / TARGET_RATIO:11.1f}"
            )
            torch.cuda.empty_cache()
            print(line, end="", flush=True)
        print(f"   (after: {after[0] * 1e3:.1f} / {after[1] * 1e3:.1f})", flush=True)

    ratio_geomean = geomean(ratios)
    ship = ratio_geomean <= SHIP_GEOMEAN and max(ratios) <= SHIP_WORST
    print(
        f"D evict-first / shipped: geomean {ratio_geomean:.3f}, worst {max(ratios):.3f}, each {[round(r, 3) for r in ratios]}"
    )
    print(f"VERDICT {'ship' if ship else 'keep'}")


if __name__ == "__main__":
    main()
