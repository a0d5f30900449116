"""Where a warm FP8 cast call (fp8gemm.per_token_cast_to_fp8 / per_block_cast_to_fp8) spends its host time,
with the GPU kept busy so no call waits for it: each whole call with its kernel launched through the C
path's raw driver call and through cuda.bindings, taking turns round by round; then each step a cast takes;
then a cProfile.
Usage: python scripts/profile_cast_host.py [calls]
"""

from __future__ import annotations

import cProfile
import pstats
import sys

import torch

import fp8gemm
from fp8gemm.api import quant
from fp8gemm.api import validation as v
from fp8gemm.bench.timing import BUSY_CYCLES, LAUNCH_ROUNDS, host_us_per_call
from fp8gemm.jit import launcher, native
from fp8gemm.jit.quant_build import CastConfig, CastKind, get_cast_kernel, pack_per_token_params


def _both_launches(label: str, call, calls: int) -> None:
    c_launch = launcher.raw_launch
    best = {"cuda.bindings": float("inf"), "C": float("inf")}
    for _ in range(LAUNCH_ROUNDS):
        for path in best:
            launcher.raw_launch = c_launch if path == "C" else None
            best[path] = min(best[path], host_us_per_call(call, calls, rounds=1))
    launcher.raw_launch = c_launch
    print(f"{label:28s} cuda.bindings {best['cuda.bindings']:6.2f} us   C {best['C']:6.2f} us")


def main(calls: int) -> None:
    def us(fn) -> float:
        return host_us_per_call(fn, calls)

    native.start(wait=True)
    if launcher.raw_launch is None:
        sys.exit("the C path did not install")
    for m in (64, 4096):
        x = torch.randn(m, 7168, dtype=torch.bfloat16, device="cuda")
        _both_launches(f"per_token [{m}, 7168] row", lambda x=x: fp8gemm.per_token_cast_to_fp8(x), calls)
        _both_launches(
            f"per_token [{m}, 7168] gemm", lambda x=x: fp8gemm.per_token_cast_to_fp8(x, out_layout="gemm"), calls
        )
    w = torch.randn(7168, 2048, dtype=torch.bfloat16, device="cuda")
    _both_launches("per_block [7168, 2048]", lambda: fp8gemm.per_block_cast_to_fp8(w), calls)
    x = torch.randn(64, 7168, dtype=torch.bfloat16, device="cuda")
    config = CastConfig(CastKind.PER_TOKEN, x.dtype, False, False)
    kernel = get_cast_kernel(config)
    q = torch.empty(x.shape, dtype=torch.float8_e4m3fn, device=x.device)
    s = torch.empty((64, 56), dtype=torch.float32, device=x.device)
    params = pack_per_token_params(x.data_ptr(), q.data_ptr(), s.data_ptr(), 64, 7168, 64, 64)
    steps = {
        "check_input": lambda: quant._check_input("x", x),
        "check_hopper": lambda: v.check_hopper(x.device),
        "variant lookup": lambda: quant._variant(CastKind.PER_TOKEN, x.dtype, False, False),
        "empty_like q": lambda: torch.empty_like(x, dtype=torch.float8_e4m3fn, memory_format=torch.contiguous_format),
        "torch.empty q": lambda: torch.empty(x.shape, dtype=torch.float8_e4m3fn, device=x.device),
        "torch.empty s": lambda: torch.empty((64, 56), dtype=torch.float32, device=x.device),
        "empty_strided s": lambda: torch.empty_strided((64, 56), (1, 64), dtype=torch.float32, device=x.device),
        "pack params": lambda: pack_per_token_params(x.data_ptr(), q.data_ptr(), s.data_ptr(), 64, 7168, 64, 64),
        "kernel.launch": lambda: kernel.launch(0, 16, params),
        "torch launch": lambda: torch.cuda._sleep(1),
    }
    for name, fn in steps.items():
        print(f"  {name:18s} {us(fn):6.2f} us")
    profiler = cProfile.Profile()
    torch.cuda._sleep(BUSY_CYCLES)
    profiler.enable()
    for _ in range(calls):
        fp8gemm.per_token_cast_to_fp8(x)
    profiler.disable()
    torch.cuda.synchronize()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
