// FP8 e4m3 casts with the scaling recipe the GEMMs consume, bit for bit what the torch reference in
// fp8gemm/api/quant.py computes:
//
//   per token  x [rows, K]     -> q [rows, K], s: one FP32 scale per row per 128 columns
//   per block  w [G, N, K]     -> q [G, N, K], s [G, ceil(N/128), ceil(K/128)], one scale per 128x128 block
//
//   amax = max |x| over the block (NaN if the block holds one), s = max(amax, 1e-4) / 448,
//   with UE8M0 s rounded up to a power of two, q = e4m3(x / s).
//
// Both are memory bound (2 bytes in, 1 out per element): every thread moves 8 consecutive elements of one
// 128-column block (one 16-byte load of BF16/FP16, two of FP32), 16 lanes cover a block row, and each
// thread issues all its loads before using any, so a CTA keeps 16-32 KB in flight.
//
// Requirements checked by the host: K % 16 == 0 (so the 8-element groups never straddle K, and each
// thread's 8 output bytes are 8-byte aligned), input and outputs contiguous and 16-byte aligned.
#pragma once

#include "common/ptx.cuh"

namespace fp8gemm {

// Values match CAST_INPUTS in fp8gemm/jit/quant_build.py.
enum class CastInput : u32 { BF16 = 0, F16 = 1, F32 = 2 };

constexpr u32 kCastBlock = 128;                      // scale granularity along K (and N for weights)
constexpr u32 kCastVec = 8;                          // elements per thread per block row
constexpr u32 kCastLanes = kCastBlock / kCastVec;    // 16 lanes share one block row's amax
constexpr float kE4m3Max = 448.0f;                   // largest finite e4m3fn magnitude
constexpr float kAmaxFloor = 1e-4f;                  // AMAX_FLOOR in fp8gemm/api/quant.py
constexpr u32 kF32AbsMask = 0x7fffffffu;
constexpr u32 kF32ExpOne = 0x7fffffu;                // all mantissa bits
constexpr u32 kF32Inf = 0x7f800000u;

// The host mirrors these layouts (fp8gemm/jit/quant_build.py); the static_asserts pin them.
struct PerTokenCastParams {
    const void* x;  // [rows, k]
    u8* q;          // [rows, k] e4m3
    float* s;       // row layout: [rows, k_blocks]; gemm layout: [rows / m][k_blocks][m_pad]
    u32 rows;       // groups * m
    u32 k;
    u32 m;          // rows per group (gemm layout)
    u32 m_pad;      // gemm layout: distance between scale columns (TMA-aligned m)
};
static_assert(sizeof(PerTokenCastParams) == 40, "host mirrors this layout");
FP8GEMM_ASSERT_OFFSET(PerTokenCastParams, rows, 24);

struct PerBlockCastParams {
    const void* w;  // [groups, n, k]
    u8* q;          // [groups, n, k] e4m3
    float* s;       // [groups, ceil(n/128), ceil(k/128)]
    u32 n;
    u32 k;
};
static_assert(sizeof(PerBlockCastParams) == 32, "host mirrors this layout");
FP8GEMM_ASSERT_OFFSET(PerBlockCastParams, n, 24);

// Read-only path, not kept in L1: every input byte is read exactly once.
__device__ __forceinline__ void load_global_nc_v4(const void* ptr, u32& a, u32& b, u32& c, u32& d) {
    asm volatile("ld.global.nc.L1::no_allocate.v4.b32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(a), "=r"(b), "=r"(c), "=r"(d)
                 : "l"(ptr));
}

__device__ __forceinline__ u32 umax(u32 a, u32 b) { return a > b ? a : b; }

// Four floats -> four e4m3 bytes, `a` at the lowest address (cvt puts its first source in the upper byte).
// .satfinite (mandatory for e4m3 destinations, PTX ISA 9.7.9.21) rounds to nearest even, sends NaN to NaN
// and clamps finite overflow and Inf to +-448: what torch's .to(torch.float8_e4m3fn) does since it
// saturates (older torch returned NaN there). The casts below never meet the difference: |x / s| stays
// within 448 (1 + 2^-22) < 464, the first value that would round past 448, and x / s is never Inf.
__device__ __forceinline__ u32 pack_e4m3x4(float a, float b, float c, float d) {
    u32 out;
    asm("{\n\t.reg .b16 lo, hi;\n\t"
        "cvt.rn.satfinite.e4m3x2.f32 lo, %2, %1;\n\t"
        "cvt.rn.satfinite.e4m3x2.f32 hi, %4, %3;\n\t"
        "mov.b32 %0, {lo, hi};\n\t}"
        : "=r"(out)
        : "f"(a), "f"(b), "f"(c), "f"(d));
    return out;
}

__device__ __forceinline__ void f16x2_to_f32(u32 packed, float& lo, float& hi) {
    asm("{\n\t.reg .b16 l, h;\n\t"
        "mov.b32 {l, h}, %2;\n\t"
        "cvt.f32.f16 %0, l;\n\t"
        "cvt.f32.f16 %1, h;\n\t}"
        : "=f"(lo), "=f"(hi)
        : "r"(packed));
}

// Eight consecutive input elements, kept packed between the load and the conversion.
template <CastInput kIn>
struct CastVec {
    static constexpr u32 kElemBytes = kIn == CastInput::F32 ? 4 : 2;
    static constexpr u32 kWords = kCastVec * kElemBytes / 4;
    u32 w[kWords];

