"""SM clock and power while FP8 GEMMs run: the tensor-core peak the chip holds at its power cap.

The datasheet's 1979 TFLOPS (dense FP8) is 132 SMs x 8192 FLOP per clock at 1.83 GHz. A GEMM that keeps the
tensor cores busy can reach the board's power limit, and then the clock settles lower. For each workload
this runs the calls for a few seconds while nvidia-smi samples the SM clock and the power draw, in one of
two patterns:
  sustained  calls back to back (a model's layers one after another);
  bench      each call after do_bench's L2 flush (a 256 MB fill), as `fp8gemm.bench` times them.
Each shape runs three ways: fp8gemm, blockwise cuBLAS, and per-tensor cuBLAS (the same operands with one
scale each: no per-block promotion, so less work than the GEMM measured here). It prints the TFLOPS
reached (throughput, or the median event time of a call in the bench pattern), the median clock, the peak
at that clock, the share of it reached and the speed against blockwise cuBLAS. For fp8gemm rows it adds
what 1.25x blockwise cuBLAS (issue #4's M = 4096 target) would need as a share of the peak at fp8gemm's
clock.
Usage: python scripts/experiments/clock_under_load.py [sustained|bench] [seconds per workload]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

import fp8gemm
from fp8gemm.bench.cublas import blockwise_scales, scaled_mm_bf16
from fp8gemm.bench.timing import L2_FLUSH_BYTES
from fp8gemm.testing import dense_inputs

FP8_FLOP_PER_CLOCK_PER_SM = 8192
SAMPLE_MS = 50
TARGET_RATIO = 1.25
SHAPES = ((4096, 7168, 16384), (4096, 4096, 7168), (4096, 2112, 7168), (4096, 24576, 1536), (4096, 32768, 512),
          (4096, 7168, 2048))


def _dense_calls(m: int, n: int, k: int) -> dict[str, Callable[[], object]]:
    """fp8gemm, blockwise cuBLAS and per-tensor cuBLAS (the same GEMM with one scale per operand: no
    per-block promotion) on one set of operands."""
    p = dense_inputs(m, n, k)
    a = (p.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(p.a[1]))
    scale_a, scale_b = blockwise_scales(p.a[1], p.b[1])
    one = torch.ones((), device="cuda")
    return {
        "fp8gemm": lambda: fp8gemm.fp8_gemm_nt(a, p.b, p.d),
        "cuBLAS blockwise": lambda: scaled_mm_bf16(p.a[0], p.b[0], scale_a, scale_b),
        "cuBLAS per-tensor": lambda: torch._scaled_mm(
            p.a[0], p.b[0].t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16
        ),
    }


def _sustained_ms(fn: Callable[[], object], seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            fn()
        calls += 20
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / calls * 1e3


def _bench_pattern_ms(fn: Callable[[], object], seconds: float) -> float:
    flush = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(20)]
        for begin, end in events:
            flush.zero_()
            begin.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        times += [begin.elapsed_time(end) for begin, end in events]
    return statistics.median(times)


def _measure(fn: Callable[[], object], timed: Callable, seconds: float) -> tuple[float, float, float]:
    """(ms per call, median SM clock MHz, median power W) over `seconds` of `timed(fn, seconds)`."""
    timed(fn, 1.0)  # reach a steady clock before sampling
    smi = subprocess.Popen(
        ["nvidia-smi", "--query-gpu=clocks.sm,power.draw", "--format=csv,noheader,nounits", f"-lms={SAMPLE_MS}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    ms = timed(fn, seconds)
    smi.terminate()
    out, _ = smi.communicate()
    samples = [[float(x) for x in line.split(",")] for line in out.strip().splitlines() if "," in line]
    return ms, statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def _peak_tflops(clock_mhz: float) -> float:
    return FP8_FLOP_PER_CLOCK_PER_SM * fp8gemm.get_num_sms() * clock_mhz * 1e6 / 1e12


def _line(name: str, flops: float, ms: float, clock: float, power: float) -> str:
    tflops = flops / ms / 1e9
    peak = _peak_tflops(clock)
    return (
        f"{name:36s} {ms * 1e3:8.1f} us {tflops:6.0f} TFLOPS  SM clock {clock:5.0f} MHz  power {power:4.0f} W  "
        f"peak at that clock {peak:5.0f}  reached {tflops / peak:6.1%}"
    )


def main(pattern: str, seconds: float) -> None:
    timed = {"sustained": _sustained_ms, "bench": _bench_pattern_ms}[pattern]
    print(f"pattern: {pattern}, {seconds:.0f} s per workload, nvidia-smi every {SAMPLE_MS} ms", flush=True)
    for m, n, k in SHAPES:
        flops = 2.0 * m * n * k
        calls = _dense_calls(m, n, k)
        results = {name: _measure(fn, timed, seconds) for name, fn in calls.items()}
        cublas_ms = results["cuBLAS blockwise"][0]
        for name, (ms, clock, power) in results.items():
            line = _line(f"{name} {m}x{n}x{k}", flops, ms, clock, power) + f"  vs blockwise {cublas_ms / ms:4.2f}x"
            if name == "fp8gemm":
                needed = TARGET_RATIO * flops / cublas_ms / 1e9 / _peak_tflops(clock)
                line += f"; {TARGET_RATIO}x needs {needed:6.1%}"
            print(line, flush=True)
        del calls
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench", float(sys.argv[2]) if len(sys.argv) > 2 else 3.0)
