// Warpgroup MMA plumbing (PTX ISA 9.7.15): shared-memory matrix descriptors, fences, commit and wait.
// The per-N FP8 instruction wrappers are generated into wgmma_fp8.cuh.
#pragma once

#include "ptx.cuh"
#include "wgmma_fp8.cuh"

namespace fp8gemm {

// Bytes of one K-major row of a tile: BLOCK_K = 128 FP8 values, exactly one 128-byte swizzle span.
constexpr u32 kSwizzleBytes = 128;
// Eight 128-byte rows form one swizzle atom; wgmma steps between 8-row core-matrix groups by this.
constexpr u32 kSwizzleAtomBytes = 8 * kSwizzleBytes;
// K covered by one FP8 wgmma instruction.
constexpr u32 kWgmmaK = 32;

// Descriptor of a K-major tile stored with the 128-byte swizzle (the layout TMA writes with
// CU_TENSOR_MAP_SWIZZLE_128B). Matrix-descriptor format, PTX ISA 9.7.15.5.1:
//   bits 0-13 start address >> 4, 16-29 leading byte offset >> 4 (unused for swizzled K-major),
//   32-45 stride byte offset >> 4 (distance between 8-row groups), 62-63 swizzle mode (1 = 128B).
// The tile base must be 1024-byte aligned so the hardware swizzle pattern matches TMA's.
// Only the start field varies between tiles, stages and K steps; it is kept as a 32-bit value so that
// stepping it is one add (a 64-bit add costs two plus a carry the field never produces: shared memory
// addresses stay below 2^18, so start < 2^14).
constexpr u32 kSw128DescHigh = (kSwizzleAtomBytes >> 4) | (1u << (62 - 32));

__device__ __forceinline__ u32 sw128_desc_start(u32 smem_tile) { return smem_tile >> 4; }

__device__ __forceinline__ u64 sw128_desc(u32 start) {
    return (static_cast<u64>(kSw128DescHigh) << 32) | start;
}

// Start-field step of one wgmma along K inside the 128-byte span (the swizzle is a function of absolute
// address bits, so the hardware applies it consistently when only the start moves).
constexpr u32 kWgmmaKDescStep = kWgmmaK >> 4;

// Orders earlier register/shared-memory accesses before the wgmma that follows (required whenever the
// accumulator registers were touched by ordinary instructions since the last wgmma).
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }

__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }

template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(kPending) : "memory");
}

// Pins a register between asynchronous MMA statements: the compiler may not move its reads or writes
// across this point, so nothing reads an accumulator before wgmma_wait says it is final.
__device__ __forceinline__ void fence_register(float& reg) { asm volatile("" : "+f"(reg)::"memory"); }

template <int kCount>
__device__ __forceinline__ void fence_registers(float* regs) {
#pragma unroll
    for (int i = 0; i < kCount; ++i) fence_register(regs[i]);
}

}  // namespace fp8gemm
