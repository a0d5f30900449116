"""Tensor-core rate of the math warpgroups' K-block loop, by tile width and promotion scheme, in isolation.

Every SM runs one CTA of two math warpgroups (a 128 x (parts x N) tile) on operands already in shared memory:
no loads, no producer, no epilogue. Per K block a warpgroup issues, for each of its parts (N columns each),
four m64nNk32 FP8 wgmmas, waits for them and promotes its products into the accumulators (acc += s * prod,
all of which the kernel writes out), by mode:
  free     the two warpgroups run unsynchronised
  turns    the warpgroups take turns to issue (the kernel's one-product-set path; with 2 parts of 128, the
           128 x 256 tile's)
  sets     two product sets: each part's wgmmas run while the part before is promoted (wait until one group
           is left in flight), warpgroups unsynchronised (the 128 x 128 tile's path; with 4 parts of 64, a
           candidate for the 128 x 256 tile)
A mode without the promotion was tried and dropped: it reported 3x the datasheet peak, so the products that
nothing read were not all computed.
Reported as FP8 FLOP per SM clock cycle (clock64 in the kernel, so the power cap's clock does not enter) and
as a fraction of the datasheet's 8192 (1979 TFLOPS over 132 SMs at 1830 MHz).

Questions it answers. Run 11: is block_n = 160 slow per FLOP (run 6: 0.79x of block_n = 128 on 4096x4096x7168)
because of the tensor cores or because of the promotion scheme its registers force? Run 29: does the 128 x 256
tile's math path lose to 128 x 128's (run 28: 165.6 against 154.2 us with no loads) by its scheme, and would
four 64-wide parts through two product sets (registers: 128 + 2 x 32) keep the tensor cores busier, or does
a 64-wide wgmma, which reads as many A bytes as B bytes from shared memory, cost more per FLOP?

Usage: PYTHONPATH=. python scripts/experiments/wgmma_rate.py
"""

from __future__ import annotations

import struct

import torch

from fp8gemm.jit.compiler import chosen_compiler, compile_cubin
from fp8gemm.jit.launcher import LoadedKernel

MODES = {"free": 1, "turns": 2, "sets": 3}
PEAK_FLOP_PER_CYCLE = 8192
ITERS = 4096
THREADS = 256

# Shared with smem_contention.py: the operands' bytes, written by the whole CTA.
FILL_OPERANDS = r"""
// Finite e4m3 values (exponent field below 8), different in every byte: never time on zeros.
__device__ __forceinline__ void fill_operands(u8* base, u32 bytes) {
    for (u32 i = threadIdx.x; i < bytes / 4; i += blockDim.x) {
        u32 h = (i + 977u * blockIdx.x) * 2654435761u;
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        reinterpret_cast<u32*>(base)[i] = h & 0xbfbfbfbfu & ~0x40404040u;
    }
}
"""

KERNEL = (
    r"""
#include "common/dispatch.cuh"
#include "common/wgmma.cuh"

namespace fp8gemm {
"""
    + FILL_OPERANDS
    + r"""

struct RateParams {
    u32 iters;
    u32 unused;
    float* out;
    u64* cycles;
};

template <u32 N, u32 kParts, u32 kMode>
__device__ __forceinline__ void rate_body(const RateParams& p) {
    extern __shared__ u8 smem_raw[];
    u8* base = smem_raw + ((1024u - (smem_u32(smem_raw) & 1023u)) & 1023u);
    constexpr u32 kBytesA = 2 * 64 * 128;
    constexpr u32 kBytesB = kParts * N * 128;
    fill_operands(base, kBytesA + kBytesB);
    fence_proxy_async_shared();
    __syncthreads();
    const u32 warpgroup = warp_uniform(threadIdx.x / 128);
    const u32 desc_a = sw128_desc_start(smem_u32(base) + warpgroup * 64 * 128);
    const u32 desc_b = sw128_desc_start(smem_u32(base) + kBytesA);
    constexpr u32 kRegs = N / 2;
    float acc[kParts * kRegs];
    float prod0[kRegs];
    float prod1[kMode == 3 ? kRegs : 1];
    // The products are defined before the first wgmma too: ptxas takes the products of an MMA whose
    // accumulator input is undefined as undefined, and may then drop the MMAs and the promotion (NVRTC 13.5
    // compiled both modes to 14 registers and a constant NaN while prod0 was left undefined here).
#pragma unroll
    for (u32 i = 0; i < kParts * kRegs; ++i) acc[i] = 0.0f;
#pragma unroll
    for (u32 i = 0; i < kRegs; ++i) prod0[i] = 0.0f;
#pragma unroll
    for (u32 i = 0; i < (kMode == 3 ? kRegs : 1); ++i) prod1[i] = 0.0f;
    const float scale = 1.0f + threadIdx.x * 1e-3f;
    auto issue = [&](float* prod, u32 part) {
        fence_registers<kRegs>(prod);
        wgmma_fence();
#pragma unroll
        for (u32 kk = 0; kk < 4; ++kk) {
            WgmmaFp8<N>::mma(sw128_desc(desc_a + kk * kWgmmaKDescStep),
                             sw128_desc(desc_b + part * (N * 128 >> 4) + kk * kWgmmaKDescStep), prod, kk > 0);
        }
        wgmma_commit();
    };
    auto promote = [&](float* prod, u32 part, u32 it) {
        fence_registers<kRegs>(prod);
        const float s = scale * static_cast<float>((it & 7u) + 1u);
#pragma unroll
        for (u32 i = 0; i < kRegs; ++i) acc[part * kRegs + i] += s * prod[i];
    };
    if (kMode == 2 && warpgroup == 1) named_barrier_arrive(3, 256);
    const u64 start = clock64();
    if constexpr (kMode == 3) {
        // Units of (K block, part) alternate between the two sets; a pass covers an even number of units
        // so that each unit's set and part are known at compile time.
        constexpr u32 kUnits = kParts == 1 ? 2 : kParts;
        static_assert(kUnits % 2 == 0, "two sets take an even number of units a pass");
        auto pass = [&](u32 it, auto last) {
#pragma unroll
            for (u32 j = 0; j < kUnits; ++j) {
                if (decltype(last)::value && j + 1 == kUnits) {
                    wgmma_wait<0>();
                } else {
                    issue(j % 2 ? prod0 : prod1, (j + 1) % kParts);
                    wgmma_wait<1>();
                }
                promote(j % 2 ? prod1 : prod0, j % kParts, it);
            }
        };
        // Two passes a trip and the tail as two arms (the kernel's loop shape): with one pass a trip and the
        // last peeled, ptxas serialises every wgmma (C7514).
        const u32 passes = p.iters * kParts / kUnits;
        issue(prod0, 0);
        u32 it = 0;
        for (; it + 2 < passes; it += 2) {
            pass(it, Const<false>{});
            pass(it + 1, Const<false>{});
        }
        if (it + 1 < passes) {
            pass(it, Const<false>{});
            pass(it + 1, Const<true>{});
        } else {
            pass(it, Const<true>{});
        }
    } else {
        for (u32 it = 0; it < p.iters; ++it) {
#pragma unroll
            for (u32 part = 0; part < kParts; ++part) {
                if constexpr (kMode == 2) named_barrier_sync(3 + warpgroup, 256);
                issue(prod0, part);
                if constexpr (kMode == 2) named_barrier_arrive(3 + (warpgroup ^ 1u), 256);
                wgmma_wait<0>();
                promote(prod0, part, it);
            }
        }
    }
    if (kMode == 2 && warpgroup == 0) named_barrier_sync(3, 256);
    const u64 cycles = clock64() - start;
    float sum = 0.0f;
#pragma unroll
    for (u32 i = 0; i < kParts * kRegs; ++i) sum += acc[i];
#pragma unroll
    for (u32 i = 0; i < kRegs; ++i) sum += prod0[i];
    p.out[blockIdx.x * blockDim.x + threadIdx.x] = sum;
    if (threadIdx.x % 128 == 0) p.cycles[blockIdx.x * 2 + warpgroup] = cycles;
}

}  // namespace fp8gemm
"""
)


