"""Layout helpers, the contiguous-layout checker, the config model and the config heuristics (CPU only).

Expected values come from first principles: TMA needs every global stride to be a multiple of 16 bytes, so
an FP32 scale column holds a multiple of 4 rows; Hopper gives one block at most 227 KB of shared memory
(CUDA C++ Programming Guide, compute capability 9.0); a kernel tile may read at most two 128-wide B scale
blocks, which a brute-force walk over tile positions decides.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
import torch

import fp8gemm
from fp8gemm import config as cfg
from fp8gemm import heuristics
from fp8gemm.config import GemmConfig, GemmType, max_stages
from fp8gemm.jit import launcher

# ------------------------------------------------------------------------------------------- ceil_div


@pytest.mark.parametrize("y", [1, 2, 3, 7, 16, 128])
def test_ceil_div_matches_exact_ceiling(y: int) -> None:
    for x in range(0, 400):
        assert fp8gemm.ceil_div(x, y) == math.ceil(Fraction(x, y))


# -------------------------------------------------------------------------------- get_tma_aligned_size


@pytest.mark.parametrize("element_size", [1, 2, 4, 8, 16])
def test_tma_aligned_size_is_smallest_16_byte_multiple(element_size: int) -> None:
    for x in range(0, 100):
        expected = next(y for y in range(x, x + 17) if (y * element_size) % 16 == 0)
        assert fp8gemm.get_tma_aligned_size(x, element_size) == expected


@pytest.mark.parametrize("element_size", [3, 5, 32])
def test_tma_aligned_size_rejects_element_sizes_not_dividing_16(element_size: int) -> None:
    with pytest.raises(ValueError, match="element_size"):
        fp8gemm.get_tma_aligned_size(10, element_size)


# --------------------------------------------------------------------- get_mn_major_tma_aligned_tensor


def _m_pad(m: int) -> int:
    return (m + 3) // 4 * 4


MK_SHAPES = [(1, 1), (1, 3), (3, 2), (4, 2), (7, 5), (64, 56), (129, 3), (300, 16)]


@pytest.mark.parametrize("m,kb", MK_SHAPES)
def test_mn_major_2d_preserves_values_and_pads_columns(m: int, kb: int) -> None:
    sf = torch.randn(m, kb)
    out = fp8gemm.get_mn_major_tma_aligned_tensor(sf)
    assert out.shape == (m, kb) and out.dtype == torch.float32
    assert torch.equal(out, sf)
    assert out.stride(0) == 1
    if kb > 1:
        assert out.stride(1) == _m_pad(m)
        assert (out.stride(1) * 4) % 16 == 0


@pytest.mark.parametrize("g,m,kb", [(1, 7, 3), (2, 7, 3), (3, 64, 2), (4, 5, 1), (2, 129, 4)])
def test_mn_major_3d_preserves_values_and_stacks_groups(g: int, m: int, kb: int) -> None:
    sf = torch.randn(g, m, kb)
    out = fp8gemm.get_mn_major_tma_aligned_tensor(sf)
    assert out.shape == (g, m, kb)
    assert torch.equal(out, sf)
    assert out.stride(1) == 1
    if kb > 1:
        assert out.stride(2) == _m_pad(m)
    if g > 1:
        assert out.stride(0) == kb * _m_pad(m)


def _aligned_2d(m: int, kb: int) -> torch.Tensor:
    return torch.randn(kb, _m_pad(m)).t()[:m]


def _aligned_3d(g: int, m: int, kb: int) -> torch.Tensor:
    return torch.randn(g, kb, _m_pad(m)).transpose(1, 2)[:, :m]


@pytest.mark.parametrize("m,kb", MK_SHAPES)
def test_mn_major_2d_already_aligned_is_returned_without_copy(m: int, kb: int) -> None:
    sf = _aligned_2d(m, kb)
    out = fp8gemm.get_mn_major_tma_aligned_tensor(sf)
    assert out.data_ptr() == sf.data_ptr()
    assert out.stride() == sf.stride() and torch.equal(out, sf)


@pytest.mark.parametrize("g,m,kb", [(1, 7, 3), (2, 7, 3), (3, 64, 2), (2, 129, 4)])
def test_mn_major_3d_already_aligned_is_returned_without_copy(g: int, m: int, kb: int) -> None:
    sf = _aligned_3d(g, m, kb)
    out = fp8gemm.get_mn_major_tma_aligned_tensor(sf)
    assert out.data_ptr() == sf.data_ptr()
    assert out.stride() == sf.stride()


def test_mn_major_is_idempotent() -> None:
    once = fp8gemm.get_mn_major_tma_aligned_tensor(torch.randn(2, 7, 3))
    twice = fp8gemm.get_mn_major_tma_aligned_tensor(once)
    assert twice.data_ptr() == once.data_ptr()


@pytest.mark.parametrize("m", [5, 6, 7, 9])
def test_mn_major_with_unpadded_columns_is_copied(m: int) -> None:
    sf = torch.randn(3, m).t()  # MN-major but columns m apart, not a multiple of 4
    out = fp8gemm.get_mn_major_tma_aligned_tensor(sf)
    assert out.data_ptr() != sf.data_ptr()
    assert out.stride() == (1, _m_pad(m)) and torch.equal(out, sf)


def test_mn_major_3d_with_gapped_groups_is_copied() -> None:
    sf = torch.randn(2, 3, 16).transpose(1, 2)[:, :8]  # groups 48 floats apart instead of 3 * 8
    out = fp8gemm.get_mn_major_tma_aligned_tensor(sf)
    assert out.data_ptr() != sf.data_ptr()
    assert out.stride() == (24, 1, 8) and torch.equal(out, sf)


def test_mn_major_rejects_non_float32() -> None:
    with pytest.raises(TypeError, match="float32"):
        fp8gemm.get_mn_major_tma_aligned_tensor(torch.randn(4, 2).bfloat16())


@pytest.mark.parametrize("shape", [(8,), (2, 2, 2, 2)])
def test_mn_major_rejects_wrong_rank(shape) -> None:
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        fp8gemm.get_mn_major_tma_aligned_tensor(torch.randn(*shape))


# ------------------------------------------------------------------------- contiguous grouped layout


def test_contiguous_alignment_is_a_multiple_of_every_block_m() -> None:
    # The kernel names a tile's expert by the tile's first row, so every segment start must be a tile start.
    alignment = fp8gemm.get_m_alignment_for_contiguous_layout()
    assert alignment > 0
    for config in heuristics.all_configs():
        assert alignment % config.block_m == 0, config


def _layout(sizes: list[int], pad_last: bool = True) -> torch.Tensor:
    """Experts' rows back to back, each segment padded with -1 up to the alignment."""
    alignment = fp8gemm.get_m_alignment_for_contiguous_layout()
    values: list[int] = []
    for expert, size in enumerate(sizes):
        values += [expert] * size
        if pad_last or expert < len(sizes) - 1:
            values += [-1] * (-len(values) % alignment)
    return torch.tensor(values, dtype=torch.int32)


