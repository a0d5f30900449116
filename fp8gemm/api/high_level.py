"""High-level API: `quantize_weight` once, then `gemm(x, w_q)` on BF16/FP16/FP32 activations.

    w_q = fp8gemm.quantize_weight(w)       # w [N, K] -> QuantizedWeight(data e4m3 [N, K], scales [N/128, K/128])
    y = fp8gemm.gemm(x, w_q)               # x [..., K] -> y [..., N] ≈ x · wᵀ, bfloat16

`gemm` quantizes x per token on the fly (one scale per row per 128 columns, `per_token_cast_to_fp8` with
out_layout="gemm") and runs `fp8_gemm_nt` through the custom ops of `fp8gemm.ops`, so it traces under
torch.compile(fullgraph=True) and can be captured in a CUDA graph. On CUDA tensors it needs a Hopper GPU; on
CPU tensors the ops' CPU implementation computes the same math in float32 (slowly).

`gemm_torch` is the same math in plain torch ops on any device (dequantize, matmul in float32, add the bias,
cast): the fallback of `fp8gemm.nn.FP8Linear` and a reference for tests.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .. import ops
from ..testing.numerics import dequantize_a, dequantize_b
from . import validation as v
from .quant import reference_per_block_cast, reference_per_token_cast

OUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
INPUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32)


class QuantizedWeight(NamedTuple):
    """A weight quantized for the GEMMs: FP8 e4m3 values and one FP32 scale per 128x128 block.

    A NamedTuple, so it is also the `b = (data, scales)` pair the DeepGEMM-style functions take.
    data: float8_e4m3fn [N, K] (or [G, N, K] for grouped GEMMs); scales: float32 [..., ceil(N/128), ceil(K/128)].
    """

    data: torch.Tensor
    scales: torch.Tensor


def kernels_usable(t: torch.Tensor) -> bool:
    """True when the FP8 kernels can run on t's device (a Hopper GPU). torch.compile folds the device query
    into a constant, so this costs nothing in a compiled graph."""
    return t.is_cuda and torch.cuda.get_device_properties(t.device).major == 9


def quantize_weight(w: torch.Tensor, use_ue8m0: bool = False) -> QuantizedWeight:
    """Quantizes a BF16/FP16/FP32 weight [N, K] (or [G, N, K]) with 128x128 block scales, on w's device.

    use_ue8m0 rounds each scale up to a power of two (DeepSeek-V3's recipe). On a Hopper GPU the cast kernel
    runs; elsewhere (CPU, other GPUs) the torch implementation, which gives the same bits, so weights can be
    quantized where the model is loaded and served on Hopper.
    """
    if isinstance(w, torch.Tensor) and w.is_cuda and not kernels_usable(w):
        return QuantizedWeight(*reference_per_block_cast(w, use_ue8m0))
    return QuantizedWeight(*ops.per_block_cast_to_fp8(w, use_ue8m0))


def kernel_output_f32(out_dtype: torch.dtype) -> bool:
    """Whether `gemm` runs the FP32-output kernel for `out_dtype` (float16 is cast from float32, not from
    bfloat16, to keep its 3 extra mantissa bits)."""
    return out_dtype != torch.bfloat16


def _check_gemm_args(
    x: torch.Tensor, w_q: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor | None, out_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Checks what the ops would report in terms of the flattened problem; returns (w data, w scales, N)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in INPUT_DTYPES:
        raise TypeError(f"x must be bfloat16, float16 or float32, got {x.dtype}")
    if x.dim() < 1:
        raise ValueError("x must have at least one dimension [..., K]")
    data, scales = v.check_pair("w_q", w_q)
    if data.dim() != 2:
        raise ValueError(f"w_q.data must be 2-D [N, K], got shape {tuple(data.shape)}")
    n, k = data.shape
    if x.shape[-1] != k:
        raise ValueError(
            f"x is [..., K] = {tuple(x.shape)} but w_q.data is [N, K] = {tuple(data.shape)}: K differs"
        )
    if out_dtype not in OUT_DTYPES:
        raise TypeError(f"out_dtype must be one of {OUT_DTYPES}, got {out_dtype}")
    if bias is not None:
        if not isinstance(bias, torch.Tensor) or tuple(bias.shape) != (n,):
            raise ValueError(f"bias must be a tensor of shape ({n},), got {getattr(bias, 'shape', bias)}")
    return data, scales, n


def gemm(
    x: torch.Tensor,
    w_q: QuantizedWeight | tuple[torch.Tensor, torch.Tensor],
    bias: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    """y = x · wᵀ (+ bias) with x quantized per token on the fly; returns a new tensor [..., N].

    Args:
        x: activations [..., K], bfloat16, float16 or float32 (any leading dims, flattened into M rows).
        w_q: `quantize_weight(w)` (or an (e4m3 [N, K], float32 [N/128, K/128]) pair). N % 8 == 0, K % 16 == 0.
        bias: optional [N] (any float dtype), added in float32 before the final cast for float16/float32
            outputs; for bfloat16 output it is added to the kernel's bfloat16 result (one more bfloat16 rounding,
            no FP32 output pass).
        out_dtype: bfloat16 (the kernel's own output), float32 (the kernel's FP32 output, D = C + x·wᵀ with
            C = bias or 0), or float16 (cast from that FP32 output).

    Error: x's FP8 quantization (e4m3, relative ~2^-4 per element, per-row scales) dominates; see
    fp8gemm.testing.numerics for the model.
    """
    w_data, w_scales, n = _check_gemm_args(x, w_q, bias, out_dtype)
    lead = x.shape[:-1]
    x2d = x.reshape(-1, x.shape[-1])
    a = ops.per_token_cast_to_fp8(x2d, out_layout="gemm")
    rows = x2d.shape[0]
    if not kernel_output_f32(out_dtype):
        y = torch.empty((rows, n), dtype=torch.bfloat16, device=x.device)
        ops.fp8_gemm_nt(a, (w_data, w_scales), y)
        if bias is not None:
            y += bias
    else:
        # The FP32 kernel computes D = C + A·Bᵀ with C allowed to be D: the bias (or zero) goes in first.
        if bias is None:
            y = torch.zeros((rows, n), dtype=torch.float32, device=x.device)
        else:
            y = bias.to(torch.float32).repeat(rows, 1)  # always a copy: the kernel writes y, never the bias
        ops.fp8_gemm_nt(a, (w_data, w_scales), y, c=y)
        y = y.to(out_dtype)
    return y.view(*lead, n)


def gemm_torch(
    x: torch.Tensor,
    w_q: QuantizedWeight | tuple[torch.Tensor, torch.Tensor],
    bias: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    """`gemm`'s math in plain torch ops on any device: x quantized per token by the torch implementation of
    the cast (the same bits as the kernel's), both operands dequantized, matmul in float32, bias added in
    float32, one cast to out_dtype. Slow (it dequantizes the whole weight per call); for fallbacks and tests."""
    w_data, w_scales, n = _check_gemm_args(x, w_q, bias, out_dtype)
    x2d = x.reshape(-1, x.shape[-1])
    a_data, a_scales = reference_per_token_cast(x2d)
    y = dequantize_a(a_data, a_scales).float() @ dequantize_b(w_data, w_scales).float().T
    if bias is not None:
        y += bias.to(torch.float32)
    return y.to(out_dtype).view(*x.shape[:-1], n)
