"""Kernel time of the benchmark's GEMM problems, for A/B runs of two checkouts of fp8gemm in separate processes.

Run 18 found the masked problems 2-9% slower on the H100 than in run 13 while cuBLAS was level. This times the
same problems with whichever fp8gemm is first on the path, so checkouts can take turns. The suspects are lever 46
(0255375 is the tree before it) and lever 38 (78d8bd3^ before it). Here, with `/.ab/` in .git/info/exclude:
    mkdir -p .ab/pre46 .ab/pre38
    git archive 0255375 fp8gemm | tar -x -C .ab/pre46
    git archive 78d8bd3^ fp8gemm | tar -x -C .ab/pre38
and on the device, with `.ab` carried:
    for i in 1 2; do for v in head pre46 pre38; do
        PYTHONPATH=$([ $v = head ] || echo $PWD/.ab/$v) python scripts/experiments/kernel_ab.py $v masked; done; done
Profiler kernel time after the benchmark's writing L2 flush; a masked problem is timed with its chosen kernel
(background compiles waited for), not the stand-in. With --cublas, each row also gives cuBLAS's kernel time
(the two taking turns, as in the benchmark), both libraries' event times (do_bench, each library's runs
back to back; at the power cap the event time also carries what a library's power draw does to its own clock)
and calc_diff of fp8gemm's NaN-poisoned output against cuBLAS's.
Usage: [PYTHONPATH=<checkout>] python scripts/experiments/kernel_ab.py <label> [--cublas]
       [dense|small|m128|large|contiguous|masked ...]
"""

from __future__ import annotations

import sys

import torch

import fp8gemm
from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import ContiguousShape, MaskedShape, dense_shapes, grouped_shapes
from fp8gemm.bench.timing import interleaved_kernel_ms, kernel_median_ms, profiled_kernel_ms
from fp8gemm.testing import calc_diff

FAMILIES = {
    "dense": lambda: list(dense_shapes()),
    "small": lambda: [s for s in dense_shapes() if s.m <= 128],
    "m128": lambda: [s for s in dense_shapes() if 64 < s.m <= 128],
    "large": lambda: [s for s in dense_shapes() if s.m >= 1024],
    "contiguous": lambda: [s for s in grouped_shapes() if isinstance(s, ContiguousShape)],
    "masked": lambda: [s for s in grouped_shapes() if isinstance(s, MaskedShape)],
}


def main(label: str, families: list[str], cublas: bool) -> None:
    print(f"{label}: {fp8gemm.__file__}")
    if cublas:
        print(
            f"{'':8s} {'shape':40s} {'kernel us':>9s} {'cuBLAS':>8s} {'ratio':>6s} {'event us':>9s} {'cuBLAS':>8s} {'ratio':>6s} {'diff':>8s}"
        )
    for family in families:
        for shape in FAMILIES[family]():
            case = build_case(shape)
            case.run_fp8gemm()
            # Checkouts before the masked stand-in (df31e11) compile in the call itself.
            getattr(fp8gemm, "wait_for_background_compiles", lambda: None)()
            if not cublas:
                print(
                    f"{label:8s} {shape.label:40s} {profiled_kernel_ms(case.run_fp8gemm) * 1e3:8.1f} us",
                    flush=True,
                )
                continue
            case.output.fill_(float("nan"))
            case.run_fp8gemm()
            diff = calc_diff(case.fp8gemm_rows(), torch.cat(case.run_cublas()))
            ours, theirs = (t * 1e3 for t in interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas]))
            ours_event, theirs_event = (
                kernel_median_ms(fn) * 1e3 for fn in (case.run_fp8gemm, case.run_cublas)
            )
            print(
                f"{label:8s} {shape.label:40s} {ours:9.1f} {theirs:8.1f} {theirs / ours:6.3f} "
                f"{ours_event:9.1f} {theirs_event:8.1f} {theirs_event / ours_event:6.3f} {diff:8.1e}",
                flush=True,
            )


if __name__ == "__main__":
    args = sys.argv[2:]
    with_cublas = "--cublas" in args
    main(sys.argv[1], [a for a in args if a != "--cublas"] or ["masked"], with_cublas)
