// How an FP8 GEMM tile's accumulators reach D: BF16 through shared-memory staging, FP32 added to C straight
// from registers, split-K partials summed by the K range that arrives last. Apart from the main loop
// (fp8_gemm.cuh): none of it depends on the ring of stages or the cluster.
#pragma once

#include "common/ptx.cuh"
#include "common/scheduler.cuh"
#include "common/wgmma.cuh"
#include "gemm_params.cuh"

namespace fp8gemm {

// kPartN is Fp8Gemm's kStagePartN: a wide tile's output is staged in halves, whatever parts its products are
// taken in (the running accumulators hold the whole tile either way).
template <GemmType kType, u32 kBlockM, u32 kBlockN, u32 kPartN, bool kOutputF32>
struct GemmEpilogue {
    static constexpr u32 kNumMathWarpgroups = kBlockM / kWgmmaM;
    static constexpr u32 kNumParts = kBlockN / kPartN;

    // BF16 epilogue staging, per math warpgroup 64 rows of one part (kPartN columns): wide tiles stage their parts one
    // after the other, which keeps a fourth stage in shared memory. Parts a whole number of 64 columns wide are staged
    // as TMA's 128-byte swizzle lays them out: column segments of 64 values, each 64 rows of 128 bytes whose 16-byte
    // chunks are XORed with row % 8; one TMA store per segment writes the tile out. Other widths pad each row by 16
    // bytes. Either way the 8 rows a warp's fragment writes at once fall in different banks, and 16-byte pieces stay
    // aligned.
    static constexpr bool kSwizzledStaging = !kOutputF32 && kPartN % 64 == 0;
    static constexpr u32 kStagingSegmentBytes = kWgmmaM * kSwizzleBytes;
    static constexpr u32 kStagingRowBytes = 2 * kPartN + 16;
    static constexpr u32 kStagingBytesPerWarpgroup =
        kSwizzledStaging ? kWgmmaM * 2 * kPartN : kWgmmaM * kStagingRowBytes;
    static constexpr u32 kSmemStaging = kOutputF32 ? 0 : kNumMathWarpgroups * kStagingBytesPerWarpgroup;

    // Byte offset of (row, byte column) in a warpgroup's staging rows (layouts: see kSwizzledStaging).
    __device__ __forceinline__ static u32 staging_offset(u32 row, u32 byte_col) {
        if constexpr (kSwizzledStaging) {
            const u32 chunk = (byte_col / 16 % 8) ^ (row % 8);
            return byte_col / kSwizzleBytes * kStagingSegmentBytes + row * kSwizzleBytes + chunk * 16 + byte_col % 16;
        } else {
            return row * kStagingRowBytes + byte_col;
        }
    }

