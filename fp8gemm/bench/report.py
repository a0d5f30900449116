"""Benchmark results: one Row per shape, the plain-text table, speed-up geomeans, JSON and an optional plot.

Pure apart from file writing, so the formatting is tested without a GPU.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# fp8gemm and cuBLAS compute the same dequantized product with FP32 accumulation; beyond this their outputs
# disagree by more than accumulation order and BF16 rounding explain.
DIFF_LIMIT = 1e-3


@dataclass
class Row:
    """One shape's measurements; None where not measured. Times in µs."""

    suite: str
    category: str
    shape: str
    flops: float
    bytes: float
    # GEMM rows: the kernel variant the heuristic chose on this GPU (suites.launch_label)
    config: str | None = None
    fp8gemm_us: float | None = None
    cublas_us: float | None = None
    launch_us: float | None = None
    # torch's own launch of a trivial kernel, timed like launch_us right after it: this host's floor at that
    # moment (hosts, and one host over a run, differ by up to 1.6x)
    torch_launch_us: float | None = None
    diff: float | None = None
    cublas_error: str | None = None  # why the baseline is n/a (not a failure of the run)
    error: str | None = None  # fp8gemm failed on this shape: the run exits non-zero
    copy_gbps: float | None = None  # quant rows: HBM copy bandwidth measured in the same run
    # quant rows: a copy moving the same bytes (read + write) as the cast, timed the same way: the ceiling at
    # this size, where launch and the last wave's tail weigh more than on the 1 GiB copy
    same_size_copy_gbps: float | None = None
    # quant rows: fp8gemm_us and the copies are timed with L2 emptied by a read (timing.clean_l2_median_ms);
    # this is the same cast under the GEMMs' timing, whose writing flush charges it L2 write-backs
    dirty_l2_us: float | None = None
    # GEMM rows: the same runs' kernel execution time as the CUDA profiler records it (timing.profiled_kernel_ms):
    # without the ~3 µs that event timing adds to every launch, which weighs most on the small-M shapes
    fp8gemm_kernel_us: float | None = None
    cublas_kernel_us: float | None = None

    @property
    def copy_fraction(self) -> float | None:
        """Achieved GB/s over the HBM copy's: how close a memory-bound kernel gets to the ceiling."""
        gbps = self.gbps(self.fp8gemm_us)
        if gbps is None or not self.copy_gbps:
            return None
        return gbps / self.copy_gbps

    @property
    def speedup(self) -> float | None:
        """cuBLAS time / fp8gemm time: above 1 means fp8gemm is faster."""
        if self.fp8gemm_us is None or self.cublas_us is None:
            return None
        return self.cublas_us / self.fp8gemm_us

    @property
    def kernel_speedup(self) -> float | None:
        """cuBLAS kernel time / fp8gemm kernel time (profiler)."""
        if self.fp8gemm_kernel_us is None or self.cublas_kernel_us is None:
            return None
        return self.cublas_kernel_us / self.fp8gemm_kernel_us

    @property
    def diff_ok(self) -> bool:
        # NaN (an unwritten output) fails this too.
        return self.diff is None or self.diff < DIFF_LIMIT

    def tflops(self, us: float | None) -> float | None:
        return None if us is None else self.flops / us / 1e6

    @property
    def same_size_copy_fraction(self) -> float | None:
        gbps = self.gbps(self.fp8gemm_us)
        if gbps is None or not self.same_size_copy_gbps:
            return None
        return gbps / self.same_size_copy_gbps

    def gbps(self, us: float | None) -> float | None:
        return None if us is None else self.bytes / us / 1e3

    def to_json(self) -> dict[str, Any]:
        """Fields and derived metrics; NaN or inf (e.g. the diff of an unwritten output) become null."""
        values = {
            **asdict(self),
            "speedup": self.speedup,
            "kernel_speedup": self.kernel_speedup,
            "fp8gemm_tflops": self.tflops(self.fp8gemm_us),
            "fp8gemm_gbps": self.gbps(self.fp8gemm_us),
            "cublas_tflops": self.tflops(self.cublas_us),
            "cublas_gbps": self.gbps(self.cublas_us),
            "copy_fraction": self.copy_fraction,
            "same_size_copy_fraction": self.same_size_copy_fraction,
            "diff_ok": self.diff_ok,
        }
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()}


def geomean(values: Iterable[float]) -> float | None:
    """Geometric mean of positive values; None when there are none."""
    logs = [math.log(v) for v in values]
    return math.exp(sum(logs) / len(logs)) if logs else None


def speedup_geomeans(rows: Sequence[Row], kernel_time: bool = False) -> dict[str, float]:
    """Geomean speed-up per suite and per category (e.g. dense M=4096 vs M<=128), over rows that have one;
    of the event-timed speed-ups, or of the profiler's kernel-time ones."""
    groups: dict[str, list[float]] = {}
    for row in rows:
        speedup = row.kernel_speedup if kernel_time else row.speedup
        if speedup is not None:
            for key in (row.suite, row.category):
                groups.setdefault(key, []).append(speedup)
    return {key: mean for key, values in groups.items() if (mean := geomean(values)) is not None}


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _note(row: Row) -> str:
    if row.error:
        return f"ERROR {row.error}"
    notes = []
    if not row.diff_ok:
        notes.append(f"DIFF>{DIFF_LIMIT:g}")
    if row.cublas_error:
        notes.append(f"cuBLAS: {row.cublas_error}")
    return "; ".join(notes)


