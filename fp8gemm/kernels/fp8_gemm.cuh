// FP8 GEMM with fine-grained scaling: D = A · Bᵀ (BF16 out) or D = C + A · Bᵀ (FP32 out).
//
//   A  [rows, K]  e4m3, one FP32 scale per row per 128-wide K block (sfa, MN-major: [K/128][M_pad])
//   B  [N, K]     e4m3, one FP32 scale per 128x128 block (sfb: [groups][ceil(N/128)][ceil(K/128)])
//
// Warp-specialised and persistent: the last warpgroup's first thread issues TMA loads into a ring of
// kNumStages shared-memory stages ("full"/"empty" mbarrier pair per stage); each math warpgroup owns 64 rows
// of the BLOCK_M x BLOCK_N tile. Per 128-wide K block a math warpgroup issues four m64nNk32 FP8 wgmmas into
// fresh FP32 registers, then folds them into the running accumulators times sfa[row] * sfb[block] on the CUDA
// cores ("promotion"): the tensor cores' FP8 accumulation is only ~22 bits wide, so no more than one K block
// is ever summed there.
#pragma once

#include "common/dispatch.cuh"
#include "common/ptx.cuh"
#include "common/scheduler.cuh"
#include "common/wgmma.cuh"
#include "epilogue.cuh"
#include "gemm_params.cuh"

namespace fp8gemm {

// setmaxnreg budgets: the producer needs few registers; math warpgroups hold 2 x BLOCK_N/2 accumulators.
// 128 x 40 + 256 x 232 = 64512 fits the 65536-register file at one CTA per SM.
constexpr u32 kProducerRegisters = 40;
constexpr u32 kMathRegisters = 232;
// Widest tile whose accumulators and products (BLOCK_N/2 each a thread) fit kMathRegisters together.
constexpr u32 kMaxWholePartN = 192;
// Walk order band width (see TileScheduler): 16 n blocks keep a band's B panels within a few MB of L2.
constexpr u32 kSchedulerGroupN = 16;

// A position in the ring of shared-memory stages: the stage and the parity of the trips round the ring
// so far. Stepped one block at a time; computing both from a running block count costs a division by the
// (often odd) stage count per block, on the issue path of every wgmma.
template <u32 kNumStages>
struct StageCursor {
    u32 stage = 0;
    u32 phase = 0;

    __device__ __forceinline__ void advance() {
        if (++stage == kNumStages) {
            stage = 0;
            phase ^= 1u;
        }
    }
};

// One K block's scales as a math thread promotes with them: A's for its two rows, B's for the tile's
// first, second and third 128-column blocks (repeated where the tile touches fewer).
struct BlockScales {
    float a0, a1;
    float b0, b1, b2;
};

// A tile's split between two B scale blocks chosen at each promotion rather than once per tile (no split
// is at column 0).
using SplitPerBlock = Const<0>;

__host__ __device__ constexpr u32 gcd_of(u32 a, u32 b) { return b == 0 ? a : gcd_of(b, a % b); }

template <GemmType kType, u32 kBlockM, u32 kBlockN, u32 kNumStages, bool kOutputF32, u32 kClusterN,
          bool kStreamK = false>
struct Fp8Gemm {
    static constexpr u32 kNumMathWarpgroups = kBlockM / kWgmmaM;
    static constexpr u32 kNumMathThreads = kNumMathWarpgroups * kWarpgroupThreads;
    static constexpr u32 kNumThreads = kNumMathThreads + kWarpgroupThreads;
    static constexpr u32 kAccRegs = kBlockN / 2;  // m64nN FP32 fragment: N/2 values per thread

    // A tile wider than kMaxWholePartN (block_n = 256: 128 accumulators a thread) takes each K block's
    // products in parts: acc and the whole width's products would not fit the math warpgroups' registers.
    // The wide tile halves B's share of the operand bytes per FLOP, which bounds 128 x 128 tiles at large M
    // (their loads alone take as long as the whole kernel: docs/performance.md, run 6). 128-row tiles whose
    // width is a multiple of 64 take four quarter parts through two product sets (acc + 2 x 32 registers),
    // each part's wgmmas running while the part before is promoted: 2.5% less kernel time than two halves
    // with the warpgroups taking turns (geomean of four large problems, 0.957-0.987 each; run 31).
    // Others keep two halves: 64-row tiles' stream-K FP32 kernel spills with quarters, and halves of 224
    // columns are 112 wide and may straddle B scale blocks.
    static constexpr u32 kWideParts = kBlockN % 64 == 0 && kBlockM == 128 ? 4 : 2;
    static constexpr u32 kPartN = kBlockN > kMaxWholePartN ? kBlockN / kWideParts : kBlockN;
    static constexpr u32 kNumParts = kBlockN / kPartN;
    static constexpr u32 kPartRegs = kPartN / 2;
    // The epilogue stages a wide tile's output in halves whatever its product parts.
    static constexpr u32 kStagePartN = kBlockN > kMaxWholePartN ? kBlockN / 2 : kBlockN;

