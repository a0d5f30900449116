"""Where the math warps of a large problem's kernel stall, instruction by instruction (run 37).

`run M N K [MACRO]` runs one problem's fp8gemm call a few times on fresh random inputs (the kernel built with
`#define MACRO` first, if given), for `ncu` to profile one launch with warp-state sampling (the shell lines in
run37_*.sh). `summary CSV` reads the per-instruction table that `ncu --page source --csv --print-source sass`
prints and gives the samples by opcode and the instructions that hold the most, with their main stall
reasons.

Run 37's microbenchmark found that a 20-instruction integer chain (a division) in one part's wgmma issue
stream cost 40-90 cycles a K block. The per-instruction stall samples show whether the kernel's own K loop
has such a chain, and where its math warps wait.
Usage: python scripts/experiments/ncu_stalls.py run M N K [MACRO] | summary CSV
"""

from __future__ import annotations

import csv
import sys
from collections import Counter

import torch
from source_builds import use_build  # this script's folder is first on sys.path

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_launch

LAUNCHES = 3  # ncu takes the last (--launch-skip 2): the JIT and the first-touch costs are behind it
TOP = 16
SAMPLES = "Warp Stall Sampling (All Samples)"


def run(m: int, n: int, k: int, macro: str | None) -> None:
    if macro:
        use_build(f"#define {macro}\n")
    config = choose_launch(
        GemmType.DENSE, m, n, k, 1, torch.cuda.get_device_properties(0).multi_processor_count
    )[0]
    print(f"{m}x{n}x{k}: {config} {macro or 'shipped'}", flush=True)
    case = build_case(DenseShape(m, n, k))
    for _ in range(LAUNCHES):
        case.output.fill_(float("nan"))
        case.run_fp8gemm()
    torch.cuda.synchronize()
    if torch.isnan(case.fp8gemm_rows()).any():
        raise RuntimeError("NaN left in D")


def summary(path: str) -> None:
    with open(path) as f:
        rows = list(csv.reader(f))
    header = rows[1]
    table = [r for r in rows[2:] if len(r) >= len(header)]
    samples = header.index(SAMPLES)
    reasons = [i for i, h in enumerate(header) if h.startswith("stall_") and "Not Issued" not in h]
    total = sum(int(r[samples] or 0) for r in table)
    by_opcode: Counter[str] = Counter()
    for r in table:
        opcode = next(w for w in r[1].split() if not w.startswith("@")).split(".")[0]
        by_opcode[opcode] += int(r[samples] or 0)
    print(f"{path}: {total} samples")
    print("  by opcode: " + ", ".join(f"{op} {100 * c / total:.1f}%" for op, c in by_opcode.most_common(10)))
    base = int(table[0][0], 16)
    for r in sorted(table, key=lambda r: -int(r[samples] or 0))[:TOP]:
        top = sorted(((int(r[i] or 0), header[i][len("stall_") :]) for i in reasons), reverse=True)[:2]
        print(
            f"  {int(r[0], 16) - base:05x} {int(r[samples]):5d} ({100 * int(r[samples]) / total:4.1f}%) "
            f"{r[1].strip()[:52]:52s} {top}"
        )


if __name__ == "__main__":
    if sys.argv[1] == "summary":
        summary(sys.argv[2])
    else:
        run(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else None)
