"""Grouped (MoE) GEMMs on the GPU: contiguous and masked layouts against float64 references.

Every valid row must match the float64 product of its expert's dequantized inputs (calc_diff < 1e-5);
padding rows (contiguous) and rows past masked_m (masked) must stay as the NaN they were poisoned with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import fp8gemm
from fp8gemm import utils
from fp8gemm.config import ALT_TILE_COST_PERCENT, GemmConfig, GemmType
from fp8gemm.heuristics import forced_config
from fp8gemm.testing import (
    calc_diff,
    expert_sizes,
    grouped_contiguous_inputs,
    grouped_masked_inputs,
    reference_gemm,
)
from fp8gemm.utils import ceil_div

pytestmark = pytest.mark.gpu

NK = [(4096, 7168), (7168, 2048), (520, 1040), (264, 160)]
GROUPS = [1, 2, 4, 8, 32]


def _expected_m(num_groups: int) -> int:
    return max(64, 2048 // num_groups)


@pytest.mark.parametrize("num_groups", GROUPS)
@pytest.mark.parametrize("n,k", NK, ids=str)
def test_contiguous_matches_reference(num_groups: int, n: int, k: int) -> None:
    sizes = expert_sizes(num_groups, _expected_m(num_groups))
    problem = grouped_contiguous_inputs(sizes, n, k)
    fp8gemm.m_grouped_fp8_gemm_nt_contiguous(problem.a, problem.b, problem.d, problem.m_indices, check=True)
    m_indices = problem.m_indices.cpu()
    for expert in range(num_groups):
        rows = (m_indices == expert).nonzero().flatten().cuda()
        if rows.numel() == 0:
            continue
        a = (problem.a[0][rows], problem.a[1][rows])
        b = (problem.b[0][expert], problem.b[1][expert])
        out = problem.d[rows]
        assert not torch.isnan(out).any(), f"expert {expert}: unwritten rows"
        assert calc_diff(out, reference_gemm(a, b)) < 1e-5, f"expert {expert}"
    padding = (m_indices < 0).nonzero().flatten().cuda()
    assert torch.isnan(problem.d[padding]).all(), "padding rows must be left untouched"


@pytest.mark.parametrize("num_groups", GROUPS)
@pytest.mark.parametrize("n,k", NK, ids=str)
def test_masked_matches_reference(num_groups: int, n: int, k: int) -> None:
    expected_m = _expected_m(num_groups)
    m_max = 2 * expected_m
    sizes = expert_sizes(num_groups, expected_m)
    problem = grouped_masked_inputs(sizes, m_max, n, k)
    fp8gemm.m_grouped_fp8_gemm_nt_masked(
        problem.a, problem.b, problem.d, problem.masked_m, expected_m, check=True
    )
    _check_masked(problem, sizes)


def _check_masked(problem, sizes: list[int]) -> None:
    for group, rows in enumerate(sizes):
        out = problem.d[group, :rows]
        ref = reference_gemm(
            (problem.a[0][group, :rows], problem.a[1][group, :rows]),
            (problem.b[0][group], problem.b[1][group]),
        )
        assert not torch.isnan(out).any(), f"group {group}: unwritten rows"
        if rows:
            assert calc_diff(out, ref) < 1e-5, f"group {group}"
        assert torch.isnan(problem.d[group, rows:]).all(), f"group {group}: wrote past masked_m"


def test_masked_counts_are_clamped_to_m_max() -> None:
    sizes = [100, 64]
    problem = grouped_masked_inputs(sizes, 64, 512, 256)
    problem.masked_m.copy_(torch.tensor([100, -5], dtype=torch.int32))
    fp8gemm.m_grouped_fp8_gemm_nt_masked(problem.a, problem.b, problem.d, problem.masked_m, 64)
    torch.cuda.synchronize()
    _check_masked(problem, [64, 0])
    with pytest.raises(ValueError, match=r"masked_m\[0\] = 100"):
        fp8gemm.m_grouped_fp8_gemm_nt_masked(
            problem.a, problem.b, problem.d, problem.masked_m, 64, check=True
        )


def test_contiguous_skips_tiles_of_invalid_experts() -> None:
    problem = grouped_contiguous_inputs([128, 128], 256, 512)
    problem.m_indices[:128] = 7  # no such expert: the kernel must skip, not read out of bounds
    fp8gemm.m_grouped_fp8_gemm_nt_contiguous(problem.a, problem.b, problem.d, problem.m_indices)
    torch.cuda.synchronize()
    assert torch.isnan(problem.d[:128]).all()
    ref = reference_gemm((problem.a[0][128:], problem.a[1][128:]), (problem.b[0][1], problem.b[1][1]))
    assert calc_diff(problem.d[128:], ref) < 1e-5
    with pytest.raises(ValueError, match=r"m_indices\[0\] = 7"):
        fp8gemm.m_grouped_fp8_gemm_nt_contiguous(
            problem.a, problem.b, problem.d, problem.m_indices, check=True
        )


def test_masked_cuda_graph_replays_with_new_counts() -> None:
    num_groups, expected_m, m_max, n, k = 4, 96, 256, 2048, 1024
    problem = grouped_masked_inputs([expected_m] * num_groups, m_max, n, k)
    args = (problem.a, problem.b, problem.d, problem.masked_m, expected_m)
    fp8gemm.m_grouped_fp8_gemm_nt_masked(*args)  # compile and load outside capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fp8gemm.m_grouped_fp8_gemm_nt_masked(*args)
    for counts in ([1, 200, 0, 96], [256, 17, 129, 64], [0, 0, 5, 256]):
        problem.masked_m.copy_(torch.tensor(counts, dtype=torch.int32))
        problem.d.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        _check_masked(problem, counts)


def _chosen_width(config: GemmConfig, counts: list[int], n: int, num_ctas: int) -> int:
    """The tile width MaskedWidths chooses on the GPU, restated: the width whose waves, weighed by its
    ALT_TILE_COST_PERCENT (100 for the main width), take least time; the first wins ties."""
    m_blocks = sum(ceil_div(rows, config.block_m) for rows in counts)
    widths = [(config.block_n, 100)] + [(block_n, ALT_TILE_COST_PERCENT[block_n]) for block_n, _ in config.alt_widths]
    costs = [ceil_div(m_blocks * ceil_div(n, block_n), num_ctas) * cost for block_n, cost in widths]
    return widths[costs.index(min(costs))][0]


# Four CTAs, 392 columns (4 blocks of 128, 3 of 144, 2 of 224 or of 256): one or three m blocks run 128-wide
# tiles, two run 224- or else 256-wide ones (one wave against two), four run 144-wide ones (three waves
# against four).
WIDTHS_N, WIDTHS_CTAS = 392, 4
WIDTHS_COUNTS = ([100, 0, 0], [265, 0, 70], [1, 128, 0], [300, 129, 1], [300, 0, 0], [0, 0, 0])


@pytest.mark.parametrize(
    "alt_widths, taken",
    [(((144, 5), (256, 4)), {128, 144, 256}), (((144, 5), (224, 4), (256, 4)), {128, 144, 224})],
    ids=["three widths", "four widths"],
)
def test_masked_kernel_with_several_widths_follows_the_live_counts_in_a_graph(
    monkeypatch: pytest.MonkeyPatch, alt_widths: tuple[tuple[int, int], ...], taken: set[int]
) -> None:
    config = GemmConfig(GemmType.GROUPED_MASKED, 128, 128, 5, alt_widths=alt_widths)
    widths = {_chosen_width(config, counts, WIDTHS_N, WIDTHS_CTAS) for counts in WIDTHS_COUNTS}
    assert widths == taken, "the counts must take each of these widths"
    monkeypatch.setattr(utils, "_num_sms_override", WIDTHS_CTAS)
    problem = grouped_masked_inputs([64, 64, 64], 300, WIDTHS_N, 640)
    args = (problem.a, problem.b, problem.d, problem.masked_m, 128)
    with forced_config(config):
        fp8gemm.m_grouped_fp8_gemm_nt_masked(*args)  # compile and load outside capture
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fp8gemm.m_grouped_fp8_gemm_nt_masked(*args)
    for counts in WIDTHS_COUNTS:
        problem.masked_m.copy_(torch.tensor(counts, dtype=torch.int32))
        problem.d.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        _check_masked(problem, counts)


# Run in a fresh process with an empty kernel cache, so that the first call finds the three-width kernel
# uncompiled. Prints one JSON line.
_STAND_IN_SCRIPT = """
import json, torch, fp8gemm
from fp8gemm import launch_plans
from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_launch
from fp8gemm.jit import build
from fp8gemm.testing import calc_diff, grouped_masked_inputs, reference_gemm