    __device__ __forceinline__ void load(const u8* ptr) {
#pragma unroll
        for (u32 i = 0; i < kWords; i += 4) {
            load_global_nc_v4(ptr + i * 4, w[i], w[i + 1], w[i + 2], w[i + 3]);
        }
    }

    __device__ __forceinline__ void zero() {
#pragma unroll
        for (u32 i = 0; i < kWords; ++i) w[i] = 0;
    }

    // Exact widening (BF16 is FP32's upper half; FP16 converts exactly), so NaN and Inf survive.
    __device__ __forceinline__ void to_float(float (&f)[kCastVec]) const {
#pragma unroll
        for (u32 i = 0; i < kWords; ++i) {
            if constexpr (kIn == CastInput::F32) {
                f[i] = __uint_as_float(w[i]);
            } else if constexpr (kIn == CastInput::BF16) {
                f[2 * i] = __uint_as_float(w[i] << 16);
                f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
            } else {
                f16x2_to_f32(w[i], f[2 * i], f[2 * i + 1]);
            }
        }
    }
};

// |f| as FP32 bits: for non-negative floats the unsigned order is the numeric order, and NaN's bits lie
// above Inf's, so an integer max is an amax that propagates NaN like torch's amax (fmaxf would drop it).
template <u32 kN>
__device__ __forceinline__ u32 abs_max_bits(const float (&f)[kN]) {
    u32 m = 0;
#pragma unroll
    for (u32 i = 0; i < kN; ++i) m = umax(m, __float_as_uint(f[i]) & kF32AbsMask);
    return m;
}

// s = max(amax, floor) / 448, then for UE8M0 the next power of two up. The floor compares bits so a NaN
// amax stays NaN (torch.clamp keeps NaN). Rounding up is exact bit arithmetic: adding all-ones to the
// mantissa carries into the exponent unless the mantissa is already zero; Inf stays Inf; NaN is kept.
template <bool kUe8m0>
__device__ __forceinline__ float scale_from_amax_bits(u32 amax_bits) {
    const u32 floor_bits = __float_as_uint(kAmaxFloor);
    const float amax = __uint_as_float(amax_bits < floor_bits ? floor_bits : amax_bits);
    // __fdiv_rn: IEEE division whatever the compile flags, as torch divides.
    const float s = __fdiv_rn(amax, kE4m3Max);
    if constexpr (kUe8m0) {
        const u32 bits = __float_as_uint(s);
        return (bits & kF32AbsMask) > kF32Inf ? s : __uint_as_float((bits + kF32ExpOne) & ~kF32ExpOne);
    } else {
        return s;
    }
}

// f / s rounded to nearest, as IEEE division (and torch) gives it, from y = RN(1/s) computed once per block:
// q0 = RN(f y) is within 1.5 ulp of f / s; one FMA correction brings it within 1 ulp, and then Markstein's
// theorem (y within half an ulp of 1/s, q within 1 ulp of f/s, FMA residual exact) makes the second
// correction the correctly rounded quotient. Five FMA-pipe instructions instead of div.rn's range check,
// branch and uncached reciprocal per element. The theorem needs no underflow: s >= 1e-4 / 448 > 2^-23, so
// f and the residuals (~ q s 2^-23) stay normal for every quotient q above 2^-80; smaller ones are e4m3 zero
// (below 2^-10) whether or not their FP32 value is exact. The last step restores f's sign bit, which only matters for
// f = -0: there q0 = -0, the residual is +0, and +0 + -0 rounds to +0 where -0 / s is -0 (e4m3 0x80). Any
// other quotient already carries f's sign (s > 0).
__device__ __forceinline__ float div_by_scale(float f, float s, float y) {
    const float q0 = f * y;
    const float q1 = __fmaf_rn(__fmaf_rn(-s, q0, f), y, q0);
    const float q = __fmaf_rn(__fmaf_rn(-s, q1, f), y, q1);
    return __uint_as_float(__float_as_uint(q) | (__float_as_uint(f) & ~kF32AbsMask));
}

// q = e4m3(f / s) for 8 values, packed into two words (byte i = value i). Where the correction above does
// not apply, f * (1/s) is f / s exactly: a power-of-two s (UE8M0) has an exact reciprocal and the product
// is rounded once, like the quotient; s = Inf gives 1/s = 0, so f * 0 is the +-0 (or NaN for f = Inf) that
// f / Inf is; s = NaN gives NaN either way.
template <bool kUe8m0>
__device__ __forceinline__ void quantize8(const float (&f)[kCastVec], float s, u32& lo, u32& hi) {
    const float y = __frcp_rn(s);
    float q[kCastVec];
    if (kUe8m0 || (__float_as_uint(s) & kF32AbsMask) >= kF32Inf) {
#pragma unroll
        for (u32 i = 0; i < kCastVec; ++i) q[i] = f[i] * y;
    } else {
#pragma unroll
        for (u32 i = 0; i < kCastVec; ++i) q[i] = div_by_scale(f[i], s, y);
    }
    lo = pack_e4m3x4(q[0], q[1], q[2], q[3]);
    hi = pack_e4m3x4(q[4], q[5], q[6], q[7]);
}

// Per-token cast. A CTA covers kRowsPerCta rows x kBlocksPerThread column blocks: half-warp r handles row
// r, each lane 8 columns of every block, and a block's amax is reduced across its 16 lanes with shuffles.
// The grid is 1-D: CTA i takes row group i / kb_groups and column-block group i % kb_groups.
template <CastInput kIn, bool kUe8m0, bool kGemmLayout>
struct PerTokenCast {
    static constexpr u32 kNumThreads = 256;
    static constexpr u32 kRowsPerCta = kNumThreads / kCastLanes;
    // 64 bytes of input in flight per thread.
    static constexpr u32 kBlocksPerThread = kIn == CastInput::F32 ? 2 : 4;
    using Vec = CastVec<kIn>;