VALID_LAYOUTS = {
    "one_full_segment": (_layout([128]), 1),
    "tails": (_layout([200, 5, 128, 1]), 4),
    "empty_expert": (_layout([130, 0, 64]), 3),
    "all_padding": (torch.full((256,), -1, dtype=torch.int32), 2),
    "empty": (torch.empty(0, dtype=torch.int32), 4),
    "unpadded_last_segment": (_layout([128, 100], pad_last=False), 2),
    "experts_out_of_order": (torch.tensor([2] * 128 + [0] * 10 + [-1] * 118, dtype=torch.int32), 3),
    "expert_in_two_segments": (torch.tensor([0] * 10 + [-1] * 118 + [0] * 128, dtype=torch.int32), 1),
}


@pytest.mark.parametrize("name", list(VALID_LAYOUTS))
def test_check_contiguous_layout_accepts_valid_layouts(name: str) -> None:
    m_indices, num_groups = VALID_LAYOUTS[name]
    fp8gemm.check_contiguous_layout(m_indices, num_groups)


def _with(values: dict[int, int], length: int = 256, fill: int = 0) -> torch.Tensor:
    t = torch.full((length,), fill, dtype=torch.int32)
    for row, value in values.items():
        t[row] = value
    return t


INVALID_LAYOUTS = {
    "value_below_minus_one": (_with({5: -2}), 2, r"m_indices\[5\] = -2"),
    "value_equal_to_num_groups": (_with({130: 2}), 2, r"m_indices\[130\] = 2"),
    "large_value": (_with({0: 1000}), 2, r"m_indices\[0\] = 1000"),
    "segment_starts_mid_block": (torch.tensor([0] * 64 + [1] * 192, dtype=torch.int32), 2, r"rows 0\.\.127"),
    "padding_before_rows": (torch.tensor([-1] * 10 + [0] * 118, dtype=torch.int32), 1, r"rows 0\.\.127"),
    "hole_inside_segment": (
        torch.tensor([0] * 10 + [-1] * 5 + [0] * 113, dtype=torch.int32),
        1,
        r"rows 0\.\.",
    ),
    "second_block_mixes": (_with({200: 1}), 2, r"rows 128\.\.255"),
}


@pytest.mark.parametrize("name", list(INVALID_LAYOUTS))
def test_check_contiguous_layout_rejects_invalid_layouts(name: str) -> None:
    m_indices, num_groups, pattern = INVALID_LAYOUTS[name]
    with pytest.raises(ValueError, match=pattern):
        fp8gemm.check_contiguous_layout(m_indices, num_groups)


# ----------------------------------------------------------------------------------- config model


