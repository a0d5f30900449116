"""Per-shape table for docs/performance.md from a benchmark JSON: the config the run launched, the
measured ratio to cuBLAS (kernel time, the headline, and event time), the bound (compute at the datasheet FP8
rate or HBM at the measured copy rate, whichever is larger) and how far the kernel time is from it. JSONs from
before run 5 have no kernel times: their event times fill those columns. JSONs from before run 39 do not
record the config: the current heuristic's choice for the shape stands in, marked with a *.

Usage: python scripts/perf_table.py benchmarks/h100-<date>.json [num_sms]
"""

from __future__ import annotations

import json
import sys

from fp8gemm.bench.suites import QuantShape, chosen_launch, launch_label, suite_shapes

PEAK_FLOPS = 1979e12  # H100 SXM datasheet, dense FP8
HBM_BYTES_PER_S = 3.02e12  # HBM copy measured on the lent H100 (shared/GUIDE.md)


def _launch(row: dict, num_sms: int) -> str:
    if row.get("config"):
        return row["config"]
    shapes = {shape.label: shape for shape in suite_shapes("all") if not isinstance(shape, QuantShape)}
    return launch_label(*chosen_launch(shapes[row["shape"]], num_sms)) + " *"


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
            f"| {r['shape']} | {_launch(r, num_sms)} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.2f}x | "
            f"{r['speedup']:.2f}x | {bound} | {bound_us:.1f} | {ours / bound_us:.2f}x |"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 132)
