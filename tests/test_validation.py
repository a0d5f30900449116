"""The bad-input matrix: every public op rejects each malformed argument with an error naming it.

Validation checks dtypes, ranks, shapes, layouts and aliasing before it looks at devices, so on the CPU each
broken call below raises its specific error; a call that is valid except for living on the CPU raises
"must be a CUDA tensor" (the last check before launch). Each row of CASES breaks exactly one thing in an
otherwise valid call. To add a case, add a row: (id, callable, exception type, regex the message must match).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

import fp8gemm

FP8 = torch.float8_e4m3fn
E5M2 = torch.float8_e5m2
BLOCK = 128

# Default problem sizes: K spans 3 scale blocks and N spans 2, so transposed scale shapes differ.
M, N, K = 32, 256, 384
G, M_MAX = 2, 64


def _fp8(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).to(FP8)


def _kb(k: int) -> int:
    return math.ceil(k / BLOCK)


def _bf16(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, dtype=torch.bfloat16)


# --------------------------------------------------------------------------------------- call builders
# Each builder makes a fully valid CPU call, lets keyword overrides replace single arguments, and calls.


def _with(t: torch.Tensor, value: float) -> torch.Tensor:
    """`t` with its last element replaced by `value`."""
    t.view(-1)[-1] = value
    return t


def dense(m: int = M, n: int = N, k: int = K, **over) -> Callable[[], None]:
    def call() -> None:
        args = {
            "A": _fp8(m, k),
            "sfa": torch.rand(m, _kb(k)),
            "B": _fp8(n, k),
            "sfb": torch.rand(_kb(n), _kb(k)),
            "d": _bf16(m, n),
            "c": None,
            "check": False,
        }
        args.update({key: value() if callable(value) else value for key, value in over.items()})
        a = args.pop("a_pair", (args["A"], args["sfa"]))
        b = args.pop("b_pair", (args["B"], args["sfb"]))
        fp8gemm.fp8_gemm_nt(a, b, args["d"], args["c"], check=args["check"])

    return call


def _contiguous_indices(m_total: int) -> torch.Tensor:
    return torch.arange(m_total, dtype=torch.int32) // BLOCK % G


def contiguous(m: int = 2 * BLOCK, n: int = N, k: int = K, g: int = G, **over) -> Callable[[], None]:
    def call() -> None:
        args = {
            "A": _fp8(m, k),
            "sfa": torch.rand(m, _kb(k)),
            "B": _fp8(g, n, k),
            "sfb": torch.rand(g, _kb(n), _kb(k)),
            "d": _bf16(m, n),
            "m_indices": _contiguous_indices(m),
        }
        args.update({key: value() if callable(value) else value for key, value in over.items()})
        a = args.pop("a_pair", (args["A"], args["sfa"]))
        b = args.pop("b_pair", (args["B"], args["sfb"]))
        fp8gemm.m_grouped_fp8_gemm_nt_contiguous(a, b, args["d"], args["m_indices"], check=args.get("check", False))

    return call


def masked(g: int = G, m_max: int = M_MAX, n: int = N, k: int = K, **over) -> Callable[[], None]:
    def call() -> None:
        args = {
            "A": _fp8(g, m_max, k),
            "sfa": torch.rand(g, m_max, _kb(k)),
            "B": _fp8(g, n, k),
            "sfb": torch.rand(g, _kb(n), _kb(k)),
            "d": _bf16(g, m_max, n),
            "masked_m": torch.full((g,), m_max // 2, dtype=torch.int32),
            "expected_m": m_max // 2,
        }
        args.update({key: value() if callable(value) else value for key, value in over.items()})
        a = args.pop("a_pair", (args["A"], args["sfa"]))
        b = args.pop("b_pair", (args["B"], args["sfb"]))
        fp8gemm.m_grouped_fp8_gemm_nt_masked(
            a, b, args["d"], args["masked_m"], args["expected_m"], check=args.get("check", False)
        )

    return call


def _cast(fn: Callable, *args, **kwargs) -> Callable[[], None]:
    return lambda: fn(*args, **kwargs)


# ------------------------------------------------------------------------------ malformed tensor makers


def _transposed_fp8(rows: int, cols: int) -> torch.Tensor:
    """[rows, cols] view of column-major storage: not contiguous along K."""
    return _fp8(cols, rows).t()


def _row_padded(rows: int, cols: int, pad: int, dtype=FP8) -> torch.Tensor:
    """[rows, cols] view whose row stride is cols + pad elements."""
    full = torch.randn(rows, cols + pad).to(dtype)
    return full[:, :cols]


def _offset(rows: int, cols: int, offset: int, dtype=FP8) -> torch.Tensor:
    """[rows, cols] contiguous rows starting `offset` elements into a fresh buffer."""
    buf = torch.zeros(rows * cols + offset).to(dtype)
    return buf[offset : offset + rows * cols].view(rows, cols)


def _expanded_fp8(rows: int, cols: int) -> torch.Tensor:
    return _fp8(1, cols).expand(rows, cols)


def _shared(first: tuple, second: tuple, second_offset_bytes: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two tensors carved out of one byte buffer: (shape, dtype) each, the second starting at an offset."""
    (shape1, dtype1), (shape2, dtype2) = first, second
    size1 = math.prod(shape1) * torch.empty((), dtype=dtype1).element_size()
    size2 = math.prod(shape2) * torch.empty((), dtype=dtype2).element_size()
    buf = torch.zeros(max(size1, second_offset_bytes + size2) + 64, dtype=torch.uint8)
    t1 = buf[:size1].view(dtype1).view(shape1)
    t2 = buf[second_offset_bytes : second_offset_bytes + size2].view(dtype2).view(shape2)
    return t1, t2


