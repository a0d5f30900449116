// Split-K epilogue of the dense GEMM: D = sum of the FP32 partials of every K range (BF16 out), or
// D = C + that sum (FP32 out). The ranges are added in index order, so the result is the same bits whichever
// CTA of the GEMM finished first.
#pragma once

#include "common/ptx.cuh"

namespace fp8gemm {

// The host mirrors this layout (fp8gemm/jit/launcher.py); `workspace` first so its offset is 0.
struct SplitKReduceParams {
    const float* workspace;  // [num_splits][M][N], written by Fp8Gemm's split-K epilogue
    void* d;
    const float* c;  // FP32 output only: C [M, ldc], may alias D
    u32 shape_m;
    u32 shape_n;
    u32 num_splits;
    u32 ldd;  // elements
    u32 ldc;  // elements
};
static_assert(sizeof(SplitKReduceParams) == 48, "host mirrors this layout");

template <bool kOutputF32>
struct SplitKReduce {
    static constexpr u32 kNumThreads = 256;
    // Four columns a thread: one 16-byte load per partial, one 8-byte BF16 store (D rows are only
    // guaranteed 8-byte aligned; N % 8 == 0 keeps every group inside a row).
    static constexpr u32 kCols = 4;

    __device__ static void run(const SplitKReduceParams& p) {
        const u32 groups_per_row = p.shape_n / kCols;
        const u64 total = static_cast<u64>(p.shape_m) * groups_per_row;
        const u64 split_stride = static_cast<u64>(p.shape_m) * p.shape_n;
        for (u64 i = static_cast<u64>(blockIdx.x) * kNumThreads + threadIdx.x; i < total;
             i += static_cast<u64>(gridDim.x) * kNumThreads) {
            const u32 row = static_cast<u32>(i / groups_per_row);
            const u32 col = static_cast<u32>(i % groups_per_row) * kCols;
            const float* partial = p.workspace + static_cast<u64>(row) * p.shape_n + col;
            float4 sum = load_global_f32x4(partial);
            for (u32 s = 1; s < p.num_splits; ++s) {
                const float4 v = load_global_f32x4(partial + s * split_stride);
                sum.x += v.x;
                sum.y += v.y;
                sum.z += v.z;
                sum.w += v.w;
            }
            if constexpr (kOutputF32) {
                const float* c = p.c + static_cast<u64>(row) * p.ldc + col;
                float* d = static_cast<float*>(p.d) + static_cast<u64>(row) * p.ldd + col;
                const float2 c01 = load_global_f32x2(c);
                const float2 c23 = load_global_f32x2(c + 2);
                store_global_f32x2(d, c01.x + sum.x, c01.y + sum.y);
                store_global_f32x2(d + 2, c23.x + sum.z, c23.y + sum.w);
            } else {
                u16* d = static_cast<u16*>(p.d) + static_cast<u64>(row) * p.ldd + col;
                store_global_u32x2(d, pack_bf16x2(sum.x, sum.y), pack_bf16x2(sum.z, sum.w));
            }
        }
    }
};

}  // namespace fp8gemm
