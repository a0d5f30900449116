"""MoE grouped GEMMs: G experts with the same N and K in one launch, grouped along M.

Contiguous layout (training forward, prefill): the experts' rows stand back to back in one A; m_indices[row]
names each row's expert, -1 for padding. Each expert's segment starts at a multiple of
`get_m_alignment_for_contiguous_layout()` (128) rows. A row of D is written iff its m_indices value is a valid
expert; padding rows of D are left untouched.

Masked layout (decode, CUDA graphs): A is [G, M_max, K] and only the first masked_m[g] rows of group g are
computed and written; the host never reads masked_m, so a captured call replays with new counts.
"""

from __future__ import annotations

import torch

from .. import launch_plans
from ..config import BLOCK_K, SCALE_BLOCK, GemmType
from ..heuristics import config_is_forced, select_launch
from ..jit.build import kernel_or_stand_in
from ..utils import (
    ceil_div,
    get_m_alignment_for_contiguous_layout,
    get_mn_major_tma_aligned_tensor,
    get_num_sms,
)
from . import validation as v
from .dense import check_b_scales
from .gemm_launch import launch_gemm, remember_plan


def _check_grouped_b(
    b: tuple[torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, int, int, int]:
    b_data, sfb = v.check_pair("b", b)
    v.check_tensor("b[0]", b_data, v.FP8, 3)
    g, n, k = b_data.shape
    if g < 1:
        raise ValueError(f"b[0] must hold at least one group, got shape {tuple(b_data.shape)}")
    if n % 8 != 0:
        raise ValueError(f"N (b[0].shape[1]) must be a multiple of 8, got {n}")
    if k % 16 != 0 or k == 0:
        raise ValueError(f"K (b[0].shape[2]) must be a positive multiple of 16, got {k}")
    v.check_k_major("b[0]", b_data)
    if g > 1 and b_data.numel() and b_data.stride(0) != n * b_data.stride(1):
        raise ValueError(
            f"b[0] groups must be stacked without gaps (stride(0) == N * stride(1)), got {b_data.stride()}"
        )
    sfb = check_b_scales("b[1]", sfb, (g, ceil_div(n, SCALE_BLOCK), ceil_div(k, BLOCK_K)))
    return b_data, sfb, g, n, k


def m_grouped_fp8_gemm_nt_contiguous(
    a: tuple[torch.Tensor, torch.Tensor],
    b: tuple[torch.Tensor, torch.Tensor],
    d: torch.Tensor,
    m_indices: torch.Tensor,
    check: bool = False,
) -> None:
    """Grouped D = A · B[g]ᵀ over experts laid out back to back along M.

    Args:
        a: (A [M_total, K] float8_e4m3fn, sfa [M_total, ceil(K/128)] float32).
        b: (B [G, N, K] float8_e4m3fn, sfb [G, ceil(N/128), ceil(K/128)] float32).
        d: bfloat16 [M_total, N], written in place (padding rows untouched).
        m_indices: int32 [M_total] on the GPU: each row's expert in [0, G), or -1 for padding rows.
        check: read m_indices and the scales back (a device sync) and raise if a value is out of range, a
            segment does not start on the alignment, or a scale is NaN/Inf; for debugging. Without it, tiles naming an invalid expert are skipped.
    """
    if torch.compiler.is_compiling():
        # Traced by torch.compile: data pointers cannot be traced, the registered op can (fp8gemm.ops).
        (a_data, sfa), (b_data, sfb) = a, b
        torch.ops.fp8gemm.m_grouped_fp8_gemm_nt_contiguous.default(a_data, sfa, b_data, sfb, d, m_indices)
        return
    key = None if check else launch_plans.warm_launch(a, b, d, m_indices, ())
    if key is True:  # launched from the plan stored under this call's key
        return
    a_data, sfa = v.check_pair("a", a)
    v.check_tensor("a[0]", a_data, v.FP8, 2)
    b_data, sfb, g, n, k = _check_grouped_b(b)
    m = a_data.shape[0]
    if a_data.shape[1] != k:
        raise ValueError(f"a[0] is [M_total, K] = {tuple(a_data.shape)} but b[0] has K = {k}")
    v.check_k_major("a[0]", a_data)
    v.check_tensor("a[1]", sfa, torch.float32, 2)
    v.check_shape("a[1]", sfa, (m, ceil_div(k, BLOCK_K)))
    v.check_tensor("d", d, torch.bfloat16, 2)
    v.check_shape("d", d, (m, n))
    v.check_output("d", d)
    v.check_tensor("m_indices", m_indices, torch.int32, 1)
    v.check_shape("m_indices", m_indices, (m,))
    if not m_indices.is_contiguous():
        raise ValueError("m_indices must be contiguous")
    v.check_placement(d, sfa, sfb, check, **{"a[0]": a_data, "b[0]": b_data, "m_indices": m_indices})
    if check:
        check_contiguous_layout(m_indices, g)
    if m == 0 or n == 0:
        return
    sfa_given, sfa = sfa, get_mn_major_tma_aligned_tensor(sfa)
    v.check_aligned("a[1]", sfa)
    config, _ = select_launch(GemmType.GROUPED_CONTIGUOUS, m, n, k, g, get_num_sms())
    plan = launch_gemm(
        config,
        a=a_data,
        a_rows=m,
        b=b_data,
        b_rows=g * n,
        sfa=sfa,
        sfa_rows=ceil_div(k, BLOCK_K),
        sfb=sfb,
        d=d,
        c=None,
        group_info=m_indices,
        shape_m=m,
        shape_n=n,
        shape_k=k,
        num_groups=g,
        num_tiles=config.num_tiles(m, n),
    )
    remember_plan(key, plan, sfa is sfa_given and sfb is b[1])


def check_contiguous_layout(m_indices: torch.Tensor, num_groups: int) -> None:
    """Raises ValueError unless m_indices is a valid contiguous layout (reads it back: a device sync).

    Valid: values in [-1, num_groups); within each aligned block of rows, the rows of one expert first and
    then only padding (-1).
    """
    values = m_indices.cpu()
    bad = (values < -1) | (values >= num_groups)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"m_indices[{row}] = {int(values[row])} is not an expert in [0, {num_groups}) nor -1"
        )
    alignment = get_m_alignment_for_contiguous_layout()
    for start in range(0, values.numel(), alignment):
        block = values[start : start + alignment]
        valid = block >= 0
        num_valid = int(valid.sum())
        if num_valid == 0:
            continue
        if not bool(valid[:num_valid].all()) or bool((block[:num_valid] != block[0]).any()):
            raise ValueError(
                f"m_indices rows {start}..{start + block.numel() - 1} mix experts or put padding before rows: each "
                f"expert's segment must start at a multiple of {alignment} rows and end with its padding"
            )


