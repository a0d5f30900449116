// PTX wrappers shared by every fp8gemm kernel: types, mbarriers, TMA, fences, register reallocation.
//
// Kernels are compiled by NVRTC as well as nvcc, so nothing here includes a CUDA or C++ standard header:
// the few integer types are spelled out and every Hopper feature goes through inline PTX (PTX ISA 8.0+).
#pragma once

// Pins a kernel parameter struct's field offset that the host mirrors byte for byte. NVRTC 13.0 (the one
// beside torch for CUDA 13.0 on the H100 host) has no __builtin_offsetof, and no <cstddef> to take
// offsetof from; there the check is skipped, and nvcc and newer NVRTCs (CI compiles with both) make it.
#if defined(__has_builtin)
#if __has_builtin(__builtin_offsetof)
#define FP8GEMM_ASSERT_OFFSET(type, field, offset) \
    static_assert(__builtin_offsetof(type, field) == (offset), "host mirrors this layout")
#endif
#endif
#ifndef FP8GEMM_ASSERT_OFFSET
#define FP8GEMM_ASSERT_OFFSET(type, field, offset) static_assert(true, "")
#endif

namespace fp8gemm {

using u8 = unsigned char;
using u16 = unsigned short;
using u32 = unsigned int;
using i32 = int;
using u64 = unsigned long long;

// Mirrors CUtensorMap: 128 opaque bytes, 64-byte aligned (cuTensorMapEncodeTiled's requirement).
struct alignas(64) TmaDescriptor {
    u64 opaque[16];
};

__device__ __forceinline__ u32 smem_u32(const void* ptr) {
    return static_cast<u32>(__cvta_generic_to_shared(ptr));
}

// Lane 0's value, which ptxas then knows to be the same in every lane and keeps in uniform registers (the
// wgmma descriptors must end up there). In asm so that the front end cannot fold it away when it can
// prove the value uniform itself: ptxas would not know, and would rebuild descriptors with R2UR per wgmma.
__device__ __forceinline__ u32 warp_uniform(u32 value) {
    u32 uniform;
    asm volatile("shfl.sync.idx.b32 %0, %1, 0, 0x1f, 0xffffffff;" : "=r"(uniform) : "r"(value));
    return uniform;
}

// ---------------------------------------------------------------- mbarrier (PTX ISA 9.7.13.15)
// Barriers are named by their 32-bit shared-memory address: kernels convert a barrier array's base once
// and step it by sizeof(u64), instead of converting a generic pointer (S2R + LEA) at every use.
__device__ __forceinline__ void mbarrier_init(u32 bar, u32 arrive_count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(arrive_count));
}

__device__ __forceinline__ void mbarrier_arrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}

// The address of this CTA's shared-memory location `addr` in CTA `cta_rank` of the cluster.
__device__ __forceinline__ u32 cluster_map_shared(u32 addr, u32 cta_rank) {
    u32 remote;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(addr), "r"(cta_rank));
    return remote;
}

// Arrives on a barrier of another CTA of the cluster (`remote_bar` from cluster_map_shared): multicast
// consumers release a stage in every CTA whose producer wrote into their shared memory. Release at CTA
// scope, the default: a .cluster-scope release compiles to a MEMBAR that waits for every outstanding load
// of the warp (the prefetched scales included) and measured 3x slower overall (ncu: 45% of cycles stalled
// on it). The stage's wgmma reads are complete before this arrive (wgmma.wait_group), which is all the
// producer that overwrites it needs.
__device__ __forceinline__ void mbarrier_arrive_remote(u32 remote_bar) {
    asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];" ::"r"(remote_bar) : "memory");
}

__device__ __forceinline__ void mbarrier_arrive_expect_tx(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}

// Spins until the phase with the given parity has completed. A fresh barrier is in phase 0, so waiting
// on parity 1 returns at once: that is how producers pass their first trip round the ring.
// The spin loop lives inside the asm: a loop the compiler can see exits on a per-thread value, after which
// it no longer trusts warp-uniform values (stage counters, descriptors) to stay in uniform registers.
__device__ __forceinline__ void mbarrier_wait(u32 bar, u32 parity) {
    asm volatile(
        "{\n\t.reg .pred done;\n"
        "WAIT:\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n\t"
        "@!done bra WAIT;\n\t}" ::"r"(bar),
        "r"(parity)
        : "memory");
}

// Makes barrier initialisation visible to the async proxy (TMA) and to the other CTAs of a cluster.
__device__ __forceinline__ void fence_barrier_init() {
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

// Orders this thread's generic-proxy shared-memory accesses (barrier init, st.shared) before later
// async-proxy accesses (TMA, wgmma) to the same memory.
__device__ __forceinline__ void fence_proxy_async_shared() {
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

__device__ __forceinline__ u32 dynamic_smem_bytes() {
    u32 bytes;
    asm volatile("mov.u32 %0, %%dynamic_smem_size;" : "=r"(bytes));
    return bytes;
}

// ---------------------------------------------------------------- cluster (PTX ISA 9.7.12.3)
__device__ __forceinline__ u32 cluster_cta_rank() {
    u32 rank;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(rank));
    return rank;
}

__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}

