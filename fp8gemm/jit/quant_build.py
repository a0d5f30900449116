"""FP8 cast kernels (kernels/quant.cuh): config -> generated source -> loaded kernel, and their parameters.

Same pipeline as the GEMMs (jit/build.py): an in-process dict, then the disk cache, then the compiler. The
generated source instantiates one `PerTokenCast` or `PerBlockCast` behind a fixed extern "C" entry point;
its static_asserts fail the compile if the launch geometry mirrored here drifts from the kernel's.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from enum import Enum

import torch

from ..config import BLOCK_K, SCALE_BLOCK
from ..utils import ceil_div
from .build import compile_source
from .compiler import CompileResult
from .launcher import LoadedKernel

PER_TOKEN_ENTRY_POINT = "fp8gemm_per_token_cast"
PER_BLOCK_ENTRY_POINT = "fp8gemm_per_block_cast"

# torch dtype -> fp8gemm::CastInput enumerator.
CAST_INPUTS = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32"}

CAST_THREADS = 256
CAST_LANES_PER_BLOCK = 16  # lanes sharing one 128-column block row (8 elements each)
PER_TOKEN_ROWS_PER_CTA = CAST_THREADS // CAST_LANES_PER_BLOCK
# The grid is 1-D (gridDim.x < 2^31); the kernels index rows and columns in 32 bits, a block past the end.
MAX_GRID = 2**31 - 1
MAX_DIM = 2**31

# PerTokenCastParams / PerBlockCastParams in kernels/quant.cuh: three pointers, then u32 fields.
_PER_TOKEN_PARAMS = struct.Struct("<QQQIIII")
_PER_BLOCK_PARAMS = struct.Struct("<QQQII")


class CastKind(Enum):
    PER_TOKEN = "per_token"
    PER_BLOCK = "per_block"


@dataclass(frozen=True)
class CastConfig:
    """One cast kernel variant; every field is a template parameter of its kernel."""

    kind: CastKind
    input_dtype: torch.dtype
    use_ue8m0: bool
    gemm_layout: bool = False  # per token only: scales written MN-major and TMA-aligned

    def problems(self) -> list[str]:
        out = []
        if self.input_dtype not in CAST_INPUTS:
            out.append(f"input_dtype={self.input_dtype} not in {tuple(CAST_INPUTS)}")
        if self.gemm_layout and self.kind is not CastKind.PER_TOKEN:
            out.append("gemm_layout applies to per-token casts only")
        return out

    @property
    def blocks_per_thread(self) -> int:
        """Per token: 128-column blocks a thread handles (PerTokenCast::kBlocksPerThread): 64 bytes of input
        in flight per thread whatever the input width."""
        return 2 if self.input_dtype == torch.float32 else 4

    @property
    def entry_point(self) -> str:
        return PER_TOKEN_ENTRY_POINT if self.kind is CastKind.PER_TOKEN else PER_BLOCK_ENTRY_POINT

    def __str__(self) -> str:
        dtype = str(self.input_dtype).removeprefix("torch.")
        layout = "_gemm" if self.gemm_layout else ""
        return f"{self.kind.value}_{dtype}{'_ue8m0' if self.use_ue8m0 else ''}{layout}"


def all_cast_configs() -> list[CastConfig]:
    """Every variant the casts can ask for."""
    configs = []
    for dtype in CAST_INPUTS:
        for ue8m0 in (False, True):
            configs += [CastConfig(CastKind.PER_TOKEN, dtype, ue8m0, gemm) for gemm in (False, True)]
            configs.append(CastConfig(CastKind.PER_BLOCK, dtype, ue8m0))
    return configs


def _cpp_bool(value: bool) -> str:
    return "true" if value else "false"


def cast_source(config: CastConfig) -> str:
    """CUDA source instantiating the cast kernel of `config`."""
    problems = config.problems()
    if problems:
        raise ValueError(f"invalid cast config {config}: {'; '.join(problems)}")
    cast_input = f"fp8gemm::CastInput::{CAST_INPUTS[config.input_dtype]}"
    if config.kind is CastKind.PER_TOKEN:
        instance = (
            f"fp8gemm::PerTokenCast<{cast_input}, {_cpp_bool(config.use_ue8m0)}, "
            f"{_cpp_bool(config.gemm_layout)}>"
        )
        params = "PerTokenCastParams"
        checks = (
            f'static_assert(Kernel::kRowsPerCta == {PER_TOKEN_ROWS_PER_CTA}u, "grid model out of sync");\n'
            f'static_assert(Kernel::kBlocksPerThread == {config.blocks_per_thread}u, "grid model out of sync");\n'
        )
    else:
        instance = f"fp8gemm::PerBlockCast<{cast_input}, {_cpp_bool(config.use_ue8m0)}>"
        params = "PerBlockCastParams"
        checks = f'static_assert(fp8gemm::kCastBlock == {SCALE_BLOCK}u, "grid model out of sync");\n'
    return (
        '#include "quant.cuh"\n\n'
        f"using Kernel = {instance};\n"
        f'static_assert(Kernel::kNumThreads == {CAST_THREADS}u, "thread model out of sync");\n'
        f"{checks}\n"
        f'extern "C" __global__ void __launch_bounds__(Kernel::kNumThreads)\n'
        f"{config.entry_point}(const __grid_constant__ fp8gemm::{params} params) {{\n"
        "    Kernel::run(params);\n"
        "}\n"
    )


def compile_cast(config: CastConfig, compiler: str | None = None) -> CompileResult:
    """The cubin for `config`, from the disk cache when present (compiling and storing it otherwise)."""
    return compile_source(cast_source(config), compiler)


_loaded: dict[CastConfig, LoadedKernel] = {}
_lock = threading.Lock()


def get_cast_kernel(config: CastConfig) -> LoadedKernel:
    kernel = _loaded.get(config)
    if kernel is None:
        with _lock:
            kernel = _loaded.get(config)
            if kernel is None:
                result = compile_cast(config)
                kernel = LoadedKernel(
                    cubin=result.cubin, entry_point=config.entry_point, smem_bytes=0, num_threads=CAST_THREADS
                )
                _loaded[config] = kernel
    return kernel


def per_token_grid(config: CastConfig, rows: int, k: int) -> int:
    """CTAs of a per-token cast: row groups times column-block groups (PerTokenCast::run's split)."""
    kb_groups = ceil_div(ceil_div(k, BLOCK_K), config.blocks_per_thread)
    return ceil_div(rows, PER_TOKEN_ROWS_PER_CTA) * kb_groups


def per_block_grid(groups: int, n: int, k: int) -> int:
    """CTAs of a per-block cast: one per 128x128 block."""
    return groups * ceil_div(n, SCALE_BLOCK) * ceil_div(k, BLOCK_K)


def pack_per_token_params(x: int, q: int, s: int, rows: int, k: int, m: int, m_pad: int) -> bytes:
    """The bytes of one `fp8gemm::PerTokenCastParams`."""
    return _PER_TOKEN_PARAMS.pack(x, q, s, rows, k, m, m_pad)


def pack_per_block_params(w: int, q: int, s: int, n: int, k: int) -> bytes:
    """The bytes of one `fp8gemm::PerBlockCastParams`."""
    return _PER_BLOCK_PARAMS.pack(w, q, s, n, k)
