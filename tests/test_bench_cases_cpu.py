"""CPU-only checks of what the benchmark measures: the suites' shapes and workloads, cuBLAS's scale
layouts, and the cases that run both sides on the same inputs."""

from __future__ import annotations

import functools

import pytest
import torch

from fp8gemm import testing
from fp8gemm.bench import cases, runner, suites
from fp8gemm.bench.cublas import blockwise_scales
from fp8gemm.bench.suites import (
    DEEPSEEK_DENSE_NK,
    DENSE_M,
    GROUPED_CONTIGUOUS,
    GROUPED_MASKED,
    MASKED_ROW_GRANULE,
    MASKED_SPREAD,
    QUANT_MK,
    QUANT_OPS,
    ContiguousShape,
    DenseShape,
    MaskedShape,
    QuantShape,
    chosen_launch,
    contiguous_segment_starts,
    dense_shapes,
    gemm_workload,
    grouped_shapes,
    launch_label,
    masked_row_counts,
    quant_shapes,
    quant_workload,
    shape_workload,
    suite_shapes,
)
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.testing import calc_diff, reference_gemm
from fp8gemm.utils import ceil_div

# ---------------------------------------------------------------------------------------------- shapes


def test_dense_suite_is_deepseek_nk_times_m() -> None:
    shapes = dense_shapes()
    assert len(shapes) == 18 == len(set(shapes))
    assert {(s.n, s.k) for s in shapes} == set(DEEPSEEK_DENSE_NK)
    assert {s.m for s in shapes} == set(DENSE_M)


def test_grouped_suite_lists_contiguous_then_masked() -> None:
    shapes = grouped_shapes()
    assert shapes == [*GROUPED_CONTIGUOUS, *GROUPED_MASKED]
    assert len(GROUPED_CONTIGUOUS) == 4 and len(GROUPED_MASKED) == 6
    assert all(s.m_max == 4096 for s in GROUPED_MASKED)


def test_all_suite_is_dense_then_grouped_then_quant() -> None:
    assert suite_shapes("all") == [*dense_shapes(), *grouped_shapes(), *quant_shapes()]
    assert suite_shapes("dense") == dense_shapes()
    assert suite_shapes("grouped") == grouped_shapes()
    assert suite_shapes("quant") == quant_shapes()


def test_quant_suite_casts_both_issue_shapes_with_every_op() -> None:
    shapes = quant_shapes()
    assert {(s.m, s.k) for s in shapes} == {(4096, 7168), (16384, 7168)} == set(QUANT_MK)
    assert {s.op for s in shapes} == set(QUANT_OPS) == {"per_token", "per_token_gemm", "per_block"}
    assert len(shapes) == 6 == len(set(shapes))
    assert all(s.suite == "quant" and s.category == f"quant {s.op}" for s in shapes)


def test_quant_workload_counts_input_output_and_scales() -> None:
    # [4096, 7168] BF16: 2 bytes in, 1 byte out per element; 56 scales per row, or 32 x 56 per block.
    elements = 4096 * 7168
    assert quant_workload(QuantShape("per_token", 4096, 7168)).bytes == 3 * elements + 4 * 4096 * 56
    assert quant_workload(QuantShape("per_token_gemm", 4096, 7168)).bytes == 3 * elements + 4 * 4096 * 56
    assert quant_workload(QuantShape("per_block", 4096, 7168)).bytes == 3 * elements + 4 * 32 * 56
    # Tails: ceil(200/128) = 2 scale rows, ceil(144/128) = 2 scale columns.
    assert shape_workload(QuantShape("per_block", 200, 144)).bytes == 3 * 200 * 144 + 4 * 2 * 2
    assert shape_workload(QuantShape("per_token", 3, 144)).flops == 0


@pytest.mark.parametrize("suite", ["dense", "grouped", "quant", "all"])
def test_small_shapes_are_a_nonempty_subset(suite: str) -> None:
    small, full = suite_shapes(suite, "small"), suite_shapes(suite, "full")
    assert small and len(small) < len(full)
    assert set(small) <= set(full)


@pytest.mark.parametrize("suite,shape_set", [("sparse", "full"), ("dense", "tiny")])
def test_unknown_suite_or_shape_set_is_rejected(suite: str, shape_set: str) -> None:
    with pytest.raises(ValueError):
        suite_shapes(suite, shape_set)


def test_labels_are_unique_and_categories_split_dense_by_m() -> None:
    shapes = suite_shapes("all")
    assert len({s.label for s in shapes}) == len(shapes)
    assert DenseShape(64, 2112, 7168).category == DenseShape(128, 2112, 7168).category == "dense M<=128"
    assert DenseShape(4096, 2112, 7168).category == "dense M=4096"
    assert {s.suite for s in shapes} == {"dense", "grouped", "quant"}


