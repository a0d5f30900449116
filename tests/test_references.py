"""fp8gemm.testing references against hand-built cases and the defining formulas.

calc_diff(x, y) = 1 - 2·Σxy / Σ(x² + y²): for y = c·x it equals (1 - c)² / (1 + c²), which gives the expected
values below without running the code under test. The dequantizers and reference_gemm are checked against
plain Python loops over float64 values: a[m][k] = q[m][k] · s[m][k // 128] (per token), b[n][k] =
q[n][k] · s[n // 128][k // 128] (per 128x128 block).
"""

from __future__ import annotations

import math

import pytest
import torch

from fp8gemm import get_mn_major_tma_aligned_tensor
from fp8gemm.testing import calc_diff, dequantize_a, dequantize_b, reference_gemm

BLOCK = 128


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fp8(*shape: int, seed: int) -> torch.Tensor:
    return (torch.randn(*shape, generator=_gen(seed)) * 50).to(torch.float8_e4m3fn)


def _scales(*shape: int, seed: int) -> torch.Tensor:
    # Distinct per block, so a wrong block index shows up as a wrong value.
    return torch.rand(*shape, generator=_gen(seed)) * 4 + 0.5


# ---------------------------------------------------------------------------------------------- calc_diff


@pytest.mark.parametrize("shape", [(1,), (7, 13), (3, 64, 200)])
def test_calc_diff_is_zero_for_identical_tensors(shape) -> None:
    x = torch.randn(*shape, generator=_gen(0))
    assert calc_diff(x, x.clone()) == 0.0


def test_calc_diff_is_zero_for_two_zero_tensors() -> None:
    assert calc_diff(torch.zeros(4, 4), torch.zeros(4, 4)) == 0.0


@pytest.mark.parametrize("which", ["x", "y"])
def test_calc_diff_is_nan_when_an_input_holds_nan(which: str) -> None:
    x = torch.randn(8, 8, generator=_gen(1))
    y = x.clone()
    (x if which == "x" else y)[3, 5] = float("nan")
    assert math.isnan(calc_diff(x, y))


@pytest.mark.parametrize("c", [2.0, 0.5, 1.001, 10.0, 0.0])
def test_calc_diff_of_scaled_copy_follows_formula(c: float) -> None:
    x = torch.randn(100, generator=_gen(2)).double()
    expected = (1 - c) ** 2 / (1 + c**2)
    assert calc_diff(x, c * x) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_calc_diff_of_negated_copy_is_two() -> None:
    x = torch.randn(50, generator=_gen(3))
    assert calc_diff(x, -x) == pytest.approx(2.0, rel=1e-12)


def test_calc_diff_is_symmetric_and_scale_invariant() -> None:
    x = torch.randn(64, generator=_gen(4)).double()
    y = x + 0.1 * torch.randn(64, generator=_gen(5)).double()
    base = calc_diff(x, y)
    assert base > 0
    assert calc_diff(y, x) == pytest.approx(base, rel=1e-12)
    assert calc_diff(1e3 * x, 1e3 * y) == pytest.approx(base, rel=1e-9)


def test_calc_diff_grows_with_the_error() -> None:
    x = torch.randn(256, generator=_gen(6)).double()
    noise = torch.randn(256, generator=_gen(7)).double()
    diffs = [calc_diff(x, x + eps * noise) for eps in (1e-4, 1e-3, 1e-2, 1e-1)]
    assert all(a < b for a, b in zip(diffs[:-1], diffs[1:], strict=True))


def test_calc_diff_accepts_mixed_dtypes() -> None:
    x = torch.randn(32, 32, generator=_gen(8))
    assert calc_diff(x.bfloat16(), x.bfloat16().double()) == 0.0


# ------------------------------------------------------------------------------------------- dequantizers


