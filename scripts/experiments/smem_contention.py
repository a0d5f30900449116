"""Do loads landing in shared memory slow the 128 x 256 tile's wgmmas, and does taking A from registers help?

The 128 x 256 tile takes each K block in four 64-wide parts through two product sets (lever 69). Each
m64n64k32 wgmma reads 2 KB of A and 2 KB of B from shared memory in its 32 cycles at the tensor cores' peak:
128 B a cycle, and wgmma_rate.py (run 31) measured that rate at peak with nothing else touching shared memory.
In the kernel, TMA also lands 48 KB a K block there (about 47 B a cycle at peak). If the two share one port,
the wgmmas cannot run at peak while the ring fills, which would be part of the 13% between the math path and
the blockwise minimum (runs 22 and 28) and of the loads' 7-16% on top of it.

Every SM runs one CTA: two math warpgroups on operands already in shared memory (no epilogue), and a third
warpgroup whose first thread streams 16 KB bulk copies from an L2-resident buffer into a 4-slot ring, as fast
as they land, until the math is done. Math schemes (per K block, per warpgroup, as the kernel does):
  ss  four parts, each four wgmmas with both operands in shared memory (the shipped scheme)
  rs  the first part as ss; the other three take A from registers (wgmma's register-A form), loaded once per
      K block by ldmatrix once the block before has retired its last register-A part: A's shared-memory
      reads per block fall from 32 KB to 16 KB a warpgroup (B's stay 32 KB)
Each scheme runs with the producer streaming and with it idle. Reported per scheme: FP8 FLOP per SM cycle
(clock64 in the math warpgroups, so the power cap's clock does not enter) as a fraction of the datasheet's
8192, and the bytes a cycle the producer landed while the math ran. The two schemes compute the same
products from the same operands, so their outputs must agree bit for bit: that checks the register-A
fragment layout before any rate is read.

Reading it: if ss with the producer streaming falls below ss idle and rs streaming gets closer to idle,
shared-memory bandwidth costs the kernel, and register A is a lever for the kernel itself.

Run 36 asks a second question (docs/performance.md): at the power cap a tile's epilogue costs its cycles
in full, yet putting wgmmas under it has bought little. Two more schemes run ss with a tile's epilogue every
`tile_blocks` blocks, staged as the shipped BF16 epilogue stages it (per warpgroup two halves of 64 x 128:
the wait for the previous bulk store's reads, a barrier, 32 conversions and 32 shared stores a thread, a
proxy fence, a barrier, one bulk store of 16 KB to an L2-resident scratch buffer):
  ss+epi       the next block's part 0 stays in flight through the epilogue (the shipped order)
  ss+epi/w0    every wgmma retired first (wait 0), so nothing runs under the epilogue
  ss+epi/stm   as ss+epi, the staging written by 8 stmatrix.x4 a thread and half instead of 32 st.shared
  ss+epi/stm2  as ss+epi/stm with a staging buffer for each half, so the second half does not wait for the
               first half's store to be read
  ss+epi/seg   as ss+epi with one buffer, each 64-column segment stored as its own bulk group, so the second
               half's segment waits only for the first half's same segment to be read
Each epilogue's exposed cost is its schemes' extra cycles over ss, over the number of epilogues. If the
in-flight part runs under the epilogue, ss+epi's cost is below ss+epi/w0's by up to that part's tensor
time (two warpgroups x 4 m64n64k32: 256 cycles). If its cost equals ss+epi/w0's, the wgmmas stall while the
epilogue stages. The two compute the same D, checked bit for bit.

Four more schemes split ss+epi/w0's cost by leaving one piece out: w0/nobulk (no bulk store and no wait for
one), w0/nosts (no conversions or shared stores), w0/nofence (no proxy fence) and w0/bare (only the wgmma
drain, the barriers and the accumulators' reset). Their D is incomplete or unordered, so only their sums are
checked.

`narrow` runs the same on the 128 x 128 tile (one 128-wide part a block, the product sets alternating by
block; the epilogue stages its whole width at once). There ss+epi/w0 is the shipped order and ss+epi is lever
58's (the next block in flight, 512 cycles of tensor time); rs and stm2 do not apply.

Usage: PYTHONPATH=. python scripts/experiments/smem_contention.py [wide|narrow]
"""

