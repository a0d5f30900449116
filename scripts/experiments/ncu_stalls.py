"""Where the math warps of a large problem's kernel stall, instruction by instruction (run 37).

Runs one problem's fp8gemm call a few times on fresh random inputs, for `ncu` to profile one launch with
warp-state sampling (the shell lines in run37_ncu.sh). Run 37's microbenchmark found that a 20-instruction
integer chain (a division) in one part's wgmma issue stream cost 40-90 cycles a K block. The per-instruction
stall samples show whether the kernel's own K loop has such a chain, and where its math warps wait.
Usage: python scripts/experiments/ncu_stalls.py M N K
"""

from __future__ import annotations

import sys

import torch

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_launch

LAUNCHES = 3  # ncu takes the last (--launch-skip 2): the JIT and the first-touch costs are behind it


def main(m: int, n: int, k: int) -> None:
    config = choose_launch(
        GemmType.DENSE, m, n, k, 1, torch.cuda.get_device_properties(0).multi_processor_count
    )[0]
    print(f"{m}x{n}x{k}: {config}", flush=True)
    case = build_case(DenseShape(m, n, k))
    for _ in range(LAUNCHES):
        case.output.fill_(float("nan"))
        case.run_fp8gemm()
    torch.cuda.synchronize()
    if torch.isnan(case.fp8gemm_rows()).any():
        raise RuntimeError("NaN left in D")


if __name__ == "__main__":
    main(*(int(v) for v in sys.argv[1:4]))
