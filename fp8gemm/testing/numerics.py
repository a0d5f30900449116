"""Float64 references and the error metric the tests share.

Error model: the kernel computes exactly the product of the dequantized FP8 inputs up to FP32 accumulation
(relative error ~1e-7 per K block) and the final BF16 rounding (relative 2^-9 per element), so against the
float64 product of the dequantized inputs calc_diff stays near 1e-6. Against the original BF16 inputs the
FP8 quantization error (e4m3 keeps 3 mantissa bits) dominates: calc_diff ~1e-4.
"""

from __future__ import annotations

import torch

from ..config import BLOCK_K, SCALE_BLOCK


def calc_diff(x: torch.Tensor, y: torch.Tensor) -> float:
    """1 - 2·Σxy / Σ(x² + y²) in float64: 0 for identical tensors, NaN if either holds a NaN."""
    x, y = x.double(), y.double()
    denominator = (x * x + y * y).sum()
    if denominator == 0:
        return 0.0 if torch.equal(x, y) else 1.0
    return float(1 - 2 * (x * y).sum() / denominator)


def dequantize_a(q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Float64 [..., M, K] from e4m3 [..., M, K] and per-row-per-128 scales [..., M, ceil(K/128)]."""
    k = q.shape[-1]
    return q.double() * s.double().repeat_interleave(BLOCK_K, dim=-1)[..., :k]


def dequantize_b(q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Float64 [..., N, K] from e4m3 [..., N, K] and 128x128 block scales [..., ceil(N/128), ceil(K/128)]."""
    n, k = q.shape[-2:]
    expanded = s.double().repeat_interleave(SCALE_BLOCK, dim=-2).repeat_interleave(BLOCK_K, dim=-1)
    return q.double() * expanded[..., :n, :k]


def reference_gemm(
    a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """Float64 A·Bᵀ of the dequantized operands (batched over a leading group dim when both have one)."""
    return dequantize_a(*a) @ dequantize_b(*b).transpose(-1, -2)