    static constexpr u32 kSmemA = kBlockM * kBlockK;
    static constexpr u32 kSmemB = kBlockN * kBlockK;
    static constexpr u32 kSmemSfa = kBlockM * sizeof(float);
    static constexpr u32 kStageTxBytes = kSmemA + kSmemB + kSmemSfa;
    // A tile whose n range crosses a 128-column boundary needs two B scales per K block, three where it
    // crosses two (176 and 224 columns). Tiles start at multiples of BLOCK_N, so the first boundary falls a
    // multiple of gcd(BLOCK_N, 128) columns into the tile, at most 128 - gcd columns in.
    static constexpr bool kMayStraddle = kScaleBlock % kBlockN != 0;
    static constexpr u32 kSplitStep = gcd_of(kBlockN, kScaleBlock);
    static constexpr u32 kMaxScaleBlocks = (kScaleBlock - kSplitStep + kBlockN - 1) / kScaleBlock + 1;
    // B's scales of the stage's K block (cp.async, not TMA: a TMA box is at least 16 bytes), in a slot of
    // an even number of words, which keeps the barriers after them 8-byte aligned.
    static constexpr u32 kSmemSfb = (kMaxScaleBlocks + 1) / 2 * 2 * sizeof(float);
    using Epilogue = GemmEpilogue<kType, kBlockM, kBlockN, kStagePartN, kOutputF32>;
    // One word per math warpgroup: whether it was the last of a split-K tile's K ranges to arrive.
    static constexpr u32 kSmemFlags = 16;
    // No alignment slack: the dynamic shared memory base is 1024-byte aligned (the swizzle atom) as launched
    // here, and the kernel traps if a launch ever hands it one that is not.
    static constexpr u32 kSmemBytes =
        kNumStages * (kStageTxBytes + kSmemSfb) + Epilogue::kSmemStaging + 2 * kNumStages * sizeof(u64) + kSmemFlags;

    // Two product sets (promote one while the next wgmmas fill the other) cost one more set of registers:
    // with the running accumulators, 3 x BLOCK_N/2 for whole-width products (fits kMathRegisters up to
    // 128 columns), or BLOCK_N/2 + 2 x kPartRegs for parts.
    static constexpr bool kOverlap = (kNumParts == 1 ? 3 * kAccRegs : kAccRegs + 2 * kPartRegs) + 40 <= kMathRegisters;
    // With one product set the two math warpgroups take turns issuing their wgmma groups (each waits at a
    // named barrier until the other has issued its previous group), so the tensor cores run one
    // warpgroup's group while the other promotes. Left alone they fall into step, and both promote at once
    // while the tensor cores idle.
    static constexpr bool kTakeTurns = !kOverlap && kNumMathWarpgroups == 2;
    // With one product set or with parts, a tile's epilogue runs while the next tile's first wgmmas do: 5-10%
    // faster at M = 4096 with 128 x 192 and 128 x 256 tiles (docs/performance.md, run 23), and 0-8% for the
    // quarter parts against their epilogue with nothing in flight (run 31). Not with FP32 out or stream-K:
    // C's loads, or the partial sums', beside the accumulators and the products in flight spill.
    static constexpr bool kEpilogueUnderWgmma = (!kOverlap || kNumParts > 1) && !kOutputF32 && !kStreamK;
    static constexpr u32 kTurnBarrier = 3;  // and 4; 0 is __syncthreads', 1-2 the epilogue's

    // With a cluster, each CTA loads 1/kClusterN of the A tile and multicasts it to the whole cluster.
    static constexpr u32 kSmemAPart = kSmemA / kClusterN;
    static constexpr u32 kRowsAPart = kBlockM / kClusterN;

    static_assert(kBlockM == 64 || kBlockM == 128, "one or two math warpgroups of 64 rows");
    static_assert(kClusterN == 1 || kClusterN == 2, "clusters of one or two CTAs along N");
    static_assert(kSmemAPart % kSwizzleAtomBytes == 0, "each multicast part stays swizzle-atom aligned");
    static_assert(kBlockN % 16 == 0 && kBlockN >= 16 && kBlockN <= 256, "wgmma N");
    static_assert(kSmemA % kSwizzleAtomBytes == 0 && kSmemB % kSwizzleAtomBytes == 0,
                  "stages must keep every tile 1024-byte aligned");

