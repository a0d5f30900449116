"""Generated source = the kernel header + one instantiation behind a fixed extern "C" entry point."""

from __future__ import annotations

from pathlib import Path

from ..config import ALT_TILE_COST_PERCENT, GemmConfig

KERNELS_DIR = Path(__file__).resolve().parents[1] / "kernels"
ENTRY_POINT = "fp8gemm_kernel"


def gemm_source(config: GemmConfig) -> str:
    """CUDA source instantiating `fp8gemm::Fp8Gemm` for `config` (or `fp8gemm::MaskedWidths` when it has
    alternative tile widths).

    The static_asserts make the compile fail if Python's shared-memory or thread model drifts from the
    kernel's own constants.
    """
    if config.alt_widths:
        return _masked_widths_source(config)
    bool_out = "true" if config.output_f32 else "false"
    stream_k = "true" if config.stream_k else "false"
    # A compile-time cluster shape lets a plain cuLaunchKernel launch clusters (grid % cluster_n == 0).
    cluster = f"__cluster_dims__({config.cluster_n}, 1, 1) " if config.cluster_n > 1 else ""
    return (
        '#include "fp8_gemm.cuh"\n\n'
        f"using Kernel = fp8gemm::Fp8Gemm<fp8gemm::GemmType::{config.gemm_type.cpp_name}, "
        f"{config.block_m}u, {config.block_n}u, {config.num_stages}u, {bool_out}, {config.cluster_n}u, "
        f"{stream_k}>;\n"
        f'static_assert(Kernel::kSmemBytes == {config.smem_bytes}u, "smem model out of sync");\n'
        f'static_assert(Kernel::kNumThreads == {config.num_threads}u, "thread model out of sync");\n\n'
        f'extern "C" __global__ void {cluster}__launch_bounds__(Kernel::kNumThreads, 1)\n'
        f"{ENTRY_POINT}(const __grid_constant__ fp8gemm::GemmParams params) {{\n"
        "    Kernel::run(params);\n"
        "}\n"
    )


def _masked_widths_source(config: GemmConfig) -> str:
    widths = [f"fp8gemm::TileWidth<{config.block_n}u, {config.num_stages}u, 100u>"] + [
        f"fp8gemm::TileWidth<{block_n}u, {stages}u, {ALT_TILE_COST_PERCENT[block_n]}u>"
        for block_n, stages in config.alt_widths
    ]
    return (
        '#include "masked_widths.cuh"\n\n'
        f"using Kernel = fp8gemm::MaskedWidths<{config.block_m}u, {', '.join(widths)}>;\n"
        f'static_assert(Kernel::kSmemBytes == {config.smem_bytes}u, "smem model out of sync");\n'
        f'static_assert(Kernel::kNumThreads == {config.num_threads}u, "thread model out of sync");\n\n'
        f'extern "C" __global__ void __launch_bounds__(Kernel::kNumThreads, 1)\n'
        f"{ENTRY_POINT}(const __grid_constant__ Kernel::Params params) {{\n"
        "    Kernel::run(params);\n"
        "}\n"
    )


def kernel_headers() -> list[Path]:
    """Every header a generated source may include (all of them feed the cache key)."""
    return sorted(KERNELS_DIR.rglob("*.cuh"))
