"""Measures every shape of a suite on the current GPU, one Row each; a failing shape never stops the run."""

from __future__ import annotations

import gc
from collections.abc import Sequence

import torch

from fp8gemm.jit.build import wait_for_background_compiles
from fp8gemm.testing import calc_diff
from fp8gemm.utils import get_num_sms

from .cases import Case, build_case, build_quant_case
from .report import Row
from .suites import QuantShape, Shape, chosen_launch, launch_label
from .timing import (
    clean_l2_median_ms,
    copy_bandwidth_gbps,
    host_us_per_call,
    host_us_per_call_in_turns,
    interleaved_kernel_ms,
    kernel_median_ms,
    profiled_kernel_ms,
    trivial_torch_launch,
)


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


def _measure_kernel_times(case: Case, row: Row) -> None:
    """Both libraries' kernel times, their runs taking turns (timing.interleaved_kernel_ms); fp8gemm's alone
    where cuBLAS has no baseline."""
    if row.cublas_error:
        row.fp8gemm_kernel_us = profiled_kernel_ms(case.run_fp8gemm) * 1e3
        return
    ours_ms, cublas_ms = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
    row.fp8gemm_kernel_us, row.cublas_kernel_us = ours_ms * 1e3, cublas_ms * 1e3


def measure_shape(shape: Shape) -> Row:
    """Times fp8gemm and cuBLAS on `shape`; any fp8gemm failure is recorded in the row, not raised."""
    row = Row(suite=shape.suite, category=shape.category, shape=shape.label, flops=0.0, bytes=0.0)
    case = None
    try:
        case = build_case(shape)
        row.flops, row.bytes = case.workload.flops, case.workload.bytes
        row.config = launch_label(*chosen_launch(shape, get_num_sms()))
        case.run_fp8gemm()  # compiles the kernel (JIT) outside the timed runs
        # A stand-in may have served that call while the chosen kernel compiled in the background
        # (fp8gemm.jit.build): the checked and timed runs must be the chosen kernel's.
        wait_for_background_compiles()
        case.output.fill_(float("nan"))
        case.run_fp8gemm()
        ours = case.fp8gemm_rows()
        _measure_cublas(case, ours, row)
        del ours
        row.fp8gemm_us = kernel_median_ms(case.run_fp8gemm) * 1e3
        _measure_kernel_times(case, row)
        row.launch_us, row.torch_launch_us = host_us_per_call_in_turns([case.run_fp8gemm, trivial_torch_launch])
    except Exception as exc:  # any failure belongs in this row's report; the run goes on
        row.error = _error_text(exc)
    finally:
        # Large grouped problems hold GBs: release them before the next shape allocates its own.
        del case
        gc.collect()
        torch.cuda.empty_cache()
    return row


def _quant_mismatches(ours: tuple[torch.Tensor, torch.Tensor], ref: tuple[torch.Tensor, torch.Tensor]) -> int:
    """Values (e4m3 bytes and scales) that differ from the reference's bits; inputs hold no NaN."""
    (q, s), (q_ref, s_ref) = ours, ref
    q, s = q.to(q_ref.device), s.to(s_ref.device)
    return int((q.view(torch.uint8) != q_ref.view(torch.uint8)).sum()) + int((s != s_ref).sum())


def measure_quant_shape(shape: QuantShape, copy_gbps: float | None) -> Row:
    """Times one cast; a result that is not bitwise the torch reference's is an error of the row."""
    row = Row(suite=shape.suite, category=shape.category, shape=shape.label, flops=0.0, bytes=0.0)
    row.copy_gbps = copy_gbps
    case = None
    try:
        case = build_quant_case(shape)
        row.bytes = case.workload.bytes
        mismatches = _quant_mismatches(case.run(), case.reference())  # the first run compiles (JIT)
        if mismatches:
            raise RuntimeError(f"{mismatches} values differ from the torch reference")
        row.fp8gemm_us = clean_l2_median_ms(case.run) * 1e3
        row.dirty_l2_us = kernel_median_ms(case.run) * 1e3
        row.same_size_copy_gbps = copy_bandwidth_gbps(int(row.bytes) // 2, clean_l2_median_ms)
        row.launch_us = host_us_per_call(case.run)
    except Exception as exc:  # as in measure_shape: the row reports it, the run goes on
        row.error = _error_text(exc)
    finally:
        del case
        gc.collect()
        torch.cuda.empty_cache()
    return row


def _copy_gbps() -> float | None:
    try:
        return copy_bandwidth_gbps(median_ms=clean_l2_median_ms)
    except RuntimeError as exc:  # e.g. out of memory: the casts are still timed, without the ratio
        print(f"HBM copy bandwidth not measured: {_error_text(exc)}", flush=True)
        return None


def progress_line(row: Row) -> str:
    if row.error:
        return f"{row.shape}: ERROR {row.error}"
    if row.suite == "quant":
        share = "" if row.copy_fraction is None else f", {row.copy_fraction:.0%} of copy"
        return f"{row.shape}: {row.fp8gemm_us:.1f} us, {row.gbps(row.fp8gemm_us):.0f} GB/s{share}"
    kernel = "n/a" if row.fp8gemm_kernel_us is None else f"{row.fp8gemm_kernel_us:.1f} us"
    speedup = "n/a" if row.kernel_speedup is None else f"{row.kernel_speedup:.2f}x"
    return f"{row.shape}: fp8gemm kernel {kernel}, kernel-time speed-up {speedup}"


def measure_all(shapes: Sequence[Shape]) -> list[Row]:
    rows = []
    # Measured once, before the casts it is compared with, under the same timer.
    copy_gbps = _copy_gbps() if any(isinstance(shape, QuantShape) for shape in shapes) else None
    for index, shape in enumerate(shapes, 1):
        row = measure_quant_shape(shape, copy_gbps) if isinstance(shape, QuantShape) else measure_shape(shape)
        print(f"[{index}/{len(shapes)}] {progress_line(row)}", flush=True)
        rows.append(row)
    return rows
