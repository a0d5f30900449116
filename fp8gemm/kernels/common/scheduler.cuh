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

struct Tile {
    u32 group;
    u32 m_block;
    u32 n_block;
    u32 valid_rows;  // rows of this group (masked) or of the whole problem (dense, contiguous)
    bool skip;       // contiguous layout: the tile's rows are padding or name no valid expert
};

// kGroupN: tiles are walked in bands of kGroupN n blocks, m blocks outer within a band, so the CTAs that
// run at the same time share a few B column panels and A row panels and both stay in L2.
template <GemmType kType, u32 kBlockM, u32 kBlockN, u32 kGroupN>
struct TileScheduler {
    u32 shape_m;  // dense: M; contiguous: M_total; masked: M_max
    u32 num_m_blocks;
    u32 num_n_blocks;
    u32 num_groups;
    const i32* group_info;  // contiguous: m_indices; masked: masked_m
    u32 next_index;

    // Masked layout: the group holding `next_index` and the index of its first tile.
    u32 group = 0;
    u32 group_first_tile = 0;
    u32 group_rows = 0;

    __device__ TileScheduler(u32 shape_m_, u32 shape_n, u32 num_groups_, const i32* group_info_)
        : shape_m(shape_m_),
          num_n_blocks(ceil_div(shape_n, kBlockN)),
          num_groups(num_groups_),
          group_info(group_info_),
          next_index(blockIdx.x) {
        if constexpr (kType == GemmType::GroupedMasked) {
            group_rows = masked_rows(0);
            num_m_blocks = ceil_div(group_rows, kBlockM);
        } else {
            num_m_blocks = ceil_div(shape_m, kBlockM);
        }
    }

    // masked_m[g] clamped to [0, M_max]: a bad count never makes the kernel touch rows it does not own.
    __device__ u32 masked_rows(u32 g) const {
        const i32 rows = load_global_nc_i32(group_info + g);
        return rows <= 0 ? 0u : min_of(static_cast<u32>(rows), shape_m);
    }

    __device__ void swizzle(u32 index, Tile& tile) const {
        const u32 band_tiles = num_m_blocks * kGroupN;
        const u32 band = index / band_tiles;
        const u32 first_n = band * kGroupN;
        const u32 band_width = min_of(kGroupN, num_n_blocks - first_n);
        const u32 in_band = index - band * band_tiles;
        tile.m_block = in_band / band_width;
        tile.n_block = first_n + in_band % band_width;
    }

    __device__ bool next(Tile& tile) {
        const u32 index = next_index;
        next_index += gridDim.x;
        tile.skip = false;
        if constexpr (kType == GemmType::GroupedMasked) {
            while (index >= group_first_tile + num_m_blocks * num_n_blocks) {
                group_first_tile += num_m_blocks * num_n_blocks;
                if (++group >= num_groups) return false;
                group_rows = masked_rows(group);
                num_m_blocks = ceil_div(group_rows, kBlockM);
            }
            swizzle(index - group_first_tile, tile);
            tile.group = group;
            tile.valid_rows = group_rows;
            return true;
        } else {
            if (index >= num_m_blocks * num_n_blocks) return false;
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