    // BF16 output through shared memory: the warpgroup writes its 64 x BLOCK_N fragment into its staging rows, one
    // kPartN-column part after the other. When D takes TMA stores and every row of the 64 that lies inside D belongs to
    // the tile, one thread hands the rows to TMA and the warpgroup goes on while they drain (TMA clips D's bounds).
    // Otherwise the warpgroup copies them out in whole 16-byte pieces (8 columns), each row's pieces side by side in
    // one warp. Either way rows past the valid count, padding rows of the contiguous layout and columns past N are
    // untouched.
    __device__ static void store_tile_staged(const GemmParams& p, const Tile& tile, u8* staging, u32 warpgroup,
                                             u32 wg_thread, const float* acc) {
        const u32 lane = wg_thread % 32;
        const u32 frag_row = wg_thread / 32 * 16 + lane / 4;
        const u32 barrier = 1 + warpgroup;  // 0 is __syncthreads'
        const u32 first_row = tile.m_block * kBlockM + warpgroup * kWgmmaM;
        const u32 staging_addr = smem_u32(staging);
        // This thread's vote on "every row is the tile's": thread t < 64 checks row first_row + t (its
        // m_indices load overlaps the fragment writes below).
        bool row_ok = true;
        if constexpr (kType == GemmType::GroupedMasked) {
            row_ok = first_row + kWgmmaM <= tile.valid_rows;
        } else if constexpr (kType == GemmType::GroupedContiguous) {
            const u32 row = first_row + wg_thread;
            if (wg_thread < kWgmmaM && row < p.shape_m) {
                row_ok = load_global_nc_i32(p.group_info + row) == static_cast<i32>(tile.group);
            }
        }
        const u64 row_offset = kType == GemmType::GroupedMasked ? static_cast<u64>(tile.group) * p.shape_m : 0;
        u16* d = static_cast<u16*>(p.d);
        // 16-byte stores need 16-byte aligned rows; D's rows are only required to be 8-byte aligned.
        const bool aligned16 = ((reinterpret_cast<u64>(d) | (static_cast<u64>(p.ldd) * 2)) & 15u) == 0;
        // Unrolled: a part index known at compile time keeps acc in registers.
#pragma unroll
        for (u32 part = 0; part < kNumParts; ++part) {
            const u32 first_col = tile.n_block * kBlockN + part * kPartN;
            // The previous part's or tile's rows have been read out, by TMA or by the copy below, before
            // anyone overwrites them.
            if constexpr (kSwizzledStaging) {
                if (wg_thread == 0) bulk_wait_group_read<0>();
            }
            named_barrier_sync(barrier, kWarpgroupThreads);
#pragma unroll
            for (u32 j = 0; j < kPartN / 8; ++j) {
                const u32 byte_col = (8 * j + 2 * (lane % 4)) * 2;
                const float* frag = acc + 4 * (part * kPartN / 8 + j);
                store_shared_u32(staging_addr + staging_offset(frag_row, byte_col), pack_bf16x2(frag[0], frag[1]));
                store_shared_u32(staging_addr + staging_offset(frag_row + 8, byte_col), pack_bf16x2(frag[2], frag[3]));
            }
            if constexpr (kSwizzledStaging) {
                fence_proxy_async_shared();  // the writes above, seen by the TMA store that reads them
                const bool whole = named_barrier_and(barrier, kWarpgroupThreads, row_ok);
                if (whole && p.tma_store) {
                    if (wg_thread == 0) {
#pragma unroll
                        for (u32 seg = 0; seg < kPartN / 64; ++seg) {
                            tma_store_2d(&p.tma_d, staging_addr + seg * kStagingSegmentBytes, first_col + seg * 64,
                                         static_cast<i32>(row_offset + first_row));
                        }
                        bulk_commit_group();
                    }
                    continue;
                }
            } else {
                named_barrier_sync(barrier, kWarpgroupThreads);
            }

            constexpr u32 kPiecesPerRow = kPartN / 8;
            constexpr u32 kPieces = kWgmmaM * kPiecesPerRow;
#pragma unroll 4
            for (u32 piece = wg_thread; piece < kPieces; piece += kWarpgroupThreads) {
                const u32 r = piece / kPiecesPerRow;
                const u32 col = first_col + piece % kPiecesPerRow * 8;
                const u32 row = first_row + r;
                bool valid = row < tile.valid_rows && col < p.shape_n;
                if constexpr (kType == GemmType::GroupedContiguous) {
                    valid = valid && load_global_nc_i32(p.group_info + row) == static_cast<i32>(tile.group);
                }
                if (!valid) continue;
                const uint4 v = load_shared_u32x4(staging_addr + staging_offset(r, piece % kPiecesPerRow * 16));
                u16* out = d + (row_offset + row) * p.ldd + col;
                if (aligned16) {
                    store_global_u32x4(out, v);
                } else {
                    store_global_u32x2(out, v.x, v.y);
                    store_global_u32x2(out + 4, v.z, v.w);
                }
            }
        }
    }