def entry(n: int, parts: int, mode: int) -> str:
    return f"rate_n{n}_p{parts}_m{mode}"


def source(cases: list[tuple[int, int, int]]) -> str:
    lines = [KERNEL]
    for n, parts, mode in cases:
        lines.append(
            f'extern "C" __global__ void __launch_bounds__({THREADS}, 1) {entry(n, parts, mode)}'
            f"(const __grid_constant__ fp8gemm::RateParams p) {{ fp8gemm::rate_body<{n}, {parts}, {mode}>(p); }}"
        )
    return "\n".join(lines)


def cases() -> list[tuple[int, int, int]]:
    """(part width, parts, mode): one-part tiles of 64 to 192 columns, and the 256-wide tile's two schemes."""
    # Two 192-wide product sets and acc (288 registers) do not fit a thread's 255.
    one_part = [
        (n, 1, mode)
        for n in (64, 128, 192)
        for mode in MODES.values()
        if mode != MODES["sets"] or n * 3 // 2 < 255
    ]
    return one_part + [(128, 2, MODES["turns"]), (64, 4, MODES["sets"]), (64, 4, MODES["turns"])]


def main() -> None:
    all_cases = cases()
    result = compile_cubin(source(all_cases), chosen_compiler())
    for line in result.log.splitlines():
        if "registers" in line or "spill" in line or "Compiling entry" in line or "Performance Loss" in line:
            print(line.strip())
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    out = torch.empty(sms * THREADS, device="cuda")
    cycles = torch.zeros(sms * 2, dtype=torch.int64, device="cuda")
    print(
        f"{'N':>4s} {'parts':>5s} {'mode':8s} {'FLOP/cycle/SM':>14s} {'of peak':>8s} {'TFLOPS (events)':>16s}"
    )
    # Every entry is named by its "Compiling entry" line; only a Performance Loss line marks one serialised.
    warned = "\n".join(line for line in result.log.splitlines() if "Performance Loss" in line)
    for n, parts, mode in all_cases:
        if f"'{entry(n, parts, mode)}'" in warned:  # not the scheme as written
            print(
                f"{n:4d} {parts:5d} {next(k for k, v in MODES.items() if v == mode):8s} not timed: ptxas warned"
            )
            continue
        smem = 1024 + (2 * 64 + parts * n) * 128
        kernel = LoadedKernel(result.cubin, entry(n, parts, mode), smem, THREADS)
        params = struct.pack("<IIQQ", ITERS, 0, out.data_ptr(), cycles.data_ptr())
        for _ in range(3):  # warm-up, then the timed launch
            kernel.launch(0, sms, params)
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        kernel.launch(0, sms, params)
        stop.record()
        torch.cuda.synchronize()
        flop_per_sm = 2 * (2 * 64 * parts * n * 128) * ITERS
        per_cycle = flop_per_sm / cycles.double().view(sms, 2).max(dim=1).values.mean().item()
        tflops = flop_per_sm * sms / (start.elapsed_time(stop) * 1e-3) / 1e12
        name = next(k for k, v in MODES.items() if v == mode)
        print(
            f"{n:4d} {parts:5d} {name:8s} {per_cycle:14.0f} {per_cycle / PEAK_FLOP_PER_CYCLE:8.2f} {tflops:16.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
