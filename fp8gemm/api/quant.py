"""FP8 e4m3 quantization with the scaling recipe the GEMMs consume.

Per token (activations): one scale per row per 128-wide K block. Per block (weights): one scale per
128x128 block. scale = amax / 448 (the largest finite e4m3 value), so each block's largest magnitude maps to
±448; amax is clamped below by AMAX_FLOOR so an all-zero block gets a finite scale. With use_ue8m0 the scale
is rounded up to a power of two (DeepSeek-V3's training recipe), which keeps |x / scale| <= 448.
NaN in a block propagates to that block's scale and values; ±Inf makes the block's scale Inf, its Inf
elements NaN and its finite elements ±0. A NaN output is NaN, sign unspecified (0x7f or 0xff), as the sign
of an IEEE NaN result is.

CUDA tensors are cast by the kernels of kernels/quant.cuh, CPU tensors by the torch implementation below
(`reference_per_token_cast`, `reference_per_block_cast`), which is also the definition the kernels match
bit for bit: scale = max(amax, AMAX_FLOOR) / 448 and q = e4m3(x / scale), each an IEEE float32 operation
rounded to nearest, and e4m3 as torch's `.to(torch.float8_e4m3fn)` rounds. (That cast saturates finite
overflow to ±448 in current torch and returned NaN in older releases; no cast here produces a value past
448 · (1 + 2^-22), so both agree on every output.)

Contract, the same on both devices: x and w are BF16, FP16 or FP32, 2-D or 3-D (a leading group dim),
with K (the last dim) a multiple of 16, as the GEMMs need; any other dim may be any size, zero included.
Inputs of any strides are accepted; on the GPU one that is not contiguous or not 16-byte aligned is copied
to a contiguous tensor first, which costs one extra read and write of it. CUDA tensors need a Hopper GPU
(the kernels are built for sm_90a), like the GEMMs. Outputs are new tensors on the input's device; the
kernels run on its current stream.
"""

from __future__ import annotations

import torch

from ..config import BLOCK_K, SCALE_BLOCK
from ..jit import native
from ..jit.launcher import LoadedKernel
from ..jit.quant_build import (
    MAX_DIM,
    MAX_GRID,
    CastConfig,
    CastKind,
    get_cast_kernel,
    pack_per_block_params,
    pack_per_token_params,
    per_block_grid,
    per_token_grid,
)
from ..utils import ceil_div, get_mn_major_tma_aligned_tensor, get_tma_aligned_size
from . import validation as v

FP8_MAX = 448.0
AMAX_FLOOR = 1e-4
K_ALIGNMENT = 16  # the GEMMs' K % 16 rule; also keeps every 8-element kernel access inside one row
INPUT_ALIGNMENT = 16  # the kernels read 16-byte vectors
OUT_LAYOUTS = ("row", "gemm")

_MANTISSA_BITS = 0x7FFFFF


# ------------------------------------------------------------------------------- torch implementation


def _scale_from_amax(amax: torch.Tensor, use_ue8m0: bool) -> torch.Tensor:
    amax = amax.float().clamp(min=AMAX_FLOOR)  # clamp keeps NaN
    # A tensor divisor: on CUDA, torch turns division by a Python scalar into multiplication by its
    # reciprocal, which differs from the IEEE quotient in about half of all cases.
    scale = amax / amax.new_tensor(FP8_MAX)
    if use_ue8m0:
        # Round up to a power of two on the bits: adding all-ones to the mantissa carries into the exponent
        # unless it is already zero. Exact where exp2(ceil(log2(s))) was not: float32 log2 of a value just
        # above 2^e can round to e and leave s = 2^e, too small. Positive floats and Inf never overflow the
        # int32 sum; NaN (whose bits would) is kept as is.
        bits = scale.view(torch.int32)
        rounded = ((bits + _MANTISSA_BITS) & ~_MANTISSA_BITS).view(torch.float32)
        scale = torch.where(torch.isnan(scale), scale, rounded)
    return scale


