"""Fresh random problems for tests and benchmarks: normal values with a few large outliers per row (so the
per-block scales differ), quantized with the library's own casts, outputs poisoned with NaN."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..api.quant import per_block_cast_to_fp8, per_token_cast_to_fp8
from ..config import SCALE_BLOCK
from ..utils import get_m_alignment_for_contiguous_layout

OUTLIERS_PER_ROW = 2
OUTLIER_SCALE = 30.0
BLOCK_MAGNITUDE_SPAN = 4  # weight blocks' magnitudes range over 2^-2 .. 2^2


def random_activations(*shape: int, device: str | torch.device = "cuda", generator=None) -> torch.Tensor:
    """BF16 normal values with OUTLIERS_PER_ROW entries per row scaled up by OUTLIER_SCALE."""
    x = torch.randn(*shape, device=device, generator=generator)
    if shape[-1] > 0 and x.numel() > 0:
        rows = x.view(-1, shape[-1])
        cols = torch.randint(
            0, shape[-1], (rows.shape[0], OUTLIERS_PER_ROW), device=device, generator=generator
        )
        rows.scatter_(1, cols, rows.gather(1, cols) * OUTLIER_SCALE)
    return x.to(torch.bfloat16)


def random_weights(*shape: int, device: str | torch.device = "cuda", generator=None) -> torch.Tensor:
    """BF16 weights whose magnitude varies across rows and, by powers of two up to BLOCK_MAGNITUDE_SPAN, across
    128x128 blocks: a kernel that applies a neighbouring block's scale is off by a factor of 2 or more there."""
    w = torch.randn(*shape, device=device, generator=generator)
    n, k = shape[-2:]
    row_scale = torch.rand(*shape[:-1], 1, device=device, generator=generator) * 4 + 0.25
    blocks = (*shape[:-2], -(-n // SCALE_BLOCK), -(-k // SCALE_BLOCK))
    exponents = torch.randint(0, BLOCK_MAGNITUDE_SPAN + 1, blocks, device=device, generator=generator)
    block_scale = torch.exp2(exponents.float() - BLOCK_MAGNITUDE_SPAN / 2)
    block_scale = block_scale.repeat_interleave(SCALE_BLOCK, -2)[..., :n, :]
    block_scale = block_scale.repeat_interleave(SCALE_BLOCK, -1)[..., :k]
    return (w * row_scale * block_scale / k**0.5).to(torch.bfloat16)


@dataclass
class Problem:
    a_bf16: torch.Tensor
    b_bf16: torch.Tensor
    a: tuple[torch.Tensor, torch.Tensor]
    b: tuple[torch.Tensor, torch.Tensor]
    d: torch.Tensor
    m_indices: torch.Tensor | None = None
    masked_m: torch.Tensor | None = None


def dense_inputs(
    m: int, n: int, k: int, device: str | torch.device = "cuda", out_dtype=torch.bfloat16
) -> Problem:
    a_bf16 = random_activations(m, k, device=device)
    b_bf16 = random_weights(n, k, device=device)
    d = torch.full((m, n), float("nan"), dtype=out_dtype, device=device)
    return Problem(a_bf16, b_bf16, per_token_cast_to_fp8(a_bf16), per_block_cast_to_fp8(b_bf16), d)


def expert_sizes(num_groups: int, expected_m: int, generator: torch.Generator | None = None) -> list[int]:
    """Rows per expert: uniform in [0.7, 1.3] x expected_m, except that every fourth expert (index 3, 7, ...)
    gets none, so problems with four or more experts exercise empty groups."""
    sizes = (torch.rand(num_groups, generator=generator) * 0.6 + 0.7) * expected_m
    out = [int(s) for s in sizes]
    for i in range(3, num_groups, 4):
        out[i] = 0
    return out


def grouped_contiguous_inputs(
    sizes: list[int], n: int, k: int, device: str | torch.device = "cuda"
) -> Problem:
    """Experts' rows back to back, each segment padded to the contiguous-layout alignment with -1 rows."""
    alignment = get_m_alignment_for_contiguous_layout()
    g = len(sizes)
    padded = [-(-s // alignment) * alignment for s in sizes]
    m_total = sum(padded)
    m_indices = torch.full((m_total,), -1, dtype=torch.int32)
    start = 0
    for expert, (size, span) in enumerate(zip(sizes, padded, strict=True)):
        m_indices[start : start + size] = expert
        start += span
    a_bf16 = random_activations(m_total, k, device=device)
    b_bf16 = random_weights(g, n, k, device=device)
    d = torch.full((m_total, n), float("nan"), dtype=torch.bfloat16, device=device)
    return Problem(
        a_bf16,
        b_bf16,
        per_token_cast_to_fp8(a_bf16),
        per_block_cast_to_fp8(b_bf16),
        d,
        m_indices=m_indices.to(device),
    )


def grouped_masked_inputs(
    sizes: list[int], m_max: int, n: int, k: int, device: str | torch.device = "cuda"
) -> Problem:
    g = len(sizes)
    a_bf16 = random_activations(g, m_max, k, device=device)
    b_bf16 = random_weights(g, n, k, device=device)
    d = torch.full((g, m_max, n), float("nan"), dtype=torch.bfloat16, device=device)
    masked_m = torch.tensor(sizes, dtype=torch.int32, device=device)
    return Problem(
        a_bf16, b_bf16, per_token_cast_to_fp8(a_bf16), per_block_cast_to_fp8(b_bf16), d, masked_m=masked_m
    )