    // Split-K (dense): each warpgroup writes its 64 rows of this K range's FP32 partial sums, then counts itself
    // in; the last of the tile's p.num_splits ranges to arrive adds all of them in range order (the same bits
    // whichever range is last) and writes D, then resets the counter for the next launch. The ranges run side by
    // side, possibly in different waves, so none may wait for another.
    __device__ static void store_split(const GemmParams& p, const Tile& tile, u32* last_flag, u32 warpgroup,
                                       u32 wg_thread, const float* acc) {
        // A cluster's padding n block has no columns in D and no counter of its own.
        if (tile.n_block * kBlockN >= p.shape_n) return;
        const u32 lane = wg_thread % 32;
        const u32 frag_row = warpgroup * kWgmmaM + wg_thread / 32 * 16 + lane / 4;
        const u32 m_base = tile.m_block * kBlockM;
        const u64 split_stride = static_cast<u64>(p.shape_m) * p.shape_n;
#pragma unroll
        for (u32 half = 0; half < 2; ++half) {
            const u32 row = m_base + frag_row + 8 * half;
            if (row >= p.shape_m) continue;
            float* partial = p.workspace + tile.split * split_stride + static_cast<u64>(row) * p.shape_n;
#pragma unroll
            for (u32 j = 0; j < kBlockN / 8; ++j) {
                const u32 col = tile.n_block * kBlockN + 8 * j + 2 * (lane % 4);
                if (col < p.shape_n) store_global_f32x2(partial + col, acc[4 * j + 2 * half], acc[4 * j + 2 * half + 1]);
            }
        }
        // Release: this warpgroup's partial is visible GPU-wide before its arrival is counted.
        __threadfence();
        const u32 barrier = 1 + warpgroup;
        named_barrier_sync(barrier, kWarpgroupThreads);
        const u32 num_n_blocks = ceil_div(p.shape_n, kBlockN);
        i32* counter = p.tile_counters + (tile.m_block * num_n_blocks + tile.n_block) * kNumMathWarpgroups + warpgroup;
        if (wg_thread == 0) *last_flag = atomicAdd(counter, 1) == static_cast<i32>(p.num_splits) - 1;
        named_barrier_sync(barrier, kWarpgroupThreads);
        if (!*last_flag) return;
        __threadfence();  // acquire: every range's partial is read after its arrival

        // Four columns a group (N % 8 == 0 keeps a group inside a row). A thread loads kBatch groups of one
        // range together, so the tail costs a few L2 round trips, not one per group; kBatch bounds the
        // registers (the accumulators are dead here, but the kernel is compiled for the largest tile).
        constexpr u32 kGroupsPerRow = kBlockN / 4;
        constexpr u32 kGroupsPerThread = kWgmmaM * kGroupsPerRow / kWarpgroupThreads;
        constexpr u32 kBatch = kGroupsPerThread % 4 == 0 ? 4 : 2;
        static_assert(kGroupsPerThread % kBatch == 0, "whole batches");
        for (u32 first = 0; first < kGroupsPerThread; first += kBatch) {
            float4 sum[kBatch];
            u32 row[kBatch], col[kBatch];
            const float* partial[kBatch];
#pragma unroll
            for (u32 i = 0; i < kBatch; ++i) {
                const u32 g = wg_thread + (first + i) * kWarpgroupThreads;
                row[i] = m_base + warpgroup * kWgmmaM + g / kGroupsPerRow;
                col[i] = tile.n_block * kBlockN + g % kGroupsPerRow * 4;
                const bool valid = row[i] < p.shape_m && col[i] < p.shape_n;
                partial[i] = p.workspace + (valid ? static_cast<u64>(row[i]) * p.shape_n + col[i] : 0);
                sum[i] = load_global_cg_f32x4(partial[i]);
            }
            for (u32 s = 1; s < p.num_splits; ++s) {
#pragma unroll
                for (u32 i = 0; i < kBatch; ++i) {
                    const float4 v = load_global_cg_f32x4(partial[i] + s * split_stride);
                    sum[i].x += v.x;
                    sum[i].y += v.y;
                    sum[i].z += v.z;
                    sum[i].w += v.w;
                }
            }
#pragma unroll
            for (u32 i = 0; i < kBatch; ++i) {
                if (row[i] >= p.shape_m || col[i] >= p.shape_n) continue;
                if constexpr (kOutputF32) {
                    const float* c = p.c + static_cast<u64>(row[i]) * p.ldc + col[i];
                    float* d = static_cast<float*>(p.d) + static_cast<u64>(row[i]) * p.ldd + col[i];
                    const float2 c01 = load_global_f32x2(c);
                    const float2 c23 = load_global_f32x2(c + 2);
                    store_global_f32x2(d, c01.x + sum[i].x, c01.y + sum[i].y);
                    store_global_f32x2(d + 2, c23.x + sum[i].z, c23.y + sum[i].w);
                } else {
                    // D rows are only required to be 8-byte aligned: four BF16 values per store.
                    u16* d = static_cast<u16*>(p.d) + static_cast<u64>(row[i]) * p.ldd + col[i];
                    store_global_u32x2(d, pack_bf16x2(sum[i].x, sum[i].y), pack_bf16x2(sum[i].z, sum[i].w));
                }
            }
        }
        if (wg_thread == 0) *counter = 0;
    }

