"""FP32 output (D = C + A·Bᵀ) against BF16 output on the same shapes, by the profiler's kernel time.

Run 6 measured the FP32 epilogue at ~1.2 TB/s for C and D, which made FP32 output 3x slower than BF16 at
4096x7168x2048. Prints, per shape: both kernel times, the FP32 call's C-read + D-write bandwidth over the
time it adds to the BF16 call, and the FP32 result's diff against C + the float64 reference, taken on a
NaN-poisoned D (in place: C is D, and out of place).

Usage: PYTHONPATH=. python scripts/experiments/f32_output.py [MxNxK ...]
"""

from __future__ import annotations

import sys
from functools import partial

import torch

import fp8gemm
from fp8gemm.bench.timing import profiled_kernel_ms
from fp8gemm.testing import calc_diff, dense_inputs, reference_gemm

DEFAULT_SHAPES = ("4096x7168x2048", "4096x4096x7168", "4096x7168x16384", "4096x24576x1536", "128x7168x2048")


def main() -> None:
    for text in sys.argv[1:] or DEFAULT_SHAPES:
        m, n, k = (int(x) for x in text.split("x"))
        bf16 = dense_inputs(m, n, k)
        f32 = dense_inputs(m, n, k, out_dtype=torch.float32)
        c = torch.randn(m, n, device="cuda")
        reference = reference_gemm(f32.a, f32.b) + c.double()
        f32.d.fill_(float("nan"))
        fp8gemm.fp8_gemm_nt(f32.a, f32.b, f32.d, c=c)
        diff = calc_diff(f32.d, reference)
        f32.d.copy_(c)
        fp8gemm.fp8_gemm_nt(f32.a, f32.b, f32.d, c=f32.d)
        diff_in_place = calc_diff(f32.d, reference)
        bf16_us = profiled_kernel_ms(partial(fp8gemm.fp8_gemm_nt, bf16.a, bf16.b, bf16.d)) * 1e3
        f32_us = profiled_kernel_ms(partial(fp8gemm.fp8_gemm_nt, f32.a, f32.b, f32.d, c=c)) * 1e3
        extra_bytes = 2 * m * n * 4 - m * n * 2  # C read and D written in FP32, less the BF16 D
        added_us = f32_us - bf16_us
        rate = f"{extra_bytes / added_us / 1e6:5.2f} TB/s" if added_us > 0 else "  —"
        print(
            f"{text:16s} bf16 {bf16_us:7.1f} us  f32 {f32_us:7.1f} us ({f32_us / bf16_us:4.2f}x)  "
            f"C+D over the added time {rate}  diff {diff:.1e}, in place {diff_in_place:.1e}",
            flush=True,
        )
        del bf16, f32, c, reference
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