from __future__ import annotations

import struct
import sys

import torch
from wgmma_rate import FILL_OPERANDS

from fp8gemm.jit.compiler import chosen_compiler, compile_cubin
from fp8gemm.jit.launcher import LoadedKernel

SCHEMES = {
    "ss": 0,
    "rs": 1,
    "ss+epi": 2,
    "ss+epi/w0": 3,
    "ss+epi/stm": 4,
    "ss+epi/stm2": 5,
    "w0/nobulk": 6,
    "w0/nosts": 7,
    "w0/nofence": 8,
    "w0/bare": 9,
    "ss+epi/seg": 10,
}
EPILOGUE_SCHEMES = ("ss+epi", "ss+epi/w0", "ss+epi/stm", "ss+epi/stm2", "ss+epi/seg")
# ss+epi/w0 with one piece of the epilogue left out each, to split its cost (D is not written in full, or not
# in order, so only their sums are checked).
PARTIAL_SCHEMES = ("w0/nobulk", "w0/nosts", "w0/nofence", "w0/bare")
TILE_BLOCKS = (4, 16)  # K = 512 and K = 2048 tiles (powers of two: the kernel tests a mask)
STAGING_BYTES = 64 * 128 * 2  # one warpgroup's half tile: 64 rows x 128 BF16 columns

PEAK_FLOP_PER_CYCLE = 8192
ITERS = 4096
THREADS = 384
# Tile shapes as (parts a block, part width): the 128 x 256 tile's quarter parts, or 128 x 128 whole (one
# part a block, the two product sets alternating by block, as the shipped 128 x 128 kernel runs).
TILES = {"wide": (4, 64), "narrow": (1, 128)}
SLOT_BYTES = 16384
SLOTS = 4
SOURCE_BYTES = 32 << 20  # inside the 50 MB L2: the copies come from L2, as the kernel's mostly do

