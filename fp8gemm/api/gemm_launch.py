"""Shared last step of every GEMM op: TMA descriptors, kernel parameters, launch."""

from __future__ import annotations

import torch

from .. import launch_plans
from ..config import BLOCK_K, GemmConfig
from ..jit.build import get_kernel
from ..jit.launcher import LaunchPlan, pack_gemm_params, tma_2d
from ..utils import get_num_sms, get_tma_aligned_size


def plan_key(a: object, b: object, tensors: tuple, scalars: tuple = ()) -> tuple | None:
    """The launch-plan key of one call (see fp8gemm.launch_plans); None when the arguments are not even
    tensors, so the full validation path names the problem."""
    try:
        (a_data, sfa), (b_data, sfb) = a, b
        key = scalars
        for t in (a_data, sfa, b_data, sfb, *tensors):
            key += (t.data_ptr(), t.shape, t.stride(), t.dtype)
        return key
    except (TypeError, ValueError, AttributeError):
        return None


def remember_plan(key: tuple | None, plan: LaunchPlan, scales_used_as_given: bool) -> None:
    """Stores `plan` for warm calls, unless the call converted or copied a scale tensor: then the plan
    points at a temporary."""
    if key is not None and scales_used_as_given:
        launch_plans.remember(key, plan)


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
    num_tiles: int,
) -> LaunchPlan:
    """Launches `config` on the current stream of `d`'s device; returns the plan that repeats this launch.

    a: FP8 rows of K (row stride a.stride(-2)); b: FP8 rows of K; sfa: MN-major scales, `sfa_rows` columns
    of sfa.shape[-2] values each, `get_tma_aligned_size(sfa.shape[-2], 4)` apart; sfb: contiguous FP32
    [groups, N/128, K/128]. num_tiles: `config.num_tiles` of the problem, or an upper bound when the host
    does not know it (masked layout): the persistent grid never exceeds it.
    """
    kernel = get_kernel(config)
    device_index = d.device.index
    # Persistent: at most one CTA per SM (or per co-resident cluster slot), whole clusters only.
    cluster = config.cluster_n
    grid = min(kernel.max_resident_ctas(device_index), get_num_sms(), num_tiles)
    grid -= grid % cluster
    if grid == 0:
        raise RuntimeError(f"{config} needs {cluster} SMs per cluster; only {get_num_sms()} are in use")
    sfa_col = sfa.shape[-2]
    params = pack_gemm_params(
        # With a cluster each CTA loads its 1/cluster_n share of the A tile (and multicasts it).
        tma_a=tma_2d(a, a_rows, shape_k, a.stride(-2), BLOCK_K, config.block_m // cluster, swizzle_128b=True),
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
    plan = LaunchPlan(kernel, device_index, grid, params)
    plan.launch()
    return plan
