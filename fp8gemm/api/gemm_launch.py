"""Shared last step of every GEMM op: TMA descriptors, kernel parameters, launch."""

from __future__ import annotations

import torch

from .. import launch_plans
from ..config import BLOCK_K, GemmConfig
from ..jit.build import get_kernel, get_split_k_reduce
from ..jit.launcher import (
    GEMM_WORKSPACE_OFFSET,
    REDUCE_WORKSPACE_OFFSET,
    LaunchPlan,
    pack_gemm_params,
    pack_reduce_params,
    set_pointer,
    tma_2d,
)
from ..utils import ceil_div, get_num_sms, get_tma_aligned_size

# Enough CTAs of the reduction to stream the partials at full bandwidth; it is a grid-stride loop.
REDUCE_MAX_CTAS = 264
REDUCE_COLS_PER_THREAD = 4  # SplitKReduce::kCols


class SplitKPlan:
    """A split-K call: the GEMM writes FP32 partials of each K range into a fresh workspace, then the
    reduction sums them into D. The workspace comes from torch's caching allocator on every call, so calls on
    different streams never share one; its address is written into both prebuilt parameter buffers."""

    __slots__ = ("gemm", "reduce", "workspace_shape", "device")

    def __init__(self, gemm: LaunchPlan, reduce: LaunchPlan, workspace_shape: tuple[int, ...], device) -> None:
        self.gemm, self.reduce = gemm, reduce
        self.workspace_shape, self.device = workspace_shape, device

    def launch(self) -> None:
        workspace = torch.empty(self.workspace_shape, dtype=torch.float32, device=self.device)
        set_pointer(self.gemm.params, GEMM_WORKSPACE_OFFSET, workspace.data_ptr())
        set_pointer(self.reduce.params, REDUCE_WORKSPACE_OFFSET, workspace.data_ptr())
        self.gemm.launch()
        self.reduce.launch()



def plan_key(a: object, b: object, tensors: tuple, scalars: tuple = ()) -> tuple | None:
    """The launch-plan key of one call (see fp8gemm.launch_plans); None when the arguments are not even
    tensors, so the full validation path names the problem."""
    try:
        (a0, a1), (b0, b1) = a, b
        # Spelled out for the four operand tensors: 28% faster than a loop, on a path that must stay a few µs.
        key = (
            *scalars,
            *(a0.data_ptr(), a0.shape, a0.stride(), a0.dtype, a1.data_ptr(), a1.shape, a1.stride(), a1.dtype),
            *(b0.data_ptr(), b0.shape, b0.stride(), b0.dtype, b1.data_ptr(), b1.shape, b1.stride(), b1.dtype),
        )
        for t in tensors:
            key += (t.data_ptr(), t.shape, t.stride(), t.dtype)
        return key
    except (TypeError, ValueError, AttributeError):
        return None


def remember_plan(key: tuple | None, plan: LaunchPlan | SplitKPlan, scales_used_as_given: bool) -> None:
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
    num_splits: int = 1,
) -> LaunchPlan | SplitKPlan:
    """Launches `config` on the current stream of `d`'s device; returns the plan that repeats this launch.

    a: FP8 rows of K (row stride a.stride(-2)); b: FP8 rows of K; sfa: MN-major scales, `sfa_rows` columns
    of sfa.shape[-2] values each, `get_tma_aligned_size(sfa.shape[-2], 4)` apart; sfb: contiguous FP32
    [groups, N/128, K/128]. num_tiles: `config.num_tiles` of the problem, or an upper bound when the host
    does not know it (masked layout): the persistent grid never exceeds it. num_splits (dense only): K
    ranges computed as separate work units, then summed by the split-K reduction.
    """
    kernel = get_kernel(config)
    device_index = d.device.index
    # Persistent: at most one CTA per SM (or per co-resident cluster slot), whole clusters only.
    cluster = config.cluster_n
    grid = min(kernel.max_resident_ctas(device_index), get_num_sms(), num_tiles * num_splits)
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
        workspace=0,
        shape_m=shape_m,
        shape_n=shape_n,
        shape_k=shape_k,
        num_groups=num_groups,
        ldd=d.stride(-2),
        ldc=0 if c is None else c.stride(-2),
        num_splits=num_splits,
    )
    plan = LaunchPlan(kernel, device_index, grid, params)
    if num_splits > 1:
        reduce_kernel = get_split_k_reduce(c is not None)
        groups = shape_m * shape_n // REDUCE_COLS_PER_THREAD
        reduce_params = pack_reduce_params(
            workspace=0,
            d=d.data_ptr(),
            c=0 if c is None else c.data_ptr(),
            shape_m=shape_m,
            shape_n=shape_n,
            num_splits=num_splits,
            ldd=d.stride(-2),
            ldc=0 if c is None else c.stride(-2),
        )
        reduce_grid = min(REDUCE_MAX_CTAS, ceil_div(groups, reduce_kernel.num_threads))
        reduce_plan = LaunchPlan(reduce_kernel, device_index, reduce_grid, reduce_params)
        plan = SplitKPlan(plan, reduce_plan, (num_splits, shape_m, shape_n), d.device)
    plan.launch()
    return plan
