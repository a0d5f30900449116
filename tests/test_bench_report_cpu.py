"""CPU-only checks of the benchmark's report: row metrics, geomeans, the GEMM and quant tables, JSON and
plot output."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from bench_rows import _quant_row, _row

from fp8gemm.bench import runner
from fp8gemm.bench.report import (
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

# ------------------------------------------------------------------------------------------- report


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
        _row("short", fp8gemm_kernel_us=12.345, cublas_kernel_us=24.69, launch_us=7.0, diff=2e-7),
        _row("a much longer shape label", fp8gemm_kernel_us=3.0, cublas_error="RuntimeError: unsupported"),
        _row("broken", error="RuntimeError: CUDA error"),
        _row("wrong", fp8gemm_kernel_us=3.0, cublas_kernel_us=3.0, diff=float("nan")),
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].startswith("shape") and set(lines[1]) == {"-"}
    assert len(lines) == 2 + len(rows)
    short, na, broken, wrong = lines[2:]
    # Numbers are right-aligned under their header.
    cublas_end = lines[0].index("cuBLAS") + len("cuBLAS")
    assert short[:cublas_end].endswith("24.7") and na[:cublas_end].endswith("n/a")
    assert "12.3" in short and "24.7" in short and "2.00x" in short and "2.0e-07" in short
    assert "n/a" in na and "cuBLAS: RuntimeError: unsupported" in na
    assert "ERROR RuntimeError: CUDA error" in broken
    assert "DIFF>" in wrong


def test_table_shows_kernel_time_first_and_event_time_beside_it() -> None:
    row = _row("row", fp8gemm_us=10.0, cublas_us=15.0, fp8gemm_kernel_us=8.0, cublas_kernel_us=16.0)
    header, _, line = format_table([row]).splitlines()
    cells = line.split()
    assert header.split()[1:5] == ["config", "kernel", "us", "cuBLAS"]
    assert cells[2:8] == ["8.0", "16.0", "2.00x", "10.0", "15.0", "1.50x"]
    # Throughput is of the kernel time: 2e12 FLOPs in 8 µs.
    assert cells[8] == f"{row.tflops(8.0):.0f}"


def test_table_names_each_rows_config_left_aligned() -> None:
    rows = [_row("a", config="128x256 s4", fp8gemm_kernel_us=1.0), _row("b", config="64x32 s16 split2")]
    header, _, first, second = format_table(rows).splitlines()
    column = header.index("config")
    assert first[column:].startswith("128x256 s4 ") and second[column:].startswith("64x32 s16 split2 ")
    assert format_table([_row("c")]).splitlines()[2][column:].startswith("n/a")


def test_progress_line_reports_kernel_time() -> None:
    row = _row("row", fp8gemm_us=10.0, cublas_us=15.0, fp8gemm_kernel_us=8.0, cublas_kernel_us=16.0)
    assert runner.progress_line(row) == "row: fp8gemm kernel 8.0 us, kernel-time speed-up 2.00x"


def test_table_shows_torch_launch_time_beside_fp8gemm_host_time() -> None:
    lines = format_table([_row("row", fp8gemm_us=1.0, cublas_us=2.0, launch_us=9.5, torch_launch_us=5.4)]).splitlines()
    torch_end = lines[0].index("torch us") + len("torch us")
    launch_end = lines[0].index("launch us") + len("launch us")
    assert lines[2][:launch_end].endswith("9.5") and lines[2][:torch_end].endswith("5.4")


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


# ---------------------------------------------------------------------------------------------- quant


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