    __device__ static void run(const GemmParams& p) { run(p, p.tma_b); }

    // tma_b: B's descriptor for this tile width, where it is not p's own (the masked kernel's other widths
    // share every other parameter with its first: fp8gemm::MaskedWidthParams).
    __device__ static void run(const GemmParams& p, const TmaDescriptor& tma_b) {
        extern __shared__ u8 smem_raw[];
        // The base is 1024-byte aligned in practice (checked below, no slack is allocated). Computed this way
        // rather than declared aligned: as the symbol's constant address, ptxas rebuilds the base at every
        // use, two more instructions per K block in the main loop.
        const Smem smem_parts{smem_raw + ((1024u - (smem_u32(smem_raw) & 1023u)) & 1023u)};
        const u32 thread = threadIdx.x;
        if (thread == kNumMathThreads) {
            if (dynamic_smem_bytes() < kSmemBytes) __trap();  // launched with the wrong config
            if (smem_u32(smem_raw) % kSwizzleAtomBytes != 0) __trap();  // no slack to align it ourselves
            tma_prefetch_descriptor(&p.tma_a);
            tma_prefetch_descriptor(&tma_b);
            tma_prefetch_descriptor(&p.tma_sfa);
            if (p.tma_store) tma_prefetch_descriptor(&p.tma_d);
#pragma unroll
            for (u32 s = 0; s < kNumStages; ++s) {
                // The producer's expect-tx arrival (TMA bytes) and its cp.async arrival (B's scales).
                mbarrier_init(smem_parts.full_bar(s), 2);
                // One lane of each math warp of every CTA in the cluster: a stage is refilled (in all of
                // them, by multicast) only once every consumer has released it.
                mbarrier_init(smem_parts.empty_bar(s), kClusterN * kNumMathThreads / 32);
            }
            fence_barrier_init();
            fence_proxy_async_shared();
        }
        // Peers arrive on this CTA's barriers and write its smem: they must see them initialised.
        if constexpr (kClusterN > 1) {
            cluster_sync();
        } else {
            __syncthreads();
        }

        // Everything the two roles keep is built after setmaxnreg: values live across it count against
        // the kernel's entry budget (65536 / kNumThreads registers), not the math warpgroups' larger one.
        if (thread >= kNumMathThreads) {
            warpgroup_reg_dealloc<kProducerRegisters>();
            if (thread == kNumMathThreads) produce(p, tma_b, smem_parts);
        } else {
            warpgroup_reg_alloc<kMathRegisters>();
            consume(p, smem_parts, thread);
        }
        // A CTA leaves only once its peers have stopped arriving on its barriers and writing its smem.
        if constexpr (kClusterN > 1) {
            __syncwarp();
            cluster_sync();
        }
    }

    using Scheduler = TileScheduler<kType, kBlockM, kBlockN, kSchedulerGroupN, kClusterN, kStreamK>;

    __device__ static Scheduler make_scheduler(const GemmParams& p, u32 num_k_blocks) {
        return Scheduler(p.shape_m, p.shape_n, num_k_blocks, p.num_splits, p.num_groups, p.group_info);
    }

    // The dynamic shared memory, carved at compile-time offsets from one 1024-byte aligned base (one register
    // for the producer to keep, within its 40): stage 0 of each ring as the 32-bit shared-memory address TMA,
    // wgmma and the barriers take. The staging size is a multiple of 128 bytes (64 rows of 16-byte multiples),
    // so sfa stays TMA-aligned.
    struct Smem {
        static constexpr u32 kOffsetB = kNumStages * kSmemA;
        static constexpr u32 kOffsetStaging = kOffsetB + kNumStages * kSmemB;
        static constexpr u32 kOffsetSfa = kOffsetStaging + Epilogue::kSmemStaging;
        static constexpr u32 kOffsetSfb = kOffsetSfa + kNumStages * kSmemSfa;
        static constexpr u32 kOffsetFull = kOffsetSfb + kNumStages * kSmemSfb;
        static constexpr u32 kOffsetEmpty = kOffsetFull + kNumStages * sizeof(u64);
        static constexpr u32 kOffsetFlags = kOffsetEmpty + kNumStages * sizeof(u64);
        static_assert(kOffsetFlags + kSmemFlags == kSmemBytes, "the carve-up covers kSmemBytes");

        u8* base;

