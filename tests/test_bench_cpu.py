"""CPU-only checks of the benchmark's pure parts: shapes, cuBLAS scale layouts, report formatting, CLI."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from fp8gemm import testing
from fp8gemm.bench import cases, cli, runner
from fp8gemm.bench.cublas import blockwise_scales
from fp8gemm.bench.report import (
    Row,
    default_json_path,
    format_geomeans,
    format_quant_table,
    format_table,
    geomean,
    gpu_slug,
    speedup_geomeans,
    write_json,
    write_plot,
)
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
    contiguous_segment_starts,
    dense_shapes,
    gemm_workload,
    grouped_shapes,
    masked_row_counts,
    quant_shapes,
    quant_workload,
    shape_workload,
    suite_shapes,
)
from fp8gemm.bench.timing import jit_first_call_ms, timing_method
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


# ------------------------------------------------------------------------------------------- report


def _row(shape: str = "dense M=64 N=2112 K=7168", **kwargs) -> Row:
    fields = dict(suite="dense", category="dense M<=128", shape=shape, flops=2e12, bytes=1e9)
    return Row(**{**fields, **kwargs})


def test_kernel_time_geomeans_come_from_the_profiler_timings() -> None:
    rows = [
        _row(fp8gemm_us=10.0, cublas_us=12.0, fp8gemm_kernel_us=7.0, cublas_kernel_us=14.0),
        _row(fp8gemm_us=10.0, cublas_us=12.0),  # no kernel times: left out of the kernel-time geomean
    ]
    assert rows[0].kernel_speedup == pytest.approx(2.0)
    assert rows[1].kernel_speedup is None
    assert speedup_geomeans(rows, kernel_time=True)["dense"] == pytest.approx(2.0)
    assert speedup_geomeans(rows)["dense"] == pytest.approx(1.2)


def test_row_metrics() -> None:
    row = _row(fp8gemm_us=1000.0, cublas_us=1500.0)
    assert row.speedup == pytest.approx(1.5)
    assert row.tflops(row.fp8gemm_us) == pytest.approx(2000.0)  # 2e12 FLOP in 1 ms
    assert row.gbps(row.fp8gemm_us) == pytest.approx(1000.0)  # 1e9 B in 1 ms
    assert _row(fp8gemm_us=1.0).speedup is None


def test_geomean() -> None:
    assert geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert geomean([3.0]) == pytest.approx(3.0)
    assert geomean([]) is None


def test_speedup_geomeans_per_suite_and_category() -> None:
    rows = [
        _row("a", fp8gemm_us=1.0, cublas_us=2.0),
        _row("b", category="dense M=4096", fp8gemm_us=1.0, cublas_us=8.0),
        _row("c", category="dense M=4096", fp8gemm_us=1.0),  # baseline n/a: left out
        _row("d", suite="grouped", category="grouped masked", fp8gemm_us=2.0, cublas_us=1.0),
    ]
    means = speedup_geomeans(rows)
    assert means == pytest.approx(
        {"dense": 4.0, "dense M<=128": 2.0, "dense M=4096": 8.0, "grouped": 0.5, "grouped masked": 0.5}
    )
    lines = format_geomeans(means).splitlines()
    assert any("dense M=4096" in line and line.endswith(" 8.00x") for line in lines)
    assert "n/a" in format_geomeans({})


def test_table_is_aligned_and_notes_problems() -> None:
    rows = [
        _row("short", fp8gemm_us=12.345, cublas_us=24.69, launch_us=7.0, diff=2e-7),
        _row("a much longer shape label", fp8gemm_us=3.0, cublas_error="RuntimeError: unsupported"),
        _row("broken", error="RuntimeError: CUDA error"),
        _row("wrong", fp8gemm_us=3.0, cublas_us=3.0, diff=float("nan")),
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].startswith("shape") and set(lines[1]) == {"-"}
    assert len(lines) == 2 + len(rows)
    short, na, broken, wrong = lines[2:]
    # Numbers are right-aligned under their header.
    cublas_end = lines[0].index("cuBLAS us") + len("cuBLAS us")
    assert short[:cublas_end].endswith("24.7") and na[:cublas_end].endswith("n/a")
    assert "12.3" in short and "24.7" in short and "2.00x" in short and "2.0e-07" in short
    assert "n/a" in na and "cuBLAS: RuntimeError: unsupported" in na
    assert "ERROR RuntimeError: CUDA error" in broken
    assert "DIFF>" in wrong


def test_json_round_trip_has_metadata_rows_and_no_nan(tmp_path: Path) -> None:
    rows = [_row(fp8gemm_us=1.0, cublas_us=2.0, diff=float("nan")), _row("x", error="boom")]
    path = tmp_path / "sub" / "result.json"
    write_json(path, {"date": "2026-01-01T00:00:00", "gpu": "NVIDIA H100", "torch": "2.11"}, rows)
    data = json.loads(path.read_text())
    assert data["gpu"] == "NVIDIA H100" and data["torch"] == "2.11"
    assert data["geomean_speedup"] == {"dense": 2.0, "dense M<=128": 2.0}
    first, second = data["rows"]
    assert first["speedup"] == 2.0 and first["diff"] is None and first["diff_ok"] is False
    assert first["fp8gemm_tflops"] == pytest.approx(2e6)
    assert second["error"] == "boom" and second["fp8gemm_us"] is None


def test_gpu_slug_and_default_path() -> None:
    assert gpu_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert gpu_slug("  ") == "gpu"
    path = default_json_path(Path("benchmarks"), "NVIDIA H200", "2026-11-20", "dense")
    assert path == Path("benchmarks/nvidia-h200-2026-11-20-dense.json")


def test_plot_is_written_or_skipped_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    message = write_plot(path, [_row(fp8gemm_us=1.0, cublas_us=2.0)], "title")
    if importlib.util.find_spec("matplotlib") is None:
        assert "skipped" in message and not path.exists()
    else:
        assert path.exists() and str(path) in message


# ---------------------------------------------------------------------------------------------- CLI


def test_parser_defaults() -> None:
    args = cli.build_parser().parse_args([])
    assert (args.suite, args.shapes, args.out, args.json, args.plot, args.no_jit) == (
        "all",
        "full",
        Path("benchmarks"),
        None,
        False,
        False,
    )


def test_parser_options() -> None:
    argv = ["--suite", "grouped", "--shapes", "small", "--out", "o", "--json", "r.json", "--plot", "--no-jit"]
    args = cli.build_parser().parse_args(argv)
    assert (args.suite, args.shapes, args.out, args.json, args.plot, args.no_jit) == (
        "grouped",
        "small",
        Path("o"),
        Path("r.json"),
        True,
        True,
    )


@pytest.mark.parametrize("argv", [["--suite", "sparse"], ["--shapes", "tiny"]])
def test_parser_rejects_unknown_choices(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(argv)


@pytest.fixture(autouse=True)
def _no_launch_floor_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() times torch's own launch after the rows; without a GPU that figure is a fixed stand-in."""
    monkeypatch.setattr(cli, "torch_launch_us", lambda: 4.4)