@pytest.mark.parametrize("shape", GROUPED_MASKED, ids=lambda s: s.label)
def test_masked_row_counts_are_seeded_aligned_and_near_expected(shape: MaskedShape) -> None:
    counts = masked_row_counts(shape)
    assert counts == masked_row_counts(shape), "counts must not change between runs"
    assert len(counts) == shape.num_groups
    low, high = MASKED_SPREAD
    # Rounding to the granule may move a count by up to half a granule past the spread.
    lowest, highest = (
        low * shape.expected_m - MASKED_ROW_GRANULE,
        high * shape.expected_m + MASKED_ROW_GRANULE,
    )
    for rows in counts:
        assert rows % MASKED_ROW_GRANULE == 0
        assert lowest <= rows <= highest
        assert 0 < rows <= shape.m_max


def test_masked_row_counts_stay_within_m_max() -> None:
    assert all(rows <= 64 for rows in masked_row_counts(MaskedShape(8, 60, 256, 512, m_max=64)))


def test_contiguous_segment_starts_pad_each_expert() -> None:
    assert contiguous_segment_starts([8192, 8192, 8192], 128) == [0, 8192, 16384]
    assert contiguous_segment_starts([1, 0, 130, 5], 128) == [0, 128, 128, 384]


def test_gemm_workload_counts_each_operand_once() -> None:
    m, n, k = 64, 2112, 7168
    work = gemm_workload(m, n, k)
    assert work.flops == 2 * m * n * k
    scales = 4 * (m * 56 + 17 * 56)  # ceil(7168/128) = 56 K blocks, ceil(2112/128) = 17 N blocks
    assert work.bytes == m * k + n * k + 2 * m * n + scales


def test_grouped_workloads_count_every_weight_and_valid_rows_only() -> None:
    contiguous = ContiguousShape(4, 1024, 256, 512)
    assert shape_workload(contiguous) == gemm_workload(4096, 256, 512, num_weights=4)
    masked = MaskedShape(2, 100, 256, 512)
    assert shape_workload(masked, [96, 112]) == gemm_workload(208, 256, 512, num_weights=2)
    with pytest.raises(ValueError):
        shape_workload(masked)


# -------------------------------------------------------------------------------- cuBLAS scale layouts


def _torch_accepts_1x128(t_rows: int, t_cols: int, scale: torch.Tensor) -> bool:
    """torch's is_blockwise_1x128_scaling (ScaledBlas.cpp): [rows, K/128], strides (1, rows)."""
    kb = ceil_div(t_cols, 128)
    dims_ok = scale.shape == (t_rows, kb)
    return dims_ok and (t_rows == 1 or scale.stride(0) == 1) and (kb == 1 or scale.stride(1) == t_rows)


def _torch_accepts_128x128(t_rows: int, t_cols: int, scale: torch.Tensor) -> bool:
    """torch's is_blockwise_128x128_scaling on (B, scale_b.t()): row-major [N/128, K/128]. Newer builds pad
    the row stride to a multiple of 4, which equals K/128 whenever K/128 % 4 == 0."""
    nb, kb = ceil_div(t_rows, 128), ceil_div(t_cols, 128)
    dims_ok = scale.shape == (nb, kb)
    return dims_ok and (nb == 1 or scale.stride(0) == kb) and (kb == 1 or scale.stride(1) == 1)