    // Stream-K (dense): a tile cut between consecutive CTAs. Each range after the first (tile.split >= 1) opens
    // its CTA's run of K blocks; the first range (split 0) closes an earlier CTA's run. So the first range's
    // CTA gets to the tile last, typically after the others have long arrived: it waits for them, adds their
    // partial sums to its accumulators and stores D as an uncut tile would. Waiting cannot deadlock: every
    // CTA is resident (the grid is at most one wave) and it waits only on ranges later CTAs compute before
    // they wait on anything. Partials are kept in fragment order, each thread's accumulators as consecutive
    // 16-byte pieces, so the writes and reads are whole 512-byte runs per warp.
    __device__ static float* piece_partials(const GemmParams& p, const Tile& tile, u32 split, u32 warpgroup) {
        const u32 num_n_blocks = ceil_div(p.shape_n, kBlockN);
        const u64 num_tiles = static_cast<u64>(ceil_div(p.shape_m, kBlockM)) * num_n_blocks;
        const u64 tile_index = tile.m_block * num_n_blocks + tile.n_block;
        return p.workspace + ((split - 1) * num_tiles + tile_index) * (kBlockM * kBlockN) + warpgroup * kWgmmaM * kBlockN;
    }

    __device__ static i32* piece_counter(const GemmParams& p, const Tile& tile, u32 warpgroup) {
        return p.tile_counters + (tile.m_block * ceil_div(p.shape_n, kBlockN) + tile.n_block) * kNumMathWarpgroups +
               warpgroup;
    }

    // A range after the first: hand its partial sums to the tile's first range.
    __device__ static void store_piece(const GemmParams& p, const Tile& tile, u32 warpgroup, u32 wg_thread,
                                       const float* acc) {
        float* partial = piece_partials(p, tile, tile.split, warpgroup) + 4 * wg_thread;
#pragma unroll
        for (u32 j = 0; j < kBlockN / 8; ++j) {
            store_global_f32x4(partial + j * 4 * kWarpgroupThreads, acc[4 * j], acc[4 * j + 1], acc[4 * j + 2],
                               acc[4 * j + 3]);
        }
        // Release: this warpgroup's partial is visible GPU-wide before its arrival is counted.
        __threadfence();
        named_barrier_sync(1 + warpgroup, kWarpgroupThreads);
        if (wg_thread == 0) atomicAdd(piece_counter(p, tile, warpgroup), 1);
    }

