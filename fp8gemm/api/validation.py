"""Argument checks shared by the public ops. Every failure names the argument and what was expected, and
happens before anything is launched."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

FP8 = torch.float8_e4m3fn
TMA_ADDRESS_ALIGNMENT = 16


def check_pair(name: str, value: object) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a (fp8 tensor, fp32 scale tensor) pair, got {type(value).__name__}")
    data, scales = value
    for part, what in ((data, f"{name}[0]"), (scales, f"{name}[1]")):
        if not isinstance(part, torch.Tensor):
            raise TypeError(f"{what} must be a torch.Tensor, got {type(part).__name__}")
    return data, scales


def check_tensor(name: str, t: torch.Tensor, dtype: torch.dtype, ndim: int) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {t.dtype}")
    if t.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(t.shape)}")
    if t.is_neg():
        # A negative view's bytes are not negated; the kernels read bytes. resolve_neg() makes a real copy.
        raise ValueError(f"{name} is a negative view (is_neg()); pass {name}.resolve_neg()")
    if any(st <= 0 and sz > 1 for st, sz in zip(t.stride(), t.shape, strict=True)):
        raise ValueError(
            f"{name} must have positive strides (no expanded or flipped views), got {t.stride()}"
        )


def check_shape(name: str, t: torch.Tensor, expected: Sequence[int]) -> None:
    if tuple(t.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(t.shape)}")


def check_k_major(name: str, t: torch.Tensor) -> None:
    """Innermost dim contiguous, other strides 16-byte multiples, base 16-byte aligned (TMA's rules).
    An empty tensor is never read, and torch gives empty tensors arbitrary strides: it passes."""
    if t.numel() == 0:
        return
    if t.stride(-1) != 1:
        raise ValueError(
            f"{name} must be contiguous in its last dimension (K-major), got strides {t.stride()}"
        )
    for dim in range(t.dim() - 1):
        if t.shape[dim] > 1 and (t.stride(dim) * t.element_size()) % TMA_ADDRESS_ALIGNMENT != 0:
            raise ValueError(
                f"{name} stride {t.stride(dim)} of dim {dim} must span a multiple of {TMA_ADDRESS_ALIGNMENT} bytes"
            )
    check_aligned(name, t)


def check_aligned(name: str, t: torch.Tensor, alignment: int = TMA_ADDRESS_ALIGNMENT) -> None:
    if t.data_ptr() % alignment != 0:
        raise ValueError(
            f"{name} data pointer must be {alignment}-byte aligned (got a view at an odd offset)"
        )


def check_output(name: str, t: torch.Tensor) -> None:
    if t.numel() == 0:
        return
    if t.stride(-1) != 1:
        raise ValueError(f"{name} must be contiguous in its last dimension, got strides {t.stride()}")
    row_bytes = t.stride(-2) * t.element_size()
    if t.shape[-2] > 1 and row_bytes % 8 != 0:
        raise ValueError(f"{name} row stride must span a multiple of 8 bytes, got {t.stride(-2)} elements")
    if t.shape[-2] > 1 and t.stride(-2) < t.shape[-1]:
        # Rows that share memory would be written by different CTAs at once.
        raise ValueError(
            f"{name} rows overlap: row stride {t.stride(-2)} is less than the row length {t.shape[-1]}"
        )
    check_aligned(name, t, 8)


def check_devices(out_name: str, out: torch.Tensor, **tensors: torch.Tensor) -> None:
    """Every tensor on the GPU of `out`. Checked after shapes and layouts, so those errors come first."""
    for name, t in {out_name: out, **tensors}.items():
        if t is not None and not t.is_cuda:
            raise ValueError(f"{name} must be a CUDA tensor, got device {t.device}")
    for name, t in tensors.items():
        if t is not None and t.device != out.device:
            raise ValueError(
                f"{name} is on {t.device} but {out_name} is on {out.device}: all must share one GPU"
            )


@functools.cache
def _capability(device_index: int) -> tuple[int, int]:
    # A device's capability never changes; the query costs microseconds on every cast otherwise.
    return torch.cuda.get_device_capability(device_index)


def check_hopper(device: torch.device) -> None:
    major, minor = _capability(device.index if device.index is not None else torch.cuda.current_device())
    if major != 9:
        name = torch.cuda.get_device_name(device)
        raise RuntimeError(
            f"fp8gemm kernels need a Hopper GPU (compute capability 9.x, sm_90a); {device} is {name} ({major}.{minor})"
        )


def _byte_range(t: torch.Tensor) -> tuple[int, int]:
    if t.numel() == 0:
        return (t.data_ptr(), t.data_ptr())
    extent = sum((size - 1) * stride for size, stride in zip(t.shape, t.stride(), strict=True)) + 1
    return (t.data_ptr(), t.data_ptr() + extent * t.element_size())


def check_no_overlap(out_name: str, out: torch.Tensor, **inputs: torch.Tensor) -> None:
    """`out` must not share memory with any input (the kernel reads inputs while writing it)."""
    lo, hi = _byte_range(out)
    for name, t in inputs.items():
        if t is None or t.device != out.device:
            continue
        t_lo, t_hi = _byte_range(t)
        if lo < t_hi and t_lo < hi:
            raise ValueError(f"{out_name} overlaps {name} in memory; pass a separate output tensor")


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_finite(**tensors: torch.Tensor) -> None:
    """Scales must be finite numbers (reads them back: a device sync, so only on request)."""
    for name, t in tensors.items():
        if t is not None and t.numel() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must hold only finite scales; found NaN or Inf")


def check_placement(
    d: torch.Tensor, sfa: torch.Tensor, sfb: torch.Tensor, check_scales: bool, **others: torch.Tensor | None
) -> None:
    """The checks every GEMM op ends with, in order: finite scales (on request), `d` aliasing no input, every
    tensor on `d`'s GPU, and that GPU a Hopper."""
    if check_scales:
        check_finite(**{"a[1]": sfa, "b[1]": sfb})
    inputs = {"a[1]": sfa, "b[1]": sfb, **others}
    check_no_overlap("d", d, **inputs)
    check_devices("d", d, **inputs)
    check_hopper(d.device)
