// Persistent tile scheduler: maps the i-th tile a CTA takes to (group, m block, n block) for the three
// problem layouts. The producer warp and the math warpgroups each run their own copy and, fed the same
// inputs, walk the same sequence, so they never need to exchange tile coordinates.
#pragma once

#include "ptx.cuh"

namespace fp8gemm {

enum class GemmType : int {
    Dense = 0,              // one [M, K] x [N, K]^T problem
    GroupedContiguous = 1,  // experts' rows back to back in A; m_indices[row] names the expert
    GroupedMasked = 2,      // A is [G, M_max, K]; only the first masked_m[g] rows of group g are valid
};

// masked_m[g] clamped to [0, M_max]: a bad count never makes the kernel touch rows it does not own.
__device__ __forceinline__ u32 clamped_masked_rows(const i32* masked_m, u32 g, u32 m_max) {
    const i32 rows = load_global_nc_i32(masked_m + g);
    return rows <= 0 ? 0u : min_of(static_cast<u32>(rows), m_max);
}

struct Tile {
    u32 group;
    u32 m_block;
    u32 n_block;
    u32 valid_rows;  // rows of this group (masked) or of the whole problem (dense, contiguous)
    u32 split;       // dense split-K or stream-K: which of the tile's K ranges this is (0 otherwise)
    u32 num_pieces;  // stream-K: how many K ranges (of consecutive CTAs) the tile is cut into
    u32 k_begin;     // the tile's K blocks: [k_begin, k_end)
    u32 k_end;
    bool skip;       // contiguous layout: the tile's rows are padding or name no valid expert
};

// kGroupN: tiles are walked in bands of kGroupN n blocks, m blocks outer within a band, so the CTAs that
// run at the same time share a few B column panels and A row panels and both stay in L2.
// kClusterN: the CTAs of a cluster take the kClusterN adjacent n blocks of one m block together (they share
// its A tile); the walk is over such cluster tiles, and the n blocks are padded to a multiple of kClusterN,
// so a CTA may get an n block past N: it computes on zero-filled B and stores nothing.
// kStreamK (dense, no cluster): the tiles' K blocks, laid end to end, are dealt out to the CTAs in equal
// contiguous ranges, so every SM streams the same number of K blocks whatever the tile count; a tile cut
// between CTAs is summed by its first range, which waits for the others (Epilogue::add_pieces). The host
// launches at most as many CTAs as there are K blocks in all, so no range is empty, and no more than are
// resident at once, so no wait is on a CTA that has not started.
template <GemmType kType, u32 kBlockM, u32 kBlockN, u32 kGroupN, u32 kClusterN, bool kStreamK = false>
struct TileScheduler {
    static_assert(kGroupN % kClusterN == 0, "bands hold whole cluster tiles");
    static_assert(!kStreamK || (kType == GemmType::Dense && kClusterN == 1), "stream-K: dense, no cluster");
    u32 shape_m;  // dense: M; contiguous: M_total; masked: M_max
    u32 num_m_blocks;
    u32 num_n_clusters;  // groups of kClusterN n blocks: ceil(N / kBlockN / kClusterN)
    u32 cluster_rank;
    u32 num_k_blocks;
    u32 num_splits;       // dense split-K: work units are (tile, split), splits of one tile adjacent
    u32 split_k_blocks;   // K blocks per split (the host makes every split non-empty)
    u32 num_groups;
    const i32* group_info;  // contiguous: m_indices; masked: masked_m
    u32 next_index;
    // Stream-K: this CTA's K blocks of all tiles, [next_block, end_block), and their total.
    u32 next_block = 0;
    u32 end_block = 0;
    u32 total_blocks = 0;

    // Masked layout: the group holding `next_index` and the index of its first tile.
    u32 group = 0;
    u32 group_first_tile = 0;
    u32 group_rows = 0;

