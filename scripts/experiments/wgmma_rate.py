"""Tensor-core rate of the math warpgroups' K-block loop, by tile width and promotion scheme, in isolation.

Every SM runs one CTA of two math warpgroups (a 128 x N tile) on operands already in shared memory: no loads,
no producer, no epilogue. Per K block a warpgroup issues four m64nNk32 FP8 wgmmas, waits for them and
promotes its products into the accumulators (acc += s * prod, all of which the kernel writes out), by mode:
  free     the two warpgroups run unsynchronised
  turns    the warpgroups take turns to issue (the kernel's one-product-set path)
A mode without the promotion was tried and dropped: it reported 3x the datasheet peak, so the products that
nothing read were not all computed.
Reported as FP8 FLOP per SM clock cycle (clock64 in the kernel, so the power cap's clock does not enter) and
as a fraction of the datasheet's 8192 (1979 TFLOPS over 132 SMs at 1830 MHz).

Question it answers (run 11): is block_n = 160 slow per FLOP (run 6: 0.79x of block_n = 128 on 4096x4096x7168)
because of the tensor cores or because of the promotion scheme its registers force?

Usage: PYTHONPATH=. python scripts/experiments/wgmma_rate.py
"""

from __future__ import annotations

import ctypes
import struct

import torch

from fp8gemm.jit.compiler import chosen_compiler, compile_cubin
from fp8gemm.jit.launcher import LoadedKernel

MODES = {"free": 1, "turns": 2}
PEAK_FLOP_PER_CYCLE = 8192
ITERS = 4096
THREADS = 256

KERNEL = r"""
#include "common/wgmma.cuh"

namespace fp8gemm {

struct RateParams {
    u32 iters;
    u32 unused;
    float* out;
    u64* cycles;
};

template <u32 N, u32 kMode>
__device__ __forceinline__ void rate_body(const RateParams& p) {
    extern __shared__ u8 smem_raw[];
    u8* base = smem_raw + ((1024u - (smem_u32(smem_raw) & 1023u)) & 1023u);
    constexpr u32 kBytesA = 2 * 64 * 128;
    constexpr u32 kBytesB = N * 128;
    // Finite e4m3 values (exponent field below 8), different in every byte: never time on zeros.
    for (u32 i = threadIdx.x; i < (kBytesA + kBytesB) / 4; i += blockDim.x) {
        u32 h = (i + 977u * blockIdx.x) * 2654435761u;
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        reinterpret_cast<u32*>(base)[i] = h & 0xbfbfbfbfu & ~0x40404040u;
    }
    fence_proxy_async_shared();
    __syncthreads();
    const u32 warpgroup = warp_uniform(threadIdx.x / 128);
    const u32 desc_a = sw128_desc_start(smem_u32(base) + warpgroup * 64 * 128);
    const u32 desc_b = sw128_desc_start(smem_u32(base) + kBytesA);
    constexpr u32 kRegs = N / 2;
    float acc[kRegs];
    float prod0[kRegs];
    // The products are defined before the first wgmma too: ptxas takes the products of an MMA whose
    // accumulator input is undefined as undefined, and may then drop the MMAs and the promotion (NVRTC 13.5
    // compiled both modes to 14 registers and a constant NaN while prod0 was left undefined here).
#pragma unroll
    for (u32 i = 0; i < kRegs; ++i) acc[i] = prod0[i] = 0.0f;
    const float scale = 1.0f + threadIdx.x * 1e-3f;
    auto issue = [&](float* prod) {
        fence_registers<kRegs>(prod);
        wgmma_fence();
#pragma unroll
        for (u32 kk = 0; kk < 4; ++kk) {
            WgmmaFp8<N>::mma(sw128_desc(desc_a + kk * kWgmmaKDescStep), sw128_desc(desc_b + kk * kWgmmaKDescStep),
                             prod, kk > 0);
        }
        wgmma_commit();
    };
    auto promote = [&](float* prod, u32 it) {
        fence_registers<kRegs>(prod);
        const float s = scale * static_cast<float>((it & 7u) + 1u);
#pragma unroll
        for (u32 i = 0; i < kRegs; ++i) acc[i] += s * prod[i];
    };
    if (kMode == 2 && warpgroup == 1) named_barrier_arrive(3, 256);
    const u64 start = clock64();
    for (u32 it = 0; it < p.iters; ++it) {
        if constexpr (kMode == 2) named_barrier_sync(3 + warpgroup, 256);
        issue(prod0);
        if constexpr (kMode == 2) named_barrier_arrive(3 + (warpgroup ^ 1u), 256);
        wgmma_wait<0>();
        promote(prod0, it);
    }
    if (kMode == 2 && warpgroup == 0) named_barrier_sync(3, 256);
    const u64 cycles = clock64() - start;
    float sum = 0.0f;
#pragma unroll
    for (u32 i = 0; i < kRegs; ++i) sum += acc[i] + prod0[i];
    p.out[blockIdx.x * blockDim.x + threadIdx.x] = sum;
    if (threadIdx.x % 128 == 0) p.cycles[blockIdx.x * 2 + warpgroup] = cycles;
}

}  // namespace fp8gemm
"""


def entry(n: int, mode: int) -> str:
    return f"rate_n{n}_m{mode}"


def source(cases: list[tuple[int, int]]) -> str:
    lines = [KERNEL]
    for n, mode in cases:
        lines.append(
            f'extern "C" __global__ void __launch_bounds__({THREADS}, 1) {entry(n, mode)}'
            f"(const __grid_constant__ fp8gemm::RateParams p) {{ fp8gemm::rate_body<{n}, {mode}>(p); }}"
        )
    return "\n".join(lines)


def cases() -> list[tuple[int, int]]:
    return [(n, mode) for n in (128, 144, 160, 176, 192) for mode in MODES.values()]


def main() -> None:
    all_cases = cases()
    result = compile_cubin(source(all_cases), chosen_compiler())
    for line in result.log.splitlines():
        if "registers" in line or "spill" in line or "Compiling entry" in line:
            print(line.strip())
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    out = torch.empty(sms * THREADS, device="cuda")
    cycles = torch.zeros(sms * 2, dtype=torch.int64, device="cuda")
    print(f"{'N':>4s} {'mode':8s} {'FLOP/cycle/SM':>14s} {'of peak':>8s} {'TFLOPS (events)':>16s}")
    for n, mode in all_cases:
        smem = 1024 + (2 * 64 + n) * 128
        kernel = LoadedKernel(result.cubin, entry(n, mode), smem, THREADS)
        params = ctypes.create_string_buffer(24)
        struct.pack_into("<IIQQ", params, 0, ITERS, 0, out.data_ptr(), cycles.data_ptr())
        for _ in range(3):  # warm-up, then the timed launch
            kernel.launch(0, sms, params)
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        kernel.launch(0, sms, params)
        stop.record()
        torch.cuda.synchronize()
        flop_per_sm = 2 * (2 * 64 * n * 128) * ITERS
        per_cycle = flop_per_sm / cycles.double().view(sms, 2).max(dim=1).values.mean().item()
        tflops = flop_per_sm * sms / (start.elapsed_time(stop) * 1e-3) / 1e12
        name = next(k for k, v in MODES.items() if v == mode)
        print(
            f"{n:4d} {name:8s} {per_cycle:14.0f} {per_cycle / PEAK_FLOP_PER_CYCLE:8.2f} {tflops:16.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
