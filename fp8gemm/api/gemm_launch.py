"""Shared last step of every GEMM op: TMA descriptors, kernel parameters, launch."""

from __future__ import annotations

import ctypes
import math

import torch

from .. import launch_plans
from ..config import (
    BLOCK_K,
    TMA_STORE_COLUMNS,
    WGMMA_M,
    GemmConfig,
    b_evict_first,
    stream_k_max_pieces,
    tma_store_capable,
)
from ..jit import native
from ..jit.build import get_kernel
from ..jit.launcher import (
    GEMM_TILE_COUNTERS_OFFSET,
    GEMM_WORKSPACE_OFFSET,
    LaunchPlan,
    pack_gemm_params,
    set_pointer,
    tma_2d,
)
from ..utils import ceil_div, get_num_sms, get_tma_aligned_size

# Split-K plans keep their FP32 workspace between calls while all plans' workspaces together stay within this;
# a plan past it allocates one per call. Run 20 (H100): allocating per call kept split-K plans off the C warm
# path, at 34 µs of host time per call against 10 µs for unsplit plans on the same host.
PLAN_WORKSPACE_BUDGET_BYTES = 256 << 20
_plan_workspace_bytes = 0


class SplitKPlan:
    """A split-K or stream-K call: K ranges of a tile leave FP32 partial sums in a workspace, and one range per
    tile adds them up in range order (in the same kernel; see Epilogue::store_split, add_pieces).

    The plan owns its tile counters (zero between launches: the range that adds up resets its counter) and,
    within PLAN_WORKSPACE_BUDGET_BYTES, its workspace, both made on the stream of its first call. Only calls
    with the same output share a plan, and those race on the output anyway. On that stream a warm call is
    one C launch; on another one the buffers are first marked in use by it, so that dropping the plan cannot
    free them under a running kernel. Under graph capture a launch takes fresh buffers from the graph's pool:
    the graph may outlive the plan."""

    __slots__ = ("gemm", "tile_counters", "workspace_shape", "workspace", "stream", "native")

    def __init__(self, gemm: LaunchPlan, tile_counters: torch.Tensor, workspace_shape: tuple[int, ...]) -> None:
        global _plan_workspace_bytes
        self.gemm, self.tile_counters, self.workspace_shape = gemm, tile_counters, workspace_shape
        device = tile_counters.device
        self.stream = torch.cuda.current_stream(device).cuda_stream
        self.workspace, self.native = None, None
        nbytes = 4 * math.prod(workspace_shape)
        if not torch.cuda.is_current_stream_capturing() and _plan_workspace_bytes + nbytes <= PLAN_WORKSPACE_BUDGET_BYTES:
            self.workspace = torch.empty(workspace_shape, dtype=torch.float32, device=device)
            _plan_workspace_bytes += nbytes
            set_pointer(gemm.params, GEMM_WORKSPACE_OFFSET, self.workspace.data_ptr())
            self.native = gemm.native_on_stream(self.stream)

    def __del__(self) -> None:
        global _plan_workspace_bytes
        if self.workspace is not None:
            _plan_workspace_bytes -= 4 * self.workspace.numel()

    def launch(self) -> None:
        device = self.tile_counters.device
        stream = torch.cuda.current_stream(device)
        if torch.cuda.is_current_stream_capturing():
            counters = torch.zeros_like(self.tile_counters)
            workspace = torch.empty(self.workspace_shape, dtype=torch.float32, device=device)
            self._launch_with(counters, workspace)
            return
        if stream.cuda_stream != self.stream:
            self.tile_counters.record_stream(stream)
            if self.workspace is not None:
                self.workspace.record_stream(stream)
        if self.workspace is None:
            # Allocated on the current stream: reused only after this launch's work there.
            workspace = torch.empty(self.workspace_shape, dtype=torch.float32, device=device)
            set_pointer(self.gemm.params, GEMM_WORKSPACE_OFFSET, workspace.data_ptr())
        self.gemm.launch()

    def _launch_with(self, counters: torch.Tensor, workspace: torch.Tensor) -> None:
        """One launch over other buffers; the plan's own are pointed at again afterwards (the driver copies
        the parameters at launch)."""
        params = self.gemm.params
        set_pointer(params, GEMM_TILE_COUNTERS_OFFSET, counters.data_ptr())
        set_pointer(params, GEMM_WORKSPACE_OFFSET, workspace.data_ptr())
        try:
            self.gemm.launch()
        finally:
            set_pointer(params, GEMM_TILE_COUNTERS_OFFSET, self.tile_counters.data_ptr())
            if self.workspace is not None:
                set_pointer(params, GEMM_WORKSPACE_OFFSET, self.workspace.data_ptr())


def _row_stride(t: torch.Tensor, rows: int, cols: int) -> int:
    """A one-row operand's row stride is never used and may be anything torch left there (e.g. 1 after a
    transpose); TMA still wants a 16-byte multiple, which the row length is (K % 16 == 0)."""
    return t.stride(-2) if rows > 1 else cols


