"""Kernel configurations: the typed, frozen description of one compiled kernel variant.

A `GemmConfig` names every template parameter of `kernels/fp8_gemm.cuh`; heuristics choose one, codegen
instantiates it, tests compile every one the heuristics can return. Hardware constants live here once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from math import gcd

# Hopper (sm_90) facts.
SM90_SMEM_CAPACITY = 232_448  # max dynamic shared memory per block, bytes (227 KB opt-in)
WARPGROUP_THREADS = 128
WGMMA_M = 64

# Problem granularity fixed by the scaling recipe.
BLOCK_K = 128  # one K block per A/B scale: the kernel promotes once per block
SCALE_BLOCK = 128  # B scales cover 128 x 128; A scales 1 x 128

BLOCK_M_CHOICES = (64, 128)
# CTAs per cluster along N: the pair shares one A tile, each loading half and multicasting it to both.
CLUSTER_N_CHOICES = (1, 2)
BLOCK_N_CHOICES = (16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256)
# Small-M kernels are bound by how many bytes each SM has in flight: measured 2026-11-23 (run 6), the
# TMA loads alone of 64x2112x7168 (block 64x16, 10 KB stages) took 33.1 / 16.2 / 12.2 µs with 2 / 4 / 8
# stages, still falling at 8. Tiles up to DEEP_RING_MAX_BLOCK_N columns wide take rings up to MAX_STAGES
# deep: 16 stages against 8 cut the kernel time of 64x4096x7168 (block 64x32) by 8% and of 64x2112x7168
# by 5%, while 64-column tiles lost 2-3% with 13 (64x7168x16384, 64x7168x2048) and keep WIDE_TILE_STAGES.
MAX_STAGES = 16
WIDE_TILE_STAGES = 8
DEEP_RING_MAX_BLOCK_N = 32


class GemmType(IntEnum):
    """Problem layout; values match `fp8gemm::GemmType` in kernels/common/scheduler.cuh."""

    DENSE = 0
    GROUPED_CONTIGUOUS = 1
    GROUPED_MASKED = 2

    @property
    def cpp_name(self) -> str:
        return {0: "Dense", 1: "GroupedContiguous", 2: "GroupedMasked"}[int(self)]


def b_scale_blocks_per_tile(block_n: int) -> int:
    """Most 128-wide B scale blocks one tile touches (mirrors Fp8Gemm::kMaxScaleBlocks).

    Tile starts fall at multiples of block_n, whose offsets inside a scale block reach 128 - gcd(block_n, 128);
    the tile starting there ends at column 128 - gcd + block_n - 1 of the first block's frame.
    """
    return (SCALE_BLOCK - gcd(block_n, SCALE_BLOCK) + block_n - 1) // SCALE_BLOCK + 1


def b_scale_bytes_per_stage(block_n: int) -> int:
    """The B tile's scales of the stage's K block, in an even number of words (the barriers after them stay
    8-byte aligned)."""
    return -(-b_scale_blocks_per_tile(block_n) // 2) * 2 * 4


def stage_bytes(block_m: int, block_n: int) -> int:
    """Shared memory of one pipeline stage: A tile, B tile, the A tile's and the B tile's scales."""
    return (block_m + block_n) * BLOCK_K + block_m * 4 + b_scale_bytes_per_stage(block_n)


# BF16 tiles whose width is a whole number of these columns (128 bytes: the TMA swizzle span) are staged
# in TMA's 128-byte-swizzled layout and can leave by TMA store.
TMA_STORE_COLUMNS = 64


def tma_store_capable(block_n: int, output_f32: bool) -> bool:
    return not output_f32 and block_n % TMA_STORE_COLUMNS == 0


# B tiles at least this wide are loaded evict-first from L2 when one m block covers the rows (each B tile is
# then read by one CTA, once). Measured on the H200 (docs/performance.md, run 17): 2-11% faster at M <= 128
# after the benchmark's writing L2 flush (unhinted B lines force the dirty lines' write-backs; after a clean
# read the hint is level to 4% slower), and 1.4-2.1% slower for 16-wide tiles.
B_EVICT_FIRST_MIN_BLOCK_N = 32


def b_evict_first(gemm_type: GemmType, block_m: int, block_n: int, rows_per_group: int) -> bool:
    """Whether B streams through L2 evict-first: each of its tiles is read once (one m block per group's
    rows) and the tile is wide enough to gain from it. Never for masked kernels, whose B load is unhinted
    (see Fp8Gemm::produce)."""
    return (
        gemm_type != GemmType.GROUPED_MASKED and rows_per_group <= block_m and block_n >= B_EVICT_FIRST_MIN_BLOCK_N
    )


# Tiles wider than this take each K block's products, and stage their output, in two halves (mirrors
# Fp8Gemm::kPartN): accumulators and a whole width's products would not fit the math registers together.
MAX_WHOLE_PART_N = 192


def part_n(block_n: int) -> int:
    return block_n // 2 if block_n > MAX_WHOLE_PART_N else block_n


def staging_bytes(block_m: int, block_n: int, output_f32: bool) -> int:
    """BF16 epilogue staging: each math warpgroup's 64 rows of one part, swizzled for TMA (no bank conflicts
    either way) or else padded by 16 bytes a row. FP32 output (D = C + A·Bᵀ) stores straight from registers:
    none."""
    if output_f32:
        return 0
    cols = part_n(block_n)
    return block_m * 2 * cols if tma_store_capable(cols, output_f32) else block_m * (2 * cols + 16)


SPLIT_K_FLAGS_BYTES = 16  # one word per math warpgroup: last to arrive on a split-K tile


def smem_bytes(block_m: int, block_n: int, num_stages: int, output_f32: bool = False) -> int:
    """Dynamic shared memory the kernel asks for (mirrors Fp8Gemm::kSmemBytes, checked at compile time)."""
    barriers = 2 * num_stages * 8
    staging = staging_bytes(block_m, block_n, output_f32)
    return num_stages * stage_bytes(block_m, block_n) + staging + barriers + SPLIT_K_FLAGS_BYTES


def max_stages(block_m: int, block_n: int, output_f32: bool = False) -> int:
    """Deepest ring that fits in shared memory, capped at MAX_STAGES for narrow tiles and WIDE_TILE_STAGES
    for the others."""
    free = SM90_SMEM_CAPACITY - SPLIT_K_FLAGS_BYTES - staging_bytes(block_m, block_n, output_f32)
    cap = MAX_STAGES if block_n <= DEEP_RING_MAX_BLOCK_N else WIDE_TILE_STAGES
    return min(cap, free // (stage_bytes(block_m, block_n) + 16))


# Masked kernels built with several tile widths (GemmConfig.alt_widths) run the width whose waves, each
# weighed by the time one of its tiles takes, take least. Tile times in percent of one 128 x 128 tile (the
# main width those kernels have), measured 2026-11-23 (run 8 sweep, kernel time, six masked problems):
# - 128 x 144: 1.12-1.30x, on problems where both widths take the same number of waves (G = 1 N = 4096: 63.8
#   vs 51.2 µs, two waves each; G = 8 N = 4096: 123.8 vs 108.1 µs, three each);
# - 128 x 256: 1.89x at K = 7168 (G = 1 N = 4096: one wave 48.5 µs against two of 128 x 128 in 51.2 µs) and
#   2.02x at K = 2048 (G = 1 N = 7168: two waves 31.5 µs against four in 31.2 µs);
# - 128 x 224: 1.90x at K = 2048 (2026-12-07, run 27, H100: G = 1 N = 7168, two waves 29.1 µs against four of
#   128 x 128 in 30.6; 256 took 30.2), below 256's, so it wins wherever both take as many waves.
MASKED_MAIN_BLOCK = (128, 128)
ALT_TILE_COST_PERCENT = {144: 125, 224: 190, 256: 195}


@dataclass(frozen=True)
class GemmConfig:
    """One kernel variant; every field is a template parameter of `fp8gemm::Fp8Gemm` (alt_widths: of
    `fp8gemm::MaskedWidths`, one `TileWidth` each)."""

    gemm_type: GemmType
    block_m: int
    block_n: int
    num_stages: int
    output_f32: bool = False
    cluster_n: int = 1
    # Masked only: more tile widths in the same kernel, each (block_n, num_stages). The kernel counts the
    # tiles of every width from masked_m on the GPU and runs the one that takes least time
    # (ALT_TILE_COST_PERCENT); empty: one width.
    alt_widths: tuple[tuple[int, int], ...] = ()
    # Dense only, no cluster: every CTA takes an equal contiguous range of all tiles' K blocks (stream-K), so
    # a tile count short of a whole wave still keeps every SM streaming.
    stream_k: bool = False

    @property
    def num_math_warpgroups(self) -> int:
        return self.block_m // WGMMA_M

    @property
    def num_threads(self) -> int:
        return (self.num_math_warpgroups + 1) * WARPGROUP_THREADS

    @property
    def smem_bytes(self) -> int:
        widths = ((self.block_n, self.num_stages), *self.alt_widths)
        return max(smem_bytes(self.block_m, block_n, stages, self.output_f32) for block_n, stages in widths)

    def num_tiles(self, rows: int, n: int) -> int:
        """CTA tiles over `rows` x `n`: n blocks padded to whole clusters (a cluster's extra CTA computes a
        tile past N and stores nothing)."""
        n_blocks = -(-n // self.block_n)
        return -(-rows // self.block_m) * -(-n_blocks // self.cluster_n) * self.cluster_n

    def problems(self) -> list[str]:
        """Why this config cannot be compiled or launched; empty when it is valid."""
        out = []
        if self.block_m not in BLOCK_M_CHOICES:
            out.append(f"block_m={self.block_m} not in {BLOCK_M_CHOICES}")
        if self.block_n not in BLOCK_N_CHOICES:
            out.append(f"block_n={self.block_n} not in {BLOCK_N_CHOICES}")
        if self.cluster_n not in CLUSTER_N_CHOICES:
            out.append(f"cluster_n={self.cluster_n} not in {CLUSTER_N_CHOICES}")
        if not 1 <= self.num_stages <= MAX_STAGES:
            out.append(f"num_stages={self.num_stages} not in [1, {MAX_STAGES}]")
        elif self.smem_bytes > SM90_SMEM_CAPACITY:
            out.append(f"needs {self.smem_bytes} B of shared memory, more than {SM90_SMEM_CAPACITY}")
        if self.alt_widths:
            out += self._alt_problems()
        if self.stream_k and (self.gemm_type != GemmType.DENSE or self.cluster_n != 1):
            out.append("stream_k needs a dense config without a cluster")
        return out

    def _alt_problems(self) -> list[str]:
        out = []
        if self.gemm_type != GemmType.GROUPED_MASKED:
            out.append("alt_widths are for masked kernels only (their tile count is known only on the GPU)")
        if self.output_f32 or self.cluster_n != 1:
            out.append("alt_widths need BF16 output and no cluster")
        if (self.block_m, self.block_n) != MASKED_MAIN_BLOCK:
            main = " x ".join(map(str, MASKED_MAIN_BLOCK))
            out.append(f"alt_widths need a {main} main tile (their costs are measured against it)")
        block_ns = [block_n for block_n, _ in self.alt_widths]
        if len(set(block_ns)) != len(block_ns) or self.block_n in block_ns:
            out.append(f"alt_widths={self.alt_widths} repeat a width")
        for block_n, stages in self.alt_widths:
            if block_n not in ALT_TILE_COST_PERCENT:
                out.append(f"alt width {block_n} has no measured cost (widths: {sorted(ALT_TILE_COST_PERCENT)})")
            if not 1 <= stages <= MAX_STAGES:
                out.append(f"alt width {block_n}: num_stages={stages} not in [1, {MAX_STAGES}]")
        return out

    def main_width_only(self) -> GemmConfig:
        """This config without its alt_widths: the same problem with the main tile only."""
        return replace(self, alt_widths=())

    def is_valid(self) -> bool:
        return not self.problems()

    def __str__(self) -> str:
        out = "f32" if self.output_f32 else "bf16"
        cluster = f"_c{self.cluster_n}" if self.cluster_n > 1 else ""
        alt = "".join(f"_or_n{block_n}_s{stages}" for block_n, stages in self.alt_widths)
        stream_k = "_sk" if self.stream_k else ""
        return (
            f"{self.gemm_type.name.lower()}_m{self.block_m}_n{self.block_n}_s{self.num_stages}{alt}{cluster}"
            f"{stream_k}_{out}"
        )


def stream_k_ranges(num_tiles: int, num_k_blocks: int, grid: int) -> list[list[tuple[int, int]]]:
    """Stream-K's partition (mirrors TileScheduler's kStreamK walk): for each tile, its K ranges
    [begin, end) in the order of the CTAs that compute them. CTA b takes blocks [b T / grid, (b + 1) T / grid)
    of the T = num_tiles * num_k_blocks laid end to end; grid <= T keeps every range non-empty."""
    total = num_tiles * num_k_blocks
    if not 1 <= grid <= total:
        raise ValueError(f"grid={grid} must be in [1, {total}] (the K blocks of all tiles)")
    ranges: list[list[tuple[int, int]]] = [[] for _ in range(num_tiles)]
    for cta in range(grid):
        block, end = cta * total // grid, (cta + 1) * total // grid
        while block < end:
            tile, begin = divmod(block, num_k_blocks)
            stop = min(num_k_blocks, end - tile * num_k_blocks)
            ranges[tile].append((begin, stop))
            block = tile * num_k_blocks + stop
    return ranges


def stream_k_max_pieces(num_tiles: int, num_k_blocks: int, grid: int) -> int:
    """Most K ranges any tile is cut into by stream-K: the workspace holds this many partial sums of D."""
    return max(len(r) for r in stream_k_ranges(num_tiles, num_k_blocks, grid))
