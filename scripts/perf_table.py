"""Per-shape table for docs/performance.md from a benchmark JSON: the config the heuristic picks, the
measured ratio to cuBLAS (kernel time, the headline, and event time), the bound (compute at the datasheet FP8
rate or HBM at the measured copy rate, whichever is larger) and how far the kernel time is from it. JSONs from
before run 5 have no kernel times: their event times fill those columns.

Usage: python scripts/perf_table.py benchmarks/h100-<date>.json [num_sms]
"""

from __future__ import annotations

import json
import re
import sys

from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_launch

PEAK_FLOPS = 1979e12  # H100 SXM datasheet, dense FP8
HBM_BYTES_PER_S = 3.02e12  # HBM copy measured on the lent H100 (shared/GUIDE.md)


def _launch(shape: str, num_sms: int) -> str:
    nums = {k: int(v) for k, v in re.findall(r"(\w+)[~=]+(\d+)", shape)}
    if shape.startswith("dense"):
        config, split_k = choose_launch(GemmType.DENSE, nums["M"], nums["N"], nums["K"], 1, num_sms)
    elif shape.startswith("contig"):
        g = nums["G"]
        config, split_k = choose_launch(
            GemmType.GROUPED_CONTIGUOUS, g * nums["M"], nums["N"], nums["K"], g, num_sms
        )
    else:
        g = nums["G"]
        config, split_k = choose_launch(GemmType.GROUPED_MASKED, nums["M"], nums["N"], nums["K"], g, num_sms)
    return f"{config}" + (f" split {split_k}" if split_k > 1 else "")


def main(path: str, num_sms: int) -> None:
    rows = [r for r in json.load(open(path))["rows"] if r["suite"] in ("dense", "grouped") and not r["error"]]
    print(
        "| shape | config | fp8gemm µs | cuBLAS µs | ratio | ratio (events) | bound | bound µs | fp8gemm / bound |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        compute_us = r["flops"] / PEAK_FLOPS * 1e6
        hbm_us = r["bytes"] / HBM_BYTES_PER_S * 1e6
        bound, bound_us = ("compute", compute_us) if compute_us >= hbm_us else ("HBM", hbm_us)
        ours = r.get("fp8gemm_kernel_us") or r["fp8gemm_us"]
        theirs = r.get("cublas_kernel_us") or r["cublas_us"]
        print(
            f"| {r['shape']} | {_launch(r['shape'], num_sms)} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.2f}x | "
            f"{r['speedup']:.2f}x | {bound} | {bound_us:.1f} | {ours / bound_us:.2f}x |"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 132)
