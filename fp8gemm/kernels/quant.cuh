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
// thread issues all the loads of a work item before using any, so a CTA keeps 16-64 KB in flight, and the
// next item's on top while it converts the current one (persistent grid, below).
//
// Requirements checked by the host: K % 16 == 0 (so the 8-element groups never straddle K, and each
// thread's 8 output bytes are 8-byte aligned), input and outputs contiguous and 16-byte aligned, rows and K
// at most 2^31 and fewer than 2^31 work items (32-bit indices, see the persistent grid below).
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
static_assert(__builtin_offsetof(PerTokenCastParams, rows) == 24, "host mirrors this layout");

struct PerBlockCastParams {
    const void* w;  // [groups, n, k]
    u8* q;          // [groups, n, k] e4m3
    float* s;       // [groups, ceil(n/128), ceil(k/128)]
    u32 n;
    u32 k;
    u32 groups;
};
static_assert(sizeof(PerBlockCastParams) == 40, "host mirrors this layout");
static_assert(__builtin_offsetof(PerBlockCastParams, n) == 24, "host mirrors this layout");

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

// Both casts run a persistent grid: the host launches min(items, resident) CTAs, resident being the SM count
// times the CTAs of the kernel one SM holds (its registers, threads and shared memory, asked of the driver),
// and CTA b takes work items b, b + gridDim.x, b + 2 gridDim.x, ... Every CTA starts at once and stays until
// the cast is done, with no CTA launch per item, and issues the loads of its next item before converting and
// storing the current one, so its loads stay in flight across items. (The last round, items % gridDim.x
// items, still leaves the other CTAs idle for about one item's time.) The work distribution is all that
// differs from one CTA per item: every element goes through the same math. The host keeps items < 2^31 and gridDim.x <= items, so no item index
// or item + gridDim.x wraps in 32 bits; the grid no longer grows with the problem.

// Per-token cast. A work item is kRowsPerCta rows x kBlocksPerThread column blocks: half-warp r handles row
// r, each lane 8 columns of every block, and a block's amax is reduced across its 16 lanes with shuffles.
// Item i covers row group i / kb_groups and column-block group i % kb_groups. Two register buffers alternate:
// the next item's loads go into one while the other's item is converted.
template <CastInput kIn, bool kUe8m0, bool kGemmLayout>
struct PerTokenCast {
    static constexpr u32 kNumThreads = 256;
    static constexpr u32 kRowsPerCta = kNumThreads / kCastLanes;
    // 64 bytes of input a thread per item, so 64-128 bytes in flight with the next item's.
    static constexpr u32 kBlocksPerThread = kIn == CastInput::F32 ? 2 : 4;
    static constexpr u32 kSmemBytes = 0;
    // __launch_bounds__ minimum: at most 64 registers a thread (two buffers of 16 plus the math).
    static constexpr u32 kMinCtasPerSm = 4;
    using Vec = CastVec<kIn>;
    using Buffer = Vec[kBlocksPerThread];

    // This thread's row and first column block in `item`; `ok` is false past the last row or item (an item
    // past the last one may give a row index that wrapped, so it is tested on its own).
    struct Coords {
        u32 row;
        u32 first_kb;
        bool ok;
    };

    __device__ static Coords coords(const PerTokenCastParams& p, u32 item, u32 items, u32 kb_groups) {
        const u32 row = item / kb_groups * kRowsPerCta + threadIdx.x / kCastLanes;
        return {row, item % kb_groups * kBlocksPerThread, item < items && row < p.rows};
    }

    __device__ static void load(const PerTokenCastParams& p, const Coords& c, Buffer& v) {
        const u32 lane = threadIdx.x % kCastLanes;
        const u8* x = static_cast<const u8*>(p.x) + static_cast<u64>(c.row) * p.k * Vec::kElemBytes;
#pragma unroll
        for (u32 i = 0; i < kBlocksPerThread; ++i) {
            const u32 col = (c.first_kb + i) * kCastBlock + lane * kCastVec;
            // Columns past K read as zero, as the reference pads with zeros before its amax.
            if (c.ok && col < p.k) {
                v[i].load(x + static_cast<u64>(col) * Vec::kElemBytes);
            } else {
                v[i].zero();
            }
        }
    }