// ---------------------------------------------------------------- TMA (PTX ISA 9.7.9.25)
__device__ __forceinline__ void tma_prefetch_descriptor(const TmaDescriptor* desc) {
    asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<u64>(desc)) : "memory");
}

// Loads the box at (c0, c1) (innermost first) into shared memory, completing on `bar`'s tx count.
__device__ __forceinline__ void tma_load_2d(u32 smem_dst, const TmaDescriptor* desc, u32 bar, i32 c0, i32 c1) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];" ::
            "r"(smem_dst),
        "l"(reinterpret_cast<u64>(desc)), "r"(bar), "r"(c0), "r"(c1)
        : "memory");
}

// L2 eviction priorities for a load's lines (PTX ISA 9.7.9.17, createpolicy), passed to `tma_load_2d`.
__device__ __forceinline__ u64 l2_policy_evict_normal() {
    u64 policy;
    asm volatile("createpolicy.fractional.L2::evict_normal.b64 %0, 1.0;" : "=l"(policy));
    return policy;
}

__device__ __forceinline__ u64 l2_policy_evict_first() {
    u64 policy;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    return policy;
}

// As above, its lines kept in L2 with `policy`'s priority.
__device__ __forceinline__ void tma_load_2d(u32 smem_dst, const TmaDescriptor* desc, u32 bar, i32 c0, i32 c1,
                                            u64 policy) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint "
        "[%0], [%1, {%3, %4}], [%2], %5;" ::"r"(smem_dst),
        "l"(reinterpret_cast<u64>(desc)), "r"(bar), "r"(c0), "r"(c1), "l"(policy)
        : "memory");
}

// Same box, written to the same smem offset in every CTA of `cta_mask`; each receiver's barrier at
// `bar`'s offset gets the transaction bytes.
__device__ __forceinline__ void tma_load_2d_multicast(u32 smem_dst, const TmaDescriptor* desc, u32 bar,
                                                      i32 c0, i32 c1, u16 cta_mask) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster "
        "[%0], [%1, {%3, %4}], [%2], %5;" ::"r"(smem_dst),
        "l"(reinterpret_cast<u64>(desc)), "r"(bar), "r"(c0), "r"(c1), "h"(cta_mask)
        : "memory");
}

// ---------------------------------------------------------------- cp.async (PTX ISA 9.7.9.3)
// Copies 4 bytes from global to shared memory asynchronously (4-byte aligned both sides).
__device__ __forceinline__ void cp_async_4(u32 smem_dst, const void* src) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(smem_dst), "l"(src) : "memory");
}

// One arrival on `bar`, made once every cp.async this thread has issued so far has landed; .noinc: the
// barrier's expected arrival count must include it.
__device__ __forceinline__ void cp_async_mbarrier_arrive(u32 bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(bar) : "memory");
}

// Stores the box at (c0, c1) from shared memory; elements outside the tensor are not written. Completion is
// tracked per thread in bulk async-groups (commit, then wait).
__device__ __forceinline__ void tma_store_2d(const TmaDescriptor* desc, u32 smem_src, i32 c0, i32 c1) {
    asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];" ::"l"(
                     reinterpret_cast<u64>(desc)),
                 "r"(smem_src), "r"(c0), "r"(c1)
                 : "memory");
}

__device__ __forceinline__ void bulk_commit_group() { asm volatile("cp.async.bulk.commit_group;" ::: "memory"); }

// Waits until at most kPending of this thread's bulk groups still read their shared-memory source.
template <int kPending>
__device__ __forceinline__ void bulk_wait_group_read() {
    asm volatile("cp.async.bulk.wait_group.read %0;" ::"n"(kPending) : "memory");
}

// Waits until at most kPending of this thread's bulk groups are still in flight at all.
template <int kPending>
__device__ __forceinline__ void bulk_wait_group() {
    asm volatile("cp.async.bulk.wait_group %0;" ::"n"(kPending) : "memory");
}

// ---------------------------------------------------------------- registers (PTX ISA 9.7.19.5)
// setmaxnreg must be executed by every thread of a warpgroup; it moves registers between warpgroups of
// the CTA (the producer gives up what the math warpgroups take).
template <u32 kRegisters>
__device__ __forceinline__ void warpgroup_reg_alloc() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kRegisters));
}

template <u32 kRegisters>
__device__ __forceinline__ void warpgroup_reg_dealloc() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kRegisters));
}