    __device__ static void run(const PerTokenCastParams& p) {
        const u32 k_blocks = ceil_div(p.k, kCastBlock);
        const u32 kb_groups = ceil_div(k_blocks, kBlocksPerThread);
        const u32 lane = threadIdx.x % kCastLanes;
        const u32 row = blockIdx.x / kb_groups * kRowsPerCta + threadIdx.x / kCastLanes;
        const u32 first_kb = blockIdx.x % kb_groups * kBlocksPerThread;
        const bool row_ok = row < p.rows;
        const u64 row_offset = static_cast<u64>(row) * p.k;
        const u8* x = static_cast<const u8*>(p.x) + row_offset * Vec::kElemBytes;

        Vec v[kBlocksPerThread];
#pragma unroll
        for (u32 i = 0; i < kBlocksPerThread; ++i) {
            const u32 col = (first_kb + i) * kCastBlock + lane * kCastVec;
            // Columns past K read as zero, as the reference pads with zeros before its amax.
            if (row_ok && col < p.k) {
                v[i].load(x + static_cast<u64>(col) * Vec::kElemBytes);
            } else {
                v[i].zero();
            }
        }

        float* s_row;
        u32 s_stride;
        if constexpr (kGemmLayout) {
            // MN-major per group: scale (g, m, kb) at g * k_blocks * m_pad + kb * m_pad + m.
            const u32 group = row / p.m;
            s_row = p.s + static_cast<u64>(group) * k_blocks * p.m_pad + (row - group * p.m);
            s_stride = p.m_pad;
        } else {
            s_row = p.s + static_cast<u64>(row) * k_blocks;
            s_stride = 1;
        }

#pragma unroll
        for (u32 i = 0; i < kBlocksPerThread; ++i) {
            const u32 kb = first_kb + i;
            const u32 col = kb * kCastBlock + lane * kCastVec;
            float f[kCastVec];
            v[i].to_float(f);
            u32 amax = abs_max_bits(f);
            // Every lane of the warp takes part (inactive ones with zeros), so the full mask is valid.
#pragma unroll
            for (u32 offset = kCastLanes / 2; offset > 0; offset /= 2) {
                amax = umax(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
            }
            const float s = scale_from_amax_bits<kUe8m0>(amax);
            if (row_ok && col < p.k) {
                u32 lo, hi;
                quantize8<kUe8m0>(f, s, lo, hi);
                store_global_u32x2(p.q + row_offset + col, lo, hi);
                if (lane == 0) s_row[static_cast<u64>(kb) * s_stride] = s;
            }
        }
    }
};

// Per-block cast: one CTA per 128x128 block. Thread t owns 8 columns (lane t % 16) of rows t / 16 + 16 j,
// j < 8, held in registers between the block-wide amax and the quantization, so the block is read once.
template <CastInput kIn, bool kUe8m0>
struct PerBlockCast {
    static constexpr u32 kNumThreads = 256;
    static constexpr u32 kNumWarps = kNumThreads / 32;
    static constexpr u32 kRowStep = kNumThreads / kCastLanes;
    static constexpr u32 kRowsPerThread = kCastBlock / kRowStep;
    using Vec = CastVec<kIn>;

