"""A small MoE block built only from fp8gemm's custom ops, for torch.compile and CUDA-graph tests.

Dense up-projection (fp8gemm.gemm), SiLU, then experts in the contiguous layout
(fp8gemm.ops.m_grouped_fp8_gemm_nt_contiguous); every step traces, so torch.compile(fullgraph=True) takes the
whole forward. Weights are fresh random values (fp8gemm.testing.random_weights), quantized at construction.
"""

from __future__ import annotations

import torch

from .. import ops
from ..api.high_level import QuantizedWeight, gemm, quantize_weight
from .random import random_weights


class TinyMoE(torch.nn.Module):
    """x [M_total, hidden] bf16, m_indices [M_total] int32 (contiguous layout, -1 = padding)
    -> [M_total, out] bf16 with padding rows zero."""

    def __init__(
        self, hidden: int, inter: int, out: int, num_experts: int, device: str | torch.device
    ) -> None:
        super().__init__()
        self.inter, self.out = inter, out
        w_in = quantize_weight(random_weights(inter, hidden, device=device))
        w_experts = quantize_weight(random_weights(num_experts, out, inter, device=device))
        self.register_buffer("w_in", w_in.data)
        self.register_buffer("w_in_scale", w_in.scales)
        self.register_buffer("w_experts", w_experts.data)
        self.register_buffer("w_experts_scale", w_experts.scales)

    def forward(self, x: torch.Tensor, m_indices: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.silu(gemm(x, QuantizedWeight(self.w_in, self.w_in_scale)))
        a = ops.per_token_cast_to_fp8(h, out_layout="gemm")
        y = torch.empty(x.shape[0], self.out, dtype=torch.bfloat16, device=x.device)
        ops.m_grouped_fp8_gemm_nt_contiguous(a, (self.w_experts, self.w_experts_scale), y, m_indices)
        # Padding rows are never written (whatever torch.empty held): zero them so outputs compare.
        return torch.where((m_indices >= 0).unsqueeze(1), y, 0)