def test_main_reports_torch_launch_time_next_to_fp8gemm_host_times(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "GPU")
    monkeypatch.setattr(cli, "measure_all", lambda shapes: [_row(fp8gemm_us=1.0, cublas_us=2.0, launch_us=7.5)])
    assert cli.main(["--no-jit", "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["torch_launch_us"] == 4.4
    assert any(
        line.startswith("launch us:") and line.endswith("4.4 us") for line in capsys.readouterr().out.splitlines()
    )


def test_main_still_prints_the_table_when_the_launch_floor_cannot_be_timed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    def broken() -> float:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "GPU")
    monkeypatch.setattr(cli, "torch_launch_us", broken)
    monkeypatch.setattr(cli, "measure_all", lambda shapes: [_row("kept", fp8gemm_us=1.0, cublas_us=2.0)])
    assert cli.main(["--no-jit", "--json", str(tmp_path / "r.json")]) == 0
    captured = capsys.readouterr()
    assert "illegal memory access" in captured.err
    assert any(line.startswith("launch us:") and line.endswith("n/a") for line in captured.out.splitlines())
    assert any(line.startswith("kept") for line in captured.out.splitlines())


def test_main_without_gpu_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["--shapes", "small"]) == cli.EXIT_NO_GPU
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_main_saves_json_prints_table_last_and_fails_on_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    rows = [_row("ok", fp8gemm_us=1.0, cublas_us=1.5), _row("bad", error="RuntimeError: boom")]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(cli, "measure_all", lambda shapes: rows)
    assert cli.main(["--suite", "dense", "--shapes", "small", "--no-jit", "--out", str(tmp_path)]) == 1
    written = list(tmp_path.glob("nvidia-h100-80gb-hbm3-*-dense.json"))
    assert len(written) == 1
    assert [r["shape"] for r in json.loads(written[0].read_text())["rows"]] == ["ok", "bad"]
    out = capsys.readouterr().out.rstrip().splitlines()
    assert out[-1] == "1 of 2 shapes FAILED"
    assert any(line.startswith("bad") and "ERROR" in line for line in out[-5:])


