"""fp8gemm: FP8 GEMMs with fine-grained scaling for NVIDIA Hopper, JIT-compiled at run time.

DeepGEMM-compatible entry points:
    fp8_gemm_nt(a, b, d, c=None)                                  dense D = A·Bᵀ (or C + A·Bᵀ in FP32)
    m_grouped_fp8_gemm_nt_contiguous(a, b, d, m_indices)          MoE, experts back to back along M
    m_grouped_fp8_gemm_nt_masked(a, b, d, masked_m, expected_m)   MoE, per-expert row counts on the GPU
where a = (A fp8 [M, K], per-token scales [M, K/128]) and b = (B fp8 [N, K], block scales [N/128, K/128]).
"""

__version__ = "0.1.0"

from .api.dense import fp8_gemm_nt
from .api.grouped import (
    check_contiguous_layout,
    m_grouped_fp8_gemm_nt_contiguous,
    m_grouped_fp8_gemm_nt_masked,
)
from .api.quant import per_block_cast_to_fp8, per_token_cast_to_fp8
from .utils import (
    ceil_div,
    get_m_alignment_for_contiguous_layout,
    get_mn_major_tma_aligned_tensor,
    get_num_sms,
    get_tma_aligned_size,
    set_num_sms,
)

__all__ = [
    "__version__",
    "ceil_div",
    "check_contiguous_layout",
    "fp8_gemm_nt",
    "get_m_alignment_for_contiguous_layout",
    "get_mn_major_tma_aligned_tensor",
    "get_num_sms",
    "get_tma_aligned_size",
    "m_grouped_fp8_gemm_nt_contiguous",
    "m_grouped_fp8_gemm_nt_masked",
    "per_block_cast_to_fp8",
    "per_token_cast_to_fp8",
    "set_num_sms",
]