// ---------------------------------------------------------------- named barriers
__device__ __forceinline__ void named_barrier_sync(u32 id, u32 num_threads) {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(num_threads) : "memory");
}

// Counts this warp in on barrier `id` without waiting for it (pairs with a named_barrier_sync elsewhere).
__device__ __forceinline__ void named_barrier_arrive(u32 id, u32 num_threads) {
    asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(num_threads) : "memory");
}

// Syncs like named_barrier_sync and returns whether `pred` held in every participating thread.
__device__ __forceinline__ bool named_barrier_and(u32 id, u32 num_threads, bool pred) {
    u32 all;
    asm volatile(
        "{\n\t.reg .pred p, q;\n\t"
        "setp.ne.u32 p, %1, 0;\n\t"
        "bar.red.and.pred q, %2, %3, p;\n\t"
        "selp.u32 %0, 1, 0, q;\n\t}"
        : "=r"(all)
        : "r"(static_cast<u32>(pred)), "r"(id), "r"(num_threads)
        : "memory");
    return all != 0;
}

// ---------------------------------------------------------------- conversions and stores
// Packs two floats as bf16x2, `lo` at the lower address (cvt puts its first source in the upper half).
__device__ __forceinline__ u32 pack_bf16x2(float lo, float hi) {
    u32 packed;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(hi), "f"(lo));
    return packed;
}

__device__ __forceinline__ void store_global_u32(void* ptr, u32 value) {
    asm volatile("st.global.b32 [%0], %1;" ::"l"(ptr), "r"(value) : "memory");
}

__device__ __forceinline__ void store_global_f32x2(void* ptr, float x, float y) {
    asm volatile("st.global.v2.f32 [%0], {%1, %2};" ::"l"(ptr), "f"(x), "f"(y) : "memory");
}

__device__ __forceinline__ void store_shared_u32(u32 addr, u32 value) {
    asm volatile("st.shared.b32 [%0], %1;" ::"r"(addr), "r"(value) : "memory");
}

__device__ __forceinline__ float load_shared_f32(u32 addr) {
    float value;
    asm volatile("ld.shared.f32 %0, [%1];" : "=f"(value) : "r"(addr) : "memory");
    return value;
}

__device__ __forceinline__ uint4 load_shared_u32x4(u32 addr) {
    uint4 v;
    asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "r"(addr)
                 : "memory");
    return v;
}

__device__ __forceinline__ void store_global_u32x4(void* ptr, uint4 v) {
    asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};" ::"l"(ptr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
                 : "memory");
}

__device__ __forceinline__ void store_global_u32x2(void* ptr, u32 x, u32 y) {
    asm volatile("st.global.v2.b32 [%0], {%1, %2};" ::"l"(ptr), "r"(x), "r"(y) : "memory");
}

__device__ __forceinline__ void store_global_f32x4(float* ptr, float x, float y, float z, float w) {
    asm volatile("st.global.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(ptr), "f"(x), "f"(y), "f"(z), "f"(w) : "memory");
}

// Pairs with another CTA's __threadfence() then atomicAdd: what it wrote before counting itself in is visible
// once this load sees the count.
__device__ __forceinline__ i32 load_acquire_gpu_i32(const i32* ptr) {
    i32 value;
    asm volatile("ld.acquire.gpu.global.b32 %0, [%1];" : "=r"(value) : "l"(ptr) : "memory");
    return value;
}

// Cached in L2 only: data other CTAs wrote during this kernel (an L1 line could be stale).
__device__ __forceinline__ float4 load_global_cg_f32x4(const float* ptr) {
    float4 v;
    asm volatile("ld.global.cg.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(ptr));
    return v;
}

__device__ __forceinline__ float2 load_global_f32x2(const float* ptr) {
    float2 value;
    asm volatile("ld.global.v2.f32 {%0, %1}, [%2];" : "=f"(value.x), "=f"(value.y) : "l"(ptr));
    return value;
}

// Sum of `value` over the 32 lanes of a fully active warp, in every lane.
__device__ __forceinline__ u32 warp_sum_u32(u32 value) {
    u32 sum;
    asm volatile("redux.sync.add.u32 %0, %1, 0xffffffff;" : "=r"(sum) : "r"(value));
    return sum;
}

__device__ __forceinline__ i32 load_global_nc_i32(const i32* ptr) {
    i32 value;
    asm volatile("ld.global.nc.s32 %0, [%1];" : "=r"(value) : "l"(ptr));
    return value;
}

template <typename T>
__host__ __device__ constexpr T ceil_div(T a, T b) {
    return (a + b - 1) / b;
}

template <typename T>
__device__ __forceinline__ T min_of(T a, T b) {
    return a < b ? a : b;
}

}  // namespace fp8gemm
