"""fp8gemm's PyTorch integration on a Hopper GPU: the custom ops under torch.compile(fullgraph=True) and in CUDA
graphs, FP8Linear against its torch fallback, fp8gemm.gemm against the float64 reference, and the ops'
registrations with CUDA tensors (torch.library.opcheck: the CUDA casts' strides must be the fake ones).

Error model (as in test_high_level_cpu.py): against the float64 product of the quantized operands only the
accumulation and the output rounding remain. Rounding: bfloat16 (2^-9 relative) gives calc_diff ~1e-6,
float16 (2^-12) ~1e-8. Accumulation: FP32 between K blocks, and inside a block the FP8 tensor-core sum, which
is coarser than FP32 (tens of ppm relative at most, so calc_diff well under 1e-8). Bounds: 1e-5 (bfloat16),
1e-6 (float16), 1e-7 (float32); a wrong or skipped scale block gives more than 1e-3. A graph replay runs the kernels it
captured on the same inputs: bitwise equal to eager. Compiled and eager runs launch the same kernels;
inductor's fused SiLU and bias add may round an element differently by an ulp: calc_diff < 1e-6. Outputs are
poisoned with NaN first and inputs are fresh random values.
"""

from __future__ import annotations

import pytest
import torch

import fp8gemm
from fp8gemm import QuantizedWeight, launch_plans, ops
from fp8gemm.api.high_level import gemm_torch, kernels_usable
from fp8gemm.nn import FP8Linear
from fp8gemm.testing import (
    calc_diff,
    dense_inputs,
    grouped_contiguous_inputs,
    grouped_masked_inputs,
    random_activations,
    random_weights,
    reference_gemm,
)
from fp8gemm.testing.moe import TinyMoE

pytestmark = pytest.mark.gpu

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
TIGHT = {torch.bfloat16: 1e-5, torch.float16: 1e-6, torch.float32: 1e-7}
HIDDEN, INTER, OUT, EXPERTS = 1024, 2048, 1536, 4
EXPERT_ROWS = [300, 0, 129, 64]


def _moe_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    m_indices = grouped_contiguous_inputs(EXPERT_ROWS, 8, 128).m_indices
    return random_activations(m_indices.numel(), HIDDEN), m_indices


