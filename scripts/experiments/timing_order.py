"""Does the order in which the benchmark profiles the two libraries tilt their ratio?

Runs 6-12 profiled cuBLAS's 50 runs, then fp8gemm's. On large problems the H100 sits at its power cap, where
clocks follow temperature, so the kernel timed second may run on a hotter GPU. For each shape, kernel times
(profiler, L2 flushed before each run) three ways, twice: cuBLAS then fp8gemm, fp8gemm then cuBLAS, and the
two taking turns in one session (timing.interleaved_kernel_ms, what the benchmark now does).
Usage: python scripts/experiments/timing_order.py
"""

from __future__ import annotations

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import ContiguousShape, DenseShape, MaskedShape
from fp8gemm.bench.timing import interleaved_kernel_ms, profiled_kernel_ms

SHAPES = (
    DenseShape(4096, 4096, 7168),
    DenseShape(4096, 2112, 7168),
    DenseShape(4096, 7168, 16384),
    ContiguousShape(4, 8192, 4096, 7168),
    MaskedShape(2, 512, 4096, 7168),
    DenseShape(64, 2112, 7168),
)


def main() -> None:
    print(f"{'shape':36s} {'order':22s} {'fp8gemm us':>10s} {'cuBLAS us':>10s} {'speed-up':>8s}")
    for shape in SHAPES:
        case = build_case(shape)
        case.run_fp8gemm()
        for _ in range(2):
            cublas_first = profiled_kernel_ms(case.run_cublas)
            ours_second = profiled_kernel_ms(case.run_fp8gemm)
            ours_first = profiled_kernel_ms(case.run_fp8gemm)
            cublas_second = profiled_kernel_ms(case.run_cublas)
            ours_turns, cublas_turns = interleaved_kernel_ms([case.run_fp8gemm, case.run_cublas])
            for order, ours, cublas in (
                ("cuBLAS, then fp8gemm", ours_second, cublas_first),
                ("fp8gemm, then cuBLAS", ours_first, cublas_second),
                ("taking turns", ours_turns, cublas_turns),
            ):
                print(
                    f"{shape.label:36s} {order:22s} {ours * 1e3:10.1f} {cublas * 1e3:10.1f} {cublas / ours:7.3f}x",
                    flush=True,
                )
        del case


if __name__ == "__main__":
    main()
