"""Layout helpers and device facts shared by the public API (DeepGEMM-compatible names)."""

from __future__ import annotations

import torch

from . import launch_plans
from .config import BLOCK_M_CHOICES

# TMA needs 16-byte aligned global strides: an MN-major FP32 scale column holds a multiple of 4 rows.
TMA_ALIGNMENT_BYTES = 16

_num_sms_override: int | None = None


def ceil_div(x: int, y: int) -> int:
    """Smallest integer >= x / y for positive y."""
    return (x + y - 1) // y


def align(x: int, alignment: int) -> int:
    return ceil_div(x, alignment) * alignment


def get_tma_aligned_size(x: int, element_size: int) -> int:
    """`x` rounded up so that `x` elements of `element_size` bytes span a multiple of 16 bytes."""
    if TMA_ALIGNMENT_BYTES % element_size != 0:
        raise ValueError(f"element_size must divide {TMA_ALIGNMENT_BYTES}, got {element_size}")
    return align(x, TMA_ALIGNMENT_BYTES // element_size)


def is_mn_major_tma_aligned(sf: torch.Tensor) -> bool:
    """True when `sf` ([..., M, K/128] FP32) is already in the kernel's layout: MN-major, M padded."""
    if sf.dim() not in (2, 3) or sf.dtype != torch.float32:
        return False
    m, kb = sf.shape[-2], sf.shape[-1]
    m_pad = get_tma_aligned_size(m, sf.element_size())
    if sf.stride(-2) != 1 or (kb > 1 and sf.stride(-1) != m_pad):
        return False
    if sf.data_ptr() % TMA_ALIGNMENT_BYTES != 0:
        return False  # e.g. a row slice of a one-column tensor: the copy aligns it
    return sf.dim() == 2 or sf.shape[0] <= 1 or sf.stride(0) == kb * m_pad


def get_mn_major_tma_aligned_tensor(sf: torch.Tensor) -> torch.Tensor:
    """Returns `sf` ([M, K/128] or [G, M, K/128], FP32) in the GEMM's scale layout.

    The result has the same shape but is stored MN-major (column-major per group) with each column padded to
    a multiple of 4 rows, which is what the kernel's TMA reads. A tensor already in that layout is returned
    as is, without a copy.
    """
    if sf.dtype != torch.float32:
        raise TypeError(f"scale tensor must be torch.float32, got {sf.dtype}")
    if sf.dim() not in (2, 3):
        raise ValueError(
            f"scale tensor must be 2-D [M, K/128] or 3-D [G, M, K/128], got shape {tuple(sf.shape)}"
        )
    if is_mn_major_tma_aligned(sf):
        return sf
    squeeze = sf.dim() == 2
    sf3 = sf.unsqueeze(0) if squeeze else sf
    g, m, kb = sf3.shape
    m_pad = get_tma_aligned_size(m, sf.element_size())
    storage = torch.empty((g, kb, m_pad), dtype=sf.dtype, device=sf.device)
    out = storage.transpose(1, 2)[:, :m, :]
    out.copy_(sf3)
    return out.squeeze(0) if squeeze else out


def get_m_alignment_for_contiguous_layout() -> int:
    """Row alignment of each expert's segment in the contiguous grouped layout (the largest block_m)."""
    return max(BLOCK_M_CHOICES)


def set_num_sms(num_sms: int) -> None:
    """Caps the SMs the kernels use (e.g. to leave some for communication kernels running alongside)."""
    if not isinstance(num_sms, int) or num_sms <= 0:
        raise ValueError(f"num_sms must be a positive int, got {num_sms!r}")
    available = torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    if num_sms > available:
        raise ValueError(f"num_sms={num_sms} exceeds the {available} SMs of the current device")
    global _num_sms_override
    _num_sms_override = num_sms
    launch_plans.forget_all()  # stored plans carry grids and configs chosen for the old count


def get_num_sms() -> int:
    """SMs the kernels use: the set_num_sms value, else the current device's SM count."""
    if _num_sms_override is not None:
        return _num_sms_override
    return _device_sm_count(torch.cuda.current_device())


_sm_counts: dict[int, int] = {}


def _device_sm_count(index: int) -> int:
    count = _sm_counts.get(index)
    if count is None:
        count = _sm_counts[index] = torch.cuda.get_device_properties(index).multi_processor_count
    return count
