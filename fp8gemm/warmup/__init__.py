"""Warm-up: compile, before serving, every kernel a model's GEMM shapes will launch.

Kernels are compiled on first use; a model whose decode batch size varies meets new kernel configs at run
time, each a compile (~0.3-1 s) in the middle of a request. `warmup` maps each expected problem to the config
the heuristic will choose (fp8gemm.heuristics.choose_launch), de-duplicates, and compiles the kernels into the
disk cache in parallel processes, so that later calls only load them:

    fp8gemm.warmup([
        {"kind": "dense", "n": 2112, "k": 7168, "m": [1, 2, 4, 8, 16, 32, 64, 128, 4096]},
        {"kind": "masked", "n": 4096, "k": 7168, "m": 64, "num_groups": 32},
        {"kind": "contiguous", "n": 4096, "k": 7168, "m": 16384, "num_groups": 32},
    ])

or, from a JSON (or YAML, with PyYAML installed) file: `python -m fp8gemm.warmup shapes.json` (see --help).

A shape: kind ("dense", "contiguous" or "masked"), n, k, m (an int or a list of ints), num_groups (grouped
kinds; default 1) and out_dtype ("bfloat16" default; "float32"/"float16" select the FP32-output kernel that
`fp8_gemm_nt` with `c` and `fp8gemm.gemm(..., out_dtype=float32 or float16)` use; dense only). m is what the
heuristic sees: the rows M (dense), M_total including padding (contiguous), expected_m (masked; the op uses
min(expected_m, M_max)).

The choice depends on the SM count: num_sms defaults to fp8gemm.get_num_sms() (the current GPU, or the value
given to set_num_sms) and, without a GPU, to DEFAULT_NUM_SMS = 132 (H100 SXM, H200, H800); pass the serving
GPU's count otherwise (H100 PCIe: 114). Kernels are compiled with the compiler the ops will use
(FP8GEMM_COMPILER), into FP8GEMM_CACHE_DIR: both must match the serving process for the cache to be hit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from .. import envs
from ..api.high_level import kernel_output_f32
from ..config import GemmConfig, GemmType
from ..heuristics import choose_launch
from ..jit import build, native
from ..utils import get_num_sms

DEFAULT_NUM_SMS = 132
KINDS = {
    "dense": GemmType.DENSE,
    "contiguous": GemmType.GROUPED_CONTIGUOUS,
    "masked": GemmType.GROUPED_MASKED,
}
OUT_DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


@dataclass(frozen=True)
class WarmupShape:
    """One GEMM a model will run, with one or several row counts (see the module docstring)."""

    kind: str
    n: int
    k: int
    m: int | tuple[int, ...]
    num_groups: int = 1
    out_dtype: str | torch.dtype = "bfloat16"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {self.kind!r}")
        if _positive_int("n", self.n) % 8 != 0:
            raise ValueError(f"n must be a multiple of 8, got {self.n}")
        if _positive_int("k", self.k) % 16 != 0:
            raise ValueError(f"k must be a multiple of 16, got {self.k}")
        ms = self.m if isinstance(self.m, (list, tuple)) else (self.m,)
        if not ms:
            raise ValueError("m must be an int or a non-empty list of ints")
        object.__setattr__(self, "m", tuple(_positive_int("m", m) for m in ms))
        _positive_int("num_groups", self.num_groups)
        if self.kind == "dense" and self.num_groups != 1:
            raise ValueError(f"a dense shape has num_groups = 1, got {self.num_groups}")
        if self.output_f32 and self.kind != "dense":
            raise ValueError(
                f"only dense GEMMs have an FP32 output, got out_dtype={self.out_dtype!r} for {self.kind}"
            )

    @property
    def output_f32(self) -> bool:
        name = str(self.out_dtype).removeprefix("torch.")
        if name not in OUT_DTYPES:
            raise ValueError(f"out_dtype must be one of {sorted(OUT_DTYPES)}, got {self.out_dtype!r}")
        return kernel_output_f32(OUT_DTYPES[name])

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> WarmupShape:
        """From a mapping with the field names as keys (a JSON/YAML entry); unknown keys are an error."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"a shape must be a mapping of {[f.name for f in fields(cls)]}, got {spec!r}")
        unknown = set(spec) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown shape keys {sorted(unknown)}; known: {[f.name for f in fields(cls)]}")
        try:
            return cls(**spec)
        except TypeError as error:  # a missing required key
            raise ValueError(f"shape {dict(spec)}: {error}") from None


