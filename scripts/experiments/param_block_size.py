"""Host cost of a kernel's parameter block size: what a masked launch paid for its 1920 bytes.

The three-width masked kernel took one GemmParams per width (3 x 640 bytes) until run 15; sharing everything but
B's descriptor made it 896. This launches empty kernels whose one __grid_constant__ parameter is 640, 896 and
1920 bytes, through the same raw launch the warm calls use (fp8gemm.jit.native), while the GPU is busy, the
sizes taking turns round by round. Prints the least µs per launch of each size and torch's own launch.
Usage: python scripts/experiments/param_block_size.py
"""

from __future__ import annotations

import torch

from fp8gemm.bench.timing import LAUNCH_ROUNDS, host_us_per_call, torch_launch_us
from fp8gemm.jit import native
from fp8gemm.jit.compiler import chosen_compiler, compile_cubin
from fp8gemm.jit.launcher import LoadedKernel

SIZES = (640, 896, 1920)
SOURCE = """
template <unsigned kBytes> struct Block { unsigned long long words[kBytes / 8]; };
extern "C" __global__ void empty_SIZE(const __grid_constant__ Block<SIZE> p) {
    if (p.words[0] == 1234567u && threadIdx.x == 1000u) asm volatile("trap;");
}
"""


def main() -> None:
    torch.cuda.init()
    if not native.install():
        raise SystemExit("the C launch did not install")
    name = chosen_compiler()
    kernels = {}
    for size in SIZES:
        result = compile_cubin(SOURCE.replace("SIZE", str(size)), name)
        kernels[size] = LoadedKernel(result.cubin, f"empty_{size}", smem_bytes=0, num_threads=32)
    params = {size: bytes(size) for size in SIZES}
    best = dict.fromkeys(SIZES, float("inf"))
    for _ in range(LAUNCH_ROUNDS):
        for size in SIZES:
            best[size] = min(best[size], host_us_per_call(lambda s=size: kernels[s].launch(0, 1, params[s]), rounds=1))
    for size in SIZES:
        print(f"{size:5d} B parameter block: {best[size]:.2f} us per launch")
    print(f"torch's own launch: {torch_launch_us():.2f} us")


if __name__ == "__main__":
    main()
