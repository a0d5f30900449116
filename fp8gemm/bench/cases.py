"""One benchmark case per shape: random inputs on the GPU, and the fp8gemm and cuBLAS calls to time on them.

Everything a call needs beyond the GEMM itself (scale layout conversion, per-group slicing, reading masked_m
back to the host for cuBLAS) is done here once, so the timed callables contain only what a user would run
per layer. A quant case's timed call is the cast itself, output allocation included, as a user calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import fp8gemm
from fp8gemm.api.quant import reference_per_block_cast, reference_per_token_cast
from fp8gemm.testing import (
    Problem,
    dense_inputs,
    grouped_contiguous_inputs,
    grouped_masked_inputs,
    random_activations,
    random_weights,
)

from .cublas import blockwise_scales, scaled_mm_bf16
from .suites import (
    ContiguousShape,
    DenseShape,
    MaskedShape,
    QuantShape,
    Shape,
    Workload,
    contiguous_segment_starts,
    masked_row_counts,
    quant_workload,
    shape_workload,
)


@dataclass
class Case:
    workload: Workload
    run_fp8gemm: Callable[[], None]
    # Returns cuBLAS's valid output rows (one tensor per GEMM), in the order of `fp8gemm_rows`.
    run_cublas: Callable[[], list[torch.Tensor]]
    # fp8gemm's valid output rows, for comparing against cuBLAS's; not timed.
    fp8gemm_rows: Callable[[], torch.Tensor]
    # The whole D fp8gemm writes into (poisoned before a check).
    output: torch.Tensor


@dataclass
class _GroupOperands:
    """One group's GEMM, laid out for torch._scaled_mm."""

    a: torch.Tensor
    b: torch.Tensor
    scale_a: torch.Tensor
    scale_b: torch.Tensor

    def run(self) -> torch.Tensor:
        return scaled_mm_bf16(self.a, self.b, self.scale_a, self.scale_b)


def _group_operands(a: torch.Tensor, sfa: torch.Tensor, b: torch.Tensor, sfb: torch.Tensor) -> _GroupOperands:
    scale_a, scale_b = blockwise_scales(sfa, sfb)
    return _GroupOperands(a, b, scale_a, scale_b)


def _gemm_layout_a(problem: Problem) -> tuple[torch.Tensor, torch.Tensor]:
    # The scales fp8gemm reads, converted once so the timed call does no conversion.
    return problem.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(problem.a[1])


def build_case(shape: Shape) -> Case:
    if isinstance(shape, DenseShape):
        return _dense_case(shape)
    if isinstance(shape, ContiguousShape):
        return _contiguous_case(shape)
    return _masked_case(shape)


def _dense_case(shape: DenseShape) -> Case:
    problem = dense_inputs(shape.m, shape.n, shape.k)
    a = _gemm_layout_a(problem)
    baseline = _group_operands(problem.a[0], problem.a[1], *problem.b)
    return Case(
        workload=shape_workload(shape),
        run_fp8gemm=lambda: fp8gemm.fp8_gemm_nt(a, problem.b, problem.d),
        run_cublas=lambda: [baseline.run()],
        fp8gemm_rows=lambda: problem.d,
        output=problem.d,
    )


def _contiguous_case(shape: ContiguousShape) -> Case:
    sizes = [shape.m_per_group] * shape.num_groups
    problem = grouped_contiguous_inputs(sizes, shape.n, shape.k)
    a = _gemm_layout_a(problem)
    m_indices = problem.m_indices
    assert m_indices is not None
    starts = contiguous_segment_starts(sizes, fp8gemm.get_m_alignment_for_contiguous_layout())
    a_data, sfa = problem.a
    b_data, sfb = problem.b
    groups = [
        _group_operands(a_data[s : s + size], sfa[s : s + size], b_data[g], sfb[g])
        for g, (s, size) in enumerate(zip(starts, sizes, strict=True))
    ]
    valid = m_indices >= 0
    return Case(
        workload=shape_workload(shape),
        run_fp8gemm=lambda: fp8gemm.m_grouped_fp8_gemm_nt_contiguous(a, problem.b, problem.d, m_indices),
        run_cublas=lambda: [group.run() for group in groups],
        fp8gemm_rows=lambda: problem.d[valid],
        output=problem.d,
    )


def _masked_case(shape: MaskedShape) -> Case:
    problem = grouped_masked_inputs(masked_row_counts(shape), shape.m_max, shape.n, shape.k)
    a = _gemm_layout_a(problem)
    masked_m = problem.masked_m
    assert masked_m is not None
    # Without this library a user must read the row counts back (a device sync) to size each GEMM.
    counts = masked_m.tolist()
    a_data, sfa = problem.a
    b_data, sfb = problem.b
    groups = [
        _group_operands(a_data[g, :rows], sfa[g, :rows], b_data[g], sfb[g])
        for g, rows in enumerate(counts)
        if rows > 0
    ]
    return Case(
        workload=shape_workload(shape, counts),
        run_fp8gemm=lambda: fp8gemm.m_grouped_fp8_gemm_nt_masked(
            a, problem.b, problem.d, masked_m, shape.expected_m
        ),
        run_cublas=lambda: [group.run() for group in groups],
        fp8gemm_rows=lambda: torch.cat([problem.d[g, :rows] for g, rows in enumerate(counts)]),
        output=problem.d,
    )


@dataclass
class QuantCase:
    workload: Workload
    run: Callable[[], tuple[torch.Tensor, torch.Tensor]]
    # The torch implementation on a CPU copy of the input (row-major scales): the definition `run` must
    # equal bit for bit.
    reference: Callable[[], tuple[torch.Tensor, torch.Tensor]]


def build_quant_case(shape: QuantShape) -> QuantCase:
    if shape.op == "per_block":
        w = random_weights(shape.m, shape.k)
        return QuantCase(
            workload=quant_workload(shape),
            run=lambda: fp8gemm.per_block_cast_to_fp8(w),
            reference=lambda: reference_per_block_cast(w.cpu()),
        )
    x = random_activations(shape.m, shape.k)
    layout = "gemm" if shape.op == "per_token_gemm" else "row"
    return QuantCase(
        workload=quant_workload(shape),
        run=lambda: fp8gemm.per_token_cast_to_fp8(x, out_layout=layout),
        reference=lambda: reference_per_token_cast(x.cpu()),
    )
