// Masked problems with several tile widths in one kernel. The row counts, and with them the tile count,
// exist only on the GPU (a captured call replays with new counts), and a few rows more or less move a walk
// across a wave boundary: masked G = 2 and 4 with N = 4096 lost 16-27% to a third wave of 128 x 128 tiles
// that 128 x 144 tiles avoided, and G = 1 N = 4096 lost 5% to two waves of 128 x 128 that one wave of
// 128 x 256 tiles avoided (docs/performance.md, runs 8 and 10). Every CTA counts the m blocks from
// masked_m and runs the width whose waves, weighed by the time one of its tiles takes (its kCostPercent of
// the first width's, measured), take least; the first width wins ties. All CTAs read the same counts, so
// all make the same choice.
#pragma once

#include "fp8_gemm.cuh"

namespace fp8gemm {

// One width a masked kernel may run: its tile width, ring depth, and the time one of its tiles takes in
// percent of one tile of the kernel's first width.
template <u32 kBlockN_, u32 kNumStages_, u32 kCostPercent_>
struct TileWidth {
    static constexpr u32 kBlockN = kBlockN_;
    static constexpr u32 kNumStages = kNumStages_;
    static constexpr u32 kCostPercent = kCostPercent_;
};

// The widths differ only in B's descriptor (its box is BLOCK_N rows): one GemmParams for the first width, then
// B's descriptor for each other width, in the kernel's width order. Three widths take 896 bytes instead of 1920
// (empty kernels launched 0.35 µs faster with 896 than with 1920 on the lent H200; docs/performance.md, run 15).
template <u32 kNumWidths>
struct MaskedWidthParams {
    GemmParams first;
    TmaDescriptor other_tma_b[kNumWidths - 1];
};

template <u32 kFirst, u32... kRest>
__host__ __device__ constexpr u32 largest_of() {
    u32 largest = kFirst;
    ((largest = kRest > largest ? kRest : largest), ...);
    return largest;
}

template <class First, class... Rest>
struct FirstOf {
    using Type = First;
};

template <u32 kBlockM, class... Widths>
struct MaskedWidths {
    static constexpr u32 kNumWidths = sizeof...(Widths);
    using Params = MaskedWidthParams<kNumWidths>;
    template <class Width>
    using Kernel = Fp8Gemm<GemmType::GroupedMasked, kBlockM, Width::kBlockN, Width::kNumStages, false, 1>;

    static_assert(kNumWidths >= 2, "one width is a plain Fp8Gemm");
    static_assert(sizeof(Params) == sizeof(GemmParams) + (kNumWidths - 1) * sizeof(TmaDescriptor),
                  "host mirrors this layout");
    using First = Kernel<typename FirstOf<Widths...>::Type>;
    // Every width that stores through TMA uses the first width's D descriptor and tma_store flag, which the host
    // sets from the same alignment test: the first width must be one of them.
    static_assert(FirstOf<Widths...>::Type::kBlockN % 64 == 0, "the first width stores D through TMA");
    static constexpr u32 kNumThreads = First::kNumThreads;
    static_assert(((Kernel<Widths>::kNumThreads == kNumThreads) && ...), "one block shape for every width");
    static constexpr u32 kSmemBytes = largest_of<Kernel<Widths>::kSmemBytes...>();

    __device__ __forceinline__ static void run(const Params& p) { run_width<0, Widths...>(p, choose(p.first)); }

private:
    // Each warp sums the m blocks itself (the same loads, the same sum): no shared memory, no block barrier.
    __device__ static u32 choose(const GemmParams& p) {
        u32 m_blocks = 0;
        for (u32 g = threadIdx.x % 32; g < p.num_groups; g += 32) {
            m_blocks += ceil_div(clamped_masked_rows(p.group_info, g, p.shape_m), kBlockM);
        }
        m_blocks = warp_sum_u32(m_blocks);
        const u32 block_ns[] = {Widths::kBlockN...};
        const u32 costs[] = {Widths::kCostPercent...};
        u32 best = 0;
        u32 best_cost = ~0u;
#pragma unroll
        for (u32 i = 0; i < kNumWidths; ++i) {
            const u32 cost = ceil_div(m_blocks * ceil_div(p.shape_n, block_ns[i]), gridDim.x) * costs[i];
            if (cost < best_cost) {
                best = i;
                best_cost = cost;
            }
        }
        return best;
    }

    template <u32 kIndex>
    __device__ static const TmaDescriptor& tma_b(const Params& p) {
        if constexpr (kIndex == 0) {
            return p.first.tma_b;
        } else {
            return p.other_tma_b[kIndex - 1];
        }
    }

    // run and run_width are inlined: left a call (as NVRTC and NVCC left them with the 144 and 224 widths), the
    // call crosses the wgmma pipeline and ptxas serialises every wgmma of the kernel (C7510).
    template <u32 kIndex, class Width, class... Rest>
    __device__ __forceinline__ static void run_width(const Params& p, u32 chosen) {
        if constexpr (sizeof...(Rest) == 0) {
            Kernel<Width>::run(p.first, tma_b<kIndex>(p));
        } else if (chosen == kIndex) {
            Kernel<Width>::run(p.first, tma_b<kIndex>(p));
        } else {
            run_width<kIndex + 1, Rest...>(p, chosen);
        }
    }
};

}  // namespace fp8gemm
