"""Same inputs, same bits: ten runs of every kernel path give bitwise-identical outputs (no atomics, no
order-dependent reduction)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import fp8gemm
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.heuristics import forced_config
from fp8gemm.testing import dense_inputs, expert_sizes, grouped_contiguous_inputs, grouped_masked_inputs

pytestmark = pytest.mark.gpu
RUNS = 10


def _dense(m: int, n: int, k: int) -> tuple[torch.Tensor, Callable[[], None]]:
    p = dense_inputs(m, n, k)
    return p.d, lambda: fp8gemm.fp8_gemm_nt(p.a, p.b, p.d)


def _dense_f32(m: int, n: int, k: int) -> tuple[torch.Tensor, Callable[[], None]]:
    p = dense_inputs(m, n, k, out_dtype=torch.float32)
    c = torch.randn(m, n, device="cuda")
    return p.d, lambda: fp8gemm.fp8_gemm_nt(p.a, p.b, p.d, c=c)


def _dense_split_k(m: int, n: int, k: int) -> tuple[torch.Tensor, Callable[[], None]]:
    # Split-K sums its K ranges in a fixed order, whichever CTA finishes first.
    p = dense_inputs(m, n, k)
    config = GemmConfig(GemmType.DENSE, 64, 64, 8)

    def run() -> None:
        with forced_config(config, split_k=7):
            fp8gemm.fp8_gemm_nt(p.a, p.b, p.d)

    return p.d, run


def _dense_stream_k(m: int, n: int, k: int) -> tuple[torch.Tensor, Callable[[], None]]:
    # Stream-K sums a tile's ranges in CTA order, whichever CTA finishes first.
    p = dense_inputs(m, n, k)
    config = GemmConfig(GemmType.DENSE, 64, 64, 8, stream_k=True)

    def run() -> None:
        with forced_config(config):
            fp8gemm.fp8_gemm_nt(p.a, p.b, p.d)

    return p.d, run


def _contiguous(g: int, n: int, k: int) -> tuple[torch.Tensor, Callable[[], None]]:
    p = grouped_contiguous_inputs(expert_sizes(g, 512), n, k)
    return p.d, lambda: fp8gemm.m_grouped_fp8_gemm_nt_contiguous(p.a, p.b, p.d, p.m_indices)


def _masked(g: int, n: int, k: int) -> tuple[torch.Tensor, Callable[[], None]]:
    p = grouped_masked_inputs(expert_sizes(g, 256), 512, n, k)
    return p.d, lambda: fp8gemm.m_grouped_fp8_gemm_nt_masked(p.a, p.b, p.d, p.masked_m, 256)


CASES = [
    (_dense, (64, 2112, 7168)),
    (_dense, (4096, 7168, 2048)),
    (_dense, (129, 1000, 4112)),
    (_dense_f32, (512, 4096, 7168)),
    (_dense_split_k, (64, 2112, 7168)),
    (_dense_stream_k, (64, 7168, 2048)),
    (_contiguous, (8, 4096, 7168)),
    (_masked, (4, 7168, 2048)),
]


@pytest.mark.parametrize("make,shape", CASES, ids=[f"{m.__name__[1:]}-{s}" for m, s in CASES])
def test_bitwise_identical_across_runs(make, shape) -> None:
    out, run = make(*shape)
    run()
    first = out.clone()
    written = ~torch.isnan(first)
    # Dense outputs are written whole; grouped ones keep padding rows / rows past masked_m as NaN.
    if make in (_dense, _dense_f32, _dense_split_k, _dense_stream_k):
        assert written.all(), "some output elements were never written"
    else:
        assert written.any() and not written.all(), "grouped output should be partly written"
    for _ in range(RUNS - 1):
        out.fill_(float("nan"))
        run()
        assert torch.equal(~torch.isnan(out), written), "a run wrote a different set of elements"
        assert torch.equal(out[written], first[written])
