"""What keeps a small-M GEMM above the read floor: the number of SMs pulling, or the order B is pulled in?

For each shape, times in turns (profiler kernel time, after the benchmark's writing L2 flush) the heuristic's
GEMM and Triton kernels that only read the same bytes, every load marked evict-first in L2 as the GEMM's B is:
- **flat**: one block of words per program, many programs (read_bound.py's floor);
- **persistent P**: P programs, program p reading blocks p, p + P, p + 2P, ... (P = 112, 128, 132);
- **gemm order**: B's bytes as an [N, K] matrix, one program per block_n rows (the GEMM's tile count, so 112
  programs at N = 7168), each walking K in `k_bytes` steps: the GEMM's own read order, by loads into registers
  instead of TMA into shared memory;
- **bands R x S**: the same walk in 1 KB steps over bands of R rows, each band's K split in S ranges read by
  S programs: does reading B as more, shorter bands (split-K, stream-K over all SMs) close the gap to flat?
If "persistent 112" is as slow as the GEMM and "persistent 132" as fast as "flat", the SM count holds the GEMM;
if "gemm order" is as fast as "flat", the order does not, and what is left is how the GEMM pulls (TMA, ring).
Not part of the product. Usage: python scripts/experiments/stream_shape.py [MxNxK ...]
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
import triton
import triton.language as tl

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.bench.timing import interleaved_kernel_ms
from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_launch

DEFAULT_SHAPES = ("64x7168x16384", "128x7168x16384", "64x7168x2048", "128x7168x2048")
FLAT_BLOCK = 4096  # int32 words a program (16 KB)
PERSISTENT_PROGRAMS = (112, 128, 132)
GEMM_ORDER_K_BYTES = (128, 512, 1024)
INT32_BYTES = 4
BANDS = ((64, 1), (64, 2), (64, 4), (32, 1), (32, 2))  # (rows, K splits)
BANDS_K_BYTES = 1024


@triton.jit
def _flat(src, out, words, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    values = tl.load(src + offsets, mask=offsets < words, other=0, eviction_policy="evict_first")
    tl.store(out + tl.program_id(0), tl.sum(values, 0))


@triton.jit
def _persistent(src, out, words, programs, laps, BLOCK: tl.constexpr):
    acc = tl.zeros([BLOCK], dtype=tl.int32)
    for lap in range(0, laps):
        offsets = (lap * programs + tl.program_id(0)) * BLOCK + tl.arange(0, BLOCK)
        acc += tl.load(src + offsets, mask=offsets < words, other=0, eviction_policy="evict_first")
    tl.store(out + tl.program_id(0), tl.sum(acc, 0))


@triton.jit
def _gemm_order(src, out, row_words, BLOCK_N: tl.constexpr, K_WORDS: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros([BLOCK_N, K_WORDS], dtype=tl.int32)
    for k in range(0, row_words, K_WORDS):
        cols = k + tl.arange(0, K_WORDS)
        acc += tl.load(src + rows[:, None] * row_words + cols[None, :], eviction_policy="evict_first")
    tl.store(out + tl.program_id(0), tl.sum(tl.sum(acc, 1), 0))


@triton.jit
def _bands(src, out, row_words, split_words, BLOCK_N: tl.constexpr, K_WORDS: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    k_begin = tl.program_id(1) * split_words
    acc = tl.zeros([BLOCK_N, K_WORDS], dtype=tl.int32)
    for k in range(k_begin, k_begin + split_words, K_WORDS):
        cols = k + tl.arange(0, K_WORDS)
        acc += tl.load(src + rows[:, None] * row_words + cols[None, :], eviction_policy="evict_first")
    tl.store(out + tl.program_id(1) * tl.num_programs(0) + tl.program_id(0), tl.sum(tl.sum(acc, 1), 0))


def stream_runs(words: torch.Tensor, b_words: torch.Tensor, block_n: int) -> dict[str, Callable[[], object]]:
    out = torch.empty(1 << 16, dtype=torch.int32, device="cuda")
    blocks = triton.cdiv(words.numel(), FLAT_BLOCK)
    runs = {"flat": lambda: _flat[(blocks,)](words, out, words.numel(), BLOCK=FLAT_BLOCK)}
    for programs in PERSISTENT_PROGRAMS:
        runs[f"persistent {programs}"] = lambda p=programs: _persistent[(p,)](
            words, out, words.numel(), p, triton.cdiv(blocks, p), BLOCK=FLAT_BLOCK
        )
    # tl.arange spans a power of two: tiles of 48, 96, ... columns have no gemm-order read.
    for k_bytes in GEMM_ORDER_K_BYTES if block_n & (block_n - 1) == 0 else ():
        runs[f"gemm order {k_bytes} B"] = lambda kb=k_bytes: _gemm_order[(b_words.shape[0] // block_n,)](
            b_words, out, b_words.shape[1], BLOCK_N=block_n, K_WORDS=kb // INT32_BYTES
        )
    k_words = BANDS_K_BYTES // INT32_BYTES
    for rows, splits in BANDS:
        if b_words.shape[0] % rows or b_words.shape[1] % (splits * k_words):
            continue
        runs[f"bands {rows} x {splits}"] = lambda r=rows, s=splits: _bands[(b_words.shape[0] // r, s)](
            b_words, out, b_words.shape[1], b_words.shape[1] // s, BLOCK_N=r, K_WORDS=k_words
        )
    return runs


def main() -> None:
    num_sms = torch.cuda.get_device_properties(0).multi_processor_count
    for text in sys.argv[1:] or DEFAULT_SHAPES:
        m, n, k = (int(v) for v in text.split("x"))
        case = build_case(DenseShape(m, n, k))
        config, _ = choose_launch(GemmType.DENSE, m, n, k, 1, num_sms)
        nbytes = int(case.workload.bytes)
        words = torch.randint(-(2**30), 2**30, (nbytes // INT32_BYTES,), dtype=torch.int32, device="cuda")
        b_words = words[: n * k // INT32_BYTES].view(n, k // INT32_BYTES)
        runs = {"gemm": case.run_fp8gemm, **stream_runs(words, b_words, config.block_n)}
        times = interleaved_kernel_ms(list(runs.values()))
        print(f"== {text} ({config}, {nbytes / 1e6:.1f} MB; gemm order reads B alone, {n * k / 1e6:.1f} MB)")
        for name, ms in zip(runs, times, strict=True):
            moved = n * k if name.startswith(("gemm order", "bands")) else nbytes
            print(f"{name:22s} {ms * 1e3:7.1f} us {moved / ms / 1e9:6.2f} TB/s", flush=True)
        del case, words, b_words
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
