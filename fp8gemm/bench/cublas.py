"""The cuBLASLt baseline: torch._scaled_mm with DeepSeek-style blockwise scaling (1x128 for A, 128x128 for B).

torch picks the blockwise recipe from the scales' shapes *and strides* (aten/src/ATen/native/cuda/
ScaledBlas.cpp, is_blockwise_1x128_scaling / is_blockwise_128x128_scaling), for D = A · mat2 with
mat2 = Bᵀ ([K, N], column-major):
  - scale_a: [M, ceil(K/128)] with strides (1, M), i.e. M-major ("outer-dim-major");
  - scale_b: [ceil(K/128), ceil(N/128)] whose transpose is a row-major [ceil(N/128), ceil(K/128)] tensor.
Some torch builds also want that row stride padded to a multiple of 4; every K here has ceil(K/128) % 4 == 0,
which satisfies both. Preparing these layouts is a pure function so it can be checked without a GPU.
"""

from __future__ import annotations

import torch


def blockwise_scales(sfa: torch.Tensor, sfb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale_a, scale_b) for `scaled_mm_bf16` from fp8gemm's row-major scales.

    sfa: [M, ceil(K/128)] per-token scales; sfb: [ceil(N/128), ceil(K/128)] block scales. Copies as needed,
    so call it outside any timed region.
    """
    if sfa.dim() != 2 or sfb.dim() != 2:
        raise ValueError(f"expected 2-D scales, got sfa {tuple(sfa.shape)} and sfb {tuple(sfb.shape)}")
    if sfa.shape[1] != sfb.shape[1]:
        raise ValueError(f"sfa {tuple(sfa.shape)} and sfb {tuple(sfb.shape)} disagree on ceil(K/128)")
    scale_a = sfa.float().t().contiguous().t()
    scale_b = sfb.float().contiguous().t()
    return scale_a, scale_b


def scaled_mm_bf16(
    a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor
) -> torch.Tensor:
    """A [M, K] · B [N, K]ᵀ in BF16 through cuBLASLt, with scales from `blockwise_scales`."""
    return torch._scaled_mm(a, b.t(), scale_a=scale_a, scale_b=scale_b, out_dtype=torch.bfloat16)