def default_num_sms() -> int:
    """fp8gemm.get_num_sms() with a GPU, else DEFAULT_NUM_SMS."""
    if torch.cuda.is_available():
        return get_num_sms()
    return DEFAULT_NUM_SMS


def plan(
    shapes: Iterable[WarmupShape | Mapping[str, Any]], num_sms: int | None = None
) -> dict[GemmConfig, list[str]]:
    """The kernels `shapes` need on `num_sms` SMs, each with the problems that launch it (in first-use order)."""
    num_sms = default_num_sms() if num_sms is None else _positive_int("num_sms", num_sms)
    out: dict[GemmConfig, list[str]] = {}
    for spec in shapes:
        shape = spec if isinstance(spec, WarmupShape) else WarmupShape.from_dict(spec)
        for m in shape.m:
            config, split_k = choose_launch(
                KINDS[shape.kind], m, shape.n, shape.k, shape.num_groups, num_sms, shape.output_f32
            )
            groups = f" groups={shape.num_groups}" if shape.kind != "dense" else ""
            problem = f"{shape.kind} m={m} n={shape.n} k={shape.k}{groups}"
            # A split-K launch sums its K ranges inside the same kernel: no second kernel to compile.
            out.setdefault(config, []).append(problem + (f" split_k={split_k}" if split_k > 1 else ""))
    return out


@dataclass(frozen=True)
class WarmupReport:
    """What `warmup` made ready: each kernel with its wall time (a cache hit takes milliseconds)."""

    num_sms: int
    kernels: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"{seconds:8.2f} s  {name}" for name, seconds in self.kernels.items()]
        lines.append(f"{len(self.kernels)} kernels ready for {self.num_sms} SMs in {self.seconds:.1f} s")
        return "\n".join(lines)


def _compile(config: GemmConfig) -> float:
    """Compiles one kernel into the disk cache (or finds it there); returns the wall time. Runs in a worker."""
    start = time.perf_counter()
    build.compile_config(config)
    return time.perf_counter() - start


def _progress_bar(total: int, enabled: bool) -> Any:
    """A tqdm bar when asked for and tqdm is installed (an optional dependency), else None."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="fp8gemm warm-up", unit="kernel")


def warmup(
    shapes: Iterable[WarmupShape | Mapping[str, Any]],
    num_sms: int | None = None,
    max_workers: int | None = None,
    progress: bool = True,
) -> WarmupReport:
    """Compiles every kernel `shapes` need into the disk cache; returns what was made ready and how long it took.

    Args:
        shapes: WarmupShape objects or mappings of their fields (see the module docstring).
        num_sms: SM count the heuristic plans for (default: the GPU's, or 132 without one).
        max_workers: compiler processes (default: one per CPU, at most one per kernel; 1 compiles in this
            process). Each compile is single-threaded.
        progress: show a tqdm progress bar (when tqdm is installed; silent otherwise).
    """
    num_sms = default_num_sms() if num_sms is None else num_sms
    kernels = list(plan(shapes, num_sms))
    if envs.native_warm_call():
        native.load()  # the C warm path's module too (a fraction of a second with the host C compiler)
    workers = min(len(kernels), max_workers or os.cpu_count() or 1)
    bar = _progress_bar(len(kernels), progress)
    times: dict[GemmConfig, float] = {}
    start = time.perf_counter()
    try:
        if workers <= 1:
            for kernel in kernels:
                times[kernel] = _compile(kernel)
                if bar is not None:
                    bar.update(1)
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_compile, kernel): kernel for kernel in kernels}
                for future in as_completed(futures):
                    times[futures[future]] = future.result()
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return WarmupReport(
        num_sms=num_sms,
        kernels={str(kernel): times[kernel] for kernel in kernels},
        seconds=time.perf_counter() - start,
    )
