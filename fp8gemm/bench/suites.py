"""The benchmark's problem shapes and the work each one does (pure: no GPU needed).

Shapes are DeepSeek-V3's projections (dense) and its MoE expert layers (grouped). FLOPs and bytes count what
a GEMM must do at least: every valid row of A, every weight matrix and every scale read once, every valid row
of D written once; they turn times into TFLOPS and GB/s that compare across kernels. The quant suite times
the FP8 casts of BF16 activations and weights; their bytes (input read, e4m3 and scales written) are set
against the HBM copy bandwidth measured in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import BLOCK_K, SCALE_BLOCK, GemmConfig, GemmType
from ..heuristics import choose_launch
from ..utils import ceil_div, get_m_alignment_for_contiguous_layout

SUITES = ("dense", "grouped", "quant", "all")
SHAPE_SETS = ("full", "small")

DEEPSEEK_DENSE_NK = ((2112, 7168), (24576, 1536), (32768, 512), (7168, 16384), (4096, 7168), (7168, 2048))
DENSE_M = (64, 128, 4096)
# Masked (decode) problems: A and D hold M_MAX rows per group, of which only masked_m[g] are valid.
MASKED_M_MAX = 4096
# Drawn row counts are rounded to this: cuBLASLt's blockwise path needs the per-group scale column (M fp32
# values) 16-byte aligned, so unaligned counts would leave the baseline n/a; 16 keeps a margin over that.
MASKED_ROW_GRANULE = 16
MASKED_SPREAD = (0.7, 1.3)  # masked_m[g] / expected_m lies in this range

FP8_BYTES = 1
BF16_BYTES = 2
FP32_BYTES = 4


@dataclass(frozen=True)
class Workload:
    """What one GEMM call must compute and move."""

    flops: float
    bytes: float


def gemm_workload(rows: int, n: int, k: int, num_weights: int = 1) -> Workload:
    """FLOPs and minimum bytes of `rows` valid rows of A times `num_weights` [N, K] weights (FP8, BF16 out)."""
    k_blocks = ceil_div(k, BLOCK_K)
    scale_values = rows * k_blocks + num_weights * ceil_div(n, SCALE_BLOCK) * k_blocks
    moved = (
        rows * k * FP8_BYTES
        + num_weights * n * k * FP8_BYTES
        + rows * n * BF16_BYTES
        + scale_values * FP32_BYTES
    )
    return Workload(flops=2.0 * rows * n * k, bytes=float(moved))


@dataclass(frozen=True)
class DenseShape:
    m: int
    n: int
    k: int

    suite = "dense"

    @property
    def label(self) -> str:
        return f"dense M={self.m} N={self.n} K={self.k}"

    @property
    def category(self) -> str:
        # Decode-like small M is memory bound and prefill-like large M compute bound: summarised apart.
        return "dense M<=128" if self.m <= 128 else f"dense M={self.m}"


@dataclass(frozen=True)
class ContiguousShape:
    """`num_groups` experts of `m_per_group` rows each, back to back along M."""

    num_groups: int
    m_per_group: int
    n: int
    k: int

    suite = "grouped"
    category = "grouped contiguous"

    @property
    def label(self) -> str:
        return f"contig G={self.num_groups} M={self.m_per_group}/g N={self.n} K={self.k}"


@dataclass(frozen=True)
class MaskedShape:
    """`num_groups` experts with about `expected_m` valid rows each out of `m_max`."""

    num_groups: int
    expected_m: int
    n: int
    k: int
    m_max: int = MASKED_M_MAX

    suite = "grouped"
    category = "grouped masked"

    @property
    def label(self) -> str:
        return f"masked G={self.num_groups} M~{self.expected_m}/g N={self.n} K={self.k}"


QUANT_OPS = ("per_token", "per_token_gemm", "per_block")
QUANT_MK = ((4096, 7168), (16384, 7168))


@dataclass(frozen=True)
class QuantShape:
    """One cast of a BF16 [m, k] tensor. op: per_token (row-major scales), per_token_gemm (scales written in
    the GEMM's MN-major layout) or per_block (128x128 blocks)."""

    op: str
    m: int
    k: int

    suite = "quant"

    @property
    def label(self) -> str:
        return f"{self.op} [{self.m}, {self.k}] bf16"

    @property
    def category(self) -> str:
        return f"quant {self.op}"


Shape = DenseShape | ContiguousShape | MaskedShape | QuantShape

GROUPED_CONTIGUOUS = (
    ContiguousShape(4, 8192, 4096, 7168),
    ContiguousShape(4, 8192, 7168, 2048),
    ContiguousShape(8, 4096, 4096, 7168),
    ContiguousShape(8, 4096, 7168, 2048),
)
GROUPED_MASKED = (
    MaskedShape(1, 1024, 4096, 7168),
    MaskedShape(1, 1024, 7168, 2048),
    MaskedShape(2, 512, 4096, 7168),
    MaskedShape(2, 512, 7168, 2048),
    MaskedShape(4, 256, 4096, 7168),
    MaskedShape(4, 256, 7168, 2048),
)
# The JIT timing measures the first call on each of these in a fresh process (cold, then warm kernel cache):
# a dense shape, and a masked shape whose kernel carries every tile width (the longest compile).
JIT_PROBE_SHAPES = (DenseShape(128, 4096, 7168), MaskedShape(2, 512, 7168, 2048))


def dense_shapes(shape_set: str = "full") -> list[DenseShape]:
    if shape_set == "small":
        n, k = DEEPSEEK_DENSE_NK[0]
        return [DenseShape(64, n, k), DenseShape(4096, n, k)]
    return [DenseShape(m, n, k) for n, k in DEEPSEEK_DENSE_NK for m in DENSE_M]


def grouped_shapes(shape_set: str = "full") -> list[ContiguousShape | MaskedShape]:
    if shape_set == "small":
        return [GROUPED_CONTIGUOUS[1], GROUPED_MASKED[-1]]
    return [*GROUPED_CONTIGUOUS, *GROUPED_MASKED]


def quant_shapes(shape_set: str = "full") -> list[QuantShape]:
    mk = QUANT_MK[:1] if shape_set == "small" else QUANT_MK
    return [QuantShape(op, m, k) for m, k in mk for op in QUANT_OPS]


def suite_shapes(suite: str, shape_set: str = "full") -> list[Shape]:
    """Every shape `suite` ("dense", "grouped", "quant" or "all") times, in run order."""
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {SUITES}, got {suite!r}")
    if shape_set not in SHAPE_SETS:
        raise ValueError(f"shape set must be one of {SHAPE_SETS}, got {shape_set!r}")
    shapes: list[Shape] = []
    if suite in ("dense", "all"):
        shapes += dense_shapes(shape_set)
    if suite in ("grouped", "all"):
        shapes += grouped_shapes(shape_set)
    if suite in ("quant", "all"):
        shapes += quant_shapes(shape_set)
    return shapes


def masked_row_counts(shape: MaskedShape, seed: int = 0) -> list[int]:
    """Valid rows per group, uniform in MASKED_SPREAD x expected_m, rounded to MASKED_ROW_GRANULE, within
    [MASKED_ROW_GRANULE, m_max]. Seeded so that every run (and both kernels) sees the same counts.

    Not `testing.expert_sizes`: that empties every fourth expert to exercise edge cases, which would make
    the G=4 problems a quarter lighter than their label says.
    """
    generator = torch.Generator().manual_seed(seed)
    low, high = MASKED_SPREAD
    ratios = torch.rand(shape.num_groups, generator=generator) * (high - low) + low
    counts = []
    for ratio in ratios.tolist():
        rounded = round(ratio * shape.expected_m / MASKED_ROW_GRANULE) * MASKED_ROW_GRANULE
        counts.append(min(shape.m_max, max(MASKED_ROW_GRANULE, rounded)))
    return counts


def contiguous_segment_starts(sizes: list[int], alignment: int) -> list[int]:
    """First row of each expert in the contiguous layout: segments back to back, each padded to `alignment`
    rows (the layout `testing.grouped_contiguous_inputs` builds)."""
    starts, row = [], 0
    for size in sizes:
        starts.append(row)
        row += ceil_div(size, alignment) * alignment
    return starts


def chosen_launch(shape: DenseShape | ContiguousShape | MaskedShape, num_sms: int) -> tuple[GemmConfig, int]:
    """The (config, split_k) the heuristic picks for `shape` on `num_sms` SMs, from the arguments the ops pass
    it: M (dense), every row of A with the layout's padding (contiguous), min(expected_m, M_max) (masked)."""
    if isinstance(shape, DenseShape):
        return choose_launch(GemmType.DENSE, shape.m, shape.n, shape.k, 1, num_sms)
    if isinstance(shape, ContiguousShape):
        # The padding of testing.grouped_contiguous_inputs, which builds the benchmark's inputs.
        alignment = get_m_alignment_for_contiguous_layout()
        rows = shape.num_groups * ceil_div(shape.m_per_group, alignment) * alignment
        return choose_launch(GemmType.GROUPED_CONTIGUOUS, rows, shape.n, shape.k, shape.num_groups, num_sms)
    rows = min(shape.expected_m, shape.m_max)
    return choose_launch(GemmType.GROUPED_MASKED, rows, shape.n, shape.k, shape.num_groups, num_sms)


def launch_label(config: GemmConfig, split_k: int) -> str:
    """Short form of a launch for the benchmark table: '128x256 s4', '64x32 s16 split2', '128x128 s5
    +144,224,256' (a masked kernel's other tile widths), with ' c2' for a 2-CTA cluster, ' stream-k' and
    ' f32'."""
    label = f"{config.block_m}x{config.block_n} s{config.num_stages}"
    if config.alt_widths:
        label += " +" + ",".join(str(block_n) for block_n, _ in config.alt_widths)
    if config.cluster_n > 1:
        label += f" c{config.cluster_n}"
    if config.stream_k:
        label += " stream-k"
    if split_k > 1:
        label += f" split{split_k}"
    if config.output_f32:
        label += " f32"
    return label


def quant_workload(shape: QuantShape) -> Workload:
    """Bytes of one cast: the BF16 input read, the e4m3 output and the FP32 scales written (no FLOPs counted;
    the GEMM layout's padding rows are not written, so they are not counted)."""
    m, k = shape.m, shape.k
    if shape.op == "per_block":
        scales = ceil_div(m, SCALE_BLOCK) * ceil_div(k, BLOCK_K)
    else:
        scales = m * ceil_div(k, BLOCK_K)
    return Workload(flops=0.0, bytes=float(m * k * (BF16_BYTES + FP8_BYTES) + scales * FP32_BYTES))


def shape_workload(shape: Shape, masked_counts: list[int] | None = None) -> Workload:
    """The work of one call on `shape`; masked shapes need their drawn row counts."""
    if isinstance(shape, QuantShape):
        return quant_workload(shape)
    if isinstance(shape, DenseShape):
        return gemm_workload(shape.m, shape.n, shape.k)
    if isinstance(shape, ContiguousShape):
        return gemm_workload(shape.num_groups * shape.m_per_group, shape.n, shape.k, shape.num_groups)
    if masked_counts is None:
        raise ValueError("a masked shape's workload depends on its row counts: pass masked_counts")
    return gemm_workload(sum(masked_counts), shape.n, shape.k, shape.num_groups)