    __device__ TileScheduler(u32 shape_m_, u32 shape_n, u32 num_k_blocks_, u32 num_splits_, u32 num_groups_,
                             const i32* group_info_)
        : shape_m(shape_m_),
          num_n_clusters(ceil_div(ceil_div(shape_n, kBlockN), kClusterN)),
          cluster_rank(blockIdx.x % kClusterN),
          num_k_blocks(num_k_blocks_),
          num_splits(kType == GemmType::Dense ? num_splits_ : 1u),
          split_k_blocks(ceil_div(num_k_blocks_, kType == GemmType::Dense ? num_splits_ : 1u)),
          num_groups(num_groups_),
          group_info(group_info_),
          next_index(blockIdx.x / kClusterN) {
        if constexpr (kType == GemmType::GroupedMasked) {
            group_rows = masked_rows(0);
            num_m_blocks = ceil_div(group_rows, kBlockM);
        } else {
            num_m_blocks = ceil_div(shape_m, kBlockM);
        }
        if constexpr (kStreamK) {
            total_blocks = num_m_blocks * num_n_clusters * num_k_blocks;
            next_block = range_start(blockIdx.x);
            end_block = range_start(blockIdx.x + 1);
        }
    }

    // Stream-K: the first K block (of all tiles) of CTA `cta`'s range, and the CTA whose range holds `block`.
    __device__ u32 range_start(u32 cta) const {
        return static_cast<u32>(static_cast<u64>(cta) * total_blocks / gridDim.x);
    }
    __device__ u32 range_owner(u32 block) const {
        return static_cast<u32>(((static_cast<u64>(block) + 1) * gridDim.x - 1) / total_blocks);
    }

    __device__ bool next_stream_k(Tile& tile) {
        if (next_block >= end_block) return false;
        const u32 index = next_block / num_k_blocks;
        const u32 tile_first = index * num_k_blocks;
        tile.k_begin = next_block - tile_first;
        tile.k_end = min_of(num_k_blocks, end_block - tile_first);
        next_block = tile_first + tile.k_end;
        // Consecutive CTAs hold consecutive, non-empty ranges: the tile's ranges are those of its first
        // block's owner through its last block's.
        const u32 first_owner = range_owner(tile_first);
        tile.split = blockIdx.x - first_owner;
        tile.num_pieces = range_owner(tile_first + num_k_blocks - 1) - first_owner + 1;
        swizzle(index, tile);
        tile.valid_rows = shape_m;
        tile.group = 0;
        tile.skip = false;
        return true;
    }

    __device__ u32 masked_rows(u32 g) const { return clamped_masked_rows(group_info, g, shape_m); }

    __device__ void swizzle(u32 index, Tile& tile) const {
        constexpr u32 kBand = kGroupN / kClusterN;
        const u32 band_tiles = num_m_blocks * kBand;
        const u32 band = index / band_tiles;
        const u32 first_n = band * kBand;
        const u32 band_width = min_of(kBand, num_n_clusters - first_n);
        const u32 in_band = index - band * band_tiles;
        tile.m_block = in_band / band_width;
        tile.n_block = (first_n + in_band % band_width) * kClusterN + cluster_rank;
    }

    __device__ bool next(Tile& tile) {
        if constexpr (kStreamK) return next_stream_k(tile);
        u32 index = next_index;
        next_index += gridDim.x / kClusterN;
        tile.skip = false;
        tile.split = 0;
        tile.k_begin = 0;
        tile.k_end = num_k_blocks;
        if constexpr (kType == GemmType::Dense) {
            // The splits of one tile run side by side, so they share its A and B panels in L2.
            tile.split = index % num_splits;
            index /= num_splits;
            tile.k_begin = tile.split * split_k_blocks;
            tile.k_end = min_of(tile.k_begin + split_k_blocks, num_k_blocks);
        }
        if constexpr (kType == GemmType::GroupedMasked) {
            while (index >= group_first_tile + num_m_blocks * num_n_clusters) {
                group_first_tile += num_m_blocks * num_n_clusters;
                if (++group >= num_groups) return false;
                group_rows = masked_rows(group);
                num_m_blocks = ceil_div(group_rows, kBlockM);
            }
            swizzle(index - group_first_tile, tile);
            tile.group = group;
            tile.valid_rows = group_rows;
            return true;
        } else {
            if (index >= num_m_blocks * num_n_clusters) return false;
            swizzle(index, tile);
            tile.valid_rows = shape_m;
            tile.group = 0;
            if constexpr (kType == GemmType::GroupedContiguous) {
                // Segments start at multiples of the contiguous-layout alignment (a multiple of kBlockM),
                // so a tile's first row names its expert; a padding first row means a padding tile.
                const i32 expert = load_global_nc_i32(group_info + tile.m_block * kBlockM);
                tile.skip = expert < 0 || expert >= static_cast<i32>(num_groups);
                tile.group = tile.skip ? 0u : static_cast<u32>(expert);
            }
            return true;
        }
    }
};

}  // namespace fp8gemm
