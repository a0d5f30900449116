// PTX wrappers shared by every fp8gemm kernel: types, mbarriers, TMA, fences, register reallocation.
//
// Kernels are compiled by NVRTC as well as nvcc, so nothing here includes a CUDA or C++ standard header:
// the few integer types are spelled out and every Hopper feature goes through inline PTX (PTX ISA 8.0+).
#pragma once

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

__device__ __forceinline__ u32 warp_uniform(u32 value) { return __shfl_sync(0xffffffffu, value, 0); }

// ---------------------------------------------------------------- mbarrier (PTX ISA 9.7.13.15)
__device__ __forceinline__ void mbarrier_init(u64* bar, u32 arrive_count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(arrive_count));
}

__device__ __forceinline__ void mbarrier_arrive(u64* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}

// Arrive on the barrier at the same smem offset in CTA `cta_rank` of this cluster (multicast consumers
// release a stage in every CTA whose producer wrote into their shared memory). Release at CTA scope, the
// default: a .cluster-scope release compiles to a MEMBAR that waits for every outstanding load of the
// warp (the prefetched scales included) and measured 3x slower overall (ncu: 45% of cycles stalled on it).
// The stage's wgmma reads are complete before this arrive (wgmma.wait_group), which is all the producer
// that overwrites it needs.
__device__ __forceinline__ void mbarrier_arrive_cluster(u64* bar, u32 cta_rank) {
    asm volatile(
        "{\n\t.reg .b32 remote;\n\t"
        "mapa.shared::cluster.u32 remote, %0, %1;\n\t"
        "mbarrier.arrive.shared::cluster.b64 _, [remote];\n\t}" ::"r"(smem_u32(bar)),
        "r"(cta_rank)
        : "memory");
}

__device__ __forceinline__ void mbarrier_arrive_expect_tx(u64* bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes)
                 : "memory");
}

// Spins until the phase with the given parity has completed. A fresh barrier is in phase 0, so waiting
// on parity 1 returns at once: that is how producers pass their first trip round the ring.
__device__ __forceinline__ void mbarrier_wait(u64* bar, u32 parity) {
    u32 done;
    do {
        asm volatile(
            "{\n\t.reg .pred p;\n\t"
            "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
            "selp.u32 %0, 1, 0, p;\n\t}"
            : "=r"(done)
            : "r"(smem_u32(bar)), "r"(parity)
            : "memory");
    } while (!done);
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
__device__ __forceinline__ void tma_load_2d(void* smem_dst, const TmaDescriptor* desc, u64* bar, i32 c0,
                                            i32 c1) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];" ::
            "r"(smem_u32(smem_dst)),
        "l"(reinterpret_cast<u64>(desc)), "r"(smem_u32(bar)), "r"(c0), "r"(c1)
        : "memory");
}

// Same box, written to the same smem offset in every CTA of `cta_mask`; each receiver's barrier at
// `bar`'s offset gets the transaction bytes.
__device__ __forceinline__ void tma_load_2d_multicast(void* smem_dst, const TmaDescriptor* desc, u64* bar,
                                                      i32 c0, i32 c1, u16 cta_mask) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster "
        "[%0], [%1, {%3, %4}], [%2], %5;" ::"r"(smem_u32(smem_dst)),
        "l"(reinterpret_cast<u64>(desc)), "r"(smem_u32(bar)), "r"(c0), "r"(c1), "h"(cta_mask)
        : "memory");
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

__device__ __forceinline__ void store_shared_u32(void* ptr, u32 value) {
    asm volatile("st.shared.b32 [%0], %1;" ::"r"(smem_u32(ptr)), "r"(value) : "memory");
}

__device__ __forceinline__ uint4 load_shared_u32x4(const void* ptr) {
    uint4 v;
    asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "r"(smem_u32(ptr))
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

// Cached in L2 only: data other CTAs wrote during this kernel (an L1 line could be stale).
__device__ __forceinline__ float4 load_global_cg_f32x4(const float* ptr) {
    float4 v;
    asm volatile("ld.global.cg.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(ptr));
    return v;
}

__device__ __forceinline__ float load_global_nc_f32(const float* ptr) {
    float value;
    asm volatile("ld.global.nc.f32 %0, [%1];" : "=f"(value) : "l"(ptr));
    return value;
}

__device__ __forceinline__ float2 load_global_f32x2(const float* ptr) {
    float2 value;
    asm volatile("ld.global.v2.f32 {%0, %1}, [%2];" : "=f"(value.x), "=f"(value.y) : "l"(ptr));
    return value;
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