def reference_per_token_cast(x: torch.Tensor, use_ue8m0: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The torch implementation of `per_token_cast_to_fp8` (scales row-major), on any device."""
    *lead, m, k = x.shape
    kb = ceil_div(k, BLOCK_K)
    padded = torch.nn.functional.pad(x.float(), (0, kb * BLOCK_K - k)).view(*lead, m, kb, BLOCK_K)
    scale = _scale_from_amax(padded.abs().amax(dim=-1), use_ue8m0)
    q = (padded / scale.unsqueeze(-1)).view(*lead, m, kb * BLOCK_K)[..., :k].to(torch.float8_e4m3fn)
    return q.contiguous(), scale


def reference_per_block_cast(w: torch.Tensor, use_ue8m0: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The torch implementation of `per_block_cast_to_fp8`, on any device."""
    *lead, n, k = w.shape
    nb, kb = ceil_div(n, SCALE_BLOCK), ceil_div(k, BLOCK_K)
    padded = torch.nn.functional.pad(w.float(), (0, kb * BLOCK_K - k, 0, nb * SCALE_BLOCK - n))
    blocks = padded.view(*lead, nb, SCALE_BLOCK, kb, BLOCK_K)
    scale = _scale_from_amax(blocks.abs().amax(dim=(-3, -1)), use_ue8m0)
    q = (blocks / scale[..., :, None, :, None]).view(*lead, nb * SCALE_BLOCK, kb * BLOCK_K)
    return q[..., :n, :k].contiguous().to(torch.float8_e4m3fn), scale


# ------------------------------------------------------------------------------------------ validation


def _check_input(name: str, x: object) -> torch.Tensor:
    """The checks both devices share; returns `x`, on the GPU made contiguous and 16-byte aligned (the
    kernels' 16-byte loads need both) by a copy where it is not."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in (torch.bfloat16, torch.float16, torch.float32):
        raise TypeError(f"{name} must be bfloat16, float16 or float32, got {x.dtype}")
    if x.dim() not in (2, 3):
        raise ValueError(f"{name} must be 2-D or 3-D, got shape {tuple(x.shape)}")
    if x.is_neg():
        raise ValueError(f"{name} is a negative view (is_neg()); pass {name}.resolve_neg()")
    k = x.shape[-1]
    if k % K_ALIGNMENT != 0:
        raise ValueError(
            f"K ({name}.shape[-1]) must be a multiple of {K_ALIGNMENT}, got {k} (as in the GEMMs)"
        )
    if x.is_cuda and (not x.is_contiguous() or x.data_ptr() % INPUT_ALIGNMENT != 0):
        x = x.clone(memory_format=torch.contiguous_format)
    return x


def _check_gpu_size(name: str, rows: int, k: int, grid: int) -> None:
    if rows > MAX_DIM or k > MAX_DIM or grid > MAX_GRID:
        raise ValueError(
            f"{name} is too large for the cast kernels: {rows} rows of {k} (each at most {MAX_DIM}), "
            f"{grid} CTAs (at most {MAX_GRID})"
        )


# --------------------------------------------------------------------------------------------- casts


class _Variant:
    """One cast kernel variant with its kernel once loaded, found by a plain tuple: building and hashing a
    CastConfig per call measured 1.2 µs of a cast's host time."""

    __slots__ = ("config", "kernel")

    def __init__(self, config: CastConfig) -> None:
        self.config = config
        self.kernel: LoadedKernel | None = None

    def launch(self, grid: int, params: bytes, device: torch.device) -> None:
        if self.kernel is None:
            self.kernel = get_cast_kernel(self.config)
            native.start()  # later casts launch through the C path's raw driver call
        self.kernel.launch(device.index, grid, params)


_variants: dict[tuple, _Variant] = {}


def _variant(kind: CastKind, dtype: torch.dtype, use_ue8m0: bool, gemm_layout: bool = False) -> _Variant:
    key = (kind, dtype, use_ue8m0, gemm_layout)
    variant = _variants.get(key)
    if variant is None:
        variant = _variants[key] = _Variant(CastConfig(kind, dtype, bool(use_ue8m0), gemm_layout))
    return variant


def per_token_cast_to_fp8(
    x: torch.Tensor, use_ue8m0: bool = False, out_layout: str = "row"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantizes activations [..., M, K] to e4m3 with one FP32 scale per row per 128 columns.

    Returns (q [..., M, K] float8_e4m3fn, s [..., M, ceil(K/128)] float32) with x ≈ q * s (s broadcast over
    each 128-column block). out_layout="gemm" returns s in the GEMM's MN-major, TMA-aligned layout
    (`get_mn_major_tma_aligned_tensor`'s: column stride get_tma_aligned_size(M, 4)), written directly by the
    kernel on the GPU. K must be a multiple of 16; see the module docstring for the full contract.
    """
    if out_layout not in OUT_LAYOUTS:
        raise ValueError(f"out_layout must be 'row' or 'gemm', got {out_layout!r}")
    x = _check_input("x", x)
    if not x.is_cuda:
        q, s = reference_per_token_cast(x, use_ue8m0)
        return q, get_mn_major_tma_aligned_tensor(s) if out_layout == "gemm" else s

    *lead, m, k = x.shape
    groups = lead[0] if lead else 1
    kb = ceil_div(k, BLOCK_K)
    variant = _variant(CastKind.PER_TOKEN, x.dtype, use_ue8m0, out_layout == "gemm")
    config = variant.config
    rows = groups * m
    grid = per_token_grid(config, rows, k)
    _check_gpu_size("x", rows, k, grid)
    v.check_hopper(x.device)
    # empty_like measured 2.3 µs against 5.0 for torch.empty with the shape and device spelled out.
    q = torch.empty_like(x, dtype=torch.float8_e4m3fn, memory_format=torch.contiguous_format)
    m_pad = get_tma_aligned_size(m, 4)
    if config.gemm_layout:
        # MN-major, columns m_pad apart; made in one call (views of a padded buffer cost µs each per cast).
        strides = (kb * m_pad, 1, m_pad) if lead else (1, m_pad)
        s = torch.empty_strided((*lead, m, kb), strides, dtype=torch.float32, device=x.device)
    else:
        s = torch.empty((*lead, m, kb), dtype=torch.float32, device=x.device)
    if grid:
        params = pack_per_token_params(x.data_ptr(), q.data_ptr(), s.data_ptr(), rows, k, m, m_pad)
        variant.launch(grid, params, x.device)
    return q, s


def per_block_cast_to_fp8(w: torch.Tensor, use_ue8m0: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantizes weights [N, K] (or [G, N, K]) to e4m3 with one FP32 scale per 128x128 block.

    Returns (q, s [.., ceil(N/128), ceil(K/128)]) with w ≈ q * s broadcast over each block. K must be a
    multiple of 16; see the module docstring for the full contract.
    """
    w = _check_input("w", w)
    if not w.is_cuda:
        return reference_per_block_cast(w, use_ue8m0)

    *lead, n, k = w.shape
    groups = lead[0] if lead else 1
    variant = _variant(CastKind.PER_BLOCK, w.dtype, use_ue8m0)
    grid = per_block_grid(groups, n, k)
    _check_gpu_size("w", n, k, grid)
    v.check_hopper(w.device)
    q = torch.empty_like(w, dtype=torch.float8_e4m3fn, memory_format=torch.contiguous_format)
    s = torch.empty(
        (*lead, ceil_div(n, SCALE_BLOCK), ceil_div(k, BLOCK_K)), dtype=torch.float32, device=w.device
    )
    if grid:
        variant.launch(grid, pack_per_block_params(w.data_ptr(), q.data_ptr(), s.data_ptr(), n, k), w.device)
    return q, s
