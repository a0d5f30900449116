"""Racecheck probe for the stage ring's reuse: one dense config, unsplit, on so few SMs that each CTA walks
several tiles and its ring wraps (the sanitizer cases run every config on all SMs, where it never does).

    compute-sanitizer --tool racecheck python3 scripts/experiments/racecheck_ring_wrap.py BLOCK_M BLOCK_N STAGES SMS

Session 7 (docs/performance.md, run 7): 64 16 16 2 reports one hazard between the producer's cp.async of
B's scales into a stage and the math warps' reads of them, on session 6's kernel and on session 7's alike;
the result is right. Not part of the product.
"""

from __future__ import annotations

import sys

import torch

import fp8gemm
from fp8gemm import launch_plans, utils
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.heuristics import forced_config
from fp8gemm.testing import calc_diff, dense_inputs, reference_gemm

# Tails in M, N and K, as in scripts/sanitize_cases.py.
M, N, K = 136, 328, 272


def main(block_m: int, block_n: int, num_stages: int, num_sms: int) -> None:
    utils._num_sms_override = num_sms
    launch_plans.forget_all()
    p = dense_inputs(M, N, K)
    with forced_config(GemmConfig(GemmType.DENSE, block_m, block_n, num_stages)):
        fp8gemm.fp8_gemm_nt(p.a, p.b, p.d)
    torch.cuda.synchronize()
    print(f"{fp8gemm.__file__} m{block_m} n{block_n} s{num_stages} on {num_sms} SMs: diff {calc_diff(p.d, reference_gemm(p.a, p.b)):.2e}")


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:5]))