KERNEL = r"""
#include "common/dispatch.cuh"
#include "common/wgmma.cuh"

namespace fp8gemm {
%(fill)s
struct ContentionParams {
    u32 iters;
    u32 stream;  // 1: the producer streams copies while the math runs
    float* out;
    u64* cycles;   // per CTA: the two math warpgroups' cycles
    u64* landed;   // per CTA: bytes landed in shared memory while the math ran
    const u8* src;
    u32 src_slots;    // SLOT_BYTES pieces in src
    u32 tile_blocks;  // epilogue schemes: blocks a tile (at least 1)
    u8* d;            // epilogue schemes: per CTA, warpgroup and half, kStagingBytes of BF16 output
};

constexpr u32 kParts = %(parts)d;
constexpr u32 kPartN = %(part_n)d;
constexpr u32 kSlotBytes = %(slot_bytes)d;
constexpr u32 kSlots = %(slots)d;
constexpr u32 kRegs = kPartN / 2;
constexpr u32 kBytesA = 2 * 64 * 128;
constexpr u32 kBytesB = kParts * kPartN * 128;
constexpr u32 kHalves = kParts * kPartN / 128;  // the epilogue stages 128 columns at a time
constexpr u32 kOffsetRing = kBytesA + kBytesB;
constexpr u32 kStagingBytes = %(staging_bytes)d;
constexpr u32 kOffsetStaging = kOffsetRing + kSlots * kSlotBytes;
constexpr u32 kOffsetBars = kOffsetStaging + 4 * kStagingBytes;
constexpr u32 kOffsetDone = kOffsetBars + kSlots * 8;

// Byte offset of (row, byte column) in a warpgroup's staging: the shipped epilogue's 128-byte swizzle
// segments of 64 columns.
__device__ __forceinline__ u32 staging_offset(u32 row, u32 byte_col) {
    return byte_col / 128 * (64 * 128) + row * 128 + ((byte_col / 16 %% 8) ^ (row %% 8)) * 16 + byte_col %% 16;
}

__device__ __forceinline__ void stmatrix_x4(u32 addr, u32 r0, u32 r1, u32 r2, u32 r3) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%%0], {%%1, %%2, %%3, %%4};"
                 ::"r"(addr), "r"(r0), "r"(r1), "r"(r2), "r"(r3) : "memory");
}

__device__ __forceinline__ void bulk_store_s2g(void* dst, u32 smem_src, u32 bytes) {
    asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%%0], [%%1], %%2;"
                 ::"l"(dst), "r"(smem_src), "r"(bytes) : "memory");
}

// m64n64k32 with A from registers: this thread's four words of the warp's 16 x 32 slice of A (rows
// lane / 4 and lane / 4 + 8, bytes 4 (lane %% 4) .. + 3 and 16 further), B by descriptor.
__device__ __forceinline__ void wgmma_rs_n64(const u32 (&a)[4], u64 desc_b, float* d, bool accumulate) {
    asm volatile(
        "{\n\t.reg .pred p;\n\t"
        "setp.ne.b32 p, %%37, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 "
        "{%%0, %%1, %%2, %%3, %%4, %%5, %%6, %%7, %%8, %%9, %%10, %%11, %%12, %%13, %%14, %%15, "
        "%%16, %%17, %%18, %%19, %%20, %%21, %%22, %%23, %%24, %%25, %%26, %%27, %%28, %%29, %%30, %%31}, "
        "{%%32, %%33, %%34, %%35}, %%36, p, 1, 1;\n\t}"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(static_cast<u32>(accumulate)));
}

// Four 8x8 matrices of 16-bit elements (here pairs of FP8 values): lanes 8i..8i+7 name matrix i's rows.
__device__ __forceinline__ void ldmatrix_x4(u32 addr, u32 (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%%0, %%1, %%2, %%3}, [%%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

__device__ __forceinline__ void bulk_copy_g2s(u32 smem_dst, const void* src, u32 bytes, u32 bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%%0], [%%1], %%2, [%%3];"
                 ::"r"(smem_dst), "l"(src), "r"(bytes), "r"(bar) : "memory");
}

__device__ __forceinline__ u32 load_volatile_shared_u32(u32 addr) {
    u32 v;
    asm volatile("ld.volatile.shared.u32 %%0, [%%1];" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

// Streams kSlotBytes copies into the ring until the math warpgroups raise the done flag; returns the bytes
// that landed before it was seen.
__device__ u64 stream_copies(const ContentionParams& p, u32 base) {
    u64 landed = 0;
    u32 issued = 0;
    while (load_volatile_shared_u32(base + kOffsetDone) == 0) {
        const u32 slot = issued %% kSlots;
        const u32 bar = base + kOffsetBars + slot * 8;
        if (issued >= kSlots) {
            mbarrier_wait(bar, (issued / kSlots - 1) & 1u);
            landed += kSlotBytes;
        }
        mbarrier_arrive_expect_tx(bar, kSlotBytes);
        const u32 piece = (blockIdx.x * 97u + issued) %% p.src_slots;
        bulk_copy_g2s(base + kOffsetRing + slot * kSlotBytes, p.src + static_cast<u64>(piece) * kSlotBytes,
                      kSlotBytes, bar);
        ++issued;
    }
    // Drain: every copy lands before the CTA may exit.
    for (u32 i = issued >= kSlots ? issued - kSlots : 0; i < issued; ++i) {
        mbarrier_wait(base + kOffsetBars + (i %% kSlots) * 8, (i / kSlots) & 1u);
    }
    return landed;
}

template <u32 kScheme>
__device__ void math(const ContentionParams& p, u8* base_ptr, u32 base) {
    const u32 thread = threadIdx.x;
    const u32 warpgroup = warp_uniform(thread / 128);
    const u32 lane = thread %% 32;
    const u32 desc_a = sw128_desc_start(base + warpgroup * 64 * 128);
    const u32 desc_b = sw128_desc_start(base + kBytesA);
    // ldmatrix rows of this lane: its warp's 16 rows, lanes 8-15 and 24-31 the lower 8; lanes 16-31 the
    // second 16-byte chunk of each 32-byte K step. 128-byte swizzle: chunk c of row r sits at c ^ (r %% 8).
    const u32 a_row = warpgroup * 64 + (thread %% 128) / 32 * 16 + lane %% 8 + 8 * (lane / 8 %% 2);
    const u32 a_chunk_hi = lane / 16;
    float acc[kParts * kRegs];
    float prod0[kRegs];
    float prod1[kRegs];
    u32 a_frag[4][4];
#pragma unroll
    for (u32 i = 0; i < kParts * kRegs; ++i) acc[i] = 0.0f;
#pragma unroll
    for (u32 i = 0; i < kRegs; ++i) prod0[i] = prod1[i] = 0.0f;
    const float scale = 1.0f + thread * 1e-3f;
    auto load_a = [&]() {
#pragma unroll
        for (u32 kk = 0; kk < 4; ++kk) {
            const u32 chunk = (2 * kk + a_chunk_hi) ^ (a_row %% 8);
            ldmatrix_x4(base + a_row * 128 + chunk * 16, a_frag[kk]);
        }
    };
    auto issue = [&](float* prod, u32 part) {
        fence_registers<kRegs>(prod);
        wgmma_fence();
#pragma unroll
        for (u32 kk = 0; kk < 4; ++kk) {
            const u64 b = sw128_desc(desc_b + part * (kPartN * 128 >> 4) + kk * kWgmmaKDescStep);
            if (kScheme == 1 && part > 0) {
                wgmma_rs_n64(a_frag[kk], b, prod, kk > 0);
            } else {
                WgmmaFp8<kPartN>::mma(sw128_desc(desc_a + kk * kWgmmaKDescStep), b, prod, kk > 0);
            }
        }
        wgmma_commit();
    };
    const u32 wg_thread = thread %% 128;
    const u32 frag_row = wg_thread / 32 * 16 + lane / 4;
    // stmatrix: lanes 8k..8k+7 address the rows of matrix k, matrices (rows 0-7 | 8-15) x (8-column group
    // j | j + 1) in that order, so a thread's registers are its fragment's packed pairs as wgmma left them.
    const u32 stm_row = wg_thread / 32 * 16 + lane / 8 %% 2 * 8 + lane %% 8;
    const u32 stm_group = lane / 16;
    // Two halves share one staging buffer (the shipped layout) or, with kTwoBuffers, have one each.
    constexpr bool kStmatrix = kScheme == 4 || kScheme == 5;
    constexpr bool kTwoBuffers = kScheme == 5;
    constexpr bool kBulk = kScheme != 6 && kScheme != 9;
    constexpr bool kStaging = kScheme != 7 && kScheme != 9;
    constexpr bool kFence = kScheme != 8 && kScheme != 9;
    // Each 64-column segment stored as its own bulk group, so a segment waits only for the same segment of
    // the half before to be read.
    constexpr u32 kSegments = kScheme == 10 ? 2 : 1;
    constexpr u32 kSegmentBytes = kStagingBytes / kSegments;
    constexpr u32 kSegmentJ = 16 / kSegments;
    const u32 staging_wg = base + kOffsetStaging + warpgroup * 2 * kStagingBytes;
    // The shipped BF16 epilogue's staging and store, in two halves of 128 columns, then a fresh tile.
    auto epilogue = [&]() {
#pragma unroll
        for (u32 piece = 0; piece < kHalves * kSegments; ++piece) {
            const u32 half = piece / kSegments;
            const u32 seg = piece %% kSegments;
            const u32 staging = staging_wg + (kTwoBuffers ? half * kStagingBytes : 0);
            if (kBulk && wg_thread == 0) {
                if constexpr (kTwoBuffers || kSegments == 2) {
                    bulk_wait_group_read<1>();  // this buffer's store, two groups back
                } else {
                    bulk_wait_group_read<0>();
                }
            }
            named_barrier_sync(2 + warpgroup, 128);
            if constexpr (kStmatrix) {
#pragma unroll
                for (u32 j = 0; j < 16; j += 2) {
                    const float* frag = acc + 4 * (half * 16 + j);
                    const u32 addr = staging + staging_offset(stm_row, (j + stm_group) * 16);
                    stmatrix_x4(addr, pack_bf16x2(frag[0], frag[1]), pack_bf16x2(frag[2], frag[3]),
                                pack_bf16x2(frag[4], frag[5]), pack_bf16x2(frag[6], frag[7]));
                }
            } else if constexpr (kStaging) {
#pragma unroll
                for (u32 j = seg * kSegmentJ; j < (seg + 1) * kSegmentJ; ++j) {
                    const u32 byte_col = (8 * j + 2 * (lane %% 4)) * 2;
                    const float* frag = acc + 4 * (half * 16 + j);
                    store_shared_u32(staging + staging_offset(frag_row, byte_col), pack_bf16x2(frag[0], frag[1]));
                    store_shared_u32(staging + staging_offset(frag_row + 8, byte_col), pack_bf16x2(frag[2], frag[3]));
                }
            }
            if constexpr (kFence) fence_proxy_async_shared();
            named_barrier_sync(2 + warpgroup, 128);
            if (kBulk && wg_thread == 0) {
                bulk_store_s2g(p.d + ((blockIdx.x * 2 + warpgroup) * 2 + half) * kStagingBytes + seg * kSegmentBytes,
                               staging + seg * kSegmentBytes, kSegmentBytes);
                bulk_commit_group();
            }
        }
#pragma unroll
        for (u32 i = 0; i < kParts * kRegs; ++i) acc[i] = 0.0f;
    };
    auto promote = [&](float* prod, u32 part, u32 it) {
        fence_registers<kRegs>(prod);
        const float s = scale * static_cast<float>((it & 7u) + 1u);
#pragma unroll
        for (u32 i = 0; i < kRegs; ++i) acc[part * kRegs + i] += s * prod[i];
    };
    // One K block: parts 1-3 issued while the part before is promoted; part 0 of the next block while part 3
    // is. The register-A scheme loads the block's A once the block before has retired its last part. The
    // product sets alternate over the run's parts: by part with an even part count, by block with one part
    // (`odd`: the block's place in the loop's trip of two).
    auto block = [&](u32 it, auto last, auto odd) {
#pragma unroll
        for (u32 part = 0; part < kParts; ++part) {
            const bool to_next = part + 1 == kParts;
            const u32 set = (decltype(odd)::value * kParts + part) %% 2;
            if (decltype(last)::value && to_next) {
                wgmma_wait<0>();
            } else {
                issue(set ? prod0 : prod1, (part + 1) %% kParts);
                wgmma_wait<1>();
            }
            if (kScheme == 1 && to_next) load_a();
            promote(set ? prod1 : prod0, part, it);
        }
        if constexpr (kScheme >= 2 && !decltype(last)::value) {
            // A mask (tile_blocks is a power of two), not (it + 1) %% tile_blocks: run 37's first call had that
            // division in part 3's issue stream, and it cost the epilogue schemes 40-90 cycles a block
            // (docs/performance.md, run 37). A countdown register made seven schemes spill.
            if (((it + 1) & (p.tile_blocks - 1)) == 0) {
                if (kScheme == 3 || (kScheme >= 6 && kScheme <= 9)) wgmma_wait<0>();
                epilogue();
            }
        }
    };
    const u64 start = clock64();
    if (kScheme == 1) load_a();
    issue(prod0, 0);
    // Two blocks a trip and the tail as two arms (the kernel's loop shape): ptxas serialises every wgmma
    // (C7514) with one block a trip and the last peeled.
    u32 it = 0;
    for (; it + 2 < p.iters; it += 2) {
        block(it, Const<false>{}, Const<0>{});
        block(it + 1, Const<false>{}, Const<1>{});
    }
    if (it + 1 < p.iters) {
        block(it, Const<false>{}, Const<0>{});
        block(it + 1, Const<true>{}, Const<1>{});
    } else {
        block(it, Const<true>{}, Const<0>{});
    }
    const u64 cycles = clock64() - start;
    if (kScheme >= 2 && wg_thread == 0) bulk_wait_group<0>();  // the last stores land before the CTA exits
    float sum = 0.0f;
#pragma unroll
    for (u32 i = 0; i < kParts * kRegs; ++i) sum += acc[i];
    p.out[blockIdx.x * 256 + thread] = sum;
    if (thread %% 128 == 0) p.cycles[blockIdx.x * 2 + warpgroup] = cycles;
}

template <u32 kScheme>
__device__ void contention_body(const ContentionParams& p) {
    extern __shared__ u8 smem_raw[];
    u8* base_ptr = smem_raw + ((1024u - (smem_u32(smem_raw) & 1023u)) & 1023u);
    const u32 base = smem_u32(base_ptr);
    fill_operands(base_ptr, kBytesA + kBytesB);
    if (threadIdx.x == 0) {
        for (u32 s = 0; s < kSlots; ++s) mbarrier_init(base + kOffsetBars + s * 8, 1);
        *reinterpret_cast<u32*>(base_ptr + kOffsetDone) = 0;
        fence_barrier_init();
    }
    fence_proxy_async_shared();
    __syncthreads();
    if (threadIdx.x >= 256) {
        warpgroup_reg_dealloc<40>();
        if (threadIdx.x == 256) {
            const u64 landed = p.stream ? stream_copies(p, base) : 0;
            p.landed[blockIdx.x] = landed;
        }
    } else {
        warpgroup_reg_alloc<232>();
        math<kScheme>(p, base_ptr, base);
        named_barrier_sync(1, 256);
        if (threadIdx.x == 0) asm volatile("st.volatile.shared.u32 [%%0], 1;" ::"r"(base + kOffsetDone) : "memory");
    }
}

}  // namespace fp8gemm
"""


