"""References, error metrics and random inputs shared by the tests and the benchmarks."""

from .numerics import calc_diff, dequantize_a, dequantize_b, reference_gemm
from .random import (
    Problem,
    dense_inputs,
    expert_sizes,
    grouped_contiguous_inputs,
    grouped_masked_inputs,
    random_activations,
    random_weights,
)

__all__ = [
    "Problem",
    "expert_sizes",
    "random_weights",
    "calc_diff",
    "dense_inputs",
    "dequantize_a",
    "dequantize_b",
    "grouped_contiguous_inputs",
    "grouped_masked_inputs",
    "random_activations",
    "reference_gemm",
]
