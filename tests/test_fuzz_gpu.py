"""Shape fuzzing: thousands of random valid problems across all three layouts, each checked against the
float64 reference of its dequantized inputs.

Shapes are drawn to hit tails (M, N, K not multiples of any block size), M = 0, empty experts and tiny
problems. The seed is fixed for reproducibility; FP8GEMM_FUZZ_SEED and FP8GEMM_FUZZ_CASES explore further.
"""

from __future__ import annotations

import os
import random

import pytest
import torch

import fp8gemm
from fp8gemm.testing import (
    calc_diff,
    dense_inputs,
    grouped_contiguous_inputs,
    grouped_masked_inputs,
    reference_gemm,
)

pytestmark = [pytest.mark.gpu, pytest.mark.slow]

SEED = int(os.environ.get("FP8GEMM_FUZZ_SEED", "20261123"))
NUM_CASES = int(os.environ.get("FP8GEMM_FUZZ_CASES", "2100"))
CASES_PER_TEST = 100


def _dim(rng: random.Random, multiple: int, upper: int) -> int:
    return multiple * rng.randint(1, upper // multiple)


def _draw(rng: random.Random) -> tuple:
    layout = rng.choice(("dense", "dense", "contiguous", "masked"))
    n, k = _dim(rng, 8, 1200), _dim(rng, 16, 1600)
    if layout == "dense":
        m = rng.choice((0, 1, rng.randint(1, 64), rng.randint(65, 700)))
        return (layout, m, n, k)
    g = rng.randint(1, 6)
    sizes = [rng.choice((0, rng.randint(1, 40), rng.randint(41, 300))) for _ in range(g)]
    return (layout, tuple(sizes), n, k)


def _run_case(case: tuple) -> float:
    layout, m, n, k = case
    if layout == "dense":
        problem = dense_inputs(m, n, k)
        fp8gemm.fp8_gemm_nt(problem.a, problem.b, problem.d)
        return calc_diff(problem.d, reference_gemm(problem.a, problem.b)) if m else 0.0
    sizes = list(m)
    if layout == "contiguous":
        problem = grouped_contiguous_inputs(sizes, n, k)
        fp8gemm.m_grouped_fp8_gemm_nt_contiguous(problem.a, problem.b, problem.d, problem.m_indices)
        valid = problem.m_indices >= 0
        experts = problem.m_indices.clamp(min=0).long()
        ref = torch.einsum(
            "mk,mnk->mn",
            fp8gemm.testing.dequantize_a(*problem.a),
            fp8gemm.testing.dequantize_b(*problem.b)[experts],
        )
        if bool((~valid).any()) and not bool(torch.isnan(problem.d[~valid]).all()):
            return float("inf")  # padding rows must stay untouched
        return calc_diff(problem.d[valid], ref[valid]) if bool(valid.any()) else 0.0
    m_max = max(max(sizes), 1) + 7
    problem = grouped_masked_inputs(sizes, m_max, n, k)
    fp8gemm.m_grouped_fp8_gemm_nt_masked(
        problem.a, problem.b, problem.d, problem.masked_m, max(1, sum(sizes) // len(sizes))
    )
    ref = reference_gemm(problem.a, problem.b)
    rows = torch.arange(m_max, device="cuda")[None, :] < problem.masked_m[:, None]
    if not bool(torch.isnan(problem.d[~rows]).all()):
        return float("inf")  # rows past masked_m must stay untouched
    return calc_diff(problem.d[rows], ref[rows]) if bool(rows.any()) else 0.0


@pytest.mark.parametrize("chunk", range(-(-NUM_CASES // CASES_PER_TEST)))
def test_fuzz(chunk: int) -> None:
    rng = random.Random(SEED * 1000 + chunk)
    torch.manual_seed(SEED * 1000 + chunk)
    failures = []
    for _ in range(min(CASES_PER_TEST, NUM_CASES - chunk * CASES_PER_TEST)):
        case = _draw(rng)
        diff = _run_case(case)
        if not diff < 1e-5:
            failures.append((case, diff))
    assert not failures, f"seed {SEED} chunk {chunk}: {failures[:5]}"