def test_main_succeeds_when_no_row_failed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "GPU")
    monkeypatch.setattr(cli, "measure_all", lambda shapes: [_row(fp8gemm_us=1.0, cublas_error="n/a")])
    assert cli.main(["--no-jit", "--json", str(tmp_path / "r.json")]) == 0
    assert (tmp_path / "r.json").exists()
    assert capsys.readouterr().out.rstrip().endswith("geomean speed-up: n/a (no shape has both timings)")


def test_main_still_prints_the_table_when_saving_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "GPU")
    monkeypatch.setattr(cli, "measure_all", lambda shapes: [_row("kept", fp8gemm_us=1.0, cublas_us=2.0)])
    (tmp_path / "file").write_text("")
    assert cli.main(["--no-jit", "--json", str(tmp_path / "file" / "r.json")]) == 1
    captured = capsys.readouterr()
    assert "could not save" in captured.err
    assert any(line.startswith("kept") for line in captured.out.splitlines())


# ------------------------------------------------------------------------ failures are rows, not crashes


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the failure path on a machine without CUDA")
def test_a_failing_shape_becomes_an_error_row() -> None:
    row = runner.measure_shape(DenseShape(64, 256, 512))
    assert row.error and row.fp8gemm_us is None
    assert "ERROR" in runner.progress_line(row)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the failure path on a machine without CUDA")
def test_jit_timing_reports_a_failing_subprocess() -> None:
    timing = jit_first_call_ms(128, 256, 512)
    assert timing.cold_ms is None and timing.error and timing.error.startswith("SubprocessError: exit")
    # The child got as far as running the GEMM: the -c snippet itself imports and calls correctly.
    assert "ImportError" not in timing.error and "ModuleNotFoundError" not in timing.error


def test_timing_method_names_the_timer() -> None:
    assert "L2 flushed" in timing_method()


def test_error_text_keeps_the_first_line() -> None:
    assert runner._error_text(RuntimeError("CUDA error: bad\nmore\nlines")) == "RuntimeError: CUDA error: bad"
    assert runner._error_text(ValueError()) == "ValueError"


# ---------------------------------------------------------------------------------------------- quant


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


def _quant_row(shape: str = "per_token [4096, 7168] bf16", **kwargs) -> Row:
    fields = dict(
        suite="quant", category="quant per_token", shape=shape, flops=0.0, bytes=3e9, copy_gbps=3000.0
    )
    return Row(**{**fields, **kwargs})