def _max_scale_blocks_touched(block_n: int) -> int:
    """Most 128-wide scale blocks any tile [t·block_n, (t+1)·block_n) touches (offsets repeat with the lcm)."""
    period = math.lcm(block_n, cfg.SCALE_BLOCK) // block_n
    return max(
        len({col // cfg.SCALE_BLOCK for col in range(t * block_n, (t + 1) * block_n)})
        for t in range(period + 1)
    )


@pytest.mark.parametrize("block_n", range(8, 392, 8))
def test_b_scale_blocks_per_tile_matches_brute_force(block_n: int) -> None:
    assert cfg.b_scale_blocks_per_tile(block_n) == _max_scale_blocks_touched(block_n)


@pytest.mark.parametrize("block_n", cfg.BLOCK_N_CHOICES)
def test_every_block_n_touches_at_most_three_b_scale_blocks(block_n: int) -> None:
    # The kernel selects among at most three B scales per K block (Fp8Gemm::BlockScales).
    assert cfg.b_scale_blocks_per_tile(block_n) <= 3


@pytest.mark.parametrize("block_n", cfg.BLOCK_N_CHOICES)
def test_stage_bytes_keep_the_barriers_after_the_ring_aligned(block_n: int) -> None:
    # The full/empty mbarriers follow every stage's scales: each stage's bytes must be a multiple of 8.
    assert cfg.b_scale_bytes_per_stage(block_n) >= 4 * cfg.b_scale_blocks_per_tile(block_n)
    for block_m in cfg.BLOCK_M_CHOICES:
        assert cfg.stage_bytes(block_m, block_n) % 8 == 0


@pytest.mark.parametrize("block_n,part", [(128, 128), (176, 176), (192, 192), (224, 112), (256, 128)])
def test_tiles_wider_than_192_take_their_products_in_halves(block_n: int, part: int) -> None:
    assert cfg.part_n(block_n) == part


def test_smem_capacity_is_hoppers_227_kb() -> None:
    assert cfg.SM90_SMEM_CAPACITY == 227 * 1024


@pytest.mark.parametrize("config", heuristics.all_configs(), ids=str)
def test_every_config_is_valid_and_fits_shared_memory(config: GemmConfig) -> None:
    assert config.problems() == []
    assert config.is_valid()
    assert config.smem_bytes <= cfg.SM90_SMEM_CAPACITY
    # The operand ring alone (A and B tiles of every stage) must fit too: a floor independent of the model.
    assert config.num_stages * (config.block_m + config.block_n) * cfg.BLOCK_K <= cfg.SM90_SMEM_CAPACITY


@pytest.mark.parametrize("config", heuristics.all_configs(), ids=str)
def test_every_config_uses_the_deepest_ring_that_fits_its_width_cap(config: GemmConfig) -> None:
    for block_n, stages in ((config.block_n, config.num_stages), *config.alt_widths):
        cap = cfg.MAX_STAGES if block_n <= cfg.DEEP_RING_MAX_BLOCK_N else cfg.WIDE_TILE_STAGES
        deeper = GemmConfig(config.gemm_type, config.block_m, block_n, stages + 1, config.output_f32)
        assert stages == cap or (stages < cap and deeper.smem_bytes > cfg.SM90_SMEM_CAPACITY)


def test_all_configs_cover_every_layout_and_tile_without_duplicates() -> None:
    configs = heuristics.all_configs()
    assert len(set(configs)) == len(configs)
    for gemm_type in GemmType:
        shapes = {(c.block_m, c.block_n) for c in configs if c.gemm_type == gemm_type and not c.output_f32}
        assert shapes == {(m, n) for m in cfg.BLOCK_M_CHOICES for n in cfg.BLOCK_N_CHOICES}
    assert any(c.output_f32 and c.gemm_type == GemmType.DENSE for c in configs)


INVALID_CONFIGS = [
    (GemmConfig(GemmType.DENSE, 96, 128, 4), ["block_m"]),
    (GemmConfig(GemmType.DENSE, 128, 24, 4), ["block_n"]),
    (GemmConfig(GemmType.DENSE, 128, 200, 2), ["block_n"]),
    (GemmConfig(GemmType.DENSE, 64, 128, 0), ["num_stages"]),
    (GemmConfig(GemmType.DENSE, 64, 16, cfg.MAX_STAGES + 1), ["num_stages"]),
    (GemmConfig(GemmType.GROUPED_MASKED, 128, 160, 8), ["shared memory"]),
    (GemmConfig(GemmType.DENSE, 96, 24, 0), ["block_m", "block_n", "num_stages"]),
    (GemmConfig(GemmType.DENSE, 128, 128, 5, alt_widths=((144, 5),)), ["masked kernels only"]),
    (GemmConfig(GemmType.GROUPED_MASKED, 128, 128, 5, alt_widths=((128, 5),)), ["repeat a width", "no measured cost"]),
    (GemmConfig(GemmType.GROUPED_MASKED, 128, 128, 5, alt_widths=((144, 5), (144, 5))), ["repeat a width"]),
    (GemmConfig(GemmType.GROUPED_MASKED, 128, 128, 5, alt_widths=((160, 5),)), ["no measured cost"]),
    (GemmConfig(GemmType.GROUPED_MASKED, 128, 128, 5, alt_widths=((144, 0),)), ["alt width 144: num_stages"]),
    (GemmConfig(GemmType.GROUPED_MASKED, 128, 128, 5, alt_widths=((256, 5),)), ["shared memory"]),
    (GemmConfig(GemmType.GROUPED_MASKED, 64, 128, 8, alt_widths=((144, 5),)), ["128 x 128 main tile"]),
    (GemmConfig(GemmType.GROUPED_MASKED, 128, 128, 5, cluster_n=2, alt_widths=((144, 5),)), ["no cluster"]),
    (GemmConfig(GemmType.GROUPED_CONTIGUOUS, 128, 128, 5, stream_k=True), ["stream_k"]),
    (GemmConfig(GemmType.DENSE, 128, 128, 5, cluster_n=2, stream_k=True), ["stream_k"]),
]


@pytest.mark.parametrize("config,mentions", INVALID_CONFIGS, ids=[str(c) for c, _ in INVALID_CONFIGS])
def test_invalid_config_problems_name_each_fault(config: GemmConfig, mentions: list[str]) -> None:
    problems = config.problems()
    assert not config.is_valid()
    assert len(problems) == len(mentions)
    for problem, word in zip(problems, mentions, strict=True):
        assert word in problem


def test_config_thread_count_is_one_producer_plus_one_warpgroup_per_64_rows() -> None:
    for config in heuristics.all_configs():
        assert config.num_threads == 128 * (1 + config.block_m // 64)


# ------------------------------------------------------------------------------------- heuristics

PROBLEMS = [
    (m, n, k)
    for m in (1, 7, 64, 65, 128, 300, 4096)
    for n, k in ((2112, 7168), (24576, 1536), (7168, 2048), (8, 16), (200, 160))
]


@pytest.fixture(autouse=True)
def _fresh_heuristics_cache():
    heuristics.choose_launch.cache_clear()
    yield
    heuristics.choose_launch.cache_clear()


@pytest.mark.parametrize("m", [1, 2, 17, 63, 64])
@pytest.mark.parametrize("gemm_type", list(GemmType))
def test_small_m_picks_block_m_64(m: int, gemm_type: GemmType) -> None:
    for n, k in ((2112, 7168), (24576, 1536), (256, 256)):
        assert heuristics.choose_config(gemm_type, m, n, k, 4, 132).block_m == 64


@pytest.mark.parametrize("m", [65, 100, 128])
@pytest.mark.parametrize("n,k", [(24576, 1536), (7168, 16384), (4096, 7168), (2112, 2048), (2112, 4096)])
def test_dense_65_to_128_rows_take_one_unsplit_tile_row(m: int, n: int, k: int) -> None:
    config, split_k = heuristics.choose_launch(GemmType.DENSE, m, n, k, 1, 132)
    assert (config.block_m, split_k) == (128, 1)


@pytest.mark.parametrize("m", [65, 100, 128])
@pytest.mark.parametrize("n,k", [(2112, 7168), (1024, 7168), (256, 7168), (2112, 16384)])
@pytest.mark.parametrize("num_sms", [132, 160])
def test_one_tile_row_cuts_long_k_where_it_would_need_16_wide_tiles(m: int, n: int, k: int, num_sms: int) -> None:
    config, split_k = heuristics.choose_launch(GemmType.DENSE, m, n, k, 1, num_sms)
    assert (config.block_m, config.block_n) == (128, 32)
    assert 2 <= split_k <= heuristics.NARROW_SPLIT_MAX_RANGES
    assert config.num_tiles(m, n) * split_k <= num_sms  # one wave


def test_decode_shape_cuts_k_over_32_wide_tiles() -> None:
    config, split_k = heuristics.choose_launch(GemmType.DENSE, 64, 2112, 7168, 1, 132)
    assert (config.block_m, config.block_n, split_k) == (64, 32, 2)


def test_one_tile_row_stays_unsplit_in_f32_and_where_32_wide_tiles_fill_the_sms() -> None:
    assert heuristics.choose_launch(GemmType.DENSE, 128, 2112, 7168, 1, 132, True)[1] == 1
    # 66 tiles of 32 columns leave no room for a second K range on 78 SMs.
    assert heuristics.choose_launch(GemmType.DENSE, 128, 2112, 7168, 1, 78)[1] == 1


def test_decode_shape_fills_every_sm() -> None:
    # The weight read is the whole cost: its work units (tiles x K ranges) must cover every SM.
    config, split_k = heuristics.choose_launch(GemmType.DENSE, 64, 2112, 7168, 1, 132)
    tiles = math.ceil(64 / config.block_m) * math.ceil(2112 / config.block_n)
    assert tiles * split_k >= 132


@pytest.mark.parametrize("gemm_type", [GemmType.DENSE, GemmType.GROUPED_CONTIGUOUS])
def test_wide_tile_with_cluster_for_operands_beyond_its_measured_threshold(gemm_type: GemmType) -> None:
    groups = 1 if gemm_type == GemmType.DENSE else 4
    large = heuristics.choose_launch(gemm_type, 4096 * groups, 7168, 16384 if groups == 1 else 7168, groups, 132)
    assert large == (GemmConfig(gemm_type, 128, 256, max_stages(128, 256), cluster_n=2), 1)


def test_grouped_wide_tile_only_beyond_the_operand_threshold() -> None:
    small = heuristics.choose_config(GemmType.GROUPED_CONTIGUOUS, 1024 * 4, 7168, 2048, 4, 132)
    assert small.block_n != heuristics.WIDE_TILE_BLOCK_N


@pytest.mark.parametrize(
    "groups, m_per_group, n, k",
    [
        (4, 3072, 2496, 7168),  # measured 8-9% faster than 128 x 128 with the cluster
        (4, 768, 7168, 7168),  # 6-7%
        (8, 1536, 1536, 7168),  # 3-4%
        (2, 1024, 7168, 16384),  # 5% slower in one pass, 0.6% faster in the other
    ],
)
def test_contiguous_wide_tile_at_up_to_a_fifth_more_work(groups: int, m_per_group: int, n: int, k: int) -> None:
    launch = heuristics.choose_launch(GemmType.GROUPED_CONTIGUOUS, groups * m_per_group, n, k, groups, 132)
    assert launch == (GemmConfig(GemmType.GROUPED_CONTIGUOUS, 128, 256, max_stages(128, 256), cluster_n=2), 1)


def test_dense_keeps_128_by_128_where_contiguous_takes_the_wide_tile() -> None:
    # 12288 x 2496 x 7168: the wide tile models 7% more work, over the dense rule's 5% (dense problems at
    # 11-14% more measured 2-7% slower with it) and within the contiguous rule's 20%.
    assert heuristics.choose_config(GemmType.DENSE, 4 * 3072, 2496, 7168, 1, 132).block_n == 128


@pytest.mark.parametrize("m, n, k", [(4096, 4096, 7168), (2048, 4096, 7168), (4096, 4096, 4096), (4096, 7168, 2048)])
def test_dense_wide_tile_from_its_measured_k_without_cluster(m: int, n: int, k: int) -> None:
    assert heuristics.choose_launch(GemmType.DENSE, m, n, k, 1, 132) == (GemmConfig(GemmType.DENSE, 128, 256, 4), 1)


@pytest.mark.parametrize(
    "m, n, k",
    [
        (4096, 24576, 1536),  # K below WIDE_TILE_MIN_K: measured slower
        (4096, 32768, 512),
        (512, 4096, 7168),  # 128 tiles of 128 x 128 fill one wave; 64 wide tiles would take twice as long
        (256, 7168, 7168),
    ],
)
def test_dense_wide_tile_not_below_its_k_or_where_it_adds_waves(m: int, n: int, k: int) -> None:
    assert heuristics.choose_config(GemmType.DENSE, m, n, k, 1, 132).block_n != heuristics.WIDE_TILE_BLOCK_N


@pytest.mark.parametrize(
    "m, n, k",
    [
        (256, 7168, 16384),  # 56 wide tiles in one wave against 112 of 128 x 128: measured 42% slower
        (128, 16384, 7168),
        (256, 24576, 7168),  # 2 waves of wide tiles against 3 of 128 x 128: measured 16% slower
        (384, 16384, 7168),
        (768, 7168, 16384),
    ],
)
def test_wide_tile_not_for_large_operands_where_it_takes_more_work(m: int, n: int, k: int) -> None:
    assert heuristics.choose_launch(GemmType.DENSE, m, n, k, 1, 132) == (
        GemmConfig(GemmType.DENSE, 128, 128, max_stages(128, 128)),
        1,
    )


@pytest.mark.parametrize(
    "m, n, k",
    [
        (4096, 3584, 16384),  # 4 waves of wide tiles against 7 of 128 x 128 (14% more work): measured 4% slower
        (2048, 7168, 16384),  # also 14%: 7% slower
        (1536, 12288, 16384),  # 5 against 9 (11%): 3% slower
    ],
)
def test_wide_tile_not_for_large_operands_at_a_tenth_more_work(m: int, n: int, k: int) -> None:
    assert heuristics.choose_config(GemmType.DENSE, m, n, k, 1, 132).block_n == 128


@pytest.mark.parametrize(
    "m, n, k",
    [
        (256, 12288, 16384),  # 1 wave of wide tiles against 2 of 128 x 128: 18% faster than 2 K ranges of 128
        (384, 7168, 16384),  # 26% faster than 3 ranges
        (512, 6144, 16384),  # 14% faster than 2 ranges
    ],
)
def test_wide_tile_for_large_operands_at_the_work_of_unsplit_128_by_128(m: int, n: int, k: int) -> None:
    assert heuristics.choose_launch(GemmType.DENSE, m, n, k, 1, 132) == (
        GemmConfig(GemmType.DENSE, 128, 256, max_stages(128, 256)),
        1,
    )


def test_wide_tile_never_for_masked_or_n_it_would_pad() -> None:
    assert heuristics.choose_config(GemmType.GROUPED_MASKED, 4096, 7168, 7168, 8, 132).block_n != 256
    # 2112 columns: 17 blocks of 128, 9 of 256 (one more padded half block).
    assert heuristics.choose_config(GemmType.DENSE, 16384, 2112, 16384, 1, 132).block_n != 256


@pytest.mark.parametrize(
    "m, n, k",
    [
        (4096, 2112, 1024),  # 544 tiles of 128 x 128 in 5 waves, 352 of 128 x 192 in 3 (4.5 tile-times)
        (3072, 2112, 7168),  # 128 x 64 in 6 traffic-bound waves against 2 of 128 x 192
        (1280, 7168, 7168),
        (768, 12288, 7168),
    ],
)
def test_192_wide_tile_where_it_takes_fewer_waves(m: int, n: int, k: int) -> None:
    assert heuristics.choose_launch(GemmType.DENSE, m, n, k, 1, 132) == (
        GemmConfig(GemmType.DENSE, 128, 192, max_stages(128, 192)),
        1,
    )


@pytest.mark.parametrize(
    "m, n, k",
    [
        (4096, 1536, 7168),  # 3 waves of 128 x 128 or 2 of 128 x 192: a tie, which 192 lost by 5%
        (4096, 32768, 512),  # 63 against 42: a tie
        (2048, 2112, 7168),  # 128 x 64's 4 waves beat 192's 2
    ],
)
def test_192_wide_tile_not_where_the_waves_tie_or_lose(m: int, n: int, k: int) -> None:
    assert heuristics.choose_config(GemmType.DENSE, m, n, k, 1, 132).block_n != heuristics.WAVE_FILL_BLOCK_N


@pytest.mark.parametrize(
    "m, n, k",
    [
        (8192, 2112, 1024),  # 9 waves of 128 x 128 (17 n blocks, the last half empty) or 6 of 192: a tie
        (8192, 2880, 7168),
        (16384, 2112, 1024),  # 3% modelled, under WAVE_FILL_MIN_SAVING
    ],
)
def test_192_wide_tile_at_a_tie_where_it_tiles_n_exactly_and_128_does_not(m: int, n: int, k: int) -> None:
    assert heuristics.choose_config(GemmType.DENSE, m, n, k, 1, 132).block_n == heuristics.WAVE_FILL_BLOCK_N


@pytest.mark.parametrize(
    "m, n, k",
    [
        (16384, 2112, 512),  # below WAVE_FILL_EXACT_N_MIN_K: measured slower
        (2048, 6144, 1536),  # both widths tile N exactly
        (6144, 7168, 2048),  # 192 pads N
    ],
)
def test_192_wide_tile_not_at_other_ties(m: int, n: int, k: int) -> None:
    assert heuristics.choose_config(GemmType.DENSE, m, n, k, 1, 132).block_n != heuristics.WAVE_FILL_BLOCK_N


@pytest.mark.parametrize(
    "m, n, k, block_n",
    [
        (4096, 2112, 7168, 176),  # 3 waves of 176 against 3 of 192: measured 5% faster
        (8192, 2112, 7168, 176),  # 6 waves each: 4% faster
        (1024, 7168, 7168, 224),  # 2 waves each against 256: 8% faster
        (8192, 1344, 7168, 224),  # 3 waves against 4 of 192: measured 11% faster
        (2048, 3584, 7168, 224),  # 2 waves each against 256: 8% faster
        (512, 7168, 7168, 224),  # 1 wave each against 256: 3% faster
        (1024, 7168, 2048, 224),  # 2 waves each against 256: 5% faster
        (1024, 3584, 2048, 224),  # 1 wave each: 6% faster
        (512, 7168, 2048, 224),  # 1 wave each: 3% faster
        (1024, 7168, 4096, 224),  # 2 waves each: 7% faster
        (4096, 2112, 2048, 176),  # 3 waves each against 192: 4% faster
        (8192, 2112, 4096, 176),  # 6 waves each: 5% faster
        (8192, 1344, 4096, 224),  # 3 waves against 4 of 192: 11% faster
        (3072, 3584, 4096, 224),  # 4 waves each against 256: 8% faster
    ],
)
def test_three_scale_block_tile_where_it_tiles_n_exactly_in_no_more_waves(m: int, n: int, k: int, block_n: int) -> None:
    assert heuristics.choose_launch(GemmType.DENSE, m, n, k, 1, 132) == (
        GemmConfig(GemmType.DENSE, 128, block_n, max_stages(128, block_n)),
        1,
    )


@pytest.mark.parametrize(
    "m, n, k",
    [
        (4096, 7168, 2048),  # 8 waves of 224 against 7 of 256: measured 8% slower
        (2048, 7168, 7168),  # 4 waves of 224 against 7 of 128 x 128: modelled 4% slower (measured 3% faster)
        (2048, 7168, 2048),  # 4 waves of 224 against 7 of 128 x 128: measured 6% slower
        (2048, 7168, 4096),  # measured 2% slower
        (4096, 7168, 1536),  # below THREE_SCALE_BLOCK_MIN_K: not measured
        (256, 7168, 16384),  # below THREE_SCALE_BLOCK_MIN_M: 224 measured 32% slower than 128 x 128
        (4096, 4096, 7168),  # 224 pads N
        (4096, 1344, 7168),  # 176 pads N, 192 tiles it: measured 5% slower
    ],
)
def test_three_scale_block_tile_not_outside_its_measured_wins(m: int, n: int, k: int) -> None:
    assert heuristics.choose_config(GemmType.DENSE, m, n, k, 1, 132).block_n not in (
        heuristics.THREE_SCALE_BLOCK_N_CHOICES
    )


def test_three_scale_block_tile_only_for_bf16_output() -> None:
    assert heuristics.choose_config(GemmType.DENSE, 4096, 2112, 7168, 1, 132).block_n == 176
    config = heuristics.choose_config(GemmType.DENSE, 4096, 2112, 7168, 1, 132, output_f32=True)
    assert config.block_n not in heuristics.THREE_SCALE_BLOCK_N_CHOICES


@pytest.mark.parametrize(
    "gemm_type, m, n, groups",
    [
        (GemmType.DENSE, 1024, 2112, 1),  # 15 n blocks of 144 against 33 traffic-bound ones of 64
        (GemmType.DENSE, 2048, 2112, 1),
        (GemmType.DENSE, 8192, 576, 1),  # 4 n blocks of 144 exactly, against 4 of 160 (the last part-filled)
        (GemmType.GROUPED_MASKED, 1024, 2112, 1),
    ],
)
def test_144_wide_tile_where_it_was_measured_fastest(gemm_type: GemmType, m: int, n: int, groups: int) -> None:
    config = heuristics.choose_config(gemm_type, m, n, 7168, groups, 132)
    assert (config.block_m, config.block_n) == (128, 144)


def test_192_wide_tile_only_for_bf16_dense_unclustered_problems() -> None:
    assert heuristics.choose_config(GemmType.DENSE, 4096, 2112, 7168, 1, 132, output_f32=True).block_n != 192
    for gemm_type, groups in ((GemmType.GROUPED_CONTIGUOUS, 4), (GemmType.GROUPED_MASKED, 4)):
        for m, n, k in ((4096, 2112, 7168), (1024, 2112, 7168), (512, 7168, 7168)):
            assert heuristics.choose_config(gemm_type, m, n, k, groups, 132).block_n != 192
    # Operands beyond the multicast threshold take the cluster, which 11 n blocks would pad to 12.
    assert heuristics.choose_config(GemmType.DENSE, 16384, 2112, 7168, 1, 132).block_n != 192


@pytest.mark.parametrize("groups, expected_m", [(1, 1024), (2, 512), (4, 256), (8, 128), (16, 64)])
@pytest.mark.parametrize("n, k", [(4096, 7168), (7168, 2048)])
def test_masked_problems_never_get_a_cluster(groups: int, expected_m: int, n: int, k: int) -> None:
    assert heuristics.choose_config(GemmType.GROUPED_MASKED, expected_m, n, k, groups, 132).cluster_n == 1


@pytest.mark.parametrize("groups, expected_m", [(1, 1024), (2, 512), (4, 256), (8, 128)])
@pytest.mark.parametrize("n, k, alt_block_ns", [(4096, 7168, (144, 256)), (7168, 2048, (144, 224, 256))])
def test_masked_128_by_128_choice_carries_the_wider_alternatives(
    groups: int, expected_m: int, n: int, k: int, alt_block_ns: tuple[int, ...]
) -> None:
    config = heuristics.choose_config(GemmType.GROUPED_MASKED, expected_m, n, k, groups, 132)
    assert (config.block_m, config.block_n) == (128, 128)
    assert config.alt_widths == tuple((block_n, max_stages(128, block_n)) for block_n in alt_block_ns)


@pytest.mark.parametrize(
    "n, alt_block_ns",
    [
        (2112, (144,)),  # 17 blocks of 128, 15 of 144, 9 of 256 (pads N: 2 x 9 > 17)
        (1152, (144,)),  # 9 of 128, 8 of 144, 5 of 256
        (512, (256,)),  # 4 of 128 or of 144, 2 of 256
        (1024, (256,)),  # 8 of 128 or of 144, 4 of 256
        (4096, (144, 256)),  # 32, 29, 16 (224 would pad N)
        (7168, (144, 224, 256)),  # 56, 50, 32 exactly, 28
        (1344, (144, 224)),  # 11, 10, 6 exactly, 6 (pads N: 2 x 6 > 11)
        (448, (224, 256)),  # 4 of 128 or of 144, 2 of 224 or of 256
    ],
)
def test_masked_alternatives_are_the_widths_that_cut_the_n_blocks(n: int, alt_block_ns: tuple[int, ...]) -> None:
    main = GemmConfig(GemmType.GROUPED_MASKED, 128, 128, max_stages(128, 128))
    assert tuple(block_n for block_n, _ in heuristics.with_masked_alts(main, n).alt_widths) == alt_block_ns


def test_only_masked_choices_carry_alternative_widths() -> None:
    for gemm_type in (GemmType.DENSE, GemmType.GROUPED_CONTIGUOUS):
        for m, n, k in PROBLEMS:
            assert heuristics.choose_config(gemm_type, m, n, k, 4, 132).alt_widths == ()


def test_contiguous_problems_keep_their_cluster() -> None:
    assert heuristics.choose_config(GemmType.GROUPED_CONTIGUOUS, 8192, 7168, 2048, 4, 132).cluster_n == 2


@pytest.mark.parametrize("num_sms", [132, 78, 1])
def test_split_k_only_for_dense_and_never_empty(num_sms: int) -> None:
    for gemm_type in GemmType:
        for m, n, k in PROBLEMS:
            _, split_k = heuristics.choose_launch(gemm_type, m, n, k, 1, num_sms)
            k_blocks = math.ceil(k / 128)
            assert split_k == 1 or gemm_type == GemmType.DENSE
            assert (split_k - 1) * math.ceil(k_blocks / split_k) < k_blocks, (m, n, k, split_k)


@pytest.mark.parametrize("output_f32", [False, True])
@pytest.mark.parametrize("num_sms", [132, 78, 1])
def test_dense_choice_is_one_of_all_configs(num_sms: int, output_f32: bool) -> None:
    configs = set(heuristics.all_configs())
    for m, n, k in PROBLEMS:
        config = heuristics.choose_config(GemmType.DENSE, m, n, k, 1, num_sms, output_f32)
        assert config in configs, (m, n, k)
        assert config.output_f32 == output_f32


@pytest.mark.parametrize("gemm_type", [GemmType.GROUPED_CONTIGUOUS, GemmType.GROUPED_MASKED])
@pytest.mark.parametrize("num_groups", [1, 8, 256])
def test_grouped_choice_is_one_of_all_configs(gemm_type: GemmType, num_groups: int) -> None:
    configs = set(heuristics.all_configs())
    for m, n, k in PROBLEMS:
        config = heuristics.choose_config(gemm_type, m, n, k, num_groups, 132)
        assert config in configs and config.gemm_type == gemm_type


def test_choice_is_deterministic() -> None:
    first = [heuristics.choose_config(GemmType.DENSE, m, n, k, 1, 132) for m, n, k in PROBLEMS]
    heuristics.choose_launch.cache_clear()
    second = [heuristics.choose_config(GemmType.DENSE, m, n, k, 1, 132) for m, n, k in PROBLEMS]
    assert first == second


def test_misaligned_one_column_scales_are_copied_to_an_aligned_tensor() -> None:
    # [M, 1] is MN-major whatever its strides; a row slice of it starts 4 bytes off TMA's 16-byte alignment.
    sf = torch.rand(65, 1)[1:]
    assert sf.data_ptr() % 16 != 0
    out = fp8gemm.get_mn_major_tma_aligned_tensor(sf)
    assert out.data_ptr() % 16 == 0
    assert torch.equal(out, sf)


@pytest.mark.parametrize("gemm_type", [cfg.GemmType.DENSE, cfg.GemmType.GROUPED_CONTIGUOUS])
@pytest.mark.parametrize("rows", [1, 63, 64])
@pytest.mark.parametrize("block_n", [32, 64, 128, 256])
def test_b_streams_evict_first_when_one_m_block_reads_each_tile(
    gemm_type: cfg.GemmType, rows: int, block_n: int
) -> None:
    assert cfg.b_evict_first(gemm_type, 64, block_n, rows)
    assert cfg.b_evict_first(gemm_type, 128, block_n, 2 * rows)


@pytest.mark.parametrize("block_m,rows", [(64, 65), (128, 129), (128, 4096)])
def test_b_keeps_normal_l2_priority_when_several_m_blocks_reuse_it(block_m: int, rows: int) -> None:
    assert not cfg.b_evict_first(cfg.GemmType.DENSE, block_m, 128, rows)


def test_16_wide_b_tiles_keep_normal_l2_priority() -> None:
    assert not cfg.b_evict_first(cfg.GemmType.DENSE, 64, 16, 64)


@pytest.mark.parametrize("rows", [1, 64, 128])
def test_masked_kernels_never_stream_b_evict_first(rows: int) -> None:
    assert not cfg.b_evict_first(cfg.GemmType.GROUPED_MASKED, 128, 128, rows)


@pytest.mark.parametrize("evict_first", [False, True])
def test_packed_params_carry_b_evict_first_where_the_kernel_reads_it(evict_first: bool) -> None:
    descriptor = bytes(launcher.TMA_DESCRIPTOR_BYTES)
    params = launcher.pack_gemm_params(
        descriptor, descriptor, descriptor, None, 0, 0, 0, 0, 0, 0, 64, 7168, 2048, 1, 7168, 0, 1, evict_first
    )
    # GemmParams::b_evict_first sits at byte 592 (the kernel's static_assert pins it).
    assert int.from_bytes(params.raw[592:596], "little") == evict_first
    assert len(params.raw) == launcher.PARAMS_BYTES


@pytest.mark.parametrize(
    "num_tiles,k_blocks,grid", [(112, 128, 132), (112, 16, 132), (9, 5, 41), (9, 5, 45), (3, 7, 2), (1, 1, 1)]
)
def test_stream_k_covers_every_k_block_of_every_tile_once_in_order(num_tiles: int, k_blocks: int, grid: int) -> None:
    ranges = cfg.stream_k_ranges(num_tiles, k_blocks, grid)
    assert len(ranges) == num_tiles
    for tile_ranges in ranges:
        bounds = [b for r in tile_ranges for b in r]
        assert bounds[0] == 0 and bounds[-1] == k_blocks
        assert all(begin < end for begin, end in tile_ranges)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(tile_ranges))
    # Each CTA's share differs from any other's by at most one K block.
    total = num_tiles * k_blocks
    shares = [(c + 1) * total // grid - c * total // grid for c in range(grid)]
    assert max(shares) - min(shares) <= 1 and sum(shares) == total


def test_stream_k_tiles_are_cut_into_at_most_a_few_pieces() -> None:
    # 64 x 7168 x 16384 with 64 x 64 tiles on 132 SMs: ~109 K blocks a CTA, 128 a tile.
    assert cfg.stream_k_max_pieces(112, 128, 132) == 3


@pytest.mark.parametrize("grid", [0, 46])
def test_stream_k_rejects_a_grid_with_empty_ranges(grid: int) -> None:
    with pytest.raises(ValueError, match="grid"):
        cfg.stream_k_ranges(9, 5, grid)


def test_forced_stream_k_config_rejects_split_k() -> None:
    with pytest.raises(ValueError, match="stream_k"):
        with heuristics.forced_config(GemmConfig(GemmType.DENSE, 64, 64, 8, stream_k=True), split_k=2):
            pass
