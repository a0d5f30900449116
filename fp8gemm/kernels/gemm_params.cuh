// The GEMM's constants and parameter block that the host side mirrors: fp8gemm/config.py sizes shared memory
// and threads from the block sizes, fp8gemm/jit/launcher.py packs GemmParams byte for byte. Changing one
// here means changing its twin there.
#pragma once

#include "common/ptx.cuh"

namespace fp8gemm {

constexpr u32 kBlockK = 128;
constexpr u32 kScaleBlock = 128;  // B's scales cover 128 x 128; A's cover 1 x 128
constexpr u32 kWarpgroupThreads = 128;
constexpr u32 kWgmmaM = 64;

// Kernel parameters, passed by value as one __grid_constant__ struct. The host mirrors this layout byte for
// byte (fp8gemm/jit/launcher.py); the static_asserts below pin the offsets it relies on.
struct GemmParams {
    TmaDescriptor tma_a;    // A as 2-D [rows, K], box [BLOCK_K, BLOCK_M], 128-byte swizzle
    TmaDescriptor tma_b;    // B as 2-D [groups * N, K], box [BLOCK_K, BLOCK_N], 128-byte swizzle
    TmaDescriptor tma_sfa;  // A's scales as 2-D [scale rows, M_pad], box [BLOCK_M, 1]
    TmaDescriptor tma_d;    // BF16 D as 2-D [rows, N], box [64, 64], 128-byte swizzle (valid if tma_store)
    const float* sfb;
    void* d;
    const float* c;         // FP32 output only: C [rows, ldc], may alias D
    const i32* group_info;  // contiguous: m_indices [M_total]; masked: masked_m [groups]; else null
    float* workspace;       // FP32 partials: split-K [K ranges][M][N]; stream-K [cuts][tiles][block_m * block_n]
    i32* tile_counters;     // split/stream-K: [tiles][math warpgroups], zero between launches (the adding range resets)
    u32 shape_m;            // dense: M; contiguous: M_total; masked: M_max
    u32 shape_n;
    u32 shape_k;
    u32 num_groups;
    u32 ldd;  // elements
    u32 ldc;  // elements
    u32 num_splits;  // dense: K is cut into this many ranges of whole K blocks, each a work unit
    u32 tma_store;   // nonzero: whole BF16 tiles leave through tma_d (D 16-byte aligned, swizzled staging)
    u32 b_evict_first;  // nonzero: B's lines go first from L2 (each B tile is read by one CTA, once)
};
FP8GEMM_ASSERT_OFFSET(GemmParams, sfb, 512);
FP8GEMM_ASSERT_OFFSET(GemmParams, shape_m, 560);
FP8GEMM_ASSERT_OFFSET(GemmParams, b_evict_first, 592);
static_assert(sizeof(GemmParams) == 640, "host mirrors this layout");

}  // namespace fp8gemm