def _dense_d_over_sfa() -> dense:
    sfa, d = _shared(((M, _kb(K)), torch.float32), ((M, N), torch.bfloat16))
    return dense(sfa=sfa, d=d)


def _dense_d_over_a() -> dense:
    a, d = _shared(((M, K), FP8), ((M, N), torch.bfloat16), second_offset_bytes=1024)
    return dense(A=a, d=d)


def _dense_d_over_b() -> dense:
    b, d = _shared(((N, K), FP8), ((M, N), torch.bfloat16), second_offset_bytes=N * K - 16)
    return dense(B=b, d=d)


def _dense_d_over_sfb() -> dense:
    sfb, d = _shared(((_kb(N), _kb(K)), torch.float32), ((M, N), torch.bfloat16))
    return dense(sfb=sfb, d=d)


def _dense_c_overlapping_d() -> dense:
    buf = torch.zeros((M + 1) * N)
    return dense(d=buf[: M * N].view(M, N), c=buf[N:].view(M, N))


def _dense_c_is_d() -> dense:
    d = torch.zeros(M, N)
    return dense(d=d, c=d)


def _contiguous_d_over_m_indices() -> contiguous:
    m = 2 * BLOCK
    idx, d = _shared(((m,), torch.int32), ((m, N), torch.bfloat16))
    idx.copy_(_contiguous_indices(m))
    return contiguous(m_indices=idx, d=d)


def _masked_d_over_sfa() -> masked:
    sfa, d = _shared(((G, M_MAX, _kb(K)), torch.float32), ((G, M_MAX, N), torch.bfloat16))
    return masked(sfa=sfa, d=d)


def _masked_d_over_masked_m() -> masked:
    mm, d = _shared(((G,), torch.int32), ((G, M_MAX, N), torch.bfloat16))
    mm.fill_(1)
    return masked(masked_m=mm, d=d)


ON_CPU = r"d must be a CUDA tensor"

