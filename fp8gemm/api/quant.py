"""FP8 e4m3 quantization with the scaling recipe the GEMMs consume (torch implementations).

Per token (activations): one scale per row per 128-wide K block. Per block (weights): one scale per
128x128 block. scale = amax / 448 (the largest finite e4m3 value), so each block's largest magnitude maps to
±448; amax is clamped below by AMAX_FLOOR so an all-zero block gets a finite scale. With use_ue8m0 the scale
is rounded up to a power of two (DeepSeek-V3's training recipe), which keeps |x / scale| <= 448.
NaN in a block propagates to that block's scale and values; ±Inf makes the block's scale Inf.
"""

from __future__ import annotations

import torch

from ..config import BLOCK_K, SCALE_BLOCK
from ..utils import ceil_div, get_mn_major_tma_aligned_tensor

FP8_MAX = 448.0
AMAX_FLOOR = 1e-4


def _scale_from_amax(amax: torch.Tensor, use_ue8m0: bool) -> torch.Tensor:
    scale = amax.float().clamp(min=AMAX_FLOOR) / FP8_MAX
    if use_ue8m0:
        scale = torch.exp2(torch.ceil(torch.log2(scale)))
    return scale


def _check_input(name: str, x: torch.Tensor, ndims: tuple[int, ...]) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in (torch.bfloat16, torch.float16, torch.float32):
        raise TypeError(f"{name} must be bfloat16, float16 or float32, got {x.dtype}")
    if x.dim() not in ndims:
        raise ValueError(f"{name} must be {' or '.join(f'{n}-D' for n in ndims)}, got shape {tuple(x.shape)}")


def per_token_cast_to_fp8(
    x: torch.Tensor, use_ue8m0: bool = False, out_layout: str = "row"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantizes activations [..., M, K] to e4m3 with one FP32 scale per row per 128 columns.

    Returns (q [..., M, K] float8_e4m3fn, s [..., M, ceil(K/128)] float32) with x ≈ q * s (s broadcast over
    each 128-column block). out_layout="gemm" returns s already in the GEMM's MN-major, TMA-aligned layout.
    """
    _check_input("x", x, (2, 3))
    if out_layout not in ("row", "gemm"):
        raise ValueError(f"out_layout must be 'row' or 'gemm', got {out_layout!r}")
    *lead, m, k = x.shape
    kb = ceil_div(k, BLOCK_K)
    padded = torch.nn.functional.pad(x.float(), (0, kb * BLOCK_K - k)).view(*lead, m, kb, BLOCK_K)
    scale = _scale_from_amax(padded.abs().amax(dim=-1), use_ue8m0)
    q = (padded / scale.unsqueeze(-1)).view(*lead, m, kb * BLOCK_K)[..., :k].to(torch.float8_e4m3fn)
    if out_layout == "gemm":
        scale = get_mn_major_tma_aligned_tensor(scale)
    return q.contiguous(), scale


def per_block_cast_to_fp8(w: torch.Tensor, use_ue8m0: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantizes weights [N, K] (or [G, N, K]) to e4m3 with one FP32 scale per 128x128 block.

    Returns (q, s [.., ceil(N/128), ceil(K/128)]) with w ≈ q * s broadcast over each block.
    """
    _check_input("w", w, (2, 3))
    *lead, n, k = w.shape
    nb, kb = ceil_div(n, SCALE_BLOCK), ceil_div(k, BLOCK_K)
    padded = torch.nn.functional.pad(w.float(), (0, kb * BLOCK_K - k, 0, nb * SCALE_BLOCK - n))
    blocks = padded.view(*lead, nb, SCALE_BLOCK, kb, BLOCK_K)
    scale = _scale_from_amax(blocks.abs().amax(dim=(-3, -1)), use_ue8m0)
    q = (blocks / scale[..., :, None, :, None]).view(*lead, nb * SCALE_BLOCK, kb * BLOCK_K)
    return q[..., :n, :k].contiguous().to(torch.float8_e4m3fn), scale
