"""Benchmark result rows for the report and CLI tests (test_bench_report_cpu.py, test_bench_cli_cpu.py):
plausible values in every field a Row needs, each overridable."""

from __future__ import annotations

from fp8gemm.bench.report import Row


def _row(shape: str = "dense M=64 N=2112 K=7168", **kwargs) -> Row:
    fields = dict(suite="dense", category="dense M<=128", shape=shape, flops=2e12, bytes=1e9)
    return Row(**{**fields, **kwargs})


def _quant_row(shape: str = "per_token [4096, 7168] bf16", **kwargs) -> Row:
    fields = dict(
        suite="quant", category="quant per_token", shape=shape, flops=0.0, bytes=3e9, copy_gbps=3000.0
    )
    return Row(**{**fields, **kwargs})