def entry(scheme: int) -> str:
    return f"contention_s{scheme}"


def smem_bytes(parts: int, part_n: int) -> int:
    return (
        1024 + 2 * 64 * 128 + parts * part_n * 128 + SLOTS * SLOT_BYTES + SLOTS * 8 + 4 * STAGING_BYTES + 16
    )


def in_flight_cycles(part_n: int) -> int:
    """The next block's first part, in flight under the epilogue: two warpgroups' m64nNk128 at 4096 MACs a
    cycle."""
    return 2 * 64 * part_n * 128 // (PEAK_FLOP_PER_CYCLE // 2)


def source(parts: int, part_n: int) -> str:
    text = KERNEL % {
        "fill": FILL_OPERANDS,
        "parts": parts,
        "part_n": part_n,
        "slot_bytes": SLOT_BYTES,
        "slots": SLOTS,
        "staging_bytes": STAGING_BYTES,
    }
    lines = [text]
    for scheme in SCHEMES.values():
        lines.append(
            f'extern "C" __global__ void __launch_bounds__({THREADS}, 1) {entry(scheme)}'
            f"(const __grid_constant__ fp8gemm::ContentionParams p) {{ fp8gemm::contention_body<{scheme}>(p); }}"
        )
    return "\n".join(lines)


def pack_params(
    stream: int,
    tile_blocks: int,
    out: torch.Tensor,
    cycles: torch.Tensor,
    landed: torch.Tensor,
    src: torch.Tensor,
    d: torch.Tensor,
) -> bytes:
    return struct.pack(
        "<IIQQQQIIQ",
        ITERS,
        stream,
        out.data_ptr(),
        cycles.data_ptr(),
        landed.data_ptr(),
        src.data_ptr(),
        SOURCE_BYTES // SLOT_BYTES,
        tile_blocks,
        d.data_ptr(),
    )


