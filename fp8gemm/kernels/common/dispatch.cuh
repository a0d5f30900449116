// Turns a warp-uniform run-time value into a compile-time one, so that a kernel branches once to one of a few
// unrolled, specialised copies of a code path instead of paying for the choice inside it.
#pragma once

#include "ptx.cuh"

namespace fp8gemm {

// A compile-time value passed as an argument: lets a generic lambda specialise on it.
template <u32 kValue>
struct Const {
    static constexpr u32 value = kValue;
};

// f(Const<c>{}) for c in [kFirst, kLast]; any other value takes kLast. A chain of branches on a warp-uniform
// value that picks one of a few unrolled code paths.
template <u32 kFirst, u32 kLast, typename F>
__device__ __forceinline__ void with_case(u32 c, F&& f) {
    if constexpr (kFirst < kLast) {
        if (c != kFirst) {
            with_case<kFirst + 1, kLast>(c, f);
            return;
        }
    }
    f(Const<kFirst>{});
}

}  // namespace fp8gemm
