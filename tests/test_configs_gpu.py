"""Every kernel variant the heuristic can choose computes the right thing, on problems shaped to reach its
corners: several tiles per persistent CTA (few SMs), an odd number of n blocks (a cluster's padding CTA),
M/N/K tails, and both an even and an odd number of K blocks (the overlapped main loop's two tails)."""

from __future__ import annotations

from math import gcd

import pytest
import torch

import fp8gemm
from fp8gemm import launch_plans, utils
from fp8gemm.config import SCALE_BLOCK, GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import all_configs, forced_config
from fp8gemm.testing import (
    calc_diff,
    dense_inputs,
    grouped_contiguous_inputs,
    grouped_masked_inputs,
    reference_gemm,
)

pytestmark = pytest.mark.gpu

# Four SMs: two 2-CTA clusters, so each CTA walks several tiles and the stage ring wraps between them.
FEW_SMS = 4


@pytest.fixture
def few_sms(monkeypatch: pytest.MonkeyPatch):
    launch_plans.forget_all()
    monkeypatch.setattr(utils, "_num_sms_override", FEW_SMS)
    yield
    launch_plans.forget_all()


def _shape(config: GemmConfig, k_blocks: int) -> tuple[int, int, int]:
    # 2 m blocks + a tail, 3 n blocks with the last one partial, K ending in a partial block.
    return 2 * config.block_m + 9, 2 * config.block_n + 8, (k_blocks - 1) * 128 + 16


@pytest.mark.parametrize("k_blocks", [4, 5])
@pytest.mark.parametrize("config", all_configs(), ids=str)
def test_every_config_matches_reference(config: GemmConfig, k_blocks: int, few_sms) -> None:
    m, n, k = _shape(config, k_blocks)
    with forced_config(config):
        if config.gemm_type == GemmType.DENSE:
            p = dense_inputs(m, n, k, out_dtype=torch.float32 if config.output_f32 else torch.bfloat16)
            c = torch.randn(m, n, device="cuda") if config.output_f32 else None
            fp8gemm.fp8_gemm_nt(p.a, p.b, p.d, c=c)
            assert not torch.isnan(p.d).any()
            ref = reference_gemm(p.a, p.b) + (c.double() if c is not None else 0)
            assert calc_diff(p.d, ref) < 1e-5
        elif config.gemm_type == GemmType.GROUPED_CONTIGUOUS:
            sizes = [m, 0, 70]
            p = grouped_contiguous_inputs(sizes, n, k)
            fp8gemm.m_grouped_fp8_gemm_nt_contiguous(p.a, p.b, p.d, p.m_indices)
            for expert in (0, 2):
                rows = (p.m_indices == expert).nonzero().flatten()
                ref = reference_gemm((p.a[0][rows], p.a[1][rows]), (p.b[0][expert], p.b[1][expert]))
                assert calc_diff(p.d[rows], ref) < 1e-5
            assert torch.isnan(p.d[p.m_indices < 0]).all()
        else:
            sizes = [m, 0, 70]
            p = grouped_masked_inputs(sizes, m + 7, n, k)
            fp8gemm.m_grouped_fp8_gemm_nt_masked(p.a, p.b, p.d, p.masked_m, m)
            ref = reference_gemm(p.a, p.b)
            for g, rows in enumerate(sizes):
                if rows:
                    assert calc_diff(p.d[g, :rows], ref[g, :rows]) < 1e-5
                assert torch.isnan(p.d[g, rows:]).all()


# Cluster variants included: with 3 n blocks a cluster's padding CTA takes K ranges of a tile past N.
SPLIT_K_CONFIGS = [c for c in all_configs() if c.gemm_type == GemmType.DENSE and not c.stream_k]


@pytest.mark.parametrize("split_k", [2, 3, 8])
@pytest.mark.parametrize("config", SPLIT_K_CONFIGS, ids=str)
def test_every_dense_config_with_split_k_matches_reference(config: GemmConfig, split_k: int, few_sms) -> None:
    # 5 K blocks: split 2 gives ranges of 3 and 2, split 3 of 2, 2 and 1, split 8 is cut to 5 of 1.
    m, n, k = _shape(config, 5)
    p = dense_inputs(m, n, k, out_dtype=torch.float32 if config.output_f32 else torch.bfloat16)
    c = torch.randn(m, n, device="cuda") if config.output_f32 else None
    with forced_config(config, split_k=split_k):
        fp8gemm.fp8_gemm_nt(p.a, p.b, p.d, c=c)
    assert not torch.isnan(p.d).any()
    ref = reference_gemm(p.a, p.b) + (c.double() if c is not None else 0)
    assert calc_diff(p.d, ref) < 1e-5


STREAM_K_CONFIGS = [
    GemmConfig(GemmType.DENSE, block_m, block_n, max_stages(block_m, block_n, f32), f32, stream_k=True)
    for block_m, block_n, f32 in ((64, 64, False), (128, 128, False), (64, 48, False), (128, 32, True))
]


@pytest.mark.parametrize("num_sms", [3, 7, 41])
@pytest.mark.parametrize("config", STREAM_K_CONFIGS, ids=str)
def test_stream_k_matches_reference_however_the_tiles_are_cut(
    config: GemmConfig, num_sms: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 9 tiles of 5 K blocks over 3 CTAs (15 blocks each: tiles cut in two), 7 (6-7 blocks) and 41 (one or
    # two blocks: tiles cut in up to five, most ranges shorter than a tile).
    launch_plans.forget_all()
    monkeypatch.setattr(utils, "_num_sms_override", num_sms)
    m, n, k = _shape(config, 5)
    p = dense_inputs(m, n, k, out_dtype=torch.float32 if config.output_f32 else torch.bfloat16)
    c = torch.randn(m, n, device="cuda") if config.output_f32 else None
    with forced_config(config):
        fp8gemm.fp8_gemm_nt(p.a, p.b, p.d, c=c)
    launch_plans.forget_all()
    assert not torch.isnan(p.d).any()
    ref = reference_gemm(p.a, p.b) + (c.double() if c is not None else 0)
    assert calc_diff(p.d, ref) < 1e-5


# Tiles that may straddle two B scale blocks promote through one unrolled copy per position of the split
# (a multiple of gcd(block_n, 128) columns into the tile): one dense config per such tile shape.
STRADDLING_CONFIGS = list(
    {
        (config.block_m, config.block_n): config
        for config in all_configs()
        if config.gemm_type == GemmType.DENSE
        and not config.output_f32
        and SCALE_BLOCK % config.block_n
        and config.block_n % SCALE_BLOCK
    }.values()
)


@pytest.mark.parametrize("config", STRADDLING_CONFIGS, ids=str)
def test_straddling_tiles_take_every_split_position(config: GemmConfig, few_sms) -> None:
    # Tile starts at multiples of block_n reach every split position within 128 / gcd n blocks.
    n_blocks = SCALE_BLOCK // gcd(config.block_n, SCALE_BLOCK) + 1
    m, n, k = config.block_m + 9, n_blocks * config.block_n + 8, 3 * 128 + 16
    p = dense_inputs(m, n, k)
    with forced_config(config):
        fp8gemm.fp8_gemm_nt(p.a, p.b, p.d)
    assert not torch.isnan(p.d).any()
    assert calc_diff(p.d, reference_gemm(p.a, p.b)) < 1e-5
