"""Dense GEMM on the GPU against float64 references.

Bounds (see fp8gemm/testing/numerics.py): vs the dequantized inputs only BF16 output rounding remains,
calc_diff < 1e-5; vs the unquantized BF16 inputs the FP8 quantization error is added, calc_diff < 1e-3.
Outputs are poisoned with NaN first, so an unwritten element fails both bounds.
"""

from __future__ import annotations

import pytest
import torch

import fp8gemm
from fp8gemm.testing import calc_diff, dense_inputs, reference_gemm

pytestmark = pytest.mark.gpu

DEEPSEEK_NK = [(2112, 7168), (24576, 1536), (32768, 512), (7168, 16384), (4096, 7168), (7168, 2048)]
TAIL_NK = [(8, 16), (24, 48), (136, 272), (200, 160), (520, 1040), (1000, 4112), (264, 7168)]
M_VALUES = [1, 7, 64, 128, 129, 4096]

SHAPES = (
    [(m, n, k) for m in (1, 64, 128, 4096) for n, k in DEEPSEEK_NK]
    + [(m, n, k) for m in (7, 129, 300) for n, k in TAIL_NK]
    + [(m, 2112, 7168) for m in M_VALUES]
)


def _check(problem, out: torch.Tensor) -> None:
    assert not torch.isnan(out).any(), "some output elements were never written"
    ref = reference_gemm(problem.a, problem.b)
    assert calc_diff(out, ref) < 1e-5
    bf16_ref = problem.a_bf16.double() @ problem.b_bf16.double().transpose(-1, -2)
    assert calc_diff(out, bf16_ref) < 1e-3


@pytest.mark.parametrize("m,n,k", SHAPES, ids=lambda x: str(x))
def test_dense_matches_reference(m: int, n: int, k: int) -> None:
    problem = dense_inputs(m, n, k)
    fp8gemm.fp8_gemm_nt(problem.a, problem.b, problem.d)
    _check(problem, problem.d)


@pytest.mark.parametrize("m,n,k", [(64, 2112, 7168), (300, 520, 1040), (4096, 4096, 7168)], ids=str)
def test_dense_accepts_gemm_layout_scales(m: int, n: int, k: int) -> None:
    problem = dense_inputs(m, n, k)
    sfa = fp8gemm.get_mn_major_tma_aligned_tensor(problem.a[1])
    fp8gemm.fp8_gemm_nt((problem.a[0], sfa), problem.b, problem.d)
    _check(problem, problem.d)


# pad 64: rows 16-byte aligned (whole tiles leave by TMA store); pad 4: rows only 8-byte aligned (the kernel
# stores them itself).
@pytest.mark.parametrize("m,n,k,pad", [(129, 4096, 7168, 64), (7, 264, 7168, 64), (1000, 4096, 512, 4)], ids=str)
def test_dense_strided_output_rows(m: int, n: int, k: int, pad: int) -> None:
    problem = dense_inputs(m, n, k)
    storage = torch.full((m, n + pad), float("nan"), dtype=torch.bfloat16, device="cuda")
    d = storage[:, :n]
    fp8gemm.fp8_gemm_nt(problem.a, problem.b, d)
    _check(problem, d)
    assert torch.isnan(storage[:, n:]).all(), "wrote outside the output view"


@pytest.mark.parametrize("m,n,k", [(128, 4096, 7168), (7, 264, 1040), (4096, 2112, 7168)], ids=str)
def test_dense_fp32_accumulate_into_c(m: int, n: int, k: int) -> None:
    problem = dense_inputs(m, n, k, out_dtype=torch.float32)
    c = torch.randn(m, n, device="cuda")
    fp8gemm.fp8_gemm_nt(problem.a, problem.b, problem.d, c=c)
    ref = reference_gemm(problem.a, problem.b) + c.double()
    assert calc_diff(problem.d, ref) < 1e-6


def test_dense_fp32_accumulate_in_place() -> None:
    problem = dense_inputs(256, 1024, 2048, out_dtype=torch.float32)
    c = torch.randn(256, 1024, device="cuda")
    expected = reference_gemm(problem.a, problem.b) + c.double()
    fp8gemm.fp8_gemm_nt(problem.a, problem.b, c, c=c)
    assert calc_diff(c, expected) < 1e-6


def test_dense_m_zero_is_a_no_op() -> None:
    problem = dense_inputs(0, 256, 512)
    fp8gemm.fp8_gemm_nt(problem.a, problem.b, problem.d)
    assert problem.d.shape == (0, 256)


def test_dense_uses_current_stream() -> None:
    problem = dense_inputs(512, 4096, 7168)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        fp8gemm.fp8_gemm_nt(problem.a, problem.b, problem.d)
    stream.synchronize()
    _check(problem, problem.d)
