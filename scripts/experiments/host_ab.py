"""Host time of warm calls, for A/B runs of two checkouts of fp8gemm in separate processes (PYTHONPATH):
dense and masked GEMMs with stored plans, and the FP8 casts; least of 5 rounds of 200 calls queued behind
a busy GPU, as the benchmark's `launch us`. Prints one line per call with the label given.
Usage: PYTHONPATH=<checkout> python scripts/experiments/host_ab.py <label>
"""

from __future__ import annotations

import sys

import torch

import fp8gemm
from fp8gemm.bench.timing import host_us_per_call
from fp8gemm.testing import dense_inputs, grouped_masked_inputs


def main(label: str) -> None:
    try:
        from fp8gemm.jit import native

        native.start(wait=True)
        path = "C" if native.active() else "Python"
    except ImportError:
        path = "Python"
    p = dense_inputs(64, 2112, 7168)
    a = (p.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(p.a[1]))
    masked = grouped_masked_inputs([256, 304, 192, 192], 4096, 4096, 7168)
    masked_a = (masked.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(masked.a[1]))
    x_small = torch.randn(64, 7168, dtype=torch.bfloat16, device="cuda")
    x_large = torch.randn(4096, 7168, dtype=torch.bfloat16, device="cuda")
    w = torch.randn(7168, 2048, dtype=torch.bfloat16, device="cuda")
    calls = {
        "dense 64x2112x7168": lambda: fp8gemm.fp8_gemm_nt(a, p.b, p.d),
        "masked G=4 N=4096": lambda: fp8gemm.m_grouped_fp8_gemm_nt_masked(masked_a, masked.b, masked.d, masked.masked_m, 256),
        "per_token [64, 7168]": lambda: fp8gemm.per_token_cast_to_fp8(x_small),
        "per_token gemm [64, 7168]": lambda: fp8gemm.per_token_cast_to_fp8(x_small, out_layout="gemm"),
        "per_token [4096, 7168]": lambda: fp8gemm.per_token_cast_to_fp8(x_large),
        "per_block [7168, 2048]": lambda: fp8gemm.per_block_cast_to_fp8(w),
        "torch launch": lambda: torch.cuda._sleep(1),
    }
    for name, call in calls.items():
        print(f"{label:8s} {path:6s} {name:28s} {host_us_per_call(call):6.2f} us", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