def main(tile: str) -> None:
    parts, part_n = TILES[tile]
    print(f"tile: {tile}, 128 x {parts * part_n} in {parts} part(s) a block")
    result = compile_cubin(source(parts, part_n), chosen_compiler())
    for line in result.log.splitlines():
        if "registers" in line or "spill" in line or "Compiling entry" in line or "Performance Loss" in line:
            print(line.strip())
    warned = "\n".join(line for line in result.log.splitlines() if "Performance Loss" in line)
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    src = torch.randint(0, 256, (SOURCE_BYTES,), dtype=torch.uint8, device="cuda")
    cycles = torch.zeros(sms * 2, dtype=torch.int64, device="cuda")
    landed = torch.zeros(sms, dtype=torch.int64, device="cuda")
    flop_per_sm = 2 * (2 * 64 * parts * part_n * 128) * ITERS
    # (scheme, stream, tile_blocks): the stream question, then the epilogue's, two passes of each in turns
    # With one part a block no part takes A from registers (rs is ss), and the epilogue has one half
    # (stm2 is stm).
    stream_schemes = ("ss", "rs") if parts > 1 else ("ss",)
    epilogue_schemes = tuple(n for n in EPILOGUE_SCHEMES if parts * part_n > 128 or n != "ss+epi/stm2")
    epilogue_schemes += PARTIAL_SCHEMES
    runs = [(name, stream, 0) for name in stream_schemes for stream in (0, 1, 0, 1)]
    runs += [(name, 0, tb) for tb in TILE_BLOCKS for _ in range(2) for name in ("ss", *epilogue_schemes)]
    kernels = {}
    outputs: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}
    last_ss_cycles = 0.0
    print(
        f"{'scheme':10s} {'stream':6s} {'tile':>4s} {'FLOP/cycle/SM':>14s} {'of peak':>8s} {'landed B/cycle':>15s}"
    )
    for name, stream, tile_blocks in runs:
        scheme = SCHEMES[name]
        if f"'{entry(scheme)}'" in warned:
            print(f"{name:10s} not timed: ptxas warned")
            continue
        if name not in kernels:
            kernels[name] = LoadedKernel(result.cubin, entry(scheme), smem_bytes(parts, part_n), THREADS)
        out = torch.full((sms * 256,), float("nan"), device="cuda")
        d = torch.full((sms * 4 * STAGING_BYTES // 2,), float("nan"), dtype=torch.bfloat16, device="cuda")
        params = pack_params(stream, max(tile_blocks, 1), out, cycles, landed, src, d)
        for _ in range(3):  # two warm-ups, then the timed launch
            kernels[name].launch(0, sms, params)
        torch.cuda.synchronize()
        per_sm_cycles = cycles.double().view(sms, 2).max(dim=1).values.mean().item()
        per_cycle = flop_per_sm / per_sm_cycles
        bytes_per_cycle = (landed.double() / cycles.double().view(sms, 2).max(dim=1).values).mean().item()
        line = (
            f"{name:10s} {stream:6d} {tile_blocks or '-':>4} {per_cycle:14.0f} "
            f"{per_cycle / PEAK_FLOP_PER_CYCLE:8.3f} {bytes_per_cycle:15.1f}"
        )
        if name == "ss":
            last_ss_cycles = per_sm_cycles
        else:
            outputs.setdefault((name, tile_blocks), (out.clone(), d.clone()))
        if name in EPILOGUE_SCHEMES + PARTIAL_SCHEMES:
            epilogues = (ITERS - 1) // tile_blocks
            exposed = (per_sm_cycles - last_ss_cycles) / epilogues
            line += f"   exposed epilogue {exposed:6.0f} cycles (over the ss run before)"
        print(line, flush=True)
        if name == "ss" and stream == 0:
            outputs.setdefault(("ss", 0), (out.clone(), d))
    if ("rs", 0) in outputs:
        ss_out = outputs[("ss", 0)][0]
        same = torch.equal(ss_out, outputs[("rs", 0)][0]) and not torch.isnan(ss_out).any().item()
        print(f"register A gives the same bits as shared A: {same}")
    for tile_blocks in TILE_BLOCKS:
        first, *others = EPILOGUE_SCHEMES
        if (first, tile_blocks) not in outputs:
            continue
        out_a, d_a = outputs[(first, tile_blocks)]
        # Slots per CTA, warpgroup and half: a narrow tile stages one half, so only the first is written.
        halves = parts * part_n // 128
        d_a = d_a.view(sms, 2, 2, -1)[:, :, :halves]
        print(
            f"tiles of {tile_blocks} blocks, {first}: D written in full {not torch.isnan(d_a).any().item()}"
        )
        for name in others:
            if (name, tile_blocks) not in outputs:
                continue
            out_b, d_b = outputs[(name, tile_blocks)]
            d_b = d_b.view(sms, 2, 2, -1)[:, :, :halves]
            # D's slots are rewritten by each tile's stores, which the next tile waits for only until they are
            # read: the last tile's store is the last to land in practice, not by the PTX memory model.
            print(
                f"  {name} against it: same sums {torch.equal(out_a, out_b)}, same D {torch.equal(d_a, d_b)}"
            )
        for name in PARTIAL_SCHEMES:
            if (name, tile_blocks) in outputs:
                print(f"  {name} against it: same sums {torch.equal(out_a, outputs[(name, tile_blocks)][0])}")
    print(f"the in-flight part's tensor time: {in_flight_cycles(part_n)} cycles")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "wide")