def _tma_d(
    block_n: int, output_f32: bool, d: torch.Tensor, rows: int, cols: int, num_splits: int
) -> bytes | None:
    """D's store descriptor (64 x 64 boxes, 128-byte swizzle), or None where the kernel must store D itself:
    FP32 output, a tile width the swizzled staging does not cover, split-K (the reduction writes D), or a D
    that TMA cannot address (16-byte aligned base and row stride)."""
    if not tma_store_capable(block_n, output_f32) or num_splits > 1:
        return None
    row_stride = _row_stride(d, rows, cols)
    if d.data_ptr() % 16 or (row_stride * d.element_size()) % 16:
        return None
    return tma_2d(d, rows, cols, row_stride, TMA_STORE_COLUMNS, WGMMA_M, swizzle_128b=True)


def remember_plan(key: tuple | None, plan: LaunchPlan | SplitKPlan, scales_used_as_given: bool) -> None:
    """Stores `plan` for warm calls, unless the call converted or copied a scale tensor: then the plan
    points at a temporary."""
    # A plan made during CUDA-graph capture holds allocations (split-K counters) that were recorded, not
    # run: eager calls must build their own.
    if key is not None and scales_used_as_given and not torch.cuda.is_current_stream_capturing():
        launch_plans.remember(key, plan)
        native.start()


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
    ranges computed as separate work units, their partial sums added by the last to finish each tile.
    """
    kernel = get_kernel(config)
    device_index = d.device.index
    # Persistent: at most one CTA per SM (or per co-resident cluster slot), whole clusters only.
    cluster = config.cluster_n
    # Stream-K deals K blocks, not tiles, to the CTAs: at most one CTA per K block keeps every range non-empty.
    num_units = num_tiles * (ceil_div(shape_k, BLOCK_K) if config.stream_k else num_splits)
    grid = min(kernel.max_resident_ctas(device_index), get_num_sms(), num_units)
    grid -= grid % cluster
    if grid == 0:
        raise RuntimeError(f"{config} needs {cluster} SMs per cluster; only {get_num_sms()} are in use")
    if config.stream_k and num_splits != 1:
        raise ValueError(f"{config} is stream-K: num_splits must be 1, got {num_splits}")
    # Partial sums a tile may leave in the workspace. Split-K: one [M, N] slice per K range. Stream-K: every
    # range but a tile's first (which adds the others into its accumulators) leaves one block_m x block_n
    # tile, so the slices are one fewer than the most ranges any tile is cut into.
    tiles = ceil_div(shape_m, config.block_m) * ceil_div(shape_n, config.block_n)
    workspace_shape: tuple[int, ...] = (num_splits, shape_m, shape_n)
    if config.stream_k:
        cuts = stream_k_max_pieces(num_tiles, ceil_div(shape_k, BLOCK_K), grid) - 1
        workspace_shape = (cuts, tiles, config.block_m * config.block_n)
    sfa_col = sfa.shape[-2]
    tile_counters = None
    if workspace_shape[0] > (0 if config.stream_k else 1):  # some tile is cut
        tile_counters = torch.zeros(tiles * config.num_math_warpgroups, dtype=torch.int32, device=d.device)
    # With a cluster each CTA loads its 1/cluster_n share of the A tile (and multicasts it).
    tma_a = tma_2d(a, a_rows, shape_k, _row_stride(a, a_rows, shape_k), BLOCK_K, config.block_m // cluster,
                   swizzle_128b=True)
    tma_sfa = tma_2d(sfa, sfa_rows, sfa_col, get_tma_aligned_size(sfa_col, 4), config.block_m, 1, swizzle_128b=False)

    def tma_b(block_n: int) -> bytes:
        return tma_2d(b, b_rows, shape_k, b.stride(-2), BLOCK_K, block_n, swizzle_128b=True)

    params = pack_gemm_params(
        tma_a=tma_a,
        tma_b=tma_b(config.block_n),
        tma_sfa=tma_sfa,
        # D has A's rows (all groups' for the grouped layouts).
        tma_d=_tma_d(config.block_n, config.output_f32, d, a_rows, shape_n, num_splits),
        sfb=sfb.data_ptr(),
        d=d.data_ptr(),
        c=0 if c is None else c.data_ptr(),
        group_info=0 if group_info is None else group_info.data_ptr(),
        workspace=0,
        tile_counters=0 if tile_counters is None else tile_counters.data_ptr(),
        shape_m=shape_m,
        shape_n=shape_n,
        shape_k=shape_k,
        num_groups=num_groups,
        ldd=d.stride(-2),
        ldc=0 if c is None else c.stride(-2),
        num_splits=num_splits,
        # shape_m bounds every group's rows: masked M_max; dense and contiguous, all rows (one group's where
        # they fit one m block).
        b_evict_first=b_evict_first(config.gemm_type, config.block_m, config.block_n, shape_m),
    )
    if config.alt_widths:
        # fp8gemm::MaskedWidthParams: the main width's parameters, then each alternative's B descriptor, in order.
        packed = params.raw + b"".join(tma_b(block_n) for block_n, _ in config.alt_widths)
        params = ctypes.create_string_buffer(packed, len(packed))
    plan = LaunchPlan(kernel, device_index, grid, params)
    if tile_counters is not None:
        plan = SplitKPlan(plan, tile_counters, workspace_shape)
    plan.launch()
    return plan
