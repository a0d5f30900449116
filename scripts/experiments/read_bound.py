"""Small-M GEMMs against the time a plain read of the same bytes takes: the floor under a memory-bound kernel.

For each dense benchmark shape with M <= 128, times (profiler kernel time, L2 flushed before each run, as
`fp8gemm.bench` does) fp8gemm, blockwise cuBLAS, and kernels that only read a buffer of the GEMM's
minimum bytes (operands, scales and output): torch's sum and amax, torch's copy of half the bytes (reading
half and writing half), and a Triton kernel that only streams the bytes in (one block of them per program,
every program reducing its block to one word; the best of a few block sizes), plain and with its loads
marked evict-first in L2. The fastest of those is the
floor a kernel moving these bytes from HBM meets at this size, launch ramp and tail included. The last column is what 1.3x cuBLAS (issue #4's per-shape M <= 128 target)
needs.
Usage: python scripts/experiments/read_bound.py
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import dense_shapes
from fp8gemm.bench.timing import profiled_kernel_ms

TARGET_RATIO = 1.3
INT32_BYTES = 4
STREAM_BLOCKS = (2048, 4096, 8192, 16384)  # int32 words per Triton program


@triton.jit
def _stream_in(src, out, words, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    values = tl.load(src + offsets, mask=offsets < words, other=0)
    tl.store(out + tl.program_id(0), tl.sum(values, 0))


# The same stream with its lines marked evict-first in L2, as fp8gemm loads B at small M since run 17: the
# reads then do not push the flush's dirty lines out of L2, so no write-back shares HBM with them.
@triton.jit
def _stream_in_evict_first(src, out, words, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    values = tl.load(src + offsets, mask=offsets < words, other=0, eviction_policy="evict_first")
    tl.store(out + tl.program_id(0), tl.sum(values, 0))


def _stream_in_us(words: torch.Tensor, kernel) -> float:
    best = float("inf")
    for block in STREAM_BLOCKS:
        programs = triton.cdiv(words.numel(), block)
        out = torch.empty(programs, dtype=torch.int32, device="cuda")

        def launch(block: int = block, programs: int = programs, out: torch.Tensor = out) -> None:
            kernel[(programs,)](words, out, words.numel(), BLOCK=block)

        best = min(best, profiled_kernel_ms(launch) * 1e3)
    return best


def _plain_read_us(nbytes: int) -> dict[str, float]:
    words = torch.randint(-(2**30), 2**30, (nbytes // INT32_BYTES,), dtype=torch.int32, device="cuda")
    half = words[: words.numel() // 2]
    dst = torch.empty_like(half)
    kernels = {
        "sum": lambda: torch.sum(words, dtype=torch.int64),
        "amax": lambda: torch.amax(words),
        "copy": lambda: dst.copy_(half),
    }
    times = {name: profiled_kernel_ms(fn) * 1e3 for name, fn in kernels.items()}
    times["stream"] = _stream_in_us(words, _stream_in)
    times["stream_ef"] = _stream_in_us(words, _stream_in_evict_first)
    return times


def main() -> None:
    print(
        f"{'shape':28s} {'MB':>6s} {'sum':>6s} {'amax':>6s} {'copy':>6s} {'triton':>6s} {'tri ef':>6s} {'floor TB/s':>10s} "
        f"{'fp8gemm':>8s} {'cuBLAS':>7s} {'1.3x needs':>10s}"
    )
    for shape in dense_shapes():
        if shape.m > 128:
            continue
        case = build_case(shape)
        nbytes = int(case.workload.bytes)
        ours = profiled_kernel_ms(case.run_fp8gemm) * 1e3
        cublas = profiled_kernel_ms(case.run_cublas) * 1e3
        del case
        reads = _plain_read_us(nbytes)
        floor = min(reads.values())
        print(
            f"{f'{shape.m}x{shape.n}x{shape.k}':28s} {nbytes / 1e6:6.1f} {reads['sum']:6.1f} {reads['amax']:6.1f} "
            f"{reads['copy']:6.1f} {reads['stream']:6.1f} {reads['stream_ef']:6.1f} {nbytes / floor / 1e6:10.2f} "
            f"{ours:8.1f} {cublas:7.1f} "
            f"{cublas / TARGET_RATIO:10.1f}",
            flush=True,
        )
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