def _fp8gemm_scales(m: int, n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    sfa = torch.rand(m, ceil_div(k, 128)) + 0.5
    sfb = torch.rand(ceil_div(n, 128), ceil_div(k, 128)) + 0.5
    return sfa, sfb


@pytest.mark.parametrize("m,n,k", [(64, 2112, 7168), (4096, 24576, 1536), (128, 32768, 512), (1, 256, 128)])
def test_blockwise_scales_match_torch_layout_rules(m: int, n: int, k: int) -> None:
    sfa, sfb = _fp8gemm_scales(m, n, k)
    scale_a, scale_b = blockwise_scales(sfa, sfb)
    assert _torch_accepts_1x128(m, k, scale_a)
    assert _torch_accepts_128x128(n, k, scale_b.t())
    assert torch.equal(scale_a, sfa) and torch.equal(scale_b.t(), sfb), "values must not move"


def test_blockwise_scales_of_a_group_slice() -> None:
    # Masked baseline: the first `rows` rows of group g of a [G, M_max, K/128] scale tensor.
    sfa = torch.rand(2, 4096, 56)
    sfb = torch.rand(2, 56, 56)
    scale_a, scale_b = blockwise_scales(sfa[1, :272], sfb[1])
    assert _torch_accepts_1x128(272, 7168, scale_a)
    assert _torch_accepts_128x128(7168, 7168, scale_b.t())
    assert torch.equal(scale_a, sfa[1, :272])


def test_every_benchmark_k_satisfies_both_torch_scale_b_rules() -> None:
    ks = {s.k for s in suite_shapes("all")}
    assert all(ceil_div(k, 128) % 4 == 0 for k in ks)


def test_blockwise_scales_reject_mismatched_k_blocks() -> None:
    with pytest.raises(ValueError):
        blockwise_scales(torch.rand(64, 56), torch.rand(17, 12))


def test_scaled_mm_meta_accepts_the_prepared_scales() -> None:
    m, n, k = 64, 2112, 7168
    sfa, sfb = _fp8gemm_scales(m, n, k)
    scale_a, scale_b = (
        torch.empty_strided(s.shape, s.stride(), device="meta") for s in blockwise_scales(sfa, sfb)
    )
    a = torch.empty(m, k, dtype=torch.float8_e4m3fn, device="meta")
    b = torch.empty(n, k, dtype=torch.float8_e4m3fn, device="meta")
    try:
        out = torch._scaled_mm(a, b.t(), scale_a=scale_a, scale_b=scale_b, out_dtype=torch.bfloat16)
    except NotImplementedError:
        pytest.skip("this torch build has no meta kernel for _scaled_mm")
    assert out.shape == (m, n) and out.dtype == torch.bfloat16


# --------------------------------------------------------------- cases: the two sides do the same GEMMs


def _reference_bf16(
    a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    return reference_gemm(a, b).to(torch.bfloat16)


def _fake_scaled_mm(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor):
    """cuBLAS's blockwise semantics: out = sum over K blocks of scale_a[i, kb] * scale_b[kb, j/128] * A·Bᵀ."""
    assert _torch_accepts_1x128(a.shape[0], a.shape[1], scale_a)
    assert _torch_accepts_128x128(b.shape[0], b.shape[1], scale_b.t())
    return _reference_bf16((a, scale_a), (b, scale_b.t()))


def _fake_contiguous(a, b, d, m_indices) -> None:
    for row, expert in enumerate(m_indices.tolist()):
        if expert >= 0:
            d[row] = _reference_bf16(
                (a[0][row : row + 1], a[1][row : row + 1]), (b[0][expert], b[1][expert])
            )[0]


def _fake_masked(a, b, d, masked_m, expected_m) -> None:
    for g, rows in enumerate(masked_m.tolist()):
        d[g, :rows] = _reference_bf16((a[0][g, :rows], a[1][g, :rows]), (b[0][g], b[1][g]))


@pytest.fixture
def cpu_cases(monkeypatch: pytest.MonkeyPatch):
    """`cases` on CPU: inputs built there, both GEMMs replaced by float64 references with their semantics."""
    for name in ("dense_inputs", "grouped_contiguous_inputs", "grouped_masked_inputs"):
        monkeypatch.setattr(cases, name, functools.partial(getattr(testing, name), device="cpu"))
    monkeypatch.setattr(cases, "scaled_mm_bf16", _fake_scaled_mm)
    monkeypatch.setattr(cases.fp8gemm, "fp8_gemm_nt", lambda a, b, d: d.copy_(_reference_bf16(a, b)))
    monkeypatch.setattr(cases.fp8gemm, "m_grouped_fp8_gemm_nt_contiguous", _fake_contiguous)
    monkeypatch.setattr(cases.fp8gemm, "m_grouped_fp8_gemm_nt_masked", _fake_masked)
    return cases


@pytest.mark.parametrize(
    "shape",
    [DenseShape(64, 256, 512), ContiguousShape(3, 200, 256, 512), MaskedShape(3, 40, 256, 384, m_max=64)],
    ids=lambda s: s.label,
)
def test_cublas_side_computes_the_rows_fp8gemm_writes(cpu_cases, shape) -> None:
    case = cpu_cases.build_case(shape)
    case.run_fp8gemm()
    ours = case.fp8gemm_rows()
    theirs = torch.cat(case.run_cublas())
    assert not torch.isnan(ours).any(), "fp8gemm_rows must hold written rows only"
    assert ours.shape == theirs.shape
    assert calc_diff(ours, theirs) < 1e-6
    rows = ours.shape[0]
    assert case.workload == gemm_workload(rows, shape.n, shape.k, getattr(shape, "num_groups", 1))


# ------------------------------------------------------------------------- the launch each row reports


@pytest.mark.parametrize(
    "shape",
    [DenseShape(64, 256, 512), ContiguousShape(3, 200, 256, 512), MaskedShape(3, 40, 256, 384, m_max=64),
     MaskedShape(2, 100, 256, 384, m_max=64)],
    ids=lambda s: f"{s.label} M_max={getattr(s, 'm_max', '')}",
)
def test_chosen_launch_asks_the_heuristic_with_the_rows_the_op_sees(cpu_cases, monkeypatch, shape) -> None:
    """The op passes choose_launch A's rows (dense, contiguous with its padding) or min(expected_m, M_max)
    (masked); the benchmark's label must describe that same choice."""
    asked = []
    monkeypatch.setattr(suites, "choose_launch", lambda *args: asked.append(args) or (None, 1))
    chosen_launch(shape, 132)
    ((gemm_type, rows, n, k, num_groups, num_sms),) = asked
    a_rows = cpu_cases.build_case(shape).output.shape[-2]
    if isinstance(shape, MaskedShape):
        assert gemm_type == GemmType.GROUPED_MASKED and rows == min(shape.expected_m, a_rows)
    else:
        assert rows == a_rows
        assert gemm_type == (GemmType.DENSE if isinstance(shape, DenseShape) else GemmType.GROUPED_CONTIGUOUS)
    assert (n, k, num_groups, num_sms) == (shape.n, shape.k, getattr(shape, "num_groups", 1), 132)


@pytest.mark.parametrize("shape", [s for s in suite_shapes("all") if not isinstance(s, QuantShape)], ids=str)
def test_every_benchmark_gemm_gets_a_valid_labelled_launch(shape) -> None:
    config, split_k = chosen_launch(shape, 132)
    assert config.is_valid() and split_k >= 1
    assert launch_label(config, split_k).startswith(f"{config.block_m}x{config.block_n} s{config.num_stages}")


def test_launch_label_names_every_variant() -> None:
    plain = GemmConfig(GemmType.DENSE, 128, 256, 4)
    assert launch_label(plain, 1) == "128x256 s4"
    assert launch_label(GemmConfig(GemmType.DENSE, 64, 32, 16), 2) == "64x32 s16 split2"
    assert launch_label(GemmConfig(GemmType.DENSE, 128, 128, 5, output_f32=True, cluster_n=2), 1) == "128x128 s5 c2 f32"
    assert launch_label(GemmConfig(GemmType.DENSE, 128, 64, 8, stream_k=True), 1) == "128x64 s8 stream-k"
    masked = GemmConfig(GemmType.GROUPED_MASKED, 128, 128, 5, alt_widths=((144, 4), (256, 4)))
    assert launch_label(masked, 1) == "128x128 s5 +144,256"


# ---------------------------------------------------------------------------------------- quant cases


@pytest.fixture
def cpu_quant_cases(monkeypatch: pytest.MonkeyPatch):
    """`cases` with the cast inputs built on the CPU, where both sides run the torch implementation."""
    for name in ("random_activations", "random_weights"):
        monkeypatch.setattr(cases, name, functools.partial(getattr(testing, name), device="cpu"))
    return cases


@pytest.mark.parametrize("op", QUANT_OPS)
def test_quant_case_runs_the_cast_and_its_reference_on_one_input(cpu_quant_cases, op: str) -> None:
    shape = QuantShape(op, 136, 400)
    case = cpu_quant_cases.build_quant_case(shape)
    assert case.workload == quant_workload(shape)
    ours, ref = case.run(), case.reference()
    assert runner._quant_mismatches(ours, ref) == 0
    q, s = ours
    assert q.shape == (136, 400) and q.dtype == torch.float8_e4m3fn
    if op == "per_block":
        assert s.shape == (2, 4)
    else:
        assert s.shape == (136, 4)
        assert (s.stride(0) == 1) == (op == "per_token_gemm"), "only per_token_gemm returns MN-major scales"
    assert torch.unique(q.view(torch.uint8)).numel() > 100, "inputs must be random, not constant"


def test_quant_mismatches_count_bytes_and_scales() -> None:
    q = torch.randn(4, 128).to(torch.float8_e4m3fn)
    s = torch.rand(4, 1)
    q_bad = q.clone()
    q_bad.view(torch.uint8)[1, 7] ^= 1
    s_bad = s.clone()
    s_bad[2, 0] = torch.nextafter(s[2, 0], torch.tensor(2.0))
    assert runner._quant_mismatches((q, s), (q.clone(), s.clone())) == 0
    assert runner._quant_mismatches((q_bad, s), (q, s)) == 1
    assert runner._quant_mismatches((q_bad, s_bad), (q, s)) == 2
