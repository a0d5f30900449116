"""Kernel builds that differ only by macros defined ahead of the kernel source (an experiment patch's), each
checked against the shipped build and timed on one benchmark case. Shared by the lever scripts beside it."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import torch

from fp8gemm import launch_plans
from fp8gemm.bench.cases import Case, build_case
from fp8gemm.bench.suites import Shape
from fp8gemm.bench.timing import interleaved_kernel_ms, profiled_kernel_ms
from fp8gemm.config import GemmConfig
from fp8gemm.heuristics import forced_config
from fp8gemm.jit import build
from fp8gemm.jit.build import compile_source
from fp8gemm.jit.codegen import gemm_source


def use_build(prefix: str) -> None:
    """Kernels from here on are compiled from `prefix` + the generated source (the JIT cache keys on the text)."""
    build.gemm_source = lambda config: prefix + gemm_source(config)
    build._loaded.clear()
    launch_plans.forget_all()


def precompile(configs: Iterable[GemmConfig], prefixes: Iterable[str]) -> None:
    sources = [prefix + gemm_source(c) for c in configs for prefix in prefixes]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(compile_source, sources))


def run_poisoned(case: Case) -> torch.Tensor:
    case.output.fill_(float("nan"))
    case.run_fp8gemm()
    torch.cuda.synchronize()
    return case.fp8gemm_rows().clone()


def time_builds(case: Case, builds: dict[str, str], unchecked: tuple[str, ...] = ()) -> dict[str, float]:
    """Kernel time (µs) of each build on `case`. Each build's D, NaN-poisoned first, must equal the first
    build's bit for bit (the builds change no arithmetic), except the `unchecked` ones."""
    first, *_ = builds
    use_build(builds[first])
    reference = run_poisoned(case)
    if torch.isnan(reference).any():
        raise RuntimeError(f"{first}: NaN left in D")
    times = {}
    for name, prefix in builds.items():
        use_build(prefix)
        out = run_poisoned(case)
        if name not in unchecked and not torch.equal(out, reference):
            raise RuntimeError(f"{name}: D differs from the {first} build's")
        times[name] = profiled_kernel_ms(case.run_fp8gemm) * 1e3
    use_build(builds[first])
    return times


def time_shape(
    shape: Shape, builds: dict[str, str], config: GemmConfig | None = None, unchecked: tuple[str, ...] = ()
) -> tuple[float, float, dict[str, float]]:
    """On a fresh case of `shape` (with `config` forced, if given): fp8gemm's and cuBLAS's kernel time in ms,
    taking turns, with the first build (the shipped one), then `time_builds`."""
    with forced_config(config) if config else contextlib.nullcontext():
        case = build_case(shape)
        use_build(next(iter(builds.values())))
        ours, cublas = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
        times = time_builds(case, builds, unchecked)
    del case
    torch.cuda.empty_cache()
    return ours, cublas, times


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))
