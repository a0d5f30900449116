"""fp8gemm: FP8 GEMMs with fine-grained scaling for NVIDIA Hopper, JIT-compiled at run time.

DeepGEMM-compatible entry points:
    fp8_gemm_nt(a, b, d, c=None)                                  dense D = A·Bᵀ (or C + A·Bᵀ in FP32)
    m_grouped_fp8_gemm_nt_contiguous(a, b, d, m_indices)          MoE, experts back to back along M
    m_grouped_fp8_gemm_nt_masked(a, b, d, masked_m, expected_m)   MoE, per-expert row counts on the GPU
where a = (A fp8 [M, K], per-token scales [M, ceil(K/128)]) and b = (B fp8 [N, K], block scales
[ceil(N/128), ceil(K/128)]).

High level: gemm(x, quantize_weight(w)) quantizes x on the fly; nn.FP8Linear.from_linear(layer) wraps a layer;
warmup(shapes) compiles the kernels a model needs ahead of time; wait_for_background_compiles() waits for
kernels that compile behind a stand-in (the masked kernel with three tile widths, on its first calls).
fp8gemm.ops holds the ops as torch.library custom ops (torch.ops.fp8gemm.*) for torch.compile and CUDA graphs.
"""

__version__ = "0.1.0"

from . import (
    nn,
    ops,  # registers torch.ops.fp8gemm.*
)
from .api.dense import fp8_gemm_nt
from .api.grouped import (
    check_contiguous_layout,
    m_grouped_fp8_gemm_nt_contiguous,
    m_grouped_fp8_gemm_nt_masked,
)
from .api.high_level import QuantizedWeight, gemm, quantize_weight
from .api.quant import per_block_cast_to_fp8, per_token_cast_to_fp8
from .jit.build import wait_for_background_compiles
from .utils import (
    ceil_div,
    get_m_alignment_for_contiguous_layout,
    get_mn_major_tma_aligned_tensor,
    get_num_sms,
    get_tma_aligned_size,
    set_num_sms,
)
from .warmup import WarmupShape, warmup

__all__ = [
    "QuantizedWeight",
    "WarmupShape",
    "__version__",
    "ceil_div",
    "check_contiguous_layout",
    "fp8_gemm_nt",
    "gemm",
    "get_m_alignment_for_contiguous_layout",
    "get_mn_major_tma_aligned_tensor",
    "get_num_sms",
    "get_tma_aligned_size",
    "m_grouped_fp8_gemm_nt_contiguous",
    "m_grouped_fp8_gemm_nt_masked",
    "nn",
    "ops",
    "per_block_cast_to_fp8",
    "per_token_cast_to_fp8",
    "quantize_weight",
    "set_num_sms",
    "wait_for_background_compiles",
    "warmup",
]
