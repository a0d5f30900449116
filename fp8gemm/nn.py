"""`FP8Linear`: an inference drop-in for `torch.nn.Linear` with an FP8 block-scaled weight.

    layer = fp8gemm.nn.FP8Linear.from_linear(linear)            # quantizes linear.weight once
    y = layer(x)                                                 # fp8gemm.gemm(x, weight, bias)

The quantized weight and its scales are buffers (`weight`, `weight_scale`, and `bias` when present), so
`.to(device)`, `state_dict()` and `load_state_dict()` work as for any module; dtype conversions
(`.to(torch.bfloat16)`, `.half()`) leave the FP8 weight and its FP32 scales as they are.

The kernels need a Hopper GPU. Elsewhere (a CPU tensor, another GPU) forward raises unless the layer was made
with fallback="torch": then it runs `fp8gemm.api.high_level.gemm_torch`, the same math in torch ops (same
quantization of x and of the weight, dequantize, matmul in float32, bias, cast), slowly. On a Hopper GPU the
kernels run whatever `fallback` says. `from_linear` works on any device (off Hopper the weight is quantized by
the torch implementation, bit for bit the kernel's), so a model can be converted on the CPU and then moved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .api.high_level import OUT_DTYPES, QuantizedWeight, gemm, gemm_torch, kernels_usable, quantize_weight
from .config import BLOCK_K, SCALE_BLOCK
from .utils import ceil_div

FALLBACKS = (None, "torch")
# Buffers whose dtype is the quantization format, not a compute precision: module-wide casts must skip them.
_FORMAT_BUFFERS = ("weight", "weight_scale")


class FP8Linear(torch.nn.Module):
    """y = x · Wᵀ + b with W stored as FP8 e4m3 and 128x128 block scales, x quantized per token on the fly.

    Args:
        in_features, out_features: K and N; N % 8 == 0 and K % 16 == 0 (the kernels' rules, checked here on
            every device so that a layer that runs on the fallback also runs on the GPU).
        bias: whether the layer has a bias (a float32 buffer).
        out_dtype: output dtype, one of bfloat16, float16, float32; None (default) means x's dtype.
        fallback: None (raise off Hopper) or "torch" (compute with torch ops off Hopper).
        device: where the (empty) buffers are created; `from_linear` fills them.
    """

    weight: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        out_dtype: torch.dtype | None = None,
        fallback: str | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if out_features % 8 != 0 or in_features % 16 != 0:
            raise ValueError(
                f"FP8Linear needs out_features % 8 == 0 and in_features % 16 == 0, got out_features="
                f"{out_features}, in_features={in_features}"
            )
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be None or 'torch', got {fallback!r}")
        if out_dtype is not None and out_dtype not in OUT_DTYPES:
            raise TypeError(f"out_dtype must be None or one of {OUT_DTYPES}, got {out_dtype}")
        self.in_features, self.out_features = in_features, out_features
        self.out_dtype, self.fallback = out_dtype, fallback
        scale_shape = (ceil_div(out_features, SCALE_BLOCK), ceil_div(in_features, BLOCK_K))
        self.register_buffer(
            "weight", torch.zeros(out_features, in_features, dtype=torch.float8_e4m3fn, device=device)
        )
        self.register_buffer("weight_scale", torch.ones(scale_shape, dtype=torch.float32, device=device))
        self.register_buffer(
            "bias", torch.zeros(out_features, dtype=torch.float32, device=device) if bias else None
        )

    @classmethod
    def from_linear(
        cls,
        layer: torch.nn.Linear,
        fallback: str | None = None,
        out_dtype: torch.dtype | None = None,
        use_ue8m0: bool = False,
    ) -> FP8Linear:
        """An FP8Linear on `layer`'s device computing what `layer` does, up to FP8 quantization error.

        The weight is quantized with 128x128 block scales (use_ue8m0: power-of-two scales); the bias is copied
        as float32.
        """
        if not isinstance(layer, torch.nn.Linear):
            raise TypeError(f"layer must be a torch.nn.Linear, got {type(layer).__name__}")
        weight = layer.weight.detach()
        out = cls(
            layer.in_features,
            layer.out_features,
            bias=False,
            out_dtype=out_dtype,
            fallback=fallback,
            device=weight.device,
        )
        out.weight, out.weight_scale = quantize_weight(weight, use_ue8m0)
        if layer.bias is not None:
            out.bias = layer.bias.detach().to(torch.float32, copy=True)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., in_features] (bfloat16, float16 or float32) -> [..., out_features] in out_dtype (or x's)."""
        out_dtype = x.dtype if self.out_dtype is None else self.out_dtype
        weight = QuantizedWeight(self.weight, self.weight_scale)
        if kernels_usable(x):
            return gemm(x, weight, self.bias, out_dtype)
        if self.fallback == "torch":
            return gemm_torch(x, weight, self.bias, out_dtype)
        where = f"{x.device} ({torch.cuda.get_device_name(x.device)})" if x.is_cuda else str(x.device)
        raise RuntimeError(
            f"FP8Linear runs FP8 kernels that need a Hopper GPU (sm_90), but x is on {where}; move the layer "
            "and its input to a Hopper GPU, or build the layer with fallback='torch' to compute with torch ops"
        )

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> FP8Linear:
        # Module.to(dtype) and .half() convert every floating tensor, FP8 included: that would turn the
        # quantized weight and its scales into plain (wrong) numbers. Keep their dtypes; follow the move only.
        before = {name: self._buffers[name] for name in _FORMAT_BUFFERS}
        super()._apply(fn, recurse)
        for name, old in before.items():
            new = self._buffers[name]
            if new.dtype != old.dtype:
                self._buffers[name] = old.to(new.device)
        return self

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, local_metadata: dict, strict: bool, *args: Any
    ) -> None:
        # load_state_dict copies with dtype conversion: a BF16 weight would be cast to e4m3 unscaled.
        weight = state_dict.get(prefix + "weight")
        if weight is not None and weight.dtype != torch.float8_e4m3fn:
            raise TypeError(
                f"{prefix}weight in the state dict is {weight.dtype}, not float8_e4m3fn: load the original "
                "nn.Linear and convert it with FP8Linear.from_linear instead"
            )
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, *args)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"out_dtype={self.out_dtype}, fallback={self.fallback!r}"
        )
