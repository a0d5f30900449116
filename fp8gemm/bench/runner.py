"""Measures every shape of a suite on the current GPU, one Row each; a failing shape never stops the run."""

from __future__ import annotations

import gc
from collections.abc import Sequence

import torch

from fp8gemm.testing import calc_diff

from .cases import Case, build_case
from .report import Row
from .suites import Shape
from .timing import host_us_per_call, kernel_median_ms


def _error_text(exc: BaseException) -> str:
    # The first line is enough for a table cell; torch errors can run to dozens of lines.
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}".rstrip(": ")


def _measure_cublas(case: Case, ours: torch.Tensor, row: Row) -> None:
    """Checks fp8gemm's output against cuBLAS's and times cuBLAS; an unsupported baseline is only noted."""
    try:
        row.diff = calc_diff(ours, torch.cat(case.run_cublas()))
        row.cublas_us = kernel_median_ms(case.run_cublas) * 1e3
    except (RuntimeError, ValueError, NotImplementedError) as exc:
        row.cublas_error = _error_text(exc)


def measure_shape(shape: Shape) -> Row:
    """Times fp8gemm and cuBLAS on `shape`; any fp8gemm failure is recorded in the row, not raised."""
    row = Row(suite=shape.suite, category=shape.category, shape=shape.label, flops=0.0, bytes=0.0)
    case = None
    try:
        case = build_case(shape)
        row.flops, row.bytes = case.workload.flops, case.workload.bytes
        case.run_fp8gemm()  # compiles the kernel (JIT) outside the timed runs
        ours = case.fp8gemm_rows()
        _measure_cublas(case, ours, row)
        del ours
        row.fp8gemm_us = kernel_median_ms(case.run_fp8gemm) * 1e3
        row.launch_us = host_us_per_call(case.run_fp8gemm)
    except Exception as exc:  # any failure belongs in this row's report; the run goes on
        row.error = _error_text(exc)
    finally:
        # Large grouped problems hold GBs: release them before the next shape allocates its own.
        del case
        gc.collect()
        torch.cuda.empty_cache()
    return row


def progress_line(row: Row) -> str:
    if row.error:
        return f"{row.shape}: ERROR {row.error}"
    speedup = "n/a" if row.speedup is None else f"{row.speedup:.2f}x"
    return f"{row.shape}: fp8gemm {row.fp8gemm_us:.1f} us, speed-up {speedup}"


def measure_all(shapes: Sequence[Shape]) -> list[Row]:
    rows = []
    for index, shape in enumerate(shapes, 1):
        row = measure_shape(shape)
        print(f"[{index}/{len(shapes)}] {progress_line(row)}", flush=True)
        rows.append(row)
    return rows