def _loop_dequant_a(q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    qv, sv = q.double().tolist(), s.double().tolist()
    m, k = q.shape
    return torch.tensor(
        [[qv[i][j] * sv[i][j // BLOCK] for j in range(k)] for i in range(m)], dtype=torch.float64
    )


def _loop_dequant_b(q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    qv, sv = q.double().tolist(), s.double().tolist()
    n, k = q.shape
    return torch.tensor(
        [[qv[i][j] * sv[i // BLOCK][j // BLOCK] for j in range(k)] for i in range(n)], dtype=torch.float64
    )


@pytest.mark.parametrize("m,k", [(1, 128), (3, 160), (5, 16), (2, 384), (4, 288)])
def test_dequantize_a_matches_loop(m: int, k: int) -> None:
    q = _fp8(m, k, seed=10)
    s = _scales(m, math.ceil(k / BLOCK), seed=11)
    out = dequantize_a(q, s)
    assert out.dtype == torch.float64
    assert torch.equal(out, _loop_dequant_a(q, s))


def test_dequantize_a_accepts_gemm_layout_scales() -> None:
    q, s = _fp8(6, 160, seed=12), _scales(6, 2, seed=13)
    assert torch.equal(dequantize_a(q, get_mn_major_tma_aligned_tensor(s)), _loop_dequant_a(q, s))


def test_dequantize_a_batched_over_groups() -> None:
    q, s = _fp8(3, 4, 160, seed=14), _scales(3, 4, 2, seed=15)
    out = dequantize_a(q, s)
    assert out.shape == (3, 4, 160)
    for g in range(3):
        assert torch.equal(out[g], _loop_dequant_a(q[g], s[g]))


@pytest.mark.parametrize("n,k", [(128, 128), (200, 160), (8, 16), (264, 272), (136, 400)])
def test_dequantize_b_matches_loop(n: int, k: int) -> None:
    q = _fp8(n, k, seed=20)
    s = _scales(math.ceil(n / BLOCK), math.ceil(k / BLOCK), seed=21)
    out = dequantize_b(q, s)
    assert out.dtype == torch.float64
    assert torch.equal(out, _loop_dequant_b(q, s))


def test_dequantize_b_batched_over_groups() -> None:
    q, s = _fp8(2, 200, 160, seed=22), _scales(2, 2, 2, seed=23)
    out = dequantize_b(q, s)
    assert out.shape == (2, 200, 160)
    for g in range(2):
        assert torch.equal(out[g], _loop_dequant_b(q[g], s[g]))


def test_dequantize_b_uses_one_scale_per_128x128_block() -> None:
    # All-ones data: the result is the scale map itself, block by block (tails included).
    q = torch.ones(200, 160).to(torch.float8_e4m3fn)
    s = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = dequantize_b(q, s)
    assert torch.all(out[:128, :128] == 1) and torch.all(out[:128, 128:] == 2)
    assert torch.all(out[128:, :128] == 3) and torch.all(out[128:, 128:] == 4)


# ------------------------------------------------------------------------------------------ reference_gemm


def _loop_gemm(a, b) -> torch.Tensor:
    da, db = _loop_dequant_a(*a).tolist(), _loop_dequant_b(*b).tolist()
    m, n, k = len(da), len(db), len(da[0])
    return torch.tensor(
        [[math.fsum(da[i][t] * db[j][t] for t in range(k)) for j in range(n)] for i in range(m)],
        dtype=torch.float64,
    )


@pytest.mark.parametrize("m,n,k", [(3, 136, 160), (2, 8, 272), (1, 200, 16)])
def test_reference_gemm_matches_naive_float64_loop(m: int, n: int, k: int) -> None:
    kb = math.ceil(k / BLOCK)
    a = (_fp8(m, k, seed=30), _scales(m, kb, seed=31))
    b = (_fp8(n, k, seed=32), _scales(math.ceil(n / BLOCK), kb, seed=33))
    out = reference_gemm(a, b)
    assert out.dtype == torch.float64 and out.shape == (m, n)
    torch.testing.assert_close(out, _loop_gemm(a, b), rtol=1e-12, atol=1e-9)


def test_reference_gemm_batched_over_groups() -> None:
    g, m, n, k = 2, 2, 16, 160
    a = (_fp8(g, m, k, seed=34), _scales(g, m, 2, seed=35))
    b = (_fp8(g, n, k, seed=36), _scales(g, 1, 2, seed=37))
    out = reference_gemm(a, b)
    assert out.shape == (g, m, n)
    for i in range(g):
        expected = _loop_gemm((a[0][i], a[1][i]), (b[0][i], b[1][i]))
        torch.testing.assert_close(out[i], expected, rtol=1e-12, atol=1e-9)