# fmt: off
CASES = [
    # ---- fp8_gemm_nt: argument structure
    ("dense/a_not_a_pair", dense(a_pair=lambda: _fp8(M, K)), TypeError, r"^a must be a \(fp8 tensor, fp32 scale tensor\) pair"),
    ("dense/a_triple", dense(a_pair=lambda: (_fp8(M, K), torch.rand(M, 3), None)), TypeError, r"^a must be a .* pair"),
    ("dense/b_scale_not_tensor", dense(b_pair=lambda: (_fp8(N, K), [[1.0] * 3] * 2)), TypeError, r"^b\[1\] must be a torch.Tensor"),
    ("dense/b_data_not_tensor", dense(b_pair=lambda: (None, torch.rand(2, 3))), TypeError, r"^b\[0\] must be a torch.Tensor"),
    # ---- fp8_gemm_nt: dtypes
    ("dense/a_e5m2", dense(A=lambda: torch.randn(M, K).to(E5M2)), TypeError, r"^a\[0\] must have dtype torch.float8_e4m3fn"),
    ("dense/b_e5m2", dense(B=lambda: torch.randn(N, K).to(E5M2)), TypeError, r"^b\[0\] must have dtype torch.float8_e4m3fn"),
    ("dense/a_bf16_unquantized", dense(A=lambda: _bf16(M, K)), TypeError, r"^a\[0\] must have dtype torch.float8_e4m3fn"),
    ("dense/d_fp16", dense(d=lambda: torch.empty(M, N, dtype=torch.float16)), TypeError, r"^d must have dtype torch.bfloat16"),
    ("dense/d_fp32_without_c", dense(d=lambda: torch.empty(M, N)), TypeError, r"^d must have dtype torch.bfloat16"),
    ("dense/d_bf16_with_c", dense(c=lambda: torch.zeros(M, N)), TypeError, r"^d must have dtype torch.float32"),
    ("dense/c_bf16", dense(d=lambda: torch.empty(M, N), c=lambda: _bf16(M, N)), TypeError, r"^c must have dtype torch.float32"),
    ("dense/sfa_bf16", dense(sfa=lambda: torch.rand(M, 3).bfloat16()), TypeError, r"^a\[1\] must have dtype torch.float32"),
    ("dense/sfb_fp64", dense(sfb=lambda: torch.rand(2, 3).double()), TypeError, r"^b\[1\] must have dtype torch.float32"),
    # ---- fp8_gemm_nt: ranks and shapes
    ("dense/a_3d", dense(A=lambda: _fp8(1, M, K)), ValueError, r"^a\[0\] must be 2-D"),
    ("dense/b_1d", dense(B=lambda: _fp8(N * K)), ValueError, r"^b\[0\] must be 2-D"),
    ("dense/k_mismatch", dense(B=lambda: _fp8(N, K + 128)), ValueError, r"K differs"),
    ("dense/n_not_multiple_of_8", dense(n=252), ValueError, r"^N \(b\[0\]\.shape\[0\]\) must be a multiple of 8, got 252"),
    ("dense/k_not_multiple_of_16", dense(k=200), ValueError, r"^K \(a\[0\]\.shape\[1\]\) must be a multiple of 16, got 200"),
    ("dense/d_wrong_shape", dense(d=lambda: _bf16(M, N + 8)), ValueError, r"^d must have shape \(32, 256\)"),
    ("dense/d_transposed_shape", dense(d=lambda: _bf16(N, M)), ValueError, r"^d must have shape \(32, 256\)"),
    ("dense/d_rows_overlap", dense(d=lambda: _bf16(M * 8 + N).as_strided((M, N), (8, 1))), ValueError, r"^d rows overlap: row stride 8"),
    ("dense/sfb_negative_view", dense(sfb=lambda: torch._neg_view(torch.rand(_kb(N), _kb(K)))), ValueError, r"^b\[1\] is a negative view"),
    ("dense/d_3d", dense(d=lambda: _bf16(1, M, N)), ValueError, r"^d must be 2-D"),
    ("dense/sfa_wrong_shape", dense(sfa=lambda: torch.rand(M, 4)), ValueError, r"^a\[1\] must have shape \(32, 3\)"),
    ("dense/sfa_per_block_shape", dense(sfa=lambda: torch.rand(1, 3)), ValueError, r"^a\[1\] must have shape \(32, 3\)"),
    ("dense/sfb_transposed", dense(sfb=lambda: torch.rand(3, 2)), ValueError, r"^b\[1\] must have shape \(2, 3\)"),
    ("dense/sfb_1d", dense(sfb=lambda: torch.rand(6)), ValueError, r"^b\[1\] must be 2-D"),
    ("dense/c_wrong_shape", dense(d=lambda: torch.empty(M, N), c=lambda: torch.zeros(M, N - 8)), ValueError, r"^c must have shape"),
    # ---- fp8_gemm_nt: layouts
    ("dense/a_transposed", dense(A=lambda: _transposed_fp8(M, K)), ValueError, r"^a\[0\] must be contiguous in its last dimension"),
    ("dense/b_transposed", dense(B=lambda: _transposed_fp8(N, K)), ValueError, r"^b\[0\] must be contiguous in its last dimension"),
    ("dense/a_row_stride_not_16B", dense(A=lambda: _row_padded(M, K, 8)), ValueError, r"^a\[0\] stride 392 of dim 0 must span a multiple of 16 bytes"),
    ("dense/b_row_stride_not_16B", dense(B=lambda: _row_padded(N, K, 4)), ValueError, r"^b\[0\] stride 388 of dim 0"),
    ("dense/a_misaligned_base", dense(A=lambda: _offset(M, K, 8)), ValueError, r"^a\[0\] data pointer must be 16-byte aligned"),
    ("dense/a_expanded_zero_stride", dense(A=lambda: _expanded_fp8(M, K)), ValueError, r"^a\[0\] must have positive strides"),
    ("dense/sfa_expanded_zero_stride", dense(sfa=lambda: torch.rand(1, 3).expand(M, 3)), ValueError, r"^a\[1\] must have positive strides"),
    ("dense/d_transposed", dense(d=lambda: _bf16(N, M).t()), ValueError, r"^d must be contiguous in its last dimension"),
    ("dense/d_row_stride_not_8B", dense(d=lambda: _row_padded(M, N, 2, torch.bfloat16)), ValueError, r"^d row stride must span a multiple of 8 bytes"),
    ("dense/d_misaligned_base", dense(d=lambda: _offset(M, N, 1, torch.bfloat16)), ValueError, r"^d data pointer must be 8-byte aligned"),
    ("dense/d_expanded", dense(d=lambda: _bf16(1, N).expand(M, N)), ValueError, r"^d must have positive strides"),
    # ---- fp8_gemm_nt: aliasing
    ("dense/d_overlaps_sfa", _dense_d_over_sfa(), ValueError, r"^d overlaps a\[1\] in memory"),
    ("dense/d_overlaps_a", _dense_d_over_a(), ValueError, r"^d overlaps a\[0\] in memory"),
    ("dense/d_overlaps_b_tail", _dense_d_over_b(), ValueError, r"^d overlaps b\[0\] in memory"),
    ("dense/d_overlaps_sfb", _dense_d_over_sfb(), ValueError, r"^d overlaps b\[1\] in memory"),
    ("dense/c_overlaps_d_shifted", _dense_c_overlapping_d(), ValueError, r"^d overlaps c in memory"),
    # ---- fp8_gemm_nt: valid on the CPU, so only the device check fails
    ("dense/valid_cpu", dense(), ValueError, ON_CPU),
    ("dense/valid_cpu_tails", dense(m=7, n=136, k=272), ValueError, ON_CPU),
    ("dense/valid_cpu_m0", dense(m=0), ValueError, ON_CPU),
    ("dense/valid_cpu_c_is_d", _dense_c_is_d(), ValueError, ON_CPU),
    ("dense/valid_cpu_gemm_layout_sfa", dense(sfa=lambda: fp8gemm.get_mn_major_tma_aligned_tensor(torch.rand(M, 3))), ValueError, ON_CPU),
    ("dense/valid_cpu_strided_rows", dense(A=lambda: _row_padded(M, K, 16)), ValueError, ON_CPU),

    # ---- m_grouped_fp8_gemm_nt_contiguous
    ("contig/a_not_a_pair", contiguous(a_pair=lambda: [_fp8(256, K)]), TypeError, r"^a must be a .* pair"),
    ("contig/b_2d_dense_weights", contiguous(B=lambda: _fp8(N, K)), ValueError, r"^b\[0\] must be 3-D"),
    ("contig/a_3d", contiguous(A=lambda: _fp8(2, 128, K)), ValueError, r"^a\[0\] must be 2-D"),
    ("contig/b_e5m2", contiguous(B=lambda: torch.randn(G, N, K).to(E5M2)), TypeError, r"^b\[0\] must have dtype torch.float8_e4m3fn"),
    ("contig/zero_groups", contiguous(g=0), ValueError, r"^b\[0\] must hold at least one group"),
    ("contig/n_not_multiple_of_8", contiguous(n=100), ValueError, r"^N \(b\[0\]\.shape\[1\]\) must be a multiple of 8, got 100"),
    ("contig/k_not_multiple_of_16", contiguous(k=136), ValueError, r"^K \(b\[0\]\.shape\[2\]\) must be a positive multiple of 16, got 136"),
    ("contig/k_mismatch", contiguous(A=lambda: _fp8(256, K - 128)), ValueError, r"^a\[0\] is \[M_total, K\] = \(256, 256\) but b\[0\] has K = 384"),
    ("contig/b_groups_with_gaps", contiguous(B=lambda: _fp8(G, N + 16, K)[:, :N]), ValueError, r"^b\[0\] groups must be stacked without gaps"),
    ("contig/b_transposed", contiguous(B=lambda: _fp8(G, K, N).transpose(1, 2)), ValueError, r"^b\[0\] must be contiguous in its last dimension"),
    ("contig/a_transposed", contiguous(A=lambda: _transposed_fp8(256, K)), ValueError, r"^a\[0\] must be contiguous in its last dimension"),
    ("contig/sfb_2d", contiguous(sfb=lambda: torch.rand(2, 3)), ValueError, r"^b\[1\] must be 3-D"),
    ("contig/sfb_group_count", contiguous(sfb=lambda: torch.rand(G + 1, 2, 3)), ValueError, r"^b\[1\] must have shape \(2, 2, 3\)"),
    ("contig/sfa_wrong_shape", contiguous(sfa=lambda: torch.rand(255, 3)), ValueError, r"^a\[1\] must have shape \(256, 3\)"),
    ("contig/sfa_fp16", contiguous(sfa=lambda: torch.rand(256, 3).half()), TypeError, r"^a\[1\] must have dtype torch.float32"),
    ("contig/d_fp32", contiguous(d=lambda: torch.empty(256, N)), TypeError, r"^d must have dtype torch.bfloat16"),
    ("contig/d_wrong_shape", contiguous(d=lambda: _bf16(256, N + 8)), ValueError, r"^d must have shape \(256, 256\)"),
    ("contig/m_indices_int64", contiguous(m_indices=lambda: _contiguous_indices(256).long()), TypeError, r"^m_indices must have dtype torch.int32"),
    ("contig/m_indices_short", contiguous(m_indices=lambda: _contiguous_indices(255)), ValueError, r"^m_indices must have shape \(256,\)"),
    ("contig/m_indices_2d", contiguous(m_indices=lambda: _contiguous_indices(256).view(2, 128)), ValueError, r"^m_indices must be 1-D"),
    ("contig/m_indices_strided", contiguous(m_indices=lambda: _contiguous_indices(512)[::2]), ValueError, r"^m_indices must be contiguous"),
    ("contig/d_overlaps_m_indices", _contiguous_d_over_m_indices(), ValueError, r"^d overlaps m_indices in memory"),
    ("contig/valid_cpu", contiguous(), ValueError, ON_CPU),
    ("contig/valid_cpu_one_group", contiguous(g=1, m=128), ValueError, ON_CPU),
    ("contig/valid_cpu_m0", contiguous(m=0), ValueError, ON_CPU),

    # ---- m_grouped_fp8_gemm_nt_masked
    ("masked/b_not_a_pair", masked(b_pair=lambda: _fp8(G, N, K)), TypeError, r"^b must be a .* pair"),
    ("masked/a_2d", masked(A=lambda: _fp8(M_MAX, K)), ValueError, r"^a\[0\] must be 3-D"),
    ("masked/a_e5m2", masked(A=lambda: torch.randn(G, M_MAX, K).to(E5M2)), TypeError, r"^a\[0\] must have dtype torch.float8_e4m3fn"),
    ("masked/group_count_mismatch", masked(A=lambda: _fp8(3, M_MAX, K), sfa=lambda: torch.rand(3, M_MAX, 3), d=lambda: _bf16(3, M_MAX, N)), ValueError, r"^a\[0\] has 3 groups but b\[0\] has 2"),
    ("masked/k_mismatch", masked(A=lambda: _fp8(G, M_MAX, K + 128)), ValueError, r"^a\[0\] is \[G, M_max, K\] = \(2, 64, 512\) but b\[0\] has K = 384"),
    ("masked/a_groups_with_gaps", masked(A=lambda: _fp8(G, M_MAX + 16, K)[:, :M_MAX]), ValueError, r"^a\[0\] groups must be stacked without gaps"),
    ("masked/a_row_stride_not_16B", masked(A=lambda: _fp8(G, M_MAX, K + 8)[:, :, :K]), ValueError, r"^a\[0\] stride 392 of dim 1 must span a multiple of 16 bytes"),
    ("masked/sfa_2d", masked(sfa=lambda: torch.rand(M_MAX, 3)), ValueError, r"^a\[1\] must be 3-D"),
    ("masked/sfa_wrong_shape", masked(sfa=lambda: torch.rand(G, M_MAX, 2)), ValueError, r"^a\[1\] must have shape \(2, 64, 3\)"),
    ("masked/sfb_wrong_shape", masked(sfb=lambda: torch.rand(G, 3, 2)), ValueError, r"^b\[1\] must have shape \(2, 2, 3\)"),
    ("masked/d_2d", masked(d=lambda: _bf16(G * M_MAX, N)), ValueError, r"^d must be 3-D"),
    ("masked/d_wrong_shape", masked(d=lambda: _bf16(G, M_MAX, N + 8)), ValueError, r"^d must have shape \(2, 64, 256\)"),
    ("masked/d_groups_with_gaps", masked(d=lambda: _bf16(G, M_MAX + 1, N)[:, :M_MAX]), ValueError, r"^d groups must be stacked without gaps"),
    ("masked/masked_m_wrong_shape", masked(masked_m=lambda: torch.zeros(G + 1, dtype=torch.int32)), ValueError, r"^masked_m must have shape \(2,\)"),
    ("masked/masked_m_scalar", masked(masked_m=lambda: torch.tensor(3, dtype=torch.int32)), ValueError, r"^masked_m must be 1-D"),
    ("masked/masked_m_int64", masked(masked_m=lambda: torch.zeros(G, dtype=torch.int64)), TypeError, r"^masked_m must have dtype torch.int32"),
    ("masked/masked_m_list", masked(masked_m=[32, 32]), TypeError, r"^masked_m must be a torch.Tensor"),
    ("masked/masked_m_strided", masked(masked_m=lambda: torch.zeros(G, 2, dtype=torch.int32)[:, 0]), ValueError, r"^masked_m must be contiguous"),
    ("masked/k_zero", masked(k=0), ValueError, r"^K \(b\[0\]\.shape\[2\]\) must be a positive multiple of 16"),
    ("contig/k_zero", contiguous(k=0), ValueError, r"^K \(b\[0\]\.shape\[2\]\) must be a positive multiple of 16"),
    ("masked/expected_m_zero", masked(expected_m=0), ValueError, r"^expected_m must be >= 1, got 0"),
    ("masked/expected_m_negative", masked(expected_m=-4), ValueError, r"^expected_m must be >= 1, got -4"),
    ("masked/expected_m_float", masked(expected_m=32.0), TypeError, r"^expected_m must be an int, got float"),
    ("masked/expected_m_bool", masked(expected_m=True), TypeError, r"^expected_m must be an int, got bool"),
    ("masked/expected_m_tensor", masked(expected_m=lambda: torch.tensor(32)), TypeError, r"^expected_m must be an int, got Tensor"),
    ("masked/d_overlaps_sfa", _masked_d_over_sfa(), ValueError, r"^d overlaps a\[1\] in memory"),
    ("masked/d_overlaps_masked_m", _masked_d_over_masked_m(), ValueError, r"^d overlaps masked_m in memory"),
    ("masked/valid_cpu", masked(), ValueError, ON_CPU),

    # ---- non-finite scales (checked on request: reading them back is a device sync)
    ("dense/nan_sfa_checked", dense(sfa=lambda: _with(torch.rand(M, _kb(K)), float("nan")), check=True), ValueError, r"^a\[1\] must hold only finite scales"),
    ("dense/inf_sfb_checked", dense(sfb=lambda: _with(torch.rand(_kb(N), _kb(K)), float("inf")), check=True), ValueError, r"^b\[1\] must hold only finite scales"),
    ("contig/nan_sfb_checked", contiguous(sfb=lambda: _with(torch.rand(G, _kb(N), _kb(K)), float("nan")), check=True), ValueError, r"^b\[1\] must hold only finite scales"),
    ("masked/inf_sfa_checked", masked(sfa=lambda: _with(torch.rand(G, M_MAX, _kb(K)), float("-inf")), check=True), ValueError, r"^a\[1\] must hold only finite scales"),

    # ---- casts
    ("cast/token_int_input", _cast(fp8gemm.per_token_cast_to_fp8, torch.ones(4, 128, dtype=torch.int32)), TypeError, r"^x must be bfloat16, float16 or float32"),
    ("cast/token_fp8_input", _cast(fp8gemm.per_token_cast_to_fp8, _fp8(4, 128)), TypeError, r"^x must be bfloat16, float16 or float32"),
    ("cast/token_1d", _cast(fp8gemm.per_token_cast_to_fp8, torch.randn(128)), ValueError, r"^x must be 2-D or 3-D"),
    ("cast/token_4d", _cast(fp8gemm.per_token_cast_to_fp8, torch.randn(1, 1, 4, 128)), ValueError, r"^x must be 2-D or 3-D"),
    ("cast/token_negative_view", _cast(fp8gemm.per_token_cast_to_fp8, torch._neg_view(torch.randn(4, 128))), ValueError, r"^x is a negative view"),
    ("cast/token_not_tensor", _cast(fp8gemm.per_token_cast_to_fp8, [[1.0] * 128]), TypeError, r"^x must be a torch.Tensor"),
    ("cast/token_bad_layout", _cast(fp8gemm.per_token_cast_to_fp8, torch.randn(4, 128), out_layout="col"), ValueError, r"^out_layout must be 'row' or 'gemm'"),
    ("cast/block_fp64_input", _cast(fp8gemm.per_block_cast_to_fp8, torch.randn(128, 128).double()), TypeError, r"^w must be bfloat16, float16 or float32"),
    ("cast/block_1d", _cast(fp8gemm.per_block_cast_to_fp8, torch.randn(128)), ValueError, r"^w must be 2-D or 3-D"),
    ("cast/block_4d", _cast(fp8gemm.per_block_cast_to_fp8, torch.randn(1, 2, 128, 128)), ValueError, r"^w must be 2-D or 3-D"),
]
# fmt: on


@pytest.mark.parametrize("call,exc,pattern", [pytest.param(c, e, p, id=i) for i, c, e, p in CASES])
def test_bad_input_raises_naming_the_argument(call: Callable[[], None], exc: type, pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        call()


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------------- known defects


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(dense(n=0), id="dense-n0"),
        pytest.param(dense(k=0), id="dense-k0"),
        pytest.param(masked(m_max=0, expected_m=1), id="masked-m_max0"),
    ],
)
def test_empty_problem_reaches_the_device_check(call: Callable[[], None]) -> None:
    with pytest.raises(ValueError, match=ON_CPU):
        call()
