"""Config choice: a pure, cached function of (layout, M, N, K, groups, SM count, output type).

Model. A persistent CTA takes tiles in waves of `num_sms`; the kernel's time is the number of waves times
the time of one tile, and a tile costs the larger of
  - its tensor-core work, 2·block_m·block_n·K / (per-SM FP8 rate), and
  - its operand traffic, (block_m + block_n)·K bytes / (per-SM share of HBM bandwidth),
plus a fixed per-tile cost (prologue, epilogue stores) worth TILE_OVERHEAD_K of K. Ties go to the larger tile.

Worked example (132 SMs): M=64, N=2112, K=7168. block_m=64; block_n=128 gives 17 tiles in one wave, each
moving 192·7168 B; block_n=16 gives 132 tiles in one wave moving 80·7168 B each, 2.4x less per SM on the
critical path, so the model picks block_n=16 (the weight read is spread over every SM).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from . import launch_plans
from .config import (
    BLOCK_M_CHOICES,
    BLOCK_N_CHOICES,
    GemmConfig,
    GemmType,
    b_scale_blocks_per_tile_ok,
    max_stages,
)

# Per-SM rates used only to weigh compute against traffic (H100 SXM: ~1979 TFLOPS dense FP8 at ~1.8 GHz
# over 132 SMs, 3.0 TB/s measured HBM copy bandwidth).
FLOPS_PER_SM = 1979e12 / 132
BYTES_PER_SM = 3.0e12 / 132
TILE_OVERHEAD_K = 256
# Multicast pays off where many m blocks share each B panel's L2 reads: the large-M configs.
MULTICAST_BLOCK_M = (128,)


def _tile_cost(block_m: int, block_n: int, k: int) -> float:
    eff_k = k + TILE_OVERHEAD_K
    compute = 2.0 * block_m * block_n * eff_k / FLOPS_PER_SM
    traffic = (block_m + block_n) * eff_k / BYTES_PER_SM
    return max(compute, traffic)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@lru_cache(maxsize=1024)
def choose_config(
    gemm_type: GemmType,
    m: int,
    n: int,
    k: int,
    num_groups: int,
    num_sms: int,
    output_f32: bool = False,
) -> GemmConfig:
    """Best config for one problem. `m` is rows per group: M (dense), M_total (contiguous), expected_m (masked)."""
    best_key, best = None, None
    for block_m in BLOCK_M_CHOICES:
        if m <= 64 and block_m > 64:
            continue  # a second math warpgroup would only multiply zeros
        for block_n in BLOCK_N_CHOICES:
            if not b_scale_blocks_per_tile_ok(block_n):
                continue
            tiles = _ceil_div(m, block_m) * _ceil_div(n, block_n)
            if gemm_type == GemmType.GROUPED_MASKED:
                tiles *= num_groups
            waves = _ceil_div(max(tiles, 1), num_sms)
            cost = waves * _tile_cost(block_m, block_n, k)
            key = (round(cost, 12), -block_m * block_n, -block_n)
            if best_key is None or key < best_key:
                best_key = key
                best = GemmConfig(gemm_type, block_m, block_n, max_stages(block_m, block_n), output_f32)
    return best


_forced: GemmConfig | None = None


@contextmanager
def forced_config(config: GemmConfig) -> Iterator[None]:
    """Within the block, ops of `config.gemm_type` launch `config` instead of the heuristic's choice
    (sanitizer runs, tuning, tests of one variant)."""
    problems = config.problems()
    if problems:
        raise ValueError(f"invalid kernel config {config}: {'; '.join(problems)}")
    global _forced
    previous, _forced = _forced, config
    launch_plans.forget_all()  # warm calls must not replay the heuristic's choice
    try:
        yield
    finally:
        _forced = previous
        launch_plans.forget_all()


def select_config(
    gemm_type: GemmType, m: int, n: int, k: int, num_groups: int, num_sms: int, output_f32: bool = False
) -> GemmConfig:
    """The config an op launches: a forced one when it matches the op, else choose_config's."""
    if _forced is not None and _forced.gemm_type == gemm_type and _forced.output_f32 == output_f32:
        return _forced
    return choose_config(gemm_type, m, n, k, num_groups, num_sms, output_f32)


def all_configs() -> list[GemmConfig]:
    """Every config choose_config can return (the CPU compile test builds each of them)."""
    out = []
    for gemm_type in GemmType:
        for output_f32 in (False, True):
            if output_f32 and gemm_type != GemmType.DENSE:
                continue
            for block_m in BLOCK_M_CHOICES:
                for block_n in BLOCK_N_CHOICES:
                    if not b_scale_blocks_per_tile_ok(block_n):
                        continue
                    stages = max_stages(block_m, block_n)
                    out.append(GemmConfig(gemm_type, block_m, block_n, stages, output_f32))
                    if block_m in MULTICAST_BLOCK_M:
                        out.append(GemmConfig(gemm_type, block_m, block_n, stages, output_f32, cluster_n=2))
    return out