    __device__ static void convert(const PerTokenCastParams& p, const Coords& c, u32 k_blocks, const Buffer& v) {
        const u32 lane = threadIdx.x % kCastLanes;
        const u64 row_offset = static_cast<u64>(c.row) * p.k;
        float* s_row;
        u32 s_stride;
        if constexpr (kGemmLayout) {
            // MN-major per group: scale (g, m, kb) at g * k_blocks * m_pad + kb * m_pad + m.
            const u32 group = c.row / p.m;
            s_row = p.s + static_cast<u64>(group) * k_blocks * p.m_pad + (c.row - group * p.m);
            s_stride = p.m_pad;
        } else {
            s_row = p.s + static_cast<u64>(c.row) * k_blocks;
            s_stride = 1;
        }

#pragma unroll
        for (u32 i = 0; i < kBlocksPerThread; ++i) {
            const u32 kb = c.first_kb + i;
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
            if (c.ok && col < p.k) {
                u32 lo, hi;
                quantize8<kUe8m0>(f, s, lo, hi);
                store_global_u32x2(p.q + row_offset + col, lo, hi);
                if (lane == 0) s_row[static_cast<u64>(kb) * s_stride] = s;
            }
        }
    }

    __device__ static void run(const PerTokenCastParams& p) {
        const u32 k_blocks = ceil_div(p.k, kCastBlock);
        const u32 kb_groups = ceil_div(k_blocks, kBlocksPerThread);
        const u32 items = ceil_div(p.rows, kRowsPerCta) * kb_groups;

        // Unrolled by two so that the buffers swap roles without register copies (a copy would wait for the
        // loads in flight). The loop bounds depend on blockIdx and gridDim only, so whole warps run the
        // shuffles together.
        Buffer a, b;
        u32 item = blockIdx.x;
        Coords cur = coords(p, item, items, kb_groups);
        load(p, cur, a);
        for (;;) {
            u32 next = item + gridDim.x;
            Coords nxt = coords(p, next, items, kb_groups);
            load(p, nxt, b);  // all zeros, no access, past the last item
            convert(p, cur, k_blocks, a);
            if (next >= items) break;

            item = next + gridDim.x;
            cur = coords(p, item, items, kb_groups);
            load(p, cur, a);
            convert(p, nxt, k_blocks, b);
            if (item >= items) break;
        }
    }
};

// 16 bytes global -> shared, cached in L2 only (every input byte is read once), completing asynchronously.
__device__ __forceinline__ void cp_async_16(void* smem_dst, const void* src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_u32(smem_dst)), "l"(src) : "memory");
}

// Waits for all of this thread's cp.async copies; their bytes are then visible to this thread.
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;" ::: "memory"); }

__device__ __forceinline__ void load_shared_v4(const void* ptr, u32& a, u32& b, u32& c, u32& d) {
    asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(a), "=r"(b), "=r"(c), "=r"(d)
                 : "r"(smem_u32(ptr))
                 : "memory");
}

// Per-block cast: a work item is one 128x128 block. Thread t owns 8 columns (lane t % 16) of rows t / 16 + 16 j,
// j < 8, held in registers between the block-wide amax and the quantization, so the block is read once.
// A second register copy of the next block would halve the CTAs an SM holds, so the next block is copied
// into shared memory instead (cp.async, kSmemBytes): each thread copies its own 16-byte chunks and later
// reads back only those, so only its own copies need to have landed (cp.async.wait_all), and the
// __syncthreads of each item orders every thread's reads of the buffer before the copies that refill it.
template <CastInput kIn, bool kUe8m0>
struct PerBlockCast {
    static constexpr u32 kNumThreads = 256;
    static constexpr u32 kNumWarps = kNumThreads / 32;
    static constexpr u32 kRowStep = kNumThreads / kCastLanes;
    static constexpr u32 kRowsPerThread = kCastBlock / kRowStep;
    using Vec = CastVec<kIn>;
    static constexpr u32 kChunks = Vec::kWords / 4;  // 16-byte chunks of one thread's 8 elements of a row
    // Thread t's chunk c of row j at ((j * kChunks + c) * kNumThreads + t) * 16: a warp's accesses are 512
    // consecutive bytes, free of bank conflicts. 32 KB for BF16 and FP16, 64 KB for FP32.
    static constexpr u32 kSmemBytes = kRowsPerThread * kChunks * kNumThreads * 16;
    // __launch_bounds__ minimum: 64 registers a thread for 32 of data (BF16, FP16), 80 for FP32's 64, whose
    // three CTAs also fit 3 x 64 KB of shared memory. Left to itself the compiler takes 96 for FP32.
    static constexpr u32 kMinCtasPerSm = kIn == CastInput::F32 ? 3 : 4;

    // Where this thread's part of an item lies: the element offset of its first row's 8 columns (rows
    // follow kRowStep * k apart) and bit j set where row j lies inside the input (row < n, column < k) of an
    // item that exists. The item index is also the index of the block's scale.
    struct Coords {
        u64 base;
        u32 rows_ok;
    };