        __device__ __forceinline__ u32 addr(u32 offset) const { return smem_u32(base) + offset; }
        __device__ __forceinline__ u32 a() const { return addr(0); }
        __device__ __forceinline__ u32 b() const { return addr(kOffsetB); }
        __device__ __forceinline__ u32 sfa() const { return addr(kOffsetSfa); }
        __device__ __forceinline__ u32 sfb() const { return addr(kOffsetSfb); }
        __device__ __forceinline__ u32 empty() const { return addr(kOffsetEmpty); }
        __device__ __forceinline__ u32 full_bar(u32 stage) const { return addr(kOffsetFull) + stage * sizeof(u64); }
        __device__ __forceinline__ u32 empty_bar(u32 stage) const { return empty() + stage * sizeof(u64); }
        __device__ __forceinline__ u8* staging() const { return base + kOffsetStaging; }
        __device__ __forceinline__ u32* flags() const { return reinterpret_cast<u32*>(base + kOffsetFlags); }
    };

    // The tile's B scale rows, the 128-column blocks it touches (a row repeats the one before where the tile
    // ends inside that one, or lies past N), each indexed by K block, as element offsets into sfb: 32-bit,
    // so the producer keeps one register per row within its 40. A cluster's padding n block lies past N: its
    // lookups are clamped (it stores nothing).
    struct BScaleRows {
        u32 first;
        u32 second;
        u32 third;
        u32 second_col;  // tile column where the second row's block begins (the third's: 128 further)
    };

    __device__ __forceinline__ static BScaleRows b_scale_rows(const GemmParams& p, const Tile& tile, u32 num_k_blocks) {
        const u32 num_scale_n = ceil_div(p.shape_n, kScaleBlock);
        const u32 n_base = tile.n_block * kBlockN;
        const u32 scale_n0 = min_of(n_base / kScaleBlock, num_scale_n - 1);
        const u32 scale_n1 = min_of(scale_n0 + 1, num_scale_n - 1);
        const u32 scale_n2 = min_of(scale_n0 + 2, num_scale_n - 1);
        const u32 group = tile.group * num_scale_n * num_k_blocks;
        return {group + scale_n0 * num_k_blocks, group + scale_n1 * num_k_blocks, group + scale_n2 * num_k_blocks,
                (scale_n0 + 1) * kScaleBlock - n_base};
    }

    // One thread: fills stage after stage with K blocks of the tiles this CTA computes, in the same order
    // the math warpgroups consume them (both walk their own copy of the scheduler).
    __device__ static void produce(const GemmParams& p, const TmaDescriptor& tma_b, const Smem& smem) {
        const u32 num_k_blocks = ceil_div(p.shape_k, kBlockK);
        Scheduler scheduler = make_scheduler(p, num_k_blocks);
        const u32 cluster_rank = kClusterN > 1 ? cluster_cta_rank() : 0u;
        constexpr u16 kClusterMask = (1u << kClusterN) - 1u;
        // B that one m block reads (each tile once) is loaded evict-first from L2: 2-9% faster at M <= 128 on
        // the H200 (docs/performance.md, run 17). Every other dense or contiguous launch loads it evict-normal:
        // a branch between the hinted and the unhinted load cost 3-5% there. Masked kernels never hint: the
        // hinted load made them 5-8% slower at G = 2 and 4 on the H100 (run 19, level at G = 1).
        const u64 b_policy = p.b_evict_first ? l2_policy_evict_first() : l2_policy_evict_normal();
        Tile tile;
        StageCursor<kNumStages> fill_at;
        while (scheduler.next(tile)) {
            if (tile.skip) continue;
            const i32 a_row = (kType == GemmType::GroupedMasked ? tile.group * p.shape_m : 0u) +
                              tile.m_block * kBlockM;
            const i32 b_row = (kType == GemmType::Dense ? 0u : tile.group * p.shape_n) + tile.n_block * kBlockN;
            const i32 sfa_row = kType == GemmType::GroupedMasked ? tile.group * num_k_blocks : 0u;
            const BScaleRows sfb = b_scale_rows(p, tile, num_k_blocks);
            // Not unrolled: one thread issuing a few copies per K block is never the bottleneck, and the
            // unrolled copies' live values do not fit the producer's 40 registers.
#pragma unroll 1
            for (u32 k = tile.k_begin; k < tile.k_end; ++k, fill_at.advance()) {
                const u32 s = fill_at.stage;
                const u32 full = smem.full_bar(s);
                mbarrier_wait(smem.empty_bar(s), fill_at.phase ^ 1u);
                // The whole A tile arrives (its parts from every CTA of the cluster), plus this CTA's B and sfa.
                mbarrier_arrive_expect_tx(full, kStageTxBytes);
                const i32 k_elem = k * kBlockK;
                const u32 a_part = smem.a() + s * kSmemA + cluster_rank * kSmemAPart;
                const i32 a_part_row = a_row + cluster_rank * kRowsAPart;
                if constexpr (kClusterN > 1) {
                    tma_load_2d_multicast(a_part, &p.tma_a, full, k_elem, a_part_row, kClusterMask);
                } else {
                    tma_load_2d(a_part, &p.tma_a, full, k_elem, a_part_row);
                }
                if constexpr (kType == GemmType::GroupedMasked) {
                    tma_load_2d(smem.b() + s * kSmemB, &tma_b, full, k_elem, b_row);
                } else {
                    tma_load_2d(smem.b() + s * kSmemB, &tma_b, full, k_elem, b_row, b_policy);
                }
                tma_load_2d(smem.sfa() + s * kBlockM * sizeof(float), &p.tma_sfa, full, tile.m_block * kBlockM,
                            sfa_row + k);
                // B's scales arrive with the stage: the math warps read them from shared memory, off the
                // L2 round trip that a load per K block put on their critical path.
                cp_async_4(smem.sfb() + s * kSmemSfb, p.sfb + sfb.first + k);
                if constexpr (kMaxScaleBlocks > 1) {
                    cp_async_4(smem.sfb() + s * kSmemSfb + sizeof(float), p.sfb + sfb.second + k);
                }
                if constexpr (kMaxScaleBlocks > 2) {
                    cp_async_4(smem.sfb() + s * kSmemSfb + 2 * sizeof(float), p.sfb + sfb.third + k);
                }
                cp_async_mbarrier_arrive(full);
            }
        }
    }