    // The first range: add the later ranges' partial sums, in range order (deterministic), to `acc`.
    __device__ static void add_pieces(const GemmParams& p, const Tile& tile, u32 warpgroup, u32 wg_thread,
                                      float* acc) {
        i32* counter = piece_counter(p, tile, warpgroup);
        if (wg_thread == 0) {
            while (load_acquire_gpu_i32(counter) < static_cast<i32>(tile.num_pieces) - 1) {
            }
        }
        named_barrier_sync(1 + warpgroup, kWarpgroupThreads);
        __threadfence();  // acquire for the whole warpgroup, as in store_split
        for (u32 split = 1; split < tile.num_pieces; ++split) {
            const float* partial = piece_partials(p, tile, split, warpgroup) + 4 * wg_thread;
            // Loads in flight together, bounded beside the live accumulators (a 256-wide tile's 128).
            constexpr u32 kPieces = kBlockN / 8;
            constexpr u32 kBatch = kPieces < 8 ? kPieces : 8;
#pragma unroll
            for (u32 first = 0; first < kPieces; first += kBatch) {
                float4 v[kBatch];
#pragma unroll
                for (u32 i = 0; i < kBatch; ++i) v[i] = load_global_cg_f32x4(partial + (first + i) * 4 * kWarpgroupThreads);
#pragma unroll
                for (u32 i = 0; i < kBatch; ++i) {
                    float* a = acc + 4 * (first + i);
                    a[0] += v[i].x;
                    a[1] += v[i].y;
                    a[2] += v[i].z;
                    a[3] += v[i].w;
                }
            }
        }
        // Every range has arrived and nothing else reads the counter in this launch.
        if (wg_thread == 0) *counter = 0;
    }

    // FP32 output (D = C + A·Bᵀ): stores this thread's two rows straight from registers; rows past the
    // valid count, padding rows of the contiguous layout and columns past N are left untouched. C is read a
    // batch of column pairs ahead of the stores: loads and stores are ordered asm (C may be D itself), so
    // loading each pair just before its store put a memory round trip between every two stores.
    __device__ static void store_tile_f32(const GemmParams& p, const Tile& tile, u32 tile_row, u32 lane,
                                          const float* acc) {
        constexpr u32 kPairs = kBlockN / 8;  // column pairs a thread holds per row
        constexpr u32 kBatch = 8;            // pairs of C in flight (16 registers; 16 pairs spilled)
        const u32 col_base = tile.n_block * kBlockN + 2 * (lane % 4);
        const u64 row_offset = kType == GemmType::GroupedMasked ? static_cast<u64>(tile.group) * p.shape_m : 0;
#pragma unroll
        for (u32 half = 0; half < 2; ++half) {
            const u32 row = tile.m_block * kBlockM + tile_row + 8 * half;
            bool valid = row < tile.valid_rows;
            if constexpr (kType == GemmType::GroupedContiguous) {
                valid = valid && load_global_nc_i32(p.group_info + row) == static_cast<i32>(tile.group);
            }
            if (!valid) continue;
            const float* c = p.c + (row_offset + row) * p.ldc;
            float* d = static_cast<float*>(p.d) + (row_offset + row) * p.ldd;
#pragma unroll
            for (u32 first = 0; first < kPairs; first += kBatch) {
                float2 c_pairs[kBatch];
#pragma unroll
                for (u32 i = 0; i < kBatch; ++i) {
                    const u32 col = col_base + 8 * (first + i);
                    if (first + i < kPairs && col < p.shape_n) c_pairs[i] = load_global_f32x2(c + col);
                }
#pragma unroll
                for (u32 i = 0; i < kBatch; ++i) {
                    const u32 j = first + i;
                    const u32 col = col_base + 8 * j;
                    if (j < kPairs && col < p.shape_n) {
                        store_global_f32x2(d + col, c_pairs[i].x + acc[4 * j + 2 * half],
                                           c_pairs[i].y + acc[4 * j + 2 * half + 1]);
                    }
                }
            }
        }
    }
};

}  // namespace fp8gemm