    __device__ static Coords coords(const PerBlockCastParams& p, u32 item, u32 items, u32 n_blocks, u32 k_blocks) {
        const u32 kb = item % k_blocks;
        const u32 nb = item / k_blocks % n_blocks;
        const u32 group = item / k_blocks / n_blocks;
        const u32 first_row = nb * kCastBlock + threadIdx.x / kCastLanes;
        const u32 col = kb * kCastBlock + threadIdx.x % kCastLanes * kCastVec;
        Coords c;
        c.base = (static_cast<u64>(group) * p.n + first_row) * p.k + col;
        c.rows_ok = 0;
        if (item < items && col < p.k) {
#pragma unroll
            for (u32 j = 0; j < kRowsPerThread; ++j) c.rows_ok |= (first_row + j * kRowStep < p.n ? 1u : 0u) << j;
        }
        return c;
    }

    __device__ static u64 offset(const PerBlockCastParams& p, const Coords& c, u32 j) {
        return c.base + static_cast<u64>(j * kRowStep) * p.k;
    }

    __device__ static u8* chunk(u8* smem, u32 j, u32 c) {
        return smem + ((j * kChunks + c) * kNumThreads + threadIdx.x) * 16;
    }

    // Starts copying this thread's part of the item into shared memory; nothing past the last item.
    __device__ static void prefetch(const PerBlockCastParams& p, const Coords& c, u8* smem) {
#pragma unroll
        for (u32 j = 0; j < kRowsPerThread; ++j) {
            if (c.rows_ok >> j & 1u) {
                const u8* src = static_cast<const u8*>(p.w) + offset(p, c, j) * Vec::kElemBytes;
#pragma unroll
                for (u32 i = 0; i < kChunks; ++i) cp_async_16(chunk(smem, j, i), src + i * 16);
            }
        }
    }

    // Waits for the prefetch of the item and moves it into registers; rows and columns past the end read as
    // zero, as the reference pads with zeros before its amax.
    __device__ static void fetch(const PerBlockCastParams& p, const Coords& c, u8* smem, Vec (&v)[kRowsPerThread]) {
        cp_async_wait_all();
#pragma unroll
        for (u32 j = 0; j < kRowsPerThread; ++j) {
            if (c.rows_ok >> j & 1u) {
#pragma unroll
                for (u32 i = 0; i < kChunks; ++i) {
                    load_shared_v4(chunk(smem, j, i), v[j].w[4 * i], v[j].w[4 * i + 1], v[j].w[4 * i + 2],
                                   v[j].w[4 * i + 3]);
                }
            } else {
                v[j].zero();
            }
        }
    }

    __device__ static void run(const PerBlockCastParams& p) {
        extern __shared__ __align__(16) u8 smem[];
        // Double-buffered by item parity: a warp may write the next item's amax while a slower one still
        // reads this item's; the one __syncthreads per item then suffices.
        __shared__ u32 warp_amax[2][kNumWarps];
        const u32 n_blocks = ceil_div(p.n, kCastBlock);
        const u32 k_blocks = ceil_div(p.k, kCastBlock);
        const u32 items = p.groups * n_blocks * k_blocks;

        u32 item = blockIdx.x;
        prefetch(p, coords(p, item, items, n_blocks, k_blocks), smem);
        for (u32 parity = 0; item < items; item += gridDim.x, parity ^= 1) {
            const Coords c = coords(p, item, items, n_blocks, k_blocks);
            Vec v[kRowsPerThread];
            fetch(p, c, smem, v);

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
            if (threadIdx.x % 32 == 0) warp_amax[parity][threadIdx.x / 32] = amax;
            __syncthreads();

            // Every thread has read its part of the buffer (above the barrier): refill it with the next item.
            prefetch(p, coords(p, item + gridDim.x, items, n_blocks, k_blocks), smem);

#pragma unroll
            for (u32 i = 0; i < kNumWarps; ++i) amax = umax(amax, warp_amax[parity][i]);
            const float s = scale_from_amax_bits<kUe8m0>(amax);
#pragma unroll
            for (u32 j = 0; j < kRowsPerThread; ++j) {
                if (c.rows_ok >> j & 1u) {
                    float f[kCastVec];
                    v[j].to_float(f);
                    u32 lo, hi;
                    quantize8<kUe8m0>(f, s, lo, hi);
                    store_global_u32x2(p.q + offset(p, c, j), lo, hi);
                }
            }
            if (threadIdx.x == 0) p.s[item] = s;
        }
    }
};

}  // namespace fp8gemm
