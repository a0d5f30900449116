"""Runs every kernel variant (GEMMs, then the FP8 casts) once on a small problem with tails; meant to run
under compute-sanitizer:

    compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 1 python3 scripts/sanitize_cases.py
    compute-sanitizer --tool racecheck --error-exitcode 1 python3 scripts/sanitize_cases.py [filter ...]

Dense single-CTA configs run a second time with split-K. Each result is also checked against the float64 reference, so a variant that runs clean but computes the
wrong thing fails too. Optional arguments keep only configs whose name contains one of them ("cast" for
the casts).
"""

from __future__ import annotations

import sys

import torch

import fp8gemm
from fp8gemm.api.quant import reference_per_block_cast, reference_per_token_cast
from fp8gemm.config import GemmType
from fp8gemm.heuristics import all_configs, forced_config
from fp8gemm.testing import (
    calc_diff,
    dense_inputs,
    grouped_contiguous_inputs,
    grouped_masked_inputs,
    reference_gemm,
)

# Tails everywhere: M not a multiple of 64, N not of any block_n, K not of 128.
M, N, K = 136, 328, 272


def run(config) -> float:
    if config.gemm_type == GemmType.DENSE:
        p = dense_inputs(M, N, K, out_dtype=torch.float32 if config.output_f32 else torch.bfloat16)
        c = torch.randn(M, N, device="cuda") if config.output_f32 else None
        fp8gemm.fp8_gemm_nt(p.a, p.b, p.d, c=c)
        ref = reference_gemm(p.a, p.b) + (c.double() if c is not None else 0)
        return calc_diff(p.d, ref)
    if config.gemm_type == GemmType.GROUPED_CONTIGUOUS:
        p = grouped_contiguous_inputs([70, 0, 130], N, K)
        fp8gemm.m_grouped_fp8_gemm_nt_contiguous(p.a, p.b, p.d, p.m_indices)
        rows = (p.m_indices == 2).nonzero().flatten()
        return calc_diff(p.d[rows], reference_gemm((p.a[0][rows], p.a[1][rows]), (p.b[0][2], p.b[1][2])))
    p = grouped_masked_inputs([70, 0, 97], 100, N, K)
    fp8gemm.m_grouped_fp8_gemm_nt_masked(p.a, p.b, p.d, p.masked_m, 64)
    return calc_diff(p.d[2, :97], reference_gemm(p.a, p.b)[2, :97])


def cast_cases() -> list[tuple[str, bool]]:
    """Each cast on odd sizes (rows not a multiple of 4, K not of 128), compared bit for bit with the torch
    reference; the GEMM scale layout is written straight into its padded, MN-major strides."""
    results = []
    for shape in ((37, 272), (3, 37, 272)):
        x = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
        q_ref, s_ref = reference_per_token_cast(x.cpu())
        for layout in ("row", "gemm"):
            q, s = fp8gemm.per_token_cast_to_fp8(x, out_layout=layout)
            same = torch.equal(q.cpu().view(torch.uint8), q_ref.view(torch.uint8)) and torch.equal(s.cpu(), s_ref)
            results.append((f"per_token {list(shape)} {layout}", same))
        q, s = fp8gemm.per_block_cast_to_fp8(x)
        q_ref, s_ref = reference_per_block_cast(x.cpu())
        same = torch.equal(q.cpu().view(torch.uint8), q_ref.view(torch.uint8)) and torch.equal(s.cpu(), s_ref)
        results.append((f"per_block {list(shape)}", same))
    return results


def main(filters: list[str]) -> int:
    configs = [c for c in all_configs() if not filters or any(f in str(c) for f in filters)]
    bad = 0
    # Dense single-CTA configs also run split-K (3 ranges of K's 3 blocks): the fused reduction's path.
    # Stream-K configs cut their tiles already (a CTA per K block at these sizes) and take no split-K.
    runs = [(c, 1) for c in configs] + [
        (c, 3) for c in configs if c.gemm_type == GemmType.DENSE and c.cluster_n == 1 and not c.stream_k
    ]
    for config, split_k in runs:
        with forced_config(config, split_k):
            diff = run(config)
        torch.cuda.synchronize()
        ok = diff < 1e-5
        bad += not ok
        print(f"{config!s:45} split {split_k} diff={diff:.2e} {'ok' if ok else 'WRONG'}", flush=True)
    casts = cast_cases() if not filters or "cast" in filters else []
    for name, same in casts:
        bad += not same
        print(f"{name:45} {'ok' if same else 'WRONG'}", flush=True)
    print(f"{len(runs) + len(casts) - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
