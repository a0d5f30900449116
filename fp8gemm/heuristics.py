"""Config choice: a pure, cached function of (layout, M, N, K, groups, SM count, output type).

Model (rates measured on the lent H100, see docs/performance.md). A persistent CTA takes work units in waves
of `num_sms`; a unit is one block_m x block_n output tile over a K range (all of K, or 1/split_k of it
for dense split-K). The kernel takes waves x (time of one unit), but never less than reading every operand
once from HBM, and a unit takes the larger of
  - its tensor-core work, 2·block_m·block_n·K_unit / (FLOPS_PER_SM · wgmma_efficiency(block_n)), and
  - its operand traffic out of L2, (block_m + block_n)·K_unit / L2_BYTES_PER_SM,
with TILE_OVERHEAD_K added to K_unit for the unit's fixed costs. Split-K adds its reduction: a fixed and a
per-range cost (the last range to finish a tile reads every range's partials) plus the partials' traffic.
Ties go to no split, then the least modelled work, then the larger tile.

2-CTA clusters multicasting the A tile (cluster_n = 2) halve A's L2 reads but tie each pair of CTAs to the
slower of the two. Measured 2026-11-23 with the TMA-store epilogue (docs/performance.md, run 4), block
128x128 at M = 4096: the cluster ran 12% faster on 4096x7168x16384, whose operands (184 MB) are several
times L2, within 1% on 4096x24576x1536 (44 MB), and 2-3% slower on the other four dense shapes (K of 512 to
7168, up to 59 MB). On the four contiguous benchmark shapes the cluster was faster by 2-14% (run 4); for
the 128 x 256 tile (run 7) it was faster on three of them and 8% slower on one, differences that runs of
these 1-2 ms, power-capped kernels move by up to 7% (run 8). Masked problems are the exception with the
current kernel (run 4 had measured the cluster 0-5% faster there): on eight masked problems of 1 to 8
experts with 128 to 1024 rows each (run 8), the 128 x 128 tile with the cluster was 0.7-3.8% slower than
without it on six and at most 1.3% faster on two (geomean 1.03x slower over every block_n with
block_m = 128). The traffic term does not capture any of that, so it is applied as measured: a cluster on
the block_m = 128 choice for contiguous problems, for dense ones only when M >= MULTICAST_MIN_M and their
operands exceed MULTICAST_MIN_OPERAND_BYTES, never for masked ones.

Worked example (132 SMs): M=64, N=2112, K=7168, where the weight read is the whole cost. block_n=128 gives
17 tiles: 17 SMs each move (64 + 128)·7168 B, 23 µs modelled. block_n=16 gives 132 tiles in one wave moving
(64 + 16)·7168 B each, 9.7 µs modelled (17.3 measured); block_n=32 with K cut in 2 models the same 9.7 µs
(16.1 measured) and loses the tie. At small M the model is right about the shape of the choice and ~10% off
on which of the close ones is best; here the narrow-tile rule (NARROW_SPLIT_BLOCK_N) takes the 32-wide split
after all, measured faster in run 20.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache

from . import launch_plans
from .config import (
    BLOCK_K,
    BLOCK_M_CHOICES,
    BLOCK_N_CHOICES,
    WGMMA_M,
    GemmConfig,
    GemmType,
    max_stages,
)

# Measured 2026-11-23 (scripts/sweep_configs.py): 4096x4096x7168 with block 128x128 runs compute-bound at
# 917 TFLOPS, and block 128x64 traffic-bound at 8.1 TB/s into the SMs (L2 hits mostly).
FLOPS_PER_SM = 917e12 / 132
L2_BYTES_PER_SM = 8.1e12 / 132
HBM_BYTES_PER_S = 3.0e12
TILE_OVERHEAD_K = 256
# Fitted penalties, not instruction costs. Tiles narrower than 128 are charged as if N were rounded up to a
# multiple of WGMMA_N_STEP: measured per FLOP against block_n = 128 (run 6), 96 and 112 ran at 0.78x and
# 0.82x. The tensor cores are not the cause: m64nNk32 wgmmas with the kernel's promotion run at the same
# rate per FLOP for every N from 144 to 192 (run 11, scripts/experiments/wgmma_rate.py), and 192 runs at
# 128's rate in the kernel. For 144 and 160 the cost was in choosing B's scale where a tile straddles two
# scale blocks; runs 11 and 12 moved that choice out of the promotion and then out of the K loop, and they
# now run at 0.89-0.96x (run 12). Charged at STRADDLING_WIDE_EFFICIENCY instead of the rounding's 0.75x and
# 0.83x, the model changes its choice on N = 2112 and N = 576 problems, each measured faster (run 12, kernel
# time): 1024x2112x7168 28.6 µs with 144 against 32.8 with 128 x 64, 2048x2112x7168 53.5 against 63.6,
# 4096x576x7168 30.4 against 32.3 with 160, 8192x576x7168 56.1 against 60.7, masked 1 x 1024 rows
# x 2112 28.6 against 34.6 and 4 x 512 rows x 2112 58.3 against 67.8.
WGMMA_N_STEP = 64
STRADDLING_WIDE_EFFICIENCY = 0.92
# Split-K: the last K range to finish a tile adds every range's partial sums (in the same kernel). Fitted to
# sweeps of 64x{2112,4096}x7168, 128x2112x7168, 64x7168x16384 (2026-11-23): splitting pays only while the
# unsplit tiles leave SMs idle, by 5-12%.
SPLIT_K_CHOICES = (1, 2, 3, 4, 5, 6, 7, 8)
REDUCE_FIXED_S = 1e-6
REDUCE_PER_SPLIT_S = 1e-6
# Dense problems of 65 to 128 rows take one 128-row tile row, unsplit. Measured 2026-11-23 (sweep of every
# block_n and split-K 1-8 at M = 128, docs/performance.md run 5): against the model's free choice (two 64-row
# tiles) it was 4-8% faster on four of five shapes (128x7168x16384 57.0 vs 62.0 µs, 128x7168x2048 13.7 vs
# 14.8, 128x24576x1536 25.7 vs 26.9, 128x2112x7168 17.5 vs 18.3) and tied on 128x4096x7168. Among
# block_m = 128 configs the model's block_n choice is the sweep's best or within 2%.
ONE_TILE_ROW_MAX_M = 128
# Dense problems whose choice is 16-wide tiles, unsplit (the narrowest tile, taken to fill the SMs), with long K:
# tiles NARROW_SPLIT_BLOCK_N wide with K cut in as many ranges as one wave holds (at most NARROW_SPLIT_MAX_RANGES)
# are faster. Measured 2026-12-05 on the H100 (docs/performance.md, run 20), kernel time against the 16-wide
# unsplit choice, µs: 64x2112x7168 11.4 vs 12.6 (2 ranges); one 128-row tile row (which the model never splits
# itself): 128x2112x7168 12.5 vs 14.4 (2), 128x1024x7168 9.8 vs 13.4 (4), 128x1536x7168 11.5 vs 13.6 (2),
# 96x2112x7168 14.3 vs 17.1 (2), 128x576x7168 8.9 vs 13.4 (4), 128x256x7168 8.0 vs 13.3 (4), 128x2112x16384
# 20.5 vs 29.2 (2); each within 6% of the best of block_n 16-64 and 1-4 ranges. At K = 2048 (128x2112x2048)
# the 6.2 µs unsplit kernel is the fastest and 2 ranges take 8.5: the reduction's fixed cost outweighs the
# gain. K between 2048 and 7168 was not measured and keeps the unsplit choice.
NARROW_SPLIT_BLOCK_N = 32
NARROW_SPLIT_MIN_K = 7168
NARROW_SPLIT_MAX_RANGES = 4
# Cluster variants exist for block_m = 128 (pairs of CTAs on one m block); chosen only in the measured range.
MULTICAST_BLOCK_M = (128,)
MULTICAST_MIN_M = 1024
MULTICAST_MIN_OPERAND_BYTES = 96 << 20
# 128 x 256 tiles take each K block's products in parts (two 128-column halves with the math warpgroups
# taking turns until run 31, four quarters through two product sets since): 25% fewer operand bytes per FLOP
# than 128 x 128, but less slack to hide each promotion. Measured 2026-11-23 (docs/performance.md run 7,
# kernel time, scripts/sweep_configs.py), the cluster variant (which the multicast rule below picks for
# these problems) against the best 128 x 128 one: 2-7% faster on every benchmark problem whose operands
# exceed WIDE_TILE_MIN_OPERAND_BYTES (4096x7168x16384 723.8 vs 776.2 µs; contiguous 1605 vs 1636, 1589 vs
# 1672, 761 vs 782, 767 vs 788 µs), and 1-14% slower on the dense M = 4096 problems below it,
# 4096x4096x7168 excepted (183.7 vs 186.8 µs).
# Masked problems are left out: their tile count is only known on the GPU, and with G = 2 and 4 experts of
# 512 and 256 rows the wide tile lost by 16-22%. The model has no term for the difference, so the wide tile
# replaces its 128 x 128 choice only in that measured range, unsplit (as measured), and only where it pads
# N no further. Since the wide tile's epilogue runs under the next tile's first wgmmas (run 23), it also wins
# on dense problems the model gives unsplit 128 x 128 tiles with K >= WIDE_TILE_MIN_K, where half as many
# tiles take no more than half as many waves, without the cluster (kernel time, H100, two passes within
# 0.5%): 4096x4096x7168 182.5 vs 189.1 µs, 2048x4096x7168 90.9 vs 97.2, 1024x7168x7168 92.1 vs 98.8,
# 4096x4096x4096 108.6 vs 110.9, 4096x6144x7168 279.4 vs 283.1, 8192x4096x7168 371.0 vs 375.0,
# 4096x7168x2048 100.4 vs 101.4, 4096x4096x2048 57.3 vs 57.9; it lost at shorter K: 4096x24576x1536 259.5
# vs 258.2, 4096x32768x512 149.8 vs 147.8. The operand-size branch's measured wins all took at most 1.6% more
# modelled work than 128 x 128 (64 waves against 63). Where the wide tile took a third more or twice the work
# (few tile rows, one to three waves), it lost by 7-42% (kernel time, H100, 2026-12-06, run 26: 256x7168x16384
# 90.2 vs 63.7 µs, 128x16384x7168 51.9 vs 48.5, 256x24576x7168 109.9 vs 94.9, 384x16384x7168 99.6 vs 89.9,
# 768x7168x16384 193.7 vs 164.9), and with 11-14% more it lost by 2-7% (run 27, with the cluster:
# 4096x3584x16384 400.5 vs 385.4, 2048x7168x16384 414.8 vs 387.1, 1536x12288x16384 517.6 vs 503.2; without it,
# 768x24576x4096 141.3 vs 132.6 and 768x24576x16384 538.0 vs 527.8). The work is compared with 128 x 128
# unsplit: at the same work as that, the wide tile beat the model's split 128 x 128 choice by 14-26% (run 27:
# 256x12288x16384 103.8 vs 125.9 µs in 2 ranges, 384x7168x16384 96.2 vs 130.7 in 3, 512x6144x16384 97.4 vs
# 113.7 in 2), which itself ran no faster than unsplit.
WIDE_TILE_BLOCK_N = 256
WIDE_TILE_MIN_OPERAND_BYTES = 96 << 20
WIDE_TILE_MIN_K = 2048
# Contiguous problems take the wide tile at up to 20% more modelled work, where dense ones lost (run 27):
# lever 68's four at 9-14% more ran 0.5-5% faster (run 28), and 14 more over 2, 4 and 8 experts that this
# moves from 128 x 128, with the cluster, ran 2.5% and 3.3% faster with the two-half wide tile and 2.8% with
# quarter parts (geomean kernel time, H100, docs/performance.md run 31); at most 9% faster (4x3072x2496x7168),
# at worst 2% slower (4x1024x2496x7168), and 5% slower in one pass of three on 2x1024x7168x16384.
WIDE_TILE_MAX_EXTRA_WORK = {GemmType.DENSE: 0.05, GemmType.GROUPED_CONTIGUOUS: 0.20}
# 128 x 192 tiles run at 128 x 128's rate per FLOP (run 11), so they win exactly where they take fewer waves x
# tile time. Measured 2026-11-23 (docs/performance.md run 12, kernel time, no cluster), the model's work
# (waves x unit time) predicted every case: against 128 x 128, 4096x2112x7168 107.3 vs 116.1 µs (modelled
# 10% less), 6144x2112x7168 143.5 vs 171.0 (14%), 1280x7168x7168 111.7 vs 120.2, 2304x4096x7168 111.2 vs
# 119.3 and 768x12288x7168 117.0 vs 128.9 (10% each); against the model's 128 x 64, 3072x2112x7168 72.9 vs
# 95.9 (25%), while at 2048x2112x7168 the model's 128 x 64 was right (64.0 vs 70.5). Where the modelled
# work ties, 192 lost by 5% on 4096x1536x7168 and was within 1% on 4096x6144x7168 and 4096x32768x512. So
# it replaces a block_m = 128 choice of dense problems over one tile row only where the model says it saves
# at least WAVE_FILL_MIN_SAVING, unsplit and where the multicast rule adds no cluster (an odd n block count
# pads a cluster by a whole tile: 3072x2112x7168 took 103.8 µs with one).
# Where 192 tiles N exactly and 128 x 128 leaves a part-filled n block (N = 960, 1344, 2112, 2496, 2880), a
# modelled tie is enough at K >= WAVE_FILL_EXACT_N_MIN_K. Measured 2026-12-06 (docs/performance.md run 24,
# kernel time, H100), 192 against 128 x 128 at a tie: 8192x2112x{2048,4096,7168} 63.2 vs 68.7, 117.3 vs
# 132.0, 198.7 vs 224.2 µs, 32768x2112x2048 220.8 vs 261.1, 4096x1344x7168 70.1 vs 80.8, 8192x1344x2048 43.8
# vs 48.1, 8192x2880x7168 267.2 vs 296.4, 2048x2880x2048 23.9 vs 25.0, 8192x2112x1024 39.6 vs 40.1,
# 6144x960x1024 16.1 vs 16.2; with 3% modelled, 16384x2112x1024 67.7 vs 74.4 and 12288x2496x1024 61.2 vs
# 64.8; at K = 512 it lost, 16384x2112x512 44.8 vs 43.3. Which cost of the part-filled block the model misses
# was not isolated: walking it in an even band instead of a one-block one did not close the gap
# (scripts/experiments/even_bands.patch). Where both widths tile N exactly, or 192 pads it, ties stayed with
# 128 x 128: 2048x6144x1536 36.1 vs 35.3, 1024x12288x1024 27.5 vs 26.5, 6144x7168x2048 154.6 vs 146.6,
# 3072x7168x2048 77.7 vs 76.6 (4.5% modelled). 24576x1536, where 192 won by 1-3% from M = 1024 to 8192 with
# the model 0-3% against it and lost 5% at M = 16384, is left to the model.
WAVE_FILL_BLOCK_M = 128
WAVE_FILL_BLOCK_N = 192
WAVE_FILL_MIN_SAVING = 0.05
WAVE_FILL_EXACT_N_MIN_K = 1024
# Tiles that touch three B scale blocks tile DeepSeek-V3's N exactly (176: 2112; 224: 1344, 3584 and 7168), in
# fewer or no more waves than 192 or 256 tiles. Measured 2026-12-06 (docs/performance.md run 25, kernel time,
# H100, no cluster) they run at 0.95-0.97x the per-FLOP rate of 192 and 256 (THREE_SCALE_BLOCK_EFFICIENCY),
# and replace an unsplit, unclustered dense 128 x {128, 192, 256} choice where the model saves at least
# THREE_SCALE_BLOCK_MIN_SAVING with it, in the measured range (M >= 512, K >= 2048; run 25 measured from M =
# 1024 and K = 7168): 4096x2112x7168 96.1 vs 101.4 µs with 192 (4.5% modelled), 8192x2112x7168 192.1 vs 199.8
# (4.5%), 1024x7168x7168 83.2 vs 90.8 with 256 (8.9%). Modelled losses were losses (4096x7168x2048: 224 106.0
# vs 98.3 with 256, -4.2%); at -4.2% against 128 x 128, 224 won by 2.6-3.1% (2048x7168x7168 163.0 vs 168.2,
# 4096x3584x7168 162.7 vs 167.0), which the rule leaves. Run 26 (same method) confirmed the rule's other
# moves: 224 against 256 on {1024, 2048}x3584x{7168, 16384} and 3072x3584x7168 6-8% faster (e.g. 81.4 vs 88.8
# µs), 8192x1344x7168 122.2 vs 137.0 with 192, and at M = 512 (where the range now starts) 512x7168x{7168,
# 16384} 3.4% and 6% (44.8 vs 46.4, 95.9 vs 102.0). Where 176 pads N it lost to 192, which tiles it exactly
# (4096x1344x7168 73.9 vs 70.5, 4096x1344x16384 156.6 vs 147.8), as 128 x 128 does where it leaves a
# part-filled n block: the rule now asks N to be tiled exactly. Run 27 measured each of the 18 moves the
# range's extension to K = 2048 and 4096 makes on a grid of DeepSeek-V3 sizes: all won, by 3-11% (224 against
# 256: 1024x7168x2048 28.7 vs 30.1 µs, 3072x3584x4096 74.1 vs 80.5, 512x7168x2048 17.8 vs 18.3; 176 against
# 192: 4096x2112x4096 57.0 vs 61.1, 8192x2112x2048 62.0 vs 63.8; 224 against 192: 8192x1344x4096 73.1 vs
# 81.7), while at 2048x7168x{2048, 4096}, which the rule leaves to 128 x 128, 224 lost by 2-6%.
THREE_SCALE_BLOCK_N_CHOICES = (176, 224)
THREE_SCALE_BLOCK_EFFICIENCY = 0.96
THREE_SCALE_BLOCK_REPLACES = (128, 192, 256)
THREE_SCALE_BLOCK_MIN_SAVING = 0.04
THREE_SCALE_BLOCK_MIN_K = 2048
THREE_SCALE_BLOCK_MIN_M = 512
# Widths the wave model does not choose among: each replaces its 128 x 128 (or wider) choice by a measured rule.
MODEL_BLOCK_N_CHOICES = tuple(
    block_n
    for block_n in BLOCK_N_CHOICES
    if block_n not in (WIDE_TILE_BLOCK_N, WAVE_FILL_BLOCK_N, *THREE_SCALE_BLOCK_N_CHOICES)
)
# Masked problems whose choice is the 128 x 128 tile also carry wider tiles in the same kernel, which the
# GPU runs when the live row counts make them take less time (config.ALT_TILE_COST_PERCENT). In the run 8
# sweep, 128 x 144 beat 128 x 128 by 16-27% exactly where the drawn counts pushed 128 x 128 into a third
# wave that 144 avoided (G = 2 and 4, N = 4096), and lost by 12-30% everywhere else. 128 x 256 won by 3-5%
# on three problems where it took half the waves of 128 x 128 (G = 1 N = 4096, G = 2 and 4 N = 7168
# K = 2048), lost 1% on the fourth (G = 1 N = 7168 K = 2048) and 13-20% where it did not halve them: no
# choice made from expected_m on the host got all of them right. A wider tile can help only where it cuts
# the n blocks (144), or halves them without padding N further (256, as for dense).
MASKED_ALT_BLOCK_N = 144
# 224 as a masked width, where it tiles N exactly (it padded N = 4096 and ran 1.7x slower than 256 there): in
# run 27 it took G = 1 N = 7168 K = 2048 in 29.1 µs against 30.1 for the three-width kernel (which ran 256).
MASKED_THREE_SCALE_BLOCK_N = 224


def wgmma_efficiency(block_n: int) -> float:
    if block_n in THREE_SCALE_BLOCK_N_CHOICES:
        return THREE_SCALE_BLOCK_EFFICIENCY
    if block_n > 128 and block_n % WGMMA_N_STEP:
        return STRADDLING_WIDE_EFFICIENCY
    return block_n / (-(-block_n // WGMMA_N_STEP) * WGMMA_N_STEP)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _unit_seconds(block_m: int, block_n: int, k: int) -> float:
    eff_k = k + TILE_OVERHEAD_K
    compute = 2.0 * block_m * block_n * eff_k / (FLOPS_PER_SM * wgmma_efficiency(block_n))
    traffic = (block_m + block_n) * eff_k / L2_BYTES_PER_SM
    return max(compute, traffic)


def _modelled_seconds(config: GemmConfig, m: int, n: int, k: int, num_sms: int) -> float:
    """Waves x unit time of an unsplit dense `config`."""
    return _ceil_div(config.num_tiles(m, n), num_sms) * _unit_seconds(config.block_m, config.block_n, k)


def effective_splits(k: int, split_k: int) -> int:
    """Splits of whole K blocks with none empty: K blocks per split = ceil(K blocks / split_k)."""
    k_blocks = _ceil_div(k, BLOCK_K)
    return _ceil_div(k_blocks, _ceil_div(k_blocks, min(split_k, k_blocks)))


@lru_cache(maxsize=1024)
def choose_launch(
    gemm_type: GemmType,
    m: int,
    n: int,
    k: int,
    num_groups: int,
    num_sms: int,
    output_f32: bool = False,
) -> tuple[GemmConfig, int]:
    """Best (config, split_k) for one problem. `m` is rows per group: M (dense), M_total (contiguous),
    expected_m (masked)."""
    config, split_k = _choose_two_scale_block_launch(gemm_type, m, n, k, num_groups, num_sms, output_f32)
    if (
        gemm_type == GemmType.DENSE
        and not output_f32
        and m >= THREE_SCALE_BLOCK_MIN_M
        and (config.block_m, split_k, config.cluster_n) == (128, 1, 1)
        and config.block_n in THREE_SCALE_BLOCK_REPLACES
        and k >= THREE_SCALE_BLOCK_MIN_K
    ):
        # Against the HBM floor as well: where both tiles stream the operands at HBM rate, fewer waves gain nothing.
        hbm_seconds = (m * k + n * k + m * n * 2) / HBM_BYTES_PER_S
        for block_n in (b for b in THREE_SCALE_BLOCK_N_CHOICES if n % b == 0):
            candidate = GemmConfig(gemm_type, 128, block_n, max_stages(128, block_n))
            before = max(_modelled_seconds(config, m, n, k, num_sms), hbm_seconds)
            after = max(_modelled_seconds(candidate, m, n, k, num_sms), hbm_seconds)
            if 1 - after / before >= THREE_SCALE_BLOCK_MIN_SAVING:
                config = candidate
    return config, split_k


def _choose_two_scale_block_launch(
    gemm_type: GemmType, m: int, n: int, k: int, num_groups: int, num_sms: int, output_f32: bool
) -> tuple[GemmConfig, int]:
    """choose_launch's choice among tiles that touch at most two B scale blocks."""
    rows = m * (num_groups if gemm_type == GemmType.GROUPED_MASKED else 1)
    weights = num_groups if gemm_type != GemmType.DENSE else 1
    # No config beats reading every operand once from HBM: the floor that split-K cannot lower.
    hbm_seconds = (rows * k + weights * n * k + rows * n * 2) / HBM_BYTES_PER_S
    best_key, best = None, None
    # Dense, 64 < M <= 128: one tile row whose two math warpgroups share every B load, unsplit (see
    # ONE_TILE_ROW_MAX_M) but for the narrow-tile exception below (NARROW_SPLIT_BLOCK_N).
    one_tile_row = gemm_type == GemmType.DENSE and WGMMA_M < m <= ONE_TILE_ROW_MAX_M
    for block_m in BLOCK_M_CHOICES:
        if m <= WGMMA_M and block_m > WGMMA_M:
            continue  # a second math warpgroup would only multiply zeros
        if one_tile_row and block_m != ONE_TILE_ROW_MAX_M:
            continue
        for block_n in MODEL_BLOCK_N_CHOICES:
            config = GemmConfig(gemm_type, block_m, block_n, max_stages(block_m, block_n, output_f32), output_f32)
            tiles = config.num_tiles(m, n) * (num_groups if gemm_type == GemmType.GROUPED_MASKED else 1)
            splits = SPLIT_K_CHOICES if gemm_type == GemmType.DENSE and not one_tile_row else (1,)
            for split_k in sorted({effective_splits(k, s) for s in splits}):
                waves = _ceil_div(max(tiles * split_k, 1), num_sms)
                work = waves * _unit_seconds(block_m, block_n, _ceil_div(k, split_k))
                if split_k > 1:
                    work += REDUCE_FIXED_S + split_k * REDUCE_PER_SPLIT_S + 2.0 * split_k * m * n * 4 / HBM_BYTES_PER_S
                # At the HBM floor the configs tie: no split (it cannot lower the floor), then the most slack.
                key = (round(max(work, hbm_seconds), 12), split_k, round(work, 12), -block_m * block_n, -block_n)
                if best_key is None or key < best_key:
                    best_key, best = key, (config, split_k)
    config, split_k = best
    if (
        gemm_type == GemmType.DENSE
        and not output_f32
        and (config.block_n, split_k) == (16, 1)
        and k >= NARROW_SPLIT_MIN_K
    ):
        split_config = GemmConfig(
            gemm_type, config.block_m, NARROW_SPLIT_BLOCK_N, max_stages(config.block_m, NARROW_SPLIT_BLOCK_N)
        )
        ranges = min(NARROW_SPLIT_MAX_RANGES, num_sms // split_config.num_tiles(m, n))
        if ranges > 1:
            return split_config, effective_splits(k, ranges)
    operand_bytes = rows * k + weights * n * k
    dense_cluster = gemm_type == GemmType.DENSE and m >= MULTICAST_MIN_M and operand_bytes > MULTICAST_MIN_OPERAND_BYTES
    wide_tiles = _ceil_div(m, 128) * _ceil_div(n, WIDE_TILE_BLOCK_N)
    wide_within_waves = 2 * _ceil_div(wide_tiles, num_sms) <= _ceil_div(config.num_tiles(m, n), num_sms)
    dense_long_k = gemm_type == GemmType.DENSE and k >= WIDE_TILE_MIN_K and split_k == 1 and wide_within_waves
    unsplit_narrow_work = _ceil_div(config.num_tiles(m, n), num_sms) * _unit_seconds(config.block_m, config.block_n, k)
    wide_work = _ceil_div(wide_tiles, num_sms) * _unit_seconds(128, WIDE_TILE_BLOCK_N, k)
    large_operands = operand_bytes > WIDE_TILE_MIN_OPERAND_BYTES and (
        wide_work <= (1 + WIDE_TILE_MAX_EXTRA_WORK.get(gemm_type, 0.0)) * unsplit_narrow_work
    )
    if (
        gemm_type != GemmType.GROUPED_MASKED
        and not output_f32
        and (config.block_m, config.block_n) == (128, 128)
        and (large_operands or dense_long_k)
        and 2 * _ceil_div(n, WIDE_TILE_BLOCK_N) == _ceil_div(n, 128)
    ):
        config, split_k = GemmConfig(gemm_type, 128, WIDE_TILE_BLOCK_N, max_stages(128, WIDE_TILE_BLOCK_N)), 1
        best = (config, split_k)
    elif (
        gemm_type == GemmType.DENSE
        and not output_f32
        and m > ONE_TILE_ROW_MAX_M
        and not dense_cluster
        and (config.block_m, split_k) == (WAVE_FILL_BLOCK_M, 1)
    ):
        wave_fill = GemmConfig(
            gemm_type, WAVE_FILL_BLOCK_M, WAVE_FILL_BLOCK_N, max_stages(WAVE_FILL_BLOCK_M, WAVE_FILL_BLOCK_N)
        )
        saving = 1 - _modelled_seconds(wave_fill, m, n, k, num_sms) / _modelled_seconds(config, m, n, k, num_sms)
        exact_n = (
            config.block_n == 128
            and n % WAVE_FILL_BLOCK_N == 0
            and n % config.block_n != 0
            and k >= WAVE_FILL_EXACT_N_MIN_K
        )
        # Rounded: a tie's saving comes out of the division as a few ulps either side of 0.
        if round(saving, 9) >= (0.0 if exact_n else WAVE_FILL_MIN_SAVING):
            return wave_fill, 1
    if gemm_type == GemmType.GROUPED_MASKED and not output_f32 and (config.block_m, config.block_n) == (128, 128):
        return with_masked_alts(config, n), 1
    if (
        config.block_m in MULTICAST_BLOCK_M
        and split_k == 1
        and (gemm_type == GemmType.GROUPED_CONTIGUOUS or dense_cluster)
        and num_sms >= 2
    ):
        best = (GemmConfig(gemm_type, config.block_m, config.block_n, config.num_stages, output_f32, 2), 1)
    return best


def with_masked_alts(config: GemmConfig, n: int) -> GemmConfig:
    """A masked 128 x 128 `config` with the wider tiles that can take fewer waves on N compiled in beside it:
    144 where it cuts the n blocks, 224 where it tiles N exactly, 256 where it halves them without padding N
    further."""
    alts = []
    if _ceil_div(n, MASKED_ALT_BLOCK_N) < _ceil_div(n, config.block_n):
        alts.append(MASKED_ALT_BLOCK_N)
    if n % MASKED_THREE_SCALE_BLOCK_N == 0:
        alts.append(MASKED_THREE_SCALE_BLOCK_N)
    if 2 * _ceil_div(n, WIDE_TILE_BLOCK_N) == _ceil_div(n, config.block_n):
        alts.append(WIDE_TILE_BLOCK_N)
    return _with_alt_widths(config, alts)


def _with_alt_widths(config: GemmConfig, block_ns: Iterable[int]) -> GemmConfig:
    return replace(config, alt_widths=tuple((block_n, max_stages(config.block_m, block_n)) for block_n in block_ns))


def choose_config(
    gemm_type: GemmType,
    m: int,
    n: int,
    k: int,
    num_groups: int,
    num_sms: int,
    output_f32: bool = False,
) -> GemmConfig:
    """The kernel variant of choose_launch's choice."""
    return choose_launch(gemm_type, m, n, k, num_groups, num_sms, output_f32)[0]


_forced: tuple[GemmConfig, int] | None = None


@contextmanager
def forced_config(config: GemmConfig, split_k: int = 1) -> Iterator[None]:
    """Within the block, ops of `config.gemm_type` launch `config` (with `split_k` K ranges, dense only)
    instead of the heuristic's choice (sanitizer runs, tuning, tests of one variant)."""
    problems = config.problems()
    if split_k > 1 and config.gemm_type != GemmType.DENSE:
        problems.append("split_k > 1 needs a dense config")
    if split_k > 1 and config.stream_k:
        problems.append("split_k > 1 and stream_k exclude each other")
    if problems:
        raise ValueError(f"invalid kernel config {config}: {'; '.join(problems)}")
    global _forced
    previous, _forced = _forced, (config, split_k)
    launch_plans.forget_all()  # warm calls must not replay the heuristic's choice
    try:
        yield
    finally:
        _forced = previous
        launch_plans.forget_all()


def config_is_forced() -> bool:
    """Whether a `forced_config` block is active."""
    return _forced is not None


def select_launch(
    gemm_type: GemmType, m: int, n: int, k: int, num_groups: int, num_sms: int, output_f32: bool = False
) -> tuple[GemmConfig, int]:
    """The (config, split_k) an op launches: a forced one when it matches the op, else choose_launch's.
    split_k is already effective (no empty K range) for this K."""
    if _forced is not None and _forced[0].gemm_type == gemm_type and _forced[0].output_f32 == output_f32:
        config, split_k = _forced
        return config, effective_splits(k, split_k)
    return choose_launch(gemm_type, m, n, k, num_groups, num_sms, output_f32)


def _subsets(items: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every non-empty subset of `items`, each in their order."""
    return [tuple(x for i, x in enumerate(items) if mask >> i & 1) for mask in range(1, 1 << len(items))]


def all_configs() -> list[GemmConfig]:
    """Every config choose_config can return, with the other valid variants of the same block sizes (the CPU
    compile test builds each of them, the GPU test runs each)."""
    out = []
    for gemm_type in GemmType:
        for output_f32 in (False, True):
            if output_f32 and gemm_type != GemmType.DENSE:
                continue
            for block_m in BLOCK_M_CHOICES:
                for block_n in BLOCK_N_CHOICES:
                    stages = max_stages(block_m, block_n, output_f32)
                    out.append(GemmConfig(gemm_type, block_m, block_n, stages, output_f32))
                    if gemm_type == GemmType.GROUPED_MASKED and (block_m, block_n) == (128, 128):
                        # with_masked_alts attaches any of the wider tiles, depending on N.
                        main = out[-1]
                        for alts in _subsets((MASKED_ALT_BLOCK_N, MASKED_THREE_SCALE_BLOCK_N, WIDE_TILE_BLOCK_N)):
                            out.append(_with_alt_widths(main, alts))
                    if block_m in MULTICAST_BLOCK_M:
                        out.append(GemmConfig(gemm_type, block_m, block_n, stages, output_f32, cluster_n=2))
                    if gemm_type == GemmType.DENSE:
                        out.append(GemmConfig(gemm_type, block_m, block_n, stages, output_f32, stream_k=True))
    return out
