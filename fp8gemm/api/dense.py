"""Dense GEMM: D = A · Bᵀ (BF16 out) or D = C + A · Bᵀ (FP32 out)."""

from __future__ import annotations

import torch

from .. import launch_plans
from ..config import BLOCK_K, SCALE_BLOCK, GemmType
from ..heuristics import select_launch
from ..utils import ceil_div, get_mn_major_tma_aligned_tensor, get_num_sms
from . import validation as v
from .gemm_launch import launch_gemm, remember_plan


def check_b_scales(name: str, sfb: torch.Tensor, expected: tuple[int, ...]) -> torch.Tensor:
    """B's block scales as the contiguous FP32 tensor the kernel indexes (copied only if strided)."""
    v.check_tensor(name, sfb, torch.float32, len(expected))
    v.check_shape(name, sfb, expected)
    return sfb if sfb.is_contiguous() else sfb.contiguous()


def fp8_gemm_nt(
    a: tuple[torch.Tensor, torch.Tensor],
    b: tuple[torch.Tensor, torch.Tensor],
    d: torch.Tensor,
    c: torch.Tensor | None = None,
    check: bool = False,
) -> None:
    """D = A · Bᵀ with FP8 e4m3 operands and fine-grained FP32 scales, written into `d` in place.

    Args:
        a: (A [M, K] float8_e4m3fn, sfa [M, ceil(K/128)] float32): one scale per row per 128-wide K block.
            sfa may be row-major or already MN-major and TMA-aligned (`get_mn_major_tma_aligned_tensor`);
            only the former is converted.
        b: (B [N, K] float8_e4m3fn, sfb [ceil(N/128), ceil(K/128)] float32): one scale per 128x128 block.
        d: output [M, N], bfloat16, or float32 when `c` is given.
        c: optional float32 [M, N]: then D = C + A · Bᵀ in float32 (`c` may be `d` itself).
        check: also verify that every scale is finite (reads them back: a device sync); for debugging.
            Without it a NaN or Inf scale propagates into the outputs it touches.

    Requirements: N % 8 == 0, K % 16 == 0, A and B contiguous along K; M may be any value >= 0.
    """
    if torch.compiler.is_compiling():
        # Traced by torch.compile: data pointers cannot be traced, the registered op can (fp8gemm.ops).
        (a_data, sfa), (b_data, sfb) = a, b
        torch.ops.fp8gemm.fp8_gemm_nt.default(a_data, sfa, b_data, sfb, d, c)
        return
    key = None if check else launch_plans.warm_launch(a, b, d, c, ())
    if key is True:  # launched from the plan stored under this call's key
        return
    a_data, sfa = v.check_pair("a", a)
    b_data, sfb = v.check_pair("b", b)
    v.check_tensor("a[0]", a_data, v.FP8, 2)
    v.check_tensor("b[0]", b_data, v.FP8, 2)
    m, k = a_data.shape
    n, k_b = b_data.shape
    if k_b != k:
        raise ValueError(
            f"a[0] is [M, K] = {tuple(a_data.shape)} and b[0] is [N, K] = {tuple(b_data.shape)}: K differs"
        )
    if n % 8 != 0:
        raise ValueError(f"N (b[0].shape[0]) must be a multiple of 8, got {n}")
    if k % 16 != 0:
        raise ValueError(f"K (a[0].shape[1]) must be a multiple of 16, got {k}")
    out_dtype = torch.bfloat16 if c is None else torch.float32
    v.check_tensor("d", d, out_dtype, 2)
    v.check_shape("d", d, (m, n))
    v.check_tensor("a[1]", sfa, torch.float32, 2)
    v.check_shape("a[1]", sfa, (m, ceil_div(k, BLOCK_K)))
    sfb_given = sfb
    sfb = check_b_scales("b[1]", sfb, (ceil_div(n, SCALE_BLOCK), ceil_div(k, BLOCK_K)))
    if c is not None:
        v.check_tensor("c", c, torch.float32, 2)
        v.check_shape("c", c, (m, n))
        v.check_output("c", c)
        if c.data_ptr() != d.data_ptr() or c.stride() != d.stride():
            v.check_no_overlap("d", d, c=c)
    v.check_k_major("a[0]", a_data)
    v.check_k_major("b[0]", b_data)
    v.check_output("d", d)
    v.check_placement(d, sfa, sfb, check, **{"a[0]": a_data, "b[0]": b_data})
    v.check_devices("d", d, c=c)

    if m == 0 or n == 0:
        return
    if k == 0:
        d.copy_(c) if c is not None else d.zero_()
        return
    sfa_given, sfa = sfa, get_mn_major_tma_aligned_tensor(sfa)
    v.check_aligned("a[1]", sfa)
    config, split_k = select_launch(GemmType.DENSE, m, n, k, 1, get_num_sms(), c is not None)
    plan = launch_gemm(
        config,
        a=a_data,
        a_rows=m,
        b=b_data,
        b_rows=n,
        sfa=sfa,
        sfa_rows=ceil_div(k, BLOCK_K),
        sfb=sfb,
        d=d,
        c=c,
        group_info=None,
        shape_m=m,
        shape_n=n,
        shape_k=k,
        num_groups=1,
        num_tiles=config.num_tiles(m, n),
        num_splits=split_k,
    )
    remember_plan(key, plan, sfa is sfa_given and sfb is sfb_given)
