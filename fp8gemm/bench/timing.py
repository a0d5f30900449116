"""GPU kernel time, host launch overhead and JIT first-call time.

Kernel time is the median over many runs with L2 flushed before each, so every run reads its operands from
HBM as a real layer would (weights do not stay resident in L2 between layers).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .suites import DenseShape, MaskedShape

L2_FLUSH_BYTES = 256 * 1024 * 1024  # several times any Hopper L2 (50-60 MB)
EVENT_WARMUP = 10
EVENT_REPS = 100
LAUNCH_CALLS = 200
LAUNCH_ROUNDS = 5
# Cycles of torch.cuda._sleep queued ahead of the launches: ~0.1 s at Hopper clocks, longer than 200
# launches take to enqueue, so the GPU is busy throughout and every launch returns without waiting.
BUSY_CYCLES = 200_000_000
JIT_TIMEOUT_S = 600
# Large enough that launch and L2 effects vanish: the copy runs at HBM's sustained read + write rate.
COPY_BYTES = 1 << 30


def timing_method() -> str:
    """How `kernel_median_ms` times, for the report."""
    try:
        import triton.testing  # noqa: F401
    except ImportError:
        return f"torch.cuda.Event median of {EVENT_REPS} runs, L2 flushed before each"
    return "triton.testing.do_bench median, L2 flushed before each run"


CLEAN_L2_METHOD = (
    f"torch.cuda.Event median of {EVENT_REPS} runs, L2 emptied before each by reading a "
    f"{L2_FLUSH_BYTES >> 20} MB buffer"
)


def kernel_median_ms(fn: Callable[[], object]) -> float:
    """Median GPU time of one `fn()` call in ms, L2 flushed before each run."""
    try:
        from triton.testing import do_bench
    except ImportError:
        flush = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
        return _event_median_ms(fn, flush.zero_)
    # do_bench clears a 256 MB buffer before every timed run: that is the L2 flush.
    return float(do_bench(fn, return_mode="median"))


PROFILE_REPS = 50


def profiled_kernel_ms(fn: Callable[[], object], reps: int = PROFILE_REPS) -> float:
    """Median GPU execution time of the kernels one `fn()` call launches, in ms, L2 flushed before each run.

    The kernels' own start and end times, as the CUDA profiler (torch.profiler / CUPTI) records them: no
    launch latency, no event-recording gaps. A call launching several kernels (cuBLAS's per-group loop)
    counts the sum of their durations, not the idle time between them. The flush is do_bench's (a 256 MB
    fill, so both timings carry the same dirty-L2 write-back); its kernels are told apart by name (profiled
    alone first).
    """
    return interleaved_kernel_ms([fn], reps)[0]


def interleaved_kernel_ms(fns: Sequence[Callable[[], object]], reps: int = PROFILE_REPS) -> list[float]:
    """`profiled_kernel_ms` of each of `fns`, their runs taking turns in one profiled session (fns[0], fns[1],
    fns[0], ...). At the power cap that large problems reach, clocks follow temperature and drift over a run;
    taking turns gives both the same clocks by construction. (Measured in run 13 of docs/performance.md: no
    fixed order tilted the ratio beyond the pass-to-pass spread, which is up to ±5% on millisecond kernels.)"""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    flush = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    for fn in fns:
        for _ in range(EVENT_WARMUP):
            fn()
    torch.cuda.synchronize()

    def kernels(prof: profile) -> list:
        events = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
        return sorted(events, key=lambda e: e.time_range.start)

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        flush.zero_()
        torch.cuda.synchronize()
    flush_names = {e.name for e in kernels(prof)}
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            for fn in fns:
                flush.zero_()
                fn()
        torch.cuda.synchronize()
    runs: list[float] = []
    in_flush = False
    for event in kernels(prof):
        if event.name in flush_names:
            if not in_flush:
                runs.append(0.0)
            in_flush = True
        else:
            in_flush = False
            if runs:
                runs[-1] += event.time_range.elapsed_us()
    expected = reps * len(fns)
    if len(runs) != expected or not all(runs):
        raise RuntimeError(f"profiler saw {len(runs)} timed runs with kernels, expected {expected}")
    return [statistics.median(runs[turn :: len(fns)]) / 1e3 for turn in range(len(fns))]


def clean_l2_median_ms(fn: Callable[[], object]) -> float:
    """Median GPU time of one `fn()` call in ms, with L2 emptied by a 256 MB read before each run.

    For memory-bound kernels measured against HBM bandwidth. A flush that writes (do_bench's) leaves L2
    full of dirty lines, and their write-back lands inside the timed kernel: up to ~50 MB of someone else's
    traffic, which measured 6-10 µs on an 88 MB cast and nothing on the 1 GiB copy it is compared with. A
    read evicts the same way and leaves only clean lines.
    """
    flush = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    return _event_median_ms(fn, lambda: torch.sum(flush, dtype=torch.int64))


def _event_median_ms(fn: Callable[[], object], empty_l2: Callable[[], object]) -> float:
    for _ in range(EVENT_WARMUP):
        fn()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(EVENT_REPS)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(EVENT_REPS)]
    for start, end in zip(starts, ends, strict=True):
        empty_l2()
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return statistics.median(start.elapsed_time(end) for start, end in zip(starts, ends, strict=True))


def copy_bandwidth_gbps(
    nbytes: int = COPY_BYTES, median_ms: Callable[[Callable[[], object]], float] = kernel_median_ms
) -> float:
    """HBM copy bandwidth in GB/s (bytes read + bytes written): torch's copy_ of `nbytes` on this GPU, timed
    by `median_ms`, the ceiling a memory-bound kernel is measured against."""
    src = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src))
    return 2 * nbytes / ms / 1e6


def _host_round_us(fn: Callable[[], object], calls: int) -> float:
    torch.cuda.synchronize()
    torch.cuda._sleep(BUSY_CYCLES)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def host_us_per_call_in_turns(
    fns: Sequence[Callable[[], object]], calls: int = LAUNCH_CALLS, rounds: int = LAUNCH_ROUNDS
) -> list[float]:
    """Host time to enqueue one warm call of each of `fns`, in µs: validation, config choice, descriptors, launch.

    The GPU is kept busy first so that the calls only queue work; the time is then pure host overhead,
    never time spent waiting for the GPU. Per function, the least of `rounds` rounds of `calls` calls: the
    call's own cost, without the rounds the OS scheduler interrupted (single rounds vary by up to 2x on a
    shared host). The functions take turns round by round, so that a host that drifts (the lent ones moved
    torch's own launch between 5.3 and 8.5 µs within one run) weighs on each of them alike.
    """
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], _host_round_us(fn, calls))
    torch.cuda.synchronize()
    return best


def host_us_per_call(fn: Callable[[], object], calls: int = LAUNCH_CALLS, rounds: int = LAUNCH_ROUNDS) -> float:
    """`host_us_per_call_in_turns` of one function."""
    return host_us_per_call_in_turns([fn], calls, rounds)[0]


def trivial_torch_launch() -> None:
    """torch's own launch of a trivial kernel: what this host's driver and torch's dispatch cost per launch."""
    torch.cuda._sleep(1)


def torch_launch_us() -> float:
    """`host_us_per_call` of `trivial_torch_launch`: the floor under any library's per-call host time."""
    return host_us_per_call(trivial_torch_launch)


@dataclass
class JitTiming:
    """First fp8gemm call in a fresh process: with an empty kernel cache (compiles) and with a warm one."""

    shape: str
    cold_ms: float | None = None
    warm_ms: float | None = None
    # With the empty cache: when the kernel the heuristic chose was compiled and ready, counted from the same
    # start as cold_ms. Later than cold_ms where a stand-in served the first call while it compiled
    # (fp8gemm.jit.build).
    cold_chosen_kernel_ms: float | None = None
    error: str | None = None


def jit_first_call_ms(shape: DenseShape | MaskedShape) -> JitTiming:
    """Times the first call on `shape` in two new processes sharing a new, empty cache dir."""
    timing = JitTiming(shape=shape.label)
    with tempfile.TemporaryDirectory(prefix="fp8gemm-jit-bench-") as cache_dir:
        try:
            timing.cold_ms, timing.cold_chosen_kernel_ms = _first_call_in_subprocess(shape, cache_dir)
            timing.warm_ms, _ = _first_call_in_subprocess(shape, cache_dir)
        except (subprocess.SubprocessError, ValueError, OSError) as exc:
            timing.error = f"{type(exc).__name__}: {exc}"
    return timing


def _first_call_in_subprocess(shape: DenseShape | MaskedShape, cache_dir: str) -> tuple[float, float]:
    # The shapes are frozen dataclasses: their repr rebuilds them in the child.
    code = (
        "from fp8gemm.bench.suites import DenseShape, MaskedShape\n"
        f"from fp8gemm.bench.timing import print_first_call_ms; print_first_call_ms({shape!r})"
    )
    env = {**os.environ, "FP8GEMM_CACHE_DIR": cache_dir}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=JIT_TIMEOUT_S
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise subprocess.SubprocessError(f"exit {done.returncode}: {tail[0]}")
    # The last line is ours; anything before it is the library's own logging.
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return float(times["first_call_ms"]), float(times["chosen_kernel_ms"])


def print_first_call_ms(shape: DenseShape | MaskedShape) -> None:
    """Run in a fresh process: build the case's inputs, then time only its first fp8gemm call (JIT included),
    and until no kernel compile is left in the background."""
    from ..jit.build import wait_for_background_compiles
    from .cases import build_case

    case = build_case(shape)
    torch.cuda.synchronize()
    start = time.perf_counter()
    case.run_fp8gemm()
    torch.cuda.synchronize()
    first_call_ms = (time.perf_counter() - start) * 1e3
    wait_for_background_compiles()
    chosen_kernel_ms = (time.perf_counter() - start) * 1e3
    print(json.dumps({"first_call_ms": first_call_ms, "chosen_kernel_ms": chosen_kernel_ms}))