def _warm_then_capture(fn) -> tuple[torch.cuda.CUDAGraph, object]:
    """Runs `fn` once on a side stream (kernels compiled and loaded, launch plans made), then captures it."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    return graph, out


# ------------------------------------------------------------------------------ torch.compile


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_moe_matches_eager(mode: str) -> None:
    torch._dynamo.reset()
    model = TinyMoE(HIDDEN, INTER, OUT, EXPERTS, device="cuda")
    compiled = torch.compile(model, fullgraph=True, mode=mode)
    for _ in range(3):  # reduce-overhead records its CUDA graph on a later call; each call gets new data
        x, m_indices = _moe_inputs()
        eager = model(x, m_indices)
        out = compiled(x, m_indices).clone()
        assert not torch.isnan(eager).any()
        assert calc_diff(out, eager) < 1e-6


def test_compiled_fp8_linear_matches_eager() -> None:
    torch._dynamo.reset()
    layer = FP8Linear.from_linear(torch.nn.Linear(HIDDEN, OUT, device="cuda"))
    x = random_activations(5, 33, HIDDEN)
    assert calc_diff(torch.compile(layer, fullgraph=True)(x), layer(x)) < 1e-6


# ------------------------------------------------------------------------------ CUDA graphs


def test_cuda_graph_of_moe_replays_on_new_inputs() -> None:
    model = TinyMoE(HIDDEN, INTER, OUT, EXPERTS, device="cuda")
    x, m_indices = _moe_inputs()
    graph, out = _warm_then_capture(lambda: model(x, m_indices))
    for _ in range(2):
        x.copy_(random_activations(*x.shape))
        out.fill_(float("nan"))
        graph.replay()
        assert torch.equal(out, model(x, m_indices))


@pytest.mark.parametrize("m,n,k", [(1, 256, 16384), (64, 2112, 7168), (300, 520, 1040), (128, 2112, 7168)], ids=str)
def test_cuda_graph_of_dense_op_replays_on_new_inputs(m: int, n: int, k: int) -> None:
    # Small M with large K is where the heuristic splits K: under capture the split-K workspace and counters
    # come from the graph's pool, not from the warm call's plan.
    p = dense_inputs(m, n, k)
    graph, _ = _warm_then_capture(lambda: ops.fp8_gemm_nt(p.a, p.b, p.d))
    # The graph outlives the warm calls' plans, and whatever they own.
    launch_plans.forget_all()
    fresh = dense_inputs(m, n, k)
    for t, new in zip((*p.a, *p.b), (*fresh.a, *fresh.b), strict=True):
        t.copy_(new)
    p.d.fill_(float("nan"))
    graph.replay()
    ops.fp8_gemm_nt(fresh.a, fresh.b, fresh.d)
    assert torch.equal(p.d, fresh.d)


def test_cuda_graph_of_masked_decode_follows_masked_m() -> None:
    sizes, m_max, n, k = [5, 0, 64, 17], 64, 2048, 7168
    p = grouped_masked_inputs(sizes, m_max, n, k)
    x = p.a_bf16.clone()

    def step() -> None:
        ops.m_grouped_fp8_gemm_nt_masked(
            ops.per_token_cast_to_fp8(x, out_layout="gemm"), p.b, p.d, p.masked_m, 32
        )

    graph, _ = _warm_then_capture(step)
    for counts in ([64, 3, 0, 40], [1, 64, 17, 0]):
        p.masked_m.copy_(torch.tensor(counts, dtype=torch.int32))
        x.copy_(random_activations(*x.shape))
        p.d.fill_(float("nan"))
        graph.replay()
        expected = torch.full_like(p.d, float("nan"))
        ops.m_grouped_fp8_gemm_nt_masked(
            ops.per_token_cast_to_fp8(x, out_layout="gemm"), p.b, expected, p.masked_m, 32
        )
        torch.testing.assert_close(p.d, expected, rtol=0, atol=0, equal_nan=True)
        for group, rows in enumerate(counts):
            assert not torch.isnan(p.d[group, :rows]).any(), f"group {group}: rows not written"
            assert torch.isnan(p.d[group, rows:]).all(), f"group {group}: rows past masked_m written"


# ------------------------------------------------------------------------------ high-level API


@pytest.mark.parametrize("x_dtype", DTYPES)
@pytest.mark.parametrize("bias", [False, True])
def test_fp8_linear_kernels_match_torch_fallback(x_dtype: torch.dtype, bias: bool) -> None:
    linear = torch.nn.Linear(7168, 2112, bias=bias, device="cuda")
    with torch.no_grad():
        linear.weight.copy_(random_weights(2112, 7168))
    layer = FP8Linear.from_linear(linear, fallback="torch")
    x = random_activations(3, 41, 7168).to(x_dtype)
    assert kernels_usable(x)  # so layer(x) runs the kernels, not the fallback
    y = layer(x)
    fallback = gemm_torch(x, QuantizedWeight(layer.weight, layer.weight_scale), layer.bias, x_dtype)
    assert y.dtype == x_dtype and not torch.isnan(y).any()
    assert calc_diff(y, fallback) < 1e-5


@pytest.mark.parametrize("out_dtype", DTYPES)
@pytest.mark.parametrize(
    "m,n,k", [(1, 2112, 7168), (64, 4096, 7168), (4096, 2112, 7168), (77, 264, 1040)], ids=str
)
def test_gemm_matches_reference(out_dtype: torch.dtype, m: int, n: int, k: int) -> None:
    x = random_activations(m, k)
    w_q = fp8gemm.quantize_weight(random_weights(n, k))
    y = fp8gemm.gemm(x, w_q, out_dtype=out_dtype)
    assert y.dtype == out_dtype and not torch.isnan(y).any()
    ref = reference_gemm(fp8gemm.per_token_cast_to_fp8(x), w_q)
    assert calc_diff(y, ref) < TIGHT[out_dtype]


# ------------------------------------------------------------------------------ registrations with CUDA tensors


GEMM_OPCHECKS = ("test_faketensor", "test_aot_dispatch_dynamic", "test_autograd_registration")


@pytest.mark.parametrize(
    "layout,shape",
    [("row", (33, 272)), ("gemm", (33, 272)), ("gemm", (3, 7, 400)), ("gemm", (4096, 7168))],
    ids=str,
)
def test_per_token_cast_op_on_cuda_passes_opcheck(layout: str, shape: tuple[int, ...]) -> None:
    torch.library.opcheck(
        torch.ops.fp8gemm.per_token_cast_to_fp8.default, (random_activations(*shape), False, layout)
    )


@pytest.mark.parametrize("shape", [(136, 272), (2, 200, 160)], ids=str)
def test_per_block_cast_op_on_cuda_passes_opcheck(shape: tuple[int, ...]) -> None:
    torch.library.opcheck(torch.ops.fp8gemm.per_block_cast_to_fp8.default, (random_weights(*shape), False))


def _dense_call() -> tuple:
    p = dense_inputs(65, 136, 272)
    return torch.ops.fp8gemm.fp8_gemm_nt.default, (*p.a, *p.b, p.d, None)


def _contiguous_call() -> tuple:
    p = grouped_contiguous_inputs([70, 0, 130], 136, 272)
    return torch.ops.fp8gemm.m_grouped_fp8_gemm_nt_contiguous.default, (*p.a, *p.b, p.d, p.m_indices)


def _masked_call() -> tuple:
    p = grouped_masked_inputs([3, 0, 40], 40, 136, 272)
    return torch.ops.fp8gemm.m_grouped_fp8_gemm_nt_masked.default, (*p.a, *p.b, p.d, p.masked_m, 16)


@pytest.mark.parametrize(
    "make_call", [_dense_call, _contiguous_call, _masked_call], ids=lambda f: f.__name__[1:-5]
)
def test_gemm_op_on_cuda_passes_opcheck(make_call) -> None:
    # test_schema is left out as on the CPU (see test_torch_ops_cpu.py).
    op, args = make_call()
    torch.library.opcheck(op, args, test_utils=GEMM_OPCHECKS)