def test_quant_row_reports_its_share_of_the_copy_bandwidth() -> None:
    row = _quant_row(fp8gemm_us=1250.0)  # 3 GB in 1.25 ms = 2400 GB/s
    assert row.gbps(row.fp8gemm_us) == pytest.approx(2400.0)
    assert row.copy_fraction == pytest.approx(0.8)
    assert (
        _quant_row().copy_fraction is None
        and _quant_row(fp8gemm_us=1.0, copy_gbps=None).copy_fraction is None
    )
    assert "80%" in runner.progress_line(row) and "2400 GB/s" in runner.progress_line(row)


def test_quant_table_names_the_copy_bandwidth_and_the_share(tmp_path: Path) -> None:
    rows = [
        _quant_row(fp8gemm_us=1250.0, launch_us=9.0),
        _quant_row("broken", error="RuntimeError: 3 values differ"),
    ]
    lines = format_quant_table(rows).splitlines()
    assert "3000 GB/s" in lines[0]
    assert lines[1].startswith("shape") and "% of copy" in lines[1] and set(lines[2]) == {"-"}
    assert "1250.0" in lines[3] and "2400" in lines[3] and "80%" in lines[3] and "9.0" in lines[3]
    assert "ERROR RuntimeError: 3 values differ" in lines[4] and "n/a" in lines[4]
    path = tmp_path / "quant.json"
    write_json(path, {"gpu": "GPU"}, rows)
    first = json.loads(path.read_text())["rows"][0]
    assert first["copy_gbps"] == 3000.0 and first["copy_fraction"] == pytest.approx(0.8)
    assert json.loads(path.read_text())["geomean_speedup"] == {}


def test_measure_all_times_the_copy_once_and_only_for_quant_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    copies = []
    monkeypatch.setattr(runner, "copy_bandwidth_gbps", lambda median_ms: copies.append(median_ms) or 2900.0)
    monkeypatch.setattr(runner, "measure_shape", lambda shape: _row(shape.label, fp8gemm_us=1.0))
    monkeypatch.setattr(
        runner,
        "measure_quant_shape",
        lambda shape, copy: _quant_row(shape.label, fp8gemm_us=1.0, copy_gbps=copy),
    )
    rows = runner.measure_all([DenseShape(64, 256, 512)])
    assert copies == [] and rows[0].copy_gbps is None
    rows = runner.measure_all([DenseShape(64, 256, 512), *quant_shapes("small")])
    # Timed like the casts it is compared with: L2 emptied by a read, not by do_bench's writing flush.
    assert copies == [runner.clean_l2_median_ms]
    assert [row.copy_gbps for row in rows] == [None, 2900.0, 2900.0, 2900.0]


def test_main_prints_the_quant_table_after_the_gemm_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "GPU")
    rows = [_row("gemm", fp8gemm_us=1.0, cublas_us=2.0), _quant_row("cast", fp8gemm_us=1250.0)]
    monkeypatch.setattr(cli, "measure_all", lambda shapes: rows)
    assert cli.main(["--no-jit", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    gemm_line = next(i for i, line in enumerate(out) if line.startswith("gemm"))
    assert out[-1].startswith("cast") and "80%" in out[-1]
    assert gemm_line < len(out) - 1 and not any(line.startswith("cast") for line in out[:gemm_line])


def test_main_with_only_quant_rows_prints_no_gemm_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "GPU")
    monkeypatch.setattr(cli, "measure_all", lambda shapes: [_quant_row("cast", fp8gemm_us=1250.0)])
    assert cli.main(["--suite", "quant", "--no-jit", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "cuBLAS us" not in out and "geomean" not in out and "% of copy" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the failure path on a machine without CUDA")
def test_a_failing_quant_shape_becomes_an_error_row() -> None:
    row = runner.measure_quant_shape(QuantShape("per_token", 16, 128), 3000.0)
    assert row.error and row.fp8gemm_us is None and row.copy_gbps == 3000.0
    assert "ERROR" in runner.progress_line(row)