def m_grouped_fp8_gemm_nt_masked(
    a: tuple[torch.Tensor, torch.Tensor],
    b: tuple[torch.Tensor, torch.Tensor],
    d: torch.Tensor,
    masked_m: torch.Tensor,
    expected_m: int,
    check: bool = False,
) -> None:
    """Grouped D[g] = A[g] · B[g]ᵀ on the first masked_m[g] rows of each group.

    Args:
        a: (A [G, M_max, K] float8_e4m3fn, sfa [G, M_max, ceil(K/128)] float32).
        b: (B [G, N, K] float8_e4m3fn, sfb [G, ceil(N/128), ceil(K/128)] float32).
        d: bfloat16 [G, M_max, N]; rows at or past masked_m[g] are left untouched.
        masked_m: int32 [G] on the GPU, never read by the host (CUDA-graph safe); values are clamped to
            [0, M_max] in the kernel.
        expected_m: the typical rows per group, used only to choose the kernel config.
        check: read masked_m and the scales back (a device sync) and raise if a count is outside [0, M_max]
            or a scale is NaN/Inf; for debugging.
    """
    if torch.compiler.is_compiling():
        # Traced by torch.compile: data pointers cannot be traced, the registered op can (fp8gemm.ops).
        (a_data, sfa), (b_data, sfb) = a, b
        torch.ops.fp8gemm.m_grouped_fp8_gemm_nt_masked.default(a_data, sfa, b_data, sfb, d, masked_m, expected_m)
        return
    key = None if check else launch_plans.warm_launch(a, b, d, masked_m, (type(expected_m), expected_m))
    if key is True:  # launched from the plan stored under this call's key
        return
    a_data, sfa = v.check_pair("a", a)
    v.check_tensor("a[0]", a_data, v.FP8, 3)
    b_data, sfb, g, n, k = _check_grouped_b(b)
    g_a, m_max, k_a = a_data.shape
    if g_a != g:
        raise ValueError(f"a[0] has {g_a} groups but b[0] has {g}")
    if k_a != k:
        raise ValueError(f"a[0] is [G, M_max, K] = {tuple(a_data.shape)} but b[0] has K = {k}")
    v.check_k_major("a[0]", a_data)
    if g > 1 and a_data.numel() and a_data.stride(0) != m_max * a_data.stride(1):
        raise ValueError(
            f"a[0] groups must be stacked without gaps (stride(0) == M_max * stride(1)), got {a_data.stride()}"
        )
    v.check_tensor("a[1]", sfa, torch.float32, 3)
    v.check_shape("a[1]", sfa, (g, m_max, ceil_div(k, BLOCK_K)))
    v.check_tensor("d", d, torch.bfloat16, 3)
    v.check_shape("d", d, (g, m_max, n))
    v.check_output("d", d)
    if g > 1 and d.numel() and d.stride(0) != m_max * d.stride(1):
        raise ValueError(
            f"d groups must be stacked without gaps (stride(0) == M_max * stride(1)), got {d.stride()}"
        )
    v.check_tensor("masked_m", masked_m, torch.int32, 1)
    v.check_shape("masked_m", masked_m, (g,))
    if not masked_m.is_contiguous():
        raise ValueError(f"masked_m must be contiguous (the kernel reads G consecutive int32), got strides {masked_m.stride()}")
    expected_m = v.check_int("expected_m", expected_m, 1)
    v.check_placement(d, sfa, sfb, check, **{"a[0]": a_data, "b[0]": b_data, "masked_m": masked_m})
    if check:
        values = masked_m.cpu()
        bad = (values < 0) | (values > m_max)
        if bool(bad.any()):
            group = int(bad.nonzero()[0, 0])
            raise ValueError(f"masked_m[{group}] = {int(values[group])} is outside [0, M_max = {m_max}]")
    if m_max == 0 or n == 0:
        return
    sfa_given, sfa = sfa, get_mn_major_tma_aligned_tensor(sfa)
    v.check_aligned("a[1]", sfa)
    chosen, _ = select_launch(GemmType.GROUPED_MASKED, min(expected_m, m_max), n, k, g, get_num_sms())
    config = chosen
    if chosen.alt_widths and not config_is_forced() and not torch.cuda.is_current_stream_capturing():
        # Its main width alone computes the same rows and compiles in a fifth of the time or less (NVRTC: 0.4 s
        # against 2.5 s with three widths and 4.1 s with four).
        config = kernel_or_stand_in(chosen, chosen.main_width_only())
    plan = launch_gemm(
        config,
        a=a_data,
        a_rows=g * m_max,
        b=b_data,
        b_rows=g * n,
        sfa=sfa,
        sfa_rows=g * ceil_div(k, BLOCK_K),
        sfb=sfb,
        d=d,
        c=None,
        group_info=masked_m,
        shape_m=m_max,
        shape_n=n,
        shape_k=k,
        num_groups=g,
        num_tiles=get_num_sms(),
    )
    # No plan for a stand-in: warm calls would replay it after the chosen kernel is ready, and one made during
    # CUDA-graph capture would put it in the graph (the warm path does not check for capture).
    if config is chosen:
        remember_plan(key, plan, sfa is sfa_given and sfb is b[1])