# Kernel time (the profiler's) first: it is what the speed targets are stated in; event time (do_bench) adds
# each launch's ~3 µs and is kept beside it. TFLOPS and GB/s are of fp8gemm's kernel time.
TABLE_HEADER = (
    "shape", "config", "kernel us", "cuBLAS", "speedup", "event us", "cuBLAS", "speedup", "TFLOPS", "GB/s", "launch us",
    "torch us", "diff", "note",
)
NOTE_WIDTH = 60


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def table_cells(row: Row) -> tuple[str, ...]:
    return (
        row.shape,
        row.config or "n/a",
        _fmt(row.fp8gemm_kernel_us, ".1f"),
        _fmt(row.cublas_kernel_us, ".1f"),
        _ratio(row.kernel_speedup),
        _fmt(row.fp8gemm_us, ".1f"),
        _fmt(row.cublas_us, ".1f"),
        _ratio(row.speedup),
        _fmt(row.tflops(row.fp8gemm_kernel_us), ".0f"),
        _fmt(row.gbps(row.fp8gemm_kernel_us), ".0f"),
        _fmt(row.launch_us, ".1f"),
        _fmt(row.torch_launch_us, ".1f"),
        _fmt(row.diff, ".1e"),
        _note(row)[:NOTE_WIDTH],
    )


def format_table(rows: Sequence[Row]) -> str:
    """Aligned plain-text table: shape and config left-aligned, numbers right-aligned, notes last."""
    return _aligned(TABLE_HEADER, [table_cells(row) for row in rows], text_columns=2)


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> str:
    """The first `text_columns` columns and the last are text (left-aligned), the rest numbers."""
    cells = [header, *rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    last = len(header) - 1

    def line(values: Sequence[str]) -> str:
        parts = [
            v.ljust(w) if i < text_columns or i == last else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(c) for c in rows)])


QUANT_TABLE_HEADER = (
    "shape", "us", "GB/s", "% of copy", "% of same-size copy", "us, writing flush", "launch us", "note"
)


def format_quant_table(rows: Sequence[Row]) -> str:
    """The casts' table: time, bandwidth and its share of the HBM copy bandwidth (named in the first line)."""
    copies = {row.copy_gbps for row in rows if row.copy_gbps}
    copy = f"{copies.pop():.0f} GB/s" if len(copies) == 1 else "n/a"
    cells = [
        (
            row.shape,
            _fmt(row.fp8gemm_us, ".1f"),
            _fmt(row.gbps(row.fp8gemm_us), ".0f"),
            "n/a" if row.copy_fraction is None else f"{row.copy_fraction:.0%}",
            "n/a" if row.same_size_copy_fraction is None else f"{row.same_size_copy_fraction:.0%}",
            _fmt(row.dirty_l2_us, ".1f"),
            _fmt(row.launch_us, ".1f"),
            (f"ERROR {row.error}" if row.error else "")[:NOTE_WIDTH],
        )
        for row in rows
    ]
    return (
        f"FP8 casts, L2 emptied by a read before each run; HBM copy bandwidth (read + write) timed the same way "
        f"in this run: {copy}\n"
    ) + _aligned(QUANT_TABLE_HEADER, cells)


def format_geomeans(geomeans: dict[str, float], label: str = "speed-up") -> str:
    if not geomeans:
        return f"geomean {label}: n/a (no shape has both timings)"
    width = max(map(len, geomeans))
    return "\n".join(f"geomean {label} {key.ljust(width)}  {value:.2f}x" for key, value in geomeans.items())


def gpu_slug(gpu_name: str) -> str:
    """File-name form of a GPU name: 'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-") or "gpu"


def default_json_path(out_dir: Path, gpu_name: str, date: str, suite: str) -> Path:
    """<out_dir>/<gpu-slug>-<YYYY-MM-DD>-<suite>.json"""
    return out_dir / f"{gpu_slug(gpu_name)}-{date}-{suite}.json"


def write_json(path: Path, metadata: dict[str, Any], rows: Sequence[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        **metadata,
        "geomean_speedup": speedup_geomeans(rows),
        "geomean_kernel_speedup": speedup_geomeans(rows, kernel_time=True),
        "rows": [row.to_json() for row in rows],
    }
    path.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")


def write_plot(path: Path, rows: Sequence[Row], title: str) -> str:
    """PNG of TFLOPS and GB/s per shape, fp8gemm vs cuBLAS, of kernel time where measured (GEMMs) and of the
    timed runs otherwise (casts). Returns a line saying what was done."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on the GPU machines
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install matplotlib)"
    plotted = [row for row in rows if row.fp8gemm_us is not None]
    if not plotted:
        return "plot skipped: no shape has an fp8gemm timing"
    positions = range(len(plotted))
    width = 0.4
    fig, axes = plt.subplots(2, 1, figsize=(max(8.0, 0.6 * len(plotted)), 9), sharex=True)
    for axis, metric, unit in ((axes[0], Row.tflops, "TFLOPS"), (axes[1], Row.gbps, "GB/s")):
        ours = [metric(row, row.fp8gemm_kernel_us or row.fp8gemm_us) for row in plotted]
        theirs = [metric(row, row.cublas_kernel_us or row.cublas_us) or 0.0 for row in plotted]
        axis.bar([p - width / 2 for p in positions], ours, width, label="fp8gemm")
        axis.bar([p + width / 2 for p in positions], theirs, width, label="cuBLAS (torch._scaled_mm)")
        axis.set_ylabel(unit)
        axis.grid(axis="y", alpha=0.3)
        axis.legend()
    axes[1].set_xticks(list(positions))
    axes[1].set_xticklabels([row.shape for row in plotted], rotation=60, ha="right", fontsize=7)
    axes[0].set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path}"
