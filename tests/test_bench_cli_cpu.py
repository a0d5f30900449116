"""CPU-only checks of the benchmark's driver: the CLI, the runner that turns failures into rows, and the
timing helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from bench_rows import _quant_row, _row

from fp8gemm.bench import cli, runner
from fp8gemm.bench.cases import Case
from fp8gemm.bench.suites import JIT_PROBE_SHAPES, DenseShape, MaskedShape, QuantShape, quant_shapes
from fp8gemm.bench.timing import JitTiming, host_us_per_call_in_turns, jit_first_call_ms, timing_method
from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_config

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
    metadata = json.loads((tmp_path / "r.json").read_text())
    assert metadata["torch_launch_us"] == 4.4
    assert metadata["warm_path"] == "Python"  # a CPU build of torch: the C path cannot launch
    assert any(
        line.startswith("launch us:") and line.endswith("(after the last row: 4.4 us)")
        for line in capsys.readouterr().out.splitlines()
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
    assert any(line.startswith("launch us:") and line.endswith("n/a)") for line in captured.out.splitlines())
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
    assert capsys.readouterr().out.rstrip().endswith("geomean event-time speed-up: n/a (no shape has both timings)")


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
@pytest.mark.parametrize("shape", JIT_PROBE_SHAPES, ids=lambda shape: shape.label)
def test_jit_timing_reports_a_failing_subprocess(shape: DenseShape | MaskedShape) -> None:
    timing = jit_first_call_ms(shape)
    assert timing.shape == shape.label
    assert timing.cold_ms is None and timing.error and timing.error.startswith("SubprocessError: exit")
    # The child got as far as running the GEMM: the -c snippet itself imports and calls correctly.
    assert "ImportError" not in timing.error and "ModuleNotFoundError" not in timing.error


def test_jit_probes_include_the_masked_kernel_with_every_tile_width() -> None:
    """The longest first-call compile is the masked kernel carrying the 144-, 224- and 256-wide tiles beside 128."""
    (masked,) = [shape for shape in JIT_PROBE_SHAPES if isinstance(shape, MaskedShape)]
    config = choose_config(GemmType.GROUPED_MASKED, masked.expected_m, masked.n, masked.k, masked.num_groups, 132)
    assert [block_n for block_n, _ in config.alt_widths] == [144, 224, 256]


def _timed_case() -> Case:
    return Case(workload=None, run_fp8gemm=lambda: None, run_cublas=lambda: [], fp8gemm_rows=lambda: None, output=None)


def test_kernel_times_take_turns_with_cublas(monkeypatch: pytest.MonkeyPatch) -> None:
    case, seen = _timed_case(), []

    def interleaved(fns: list) -> list[float]:
        seen.extend(fns)
        return [0.1, 0.3]

    monkeypatch.setattr(runner, "interleaved_kernel_ms", interleaved)
    row = _row()
    runner._measure_kernel_times(case, row)
    assert seen == [case.run_fp8gemm, case.run_cublas]
    assert (row.fp8gemm_kernel_us, row.cublas_kernel_us) == pytest.approx((100.0, 300.0))


def test_kernel_time_without_a_cublas_baseline_is_fp8gemm_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    case = _timed_case()
    monkeypatch.setattr(runner, "interleaved_kernel_ms", lambda fns: pytest.fail("no baseline to take turns with"))
    monkeypatch.setattr(runner, "profiled_kernel_ms", lambda fn: 0.2 if fn is case.run_fp8gemm else pytest.fail())
    row = _row(cublas_error="RuntimeError: unsupported")
    runner._measure_kernel_times(case, row)
    assert row.fp8gemm_kernel_us == pytest.approx(200.0) and row.cublas_kernel_us is None


def test_timing_method_names_the_timer() -> None:
    assert "L2 flushed" in timing_method()


def test_error_text_keeps_the_first_line() -> None:
    assert runner._error_text(RuntimeError("CUDA error: bad\nmore\nlines")) == "RuntimeError: CUDA error: bad"
    assert runner._error_text(ValueError()) == "ValueError"


# ---------------------------------------------------------------------------------------------- quant


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


def test_jit_line_says_when_a_stand_in_served_the_cold_call() -> None:
    served = JitTiming("masked", cold_ms=700.0, warm_ms=1.0, cold_chosen_kernel_ms=2100.0)
    direct = JitTiming("dense", cold_ms=700.0, warm_ms=1.0, cold_chosen_kernel_ms=700.1)
    lines = cli._jit_lines([served, direct]).splitlines()
    assert "stand-in" in lines[0] and "2100 ms" in lines[0] and "700 ms" in lines[0]
    assert "stand-in" not in lines[1]


def test_host_timing_takes_turns_round_by_round(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(torch.cuda, "_sleep", lambda cycles: None)
    order: list[str] = []
    timings = host_us_per_call_in_turns([lambda: order.append("ours"), lambda: order.append("torch")], calls=2, rounds=3)
    assert len(timings) == 2 and all(t > 0 for t in timings)
    # One warm-up call each, then rounds of two calls, the functions alternating round by round.
    assert order == ["ours", "torch"] + ["ours", "ours", "torch", "torch"] * 3