sizes, m_max, n, k = [300, 512], 512, 4096, 7168
chosen, _ = choose_launch(GemmType.GROUPED_MASKED, m_max, n, k, len(sizes), fp8gemm.get_num_sms())
problem = grouped_masked_inputs(sizes, m_max, n, k)
a = (problem.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(problem.a[1]))
args = (a, problem.b, problem.d, problem.masked_m, m_max)
refs = [reference_gemm((problem.a[0][g, :r], problem.a[1][g, :r]), (problem.b[0][g], problem.b[1][g]))
        for g, r in enumerate(sizes)]

def diffs():
    torch.cuda.synchronize()
    return [calc_diff(problem.d[g, :r], refs[g]) for g, r in enumerate(sizes)]

fp8gemm.m_grouped_fp8_gemm_nt_masked(*args)
out = {"alt_widths": len(chosen.alt_widths), "stand_in_loaded": chosen.main_width_only() in build._loaded,
       "plans_after_first": len(launch_plans._plans), "first": diffs()}
stand_in_d = problem.d.clone()
problem.d.fill_(float("nan"))
graph = torch.cuda.CUDAGraph()
with torch.cuda.graph(graph):
    fp8gemm.m_grouped_fp8_gemm_nt_masked(*args)
out["chosen_loaded_by_capture"] = chosen in build._loaded
graph.replay()
out["graph"] = diffs()
build.wait_for_background_compiles()
problem.d.fill_(float("nan"))
fp8gemm.m_grouped_fp8_gemm_nt_masked(*args)
out["plans_after_compile"] = len(launch_plans._plans)
out["chosen"] = diffs()
out["bitwise_equal_to_stand_in"] = bool(torch.equal(problem.d, stand_in_d))
print(json.dumps(out))
"""


def test_masked_first_calls_take_a_stand_in_until_the_three_width_kernel_is_compiled(tmp_path) -> None:
    env = {**os.environ, "FP8GEMM_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _STAND_IN_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    print(out)
    assert out["alt_widths"] > 0, "the heuristic no longer picks a multi-width kernel for this problem"
    # The first call ran the main width alone and kept no plan (a warm call must not replay the stand-in).
    assert out["stand_in_loaded"] and out["plans_after_first"] == 0
    # A graph captured while the chosen kernel compiled waited for it.
    assert out["chosen_loaded_by_capture"]
    assert out["plans_after_compile"] == 1
    for name in ("first", "graph", "chosen"):
        assert max(out[name]) < 1e-5, (name, out[name])