    __device__ static void run(const PerBlockCastParams& p) {
        __shared__ u32 warp_amax[kNumWarps];
        const u32 n_blocks = ceil_div(p.n, kCastBlock);
        const u32 k_blocks = ceil_div(p.k, kCastBlock);
        const u32 kb = blockIdx.x % k_blocks;
        const u32 nb = blockIdx.x / k_blocks % n_blocks;
        const u32 group = blockIdx.x / k_blocks / n_blocks;
        const u32 lane = threadIdx.x % kCastLanes;
        const u32 first_row = nb * kCastBlock + threadIdx.x / kCastLanes;
        const u32 col = kb * kCastBlock + lane * kCastVec;
        const u64 group_offset = static_cast<u64>(group) * p.n * p.k;

        Vec v[kRowsPerThread];
#pragma unroll
        for (u32 j = 0; j < kRowsPerThread; ++j) {
            const u32 row = first_row + j * kRowStep;
            if (row < p.n && col < p.k) {
                const u64 offset = group_offset + static_cast<u64>(row) * p.k + col;
                v[j].load(static_cast<const u8*>(p.w) + offset * Vec::kElemBytes);
            } else {
                v[j].zero();
            }
        }

        u32 amax = 0;
#pragma unroll
        for (u32 j = 0; j < kRowsPerThread; ++j) {
            float f[kCastVec];
            v[j].to_float(f);
            amax = umax(amax, abs_max_bits(f));
        }
#pragma unroll
        for (u32 offset = 16; offset > 0; offset /= 2) {
            amax = umax(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
        }
        if (threadIdx.x % 32 == 0) warp_amax[threadIdx.x / 32] = amax;
        __syncthreads();
#pragma unroll
        for (u32 i = 0; i < kNumWarps; ++i) amax = umax(amax, warp_amax[i]);
        const float s = scale_from_amax_bits<kUe8m0>(amax);

#pragma unroll
        for (u32 j = 0; j < kRowsPerThread; ++j) {
            const u32 row = first_row + j * kRowStep;
            if (row < p.n && col < p.k) {
                float f[kCastVec];
                v[j].to_float(f);
                u32 lo, hi;
                quantize8<kUe8m0>(f, s, lo, hi);
                store_global_u32x2(p.q + group_offset + static_cast<u64>(row) * p.k + col, lo, hi);
            }
        }
        if (threadIdx.x == 0) p.s[(static_cast<u64>(group) * n_blocks + nb) * k_blocks + kb] = s;
    }
};

}  // namespace fp8gemm
