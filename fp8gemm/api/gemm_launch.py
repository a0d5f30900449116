"""Shared last step of every GEMM op: TMA descriptors, kernel parameters, launch."""

from __future__ import annotations

import torch

from ..config import BLOCK_K, GemmConfig
from ..jit.build import get_kernel
from ..jit.launcher import pack_gemm_params, tma_2d
from ..utils import get_tma_aligned_size


def launch_gemm(
    config: GemmConfig,
    *,
    a: torch.Tensor,
    a_rows: int,
    b: torch.Tensor,
    b_rows: int,
    sfa: torch.Tensor,
    sfa_rows: int,
    sfb: torch.Tensor,
    d: torch.Tensor,
    c: torch.Tensor | None,
    group_info: torch.Tensor | None,
    shape_m: int,
    shape_n: int,
    shape_k: int,
    num_groups: int,
    grid: int,
) -> None:
    """Launches `config` on the current stream of `d`'s device.

    a: FP8 rows of K (row stride a.stride(-2)); b: FP8 rows of K; sfa: MN-major scales, `sfa_rows` columns
    of sfa.shape[-2] values each, `get_tma_aligned_size(sfa.shape[-2], 4)` apart; sfb: contiguous FP32
    [groups, N/128, K/128].
    """
    kernel = get_kernel(config)
    sfa_col = sfa.shape[-2]
    params = pack_gemm_params(
        tma_a=tma_2d(a, a_rows, shape_k, a.stride(-2), BLOCK_K, config.block_m, swizzle_128b=True),
        tma_b=tma_2d(b, b_rows, shape_k, b.stride(-2), BLOCK_K, config.block_n, swizzle_128b=True),
        tma_sfa=tma_2d(
            sfa, sfa_rows, sfa_col, get_tma_aligned_size(sfa_col, 4), config.block_m, 1, swizzle_128b=False
        ),
        sfb=sfb.data_ptr(),
        d=d.data_ptr(),
        c=0 if c is None else c.data_ptr(),
        group_info=0 if group_info is None else group_info.data_ptr(),
        shape_m=shape_m,
        shape_n=shape_n,
        shape_k=shape_k,
        num_groups=num_groups,
        ldd=d.stride(-2),
        ldc=0 if c is None else c.stride(-2),
    )
    device = d.device
    stream = torch.cuda.current_stream(device).cuda_stream
    kernel.launch(device.index, grid, params, stream)