    __device__ static void consume(const GemmParams& p, const Smem& smem, u32 thread) {
        const u32 num_k_blocks = ceil_div(p.shape_k, kBlockK);
        Scheduler scheduler = make_scheduler(p, num_k_blocks);
        // Warp-uniform by construction; the shuffle tells the compiler, which then keeps the descriptor
        // arithmetic below in uniform registers instead of moving it there before every wgmma.
        const u32 warpgroup = warp_uniform(thread / kWarpgroupThreads);
        const u32 lane = thread % 32;
        // wgmma fragment: this thread holds rows r and r + 8 of its warp's 16, columns 8j + 2(lane % 4) + {0,1}.
        const u32 tile_row = warpgroup * kWgmmaM + (thread % kWarpgroupThreads) / 32 * 16 + lane / 4;
        // Descriptor start fields of stage 0 (this warpgroup's 64 rows of A, and B); stages are whole
        // multiples of 16 bytes apart, so every other stage and K step is a constant away.
        const u32 desc_a0 = sw128_desc_start(smem.a() + warpgroup * kWgmmaM * kBlockK);
        const u32 desc_b0 = sw128_desc_start(smem.b());
        // Lane r of each math warp releases stages in CTA r of the cluster (the others never arrive).
        const u32 release_bar0 = kClusterN > 1 ? cluster_map_shared(smem.empty(), lane % kClusterN) : smem.empty();
        const u32 sfa_thread = smem.sfa() + tile_row * sizeof(float);
        // Carried across tiles: the stage of the next block to issue.
        StageCursor<kNumStages> issue_at;

        float acc[kAccRegs];
        // K block k's products land in prod0 / prod1 alternately; with kOverlap the next block's wgmmas run
        // into one set while the other is promoted, so a promotion never leaves the tensor cores idle.
        float prod0[kPartRegs];
        float prod1[kOverlap ? kPartRegs : 1];

        // The tile being promoted, and the next one the wgmmas have started on.
        Tile tile;
        Tile next;
        bool next_live = false;
        u32 second_scale_col = 0;
        auto next_live_tile = [&]() {
            while (scheduler.next(next)) {
                if (!next.skip) return true;
            }
            return false;
        };
        auto start_tile = [&]() {
            tile = next;
            second_scale_col = warp_uniform(b_scale_rows(p, tile, num_k_blocks).second_col);
#pragma unroll
            for (u32 i = 0; i < kAccRegs; ++i) acc[i] = 0.0f;
        };

        // Waits for the next block's stage to fill and returns it.
        auto wait_stage = [&]() {
            const u32 s = warp_uniform(issue_at.stage);
            mbarrier_wait(smem.full_bar(s), issue_at.phase);
            return s;
        };
        // Issues the four wgmmas (one commit group) of one part of the block in `stage` into `prod`.
        auto issue_part = [&](float* prod, u32 stage, u32 part) {
            const u32 desc_a = desc_a0 + stage * (kSmemA >> 4);
            const u32 desc_b = desc_b0 + stage * (kSmemB >> 4) + part * (kPartN * kSwizzleBytes >> 4);
            fence_registers<kPartRegs>(prod);
            wgmma_fence();
#pragma unroll
            for (u32 kk = 0; kk < kBlockK / kWgmmaK; ++kk) {
                WgmmaFp8<kPartN>::mma(sw128_desc(desc_a + kk * kWgmmaKDescStep),
                                      sw128_desc(desc_b + kk * kWgmmaKDescStep), prod, kk > 0);
            }
            wgmma_commit();
        };
        // With one product set the math warpgroups take turns issuing their wgmma groups (see kTakeTurns).
        auto issue_in_turn = [&](u32 stage, u32 part) {
            if constexpr (kTakeTurns) named_barrier_sync(kTurnBarrier + warpgroup, 2 * kWarpgroupThreads);
            issue_part(prod0, stage, part);
            if constexpr (kTakeTurns) named_barrier_arrive(kTurnBarrier + (warpgroup ^ 1u), 2 * kWarpgroupThreads);
        };
        // The next tile's first block, issued where a tile's last promotion has freed prod0 and before that
        // tile's epilogue, so the tensor cores work through the epilogue. With no tile left, the same wgmmas
        // run on a stage no load writes any more (the producer is done) and their products are dropped: a
        // wgmma on one arm of a branch only makes ptxas serialise them all.
        auto issue_next_tile = [&]() {
            next_live = next_live_tile();
            const u32 s = warp_uniform(issue_at.stage);
            if (next_live) mbarrier_wait(smem.full_bar(s), issue_at.phase);
            issue_in_turn(s, 0);
            if (next_live) issue_at.advance();
            return s;
        };

        // A's scales of a block (this thread's two rows) and B's (one to three), read before the wgmma wait
        // that precedes its promotion (the wait's memory clobber keeps the loads above it), so their smem
        // latency overlaps the MMAs.
        auto block_scales = [&](u32 stage) {
            const u32 a_addr = sfa_thread + stage * (kBlockM * sizeof(float));
            const u32 b_addr = smem.sfb() + stage * kSmemSfb;
            BlockScales sc;
            sc.b0 = load_shared_f32(b_addr);
            sc.a0 = load_shared_f32(a_addr);
            sc.a1 = load_shared_f32(a_addr + 8 * sizeof(float));
            sc.b1 = kMaxScaleBlocks > 1 ? load_shared_f32(b_addr + sizeof(float)) : sc.b0;
            sc.b2 = kMaxScaleBlocks > 2 ? load_shared_f32(b_addr + 2 * sizeof(float)) : sc.b1;
            return sc;
        };
        // Hands the stage back to every producer that wrote into it (its wgmmas have completed).
        auto release = [&](u32 stage) {
            if constexpr (kClusterN > 1) {
                if (lane < kClusterN) mbarrier_arrive_remote(release_bar0 + stage * sizeof(u64));
            } else {
                if (lane == 0) mbarrier_arrive(release_bar0 + stage * sizeof(u64));
            }
        };
        // Folds the finished products of one part of a block into acc, with B's first scale left of tile
        // column kSplit, its second from there on and its third from kSplit + 128.
        auto promote_split = [&](float* prod, u32 part, const BlockScales& sc, auto split) {
            constexpr u32 kSplit = decltype(split)::value;
            const float first0 = sc.a0 * sc.b0, first1 = sc.a1 * sc.b0;
            const float second0 = sc.a0 * sc.b1, second1 = sc.a1 * sc.b1;
            const float third0 = sc.a0 * sc.b2, third1 = sc.a1 * sc.b2;
#pragma unroll
            for (u32 j = 0; j < kPartN / 8; ++j) {
                const u32 col = part * kPartN + 8 * j;
                const bool third = col >= kSplit + kScaleBlock;
                const float s0 = third ? third0 : col >= kSplit ? second0 : first0;
                const float s1 = third ? third1 : col >= kSplit ? second1 : first1;
                float* out = acc + 4 * (col / 8);
                out[0] += s0 * prod[4 * j + 0];
                out[1] += s0 * prod[4 * j + 1];
                out[2] += s1 * prod[4 * j + 2];
                out[3] += s1 * prod[4 * j + 3];
            }
        };
        // Folds the finished products of one part of a block into acc, B's scale switching at tile column
        // `split` (a Const); SplitPerBlock: at the tile's own split, picked among unrolled copies.
        auto promote = [&](float* prod, u32 part, const BlockScales& scales, auto split) {
            fence_registers<kPartRegs>(prod);
            if constexpr (decltype(split)::value == SplitPerBlock::value) {
                with_case<1, kScaleBlock / kSplitStep>(second_scale_col / kSplitStep, [&](auto split_steps) {
                    promote_split(prod, part, scales, Const<decltype(split_steps)::value * kSplitStep>{});
                });
            } else {
                promote_split(prod, part, scales, split);
            }
        };
        // The tile's accumulators to D (or to its split-K / stream-K partner ranges).
        auto finish_tile = [&]() {
            const bool cut = kStreamK && tile.num_pieces > 1;
            if (cut && tile.split != 0) {
                Epilogue::store_piece(p, tile, warpgroup, thread % kWarpgroupThreads, acc);
                return;
            }
            if (cut) Epilogue::add_pieces(p, tile, warpgroup, thread % kWarpgroupThreads, acc);
            if (!kStreamK && kType == GemmType::Dense && p.num_splits > 1) {
                Epilogue::store_split(p, tile, smem.flags() + warpgroup, warpgroup, thread % kWarpgroupThreads, acc);
            } else if (kOutputF32) {
                Epilogue::store_tile_f32(p, tile, tile_row, lane, acc);
            } else {
                Epilogue::store_tile_staged(p, tile, smem.staging() + warpgroup * Epilogue::kStagingBytesPerWarpgroup,
                                            warpgroup, thread % kWarpgroupThreads, acc);
            }
        };

        // With kEpilogueUnderWgmma: the stage of the tile's first block, issued before the previous epilogue.
        u32 first_stage = 0;
        // Two product sets of whole-width products: a tile's K loop issues its first block itself and ends
        // with nothing in flight. (Its first block issued under the previous tile's epilogue, in one loop over
        // every tile's blocks, measured 7-18% slower at M = 4096 in two versions: docs/performance.md, run 23.)
        // With parts, the next tile's first part is issued before the epilogue (kEpilogueUnderWgmma).
        auto k_loop_two_sets = [&](auto split) {
            const u32 num_blocks = tile.k_end - tile.k_begin;
            auto issue = [&](float* prod) {
                const u32 s = wait_stage();
                issue_part(prod, s, 0);
                issue_at.advance();
                return s;
            };
            // Waits until at most `pending` wgmma groups are in flight, so that the oldest, in `prod` from
            // `stage`, has landed; hands the stage back and promotes the products.
            auto retire = [&](float* prod, u32 stage, auto pending) {
                const BlockScales sc = block_scales(stage);
                wgmma_wait<decltype(pending)::value>();
                release(stage);
                promote(prod, 0, sc, split);
            };
            if constexpr (kNumParts > 1) {
                // Parts alternate between the sets; with an even number of parts each block starts in prod0.
                static_assert(kNumParts % 2 == 0, "a block's first part in prod0");
                u32 stage = kEpilogueUnderWgmma ? first_stage : issue(prod0);
                // The first part, issued before the epilogue, landed during it; waiting for it here costs
                // nothing and tells ptxas it is done (otherwise it serialises every wgmma, C7514).
                if constexpr (kEpilogueUnderWgmma) wgmma_wait<0>();
                // Promotes each part of the block but the last while the next part's wgmmas run.
                auto promote_leading_parts = [&](u32 stage, const BlockScales& sc) {
#pragma unroll
                    for (u32 part = 0; part + 1 < kNumParts; ++part) {
                        issue_part(part % 2 ? prod0 : prod1, stage, part + 1);
                        wgmma_wait<1>();
                        promote(part % 2 ? prod1 : prod0, part, sc, split);
                    }
                };
                // The last part is promoted while the next block's first runs.
                auto block_then_next = [&](u32 stage) {
                    const BlockScales sc = block_scales(stage);
                    promote_leading_parts(stage, sc);
                    const u32 next = issue(prod0);
                    wgmma_wait<1>();
                    release(stage);
                    promote(prod1, kNumParts - 1, sc, split);
                    return next;
                };
                auto last_block = [&](u32 stage) {
                    const BlockScales sc = block_scales(stage);
                    promote_leading_parts(stage, sc);
                    if constexpr (kEpilogueUnderWgmma) {
                        first_stage = issue_next_tile();
                        wgmma_wait<1>();
                    } else {
                        wgmma_wait<0>();
                    }
                    release(stage);
                    promote(prod1, kNumParts - 1, sc, split);
                };
                // Two blocks a trip and the tail as two arms, the shape of the one-part loop below: ptxas
                // serialises every wgmma (C7514) when the loop takes one block a trip with the last peeled.
                u32 i = 0;
                for (; i + 2 < num_blocks; i += 2) {
                    stage = block_then_next(stage);
                    stage = block_then_next(stage);
                }
                if (i + 1 < num_blocks) {
                    last_block(block_then_next(stage));
                } else {
                    last_block(stage);
                }
                return;
            }
            // Every path reaches the loop head with exactly block i in flight in prod0 and leaves the tail with
            // nothing in flight: ptxas serialises wgmmas whose in-flight state differs between the arms of a
            // branch (C7518).
            u32 stage0 = issue(prod0);
            u32 i = 0;
            for (; i + 2 < num_blocks; i += 2) {
                const u32 stage1 = issue(prod1);
                retire(prod0, stage0, Const<1>{});
                stage0 = issue(prod0);
                retire(prod1, stage1, Const<1>{});
            }
            if (i + 1 < num_blocks) {
                const u32 stage1 = issue(prod1);
                retire(prod0, stage0, Const<1>{});
                retire(prod1, stage1, Const<0>{});
            } else {
                retire(prod0, stage0, Const<0>{});
            }
        };
        // One product set: the other math warpgroup's wgmmas keep the tensor cores busy while this one
        // promotes. With kEpilogueUnderWgmma a tile's K loop starts with its first block in flight (issued by
        // the tile before, or before the first tile) and leaves the next tile's first block in flight.
        auto k_loop_one_set = [&](auto split) {
            u32 stage = first_stage;
            const u32 num_blocks = tile.k_end - tile.k_begin;
            for (u32 i = 0; i < num_blocks; ++i) {
                if constexpr (!kEpilogueUnderWgmma) {
                    stage = wait_stage();
                    issue_in_turn(stage, 0);
                    issue_at.advance();
                }
                const BlockScales sc = block_scales(stage);
#pragma unroll
                for (u32 part = 0; part < kNumParts; ++part) {
                    if (part > 0) issue_in_turn(stage, part);
                    wgmma_wait<0>();
                    if (part + 1 == kNumParts) release(stage);
                    promote(prod0, part, sc, split);
                }
                if constexpr (kEpilogueUnderWgmma) {
                    // Both arms leave one block in flight: this tile's next, or the next tile's first.
                    if (i + 1 < num_blocks) {
                        stage = wait_stage();
                        issue_in_turn(stage, 0);
                        issue_at.advance();
                    } else {
                        first_stage = issue_next_tile();
                    }
                }
            }
        };
        auto k_loop = [&](auto split) {
            if constexpr (kOverlap) {
                k_loop_two_sets(split);
            } else {
                k_loop_one_set(split);
            }
        };

        // Warpgroup 0 issues first; each issue then hands the turn to the other warpgroup.
        if (kTakeTurns && warpgroup == 1) named_barrier_arrive(kTurnBarrier, 2 * kWarpgroupThreads);
        if constexpr (kEpilogueUnderWgmma) {
            first_stage = issue_next_tile();
        } else {
            next_live = next_live_tile();
        }
        while (next_live) {
            start_tile();
            // B's scale switches at tile column `split` (and again 128 columns further). Tiles a whole number of
            // 128 columns wide start on a scale block. A tile that may straddle takes its split from a few
            // unrolled copies of the K loop (tile starts are multiples of block_n, so the split is a multiple
            // of kSplitStep columns). Measured (docs/performance.md runs 11-12): choosing per 8 columns at run time cost a
            // compare, a select and two multiplies each, doubling the promotion of a 160-wide tile; choosing a
            // promotion copy at every K block still left 144-wide tiles 6-9% slower than choosing a copy of the
            // whole loop once per tile. The straddling tiles of a single math warpgroup (the 64-row tiles of
            // small M) keep the per-block choice: their kernels wait on memory, and a loop copy per split
            // position tripled their compile time (64 x 112 with NVRTC: 0.9 -> 3.2 s; 64 x 144 with NVCC:
            // 0.6 -> 1.9 s).
            if constexpr (kBlockN % kScaleBlock == 0) {
                k_loop(Const<kScaleBlock>{});
            } else if constexpr (!kMayStraddle) {
                k_loop(Const<kBlockN>{});
            } else if constexpr (kTakeTurns) {
                with_case<1, kScaleBlock / kSplitStep>(second_scale_col / kSplitStep, [&](auto split_steps) {
                    k_loop(Const<decltype(split_steps)::value * kSplitStep>{});
                });
            } else {
                k_loop(SplitPerBlock{});
            }
            finish_tile();
            if constexpr (!kEpilogueUnderWgmma) next_live = next_live_tile();
        }
        // The wgmmas issued when no tile was left.
        if constexpr (kEpilogueUnderWgmma) wgmma_wait<0>();
        // Warpgroup 1's last issue handed warpgroup 0 a turn it does not take: take it, so the barrier is
        // left balanced.
        if (kTakeTurns && warpgroup == 0) named_barrier_sync(kTurnBarrier, 2 * kWarpgroupThreads);
        // Shared memory outlives the TMA stores that read it only if the CTA waits for them.
        if constexpr (Epilogue::kSwizzledStaging) {
            if (thread % kWarpgroupThreads == 0) bulk_wait_group<0>();
        }
    }
};

}  // namespace fp8gemm
