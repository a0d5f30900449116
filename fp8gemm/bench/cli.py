"""Command line of `python -m fp8gemm.bench`: run a suite, save JSON (and a plot), print the table last."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..jit import native
from .report import (
    Row,
    default_json_path,
    format_geomeans,
    format_quant_table,
    format_table,
    speedup_geomeans,
    write_json,
    write_plot,
)
from .runner import measure_all
from .suites import JIT_PROBE_SHAPES, SHAPE_SETS, SUITES, suite_shapes
from .timing import (
    CLEAN_L2_METHOD,
    LAUNCH_CALLS,
    LAUNCH_ROUNDS,
    JitTiming,
    jit_first_call_ms,
    timing_method,
    torch_launch_us,
)

EXIT_NO_GPU = 2
# Waiting for nothing takes microseconds: a later load means a stand-in served the first call.
STAND_IN_NOTE_MIN_MS = 1.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fp8gemm.bench",
        description="Time fp8gemm against cuBLASLt blockwise-scaled FP8 (torch._scaled_mm) on this GPU.",
    )
    parser.add_argument(
        "--suite", choices=SUITES, default="all", help="which problems to time (default: all)"
    )
    parser.add_argument(
        "--shapes", choices=SHAPE_SETS, default="full", help="'small': a few shapes for a quick smoke run"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("benchmarks"),
        help="folder for the default JSON name (default: benchmarks)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="JSON path (default: OUT/<gpu>-<YYYY-MM-DD>-<suite>.json)"
    )
    parser.add_argument(
        "--plot", action="store_true", help="also write a PNG next to the JSON (needs matplotlib)"
    )
    parser.add_argument("--no-jit", action="store_true", help="skip the cold/warm JIT first-call timing")
    return parser


def _versions() -> dict[str, Any]:
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": triton_version,
        "fp8gemm": __version__,
    }


def _stand_in_note(jit: JitTiming) -> str:
    if jit.cold_chosen_kernel_ms is None or jit.cold_chosen_kernel_ms - jit.cold_ms < STAND_IN_NOTE_MIN_MS:
        return ""
    return f" (a stand-in kernel; the chosen one compiled in the background, ready at {jit.cold_chosen_kernel_ms:.0f} ms)"


def _jit_lines(jits: list[JitTiming]) -> str:
    if not jits:
        return "JIT first call: skipped (--no-jit)"
    return "\n".join(
        f"JIT first call ({jit.shape}): ERROR {jit.error}"
        if jit.error
        else f"JIT first call ({jit.shape}): cold cache {jit.cold_ms:.0f} ms{_stand_in_note(jit)}, "
        f"warm cache {jit.warm_ms:.0f} ms"
        for jit in jits
    )


def _save(json_path: Path, metadata: dict[str, Any], rows: list[Row], plot: bool, title: str) -> bool:
    """Writes the JSON (and plot); a write failure is printed, not raised, so the table still prints."""
    try:
        write_json(json_path, metadata, rows)
        print(f"wrote {json_path}")
        if plot:
            print(write_plot(json_path.with_suffix(".png"), rows, title))
    except OSError as exc:
        print(f"could not save results to {json_path}: {exc}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark; returns 0, or 1 if a shape, the JIT timing or saving failed, 2 without a CUDA GPU."""
    args = build_parser().parse_args(argv)
    if not torch.cuda.is_available():
        print("fp8gemm.bench needs a CUDA GPU (Hopper, sm_90); none is visible.", file=sys.stderr)
        return EXIT_NO_GPU
    torch.manual_seed(0)
    started = datetime.now()
    gpu = torch.cuda.get_device_name()
    versions = _versions()
    print(f"{gpu}; {', '.join(f'{k} {v}' for k, v in versions.items())}; {timing_method()}", flush=True)

    jits = [] if args.no_jit else [jit_first_call_ms(probe) for probe in JIT_PROBE_SHAPES]
    # Warm calls as a serving process makes them once its first plan exists: on the C path where it builds.
    native.start(wait=True)
    warm_path = "C" if native.active() else "Python"
    rows = measure_all(suite_shapes(args.suite, args.shapes))
    # Measured right after the rows, on the same host: per-call host times are read against it.
    try:
        launch_floor_us = torch_launch_us()
    except RuntimeError as exc:  # a GPU left unusable by a failed row: the table still prints
        launch_floor_us = None
        print(f"torch launch time not measured: {exc}", file=sys.stderr)

    json_path = args.json or default_json_path(args.out, gpu, started.strftime("%Y-%m-%d"), args.suite)
    metadata = {
        "date": started.isoformat(timespec="seconds"),
        "gpu": gpu,
        **versions,
        "suite": args.suite,
        "shapes": args.shapes,
        "timing": timing_method(),
        "quant_timing": CLEAN_L2_METHOD,
        "launch_calls": LAUNCH_CALLS,
        "launch_rounds": LAUNCH_ROUNDS,
        "torch_launch_us": launch_floor_us,
        "warm_path": warm_path,
        "jit": [asdict(jit) for jit in jits],
    }
    saved = _save(json_path, metadata, rows, plot=args.plot, title=f"fp8gemm vs cuBLAS, {args.suite}, {gpu}")

    failed = [row for row in rows if row.error]
    print(_jit_lines(jits))
    print(
        f"launch us: host time per warm fp8gemm call ({warm_path} warm path), least of {LAUNCH_ROUNDS} "
        f"rounds of {LAUNCH_CALLS} calls "
        f"queued behind a busy GPU; torch us: torch's own launch of a trivial kernel, timed the same way, the two "
        f"taking turns round by round (after the last row: "
        f"{'n/a' if launch_floor_us is None else f'{launch_floor_us:.1f} us'})\n"
    )
    gemm_rows = [row for row in rows if row.suite != "quant"]
    quant_rows = [row for row in rows if row.suite == "quant"]
    if gemm_rows or not quant_rows:
        print(
            "kernel us: CUDA profiler kernel time, the kernels' own execution (fp8gemm's and cuBLAS's runs take "
            "turns); event us: do_bench median, which adds each launch's overhead:\n"
            + format_geomeans(speedup_geomeans(gemm_rows, kernel_time=True), "kernel-time speed-up")
            + "\n"
        )
        print(format_table(gemm_rows))
        print(format_geomeans(speedup_geomeans(gemm_rows), "event-time speed-up"))
    if quant_rows:
        print(format_quant_table(quant_rows))
    if failed:
        print(f"{len(failed)} of {len(rows)} shapes FAILED")
    return 1 if failed or not saved or any(jit.error for jit in jits) else 0
