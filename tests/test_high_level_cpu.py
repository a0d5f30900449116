"""High-level API on the CPU: quantize_weight, gemm (through the ops' CPU implementation), FP8Linear with
fallback="torch", its buffers, and the errors.

Error model. Against the float64 product of the *quantized* operands (what the math must be) the only errors
are float32 accumulation and the final rounding: calc_diff < 1e-5 for 16-bit outputs, < 1e-10 for float32.
Against the original high-precision layer, FP8 quantization dominates: e4m3 rounds each operand with relative
error at most 2^-4, RMS at most 2^-4/sqrt(3), so a product term carries RMS relative error <= sqrt(2)·2^-4/sqrt(3)
and a dot product of many independent terms about the same; calc_diff ≈ ½·(relative RMS error)² <= 1.3e-3.
We allow 2e-3; a wrong or skipped scale block gives calc_diff of order 1e-1.
"""

from __future__ import annotations

import pytest
import torch

import fp8gemm
from fp8gemm import QuantizedWeight, gemm, quantize_weight
from fp8gemm.nn import FP8Linear
from fp8gemm.testing import calc_diff, dequantize_b, random_activations, random_weights, reference_gemm

N, K = 264, 512
TIGHT = {torch.bfloat16: 1e-5, torch.float16: 1e-5, torch.float32: 1e-10}
FP8_BOUND = 2e-3
DTYPES = [torch.bfloat16, torch.float16, torch.float32]
LEADING = [(), (5,), (3, 7)]


def _x(lead: tuple[int, ...], dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    return random_activations(*lead, K, device="cpu").to(dtype)


def _w() -> QuantizedWeight:
    return quantize_weight(random_weights(N, K, device="cpu"))


def _quantized_reference(x: torch.Tensor, w_q: QuantizedWeight, bias: torch.Tensor | None) -> torch.Tensor:
    """Float64 x_q · w_qᵀ + bias with x quantized as gemm does, shaped [..., N]."""
    a = fp8gemm.per_token_cast_to_fp8(x.reshape(-1, K))
    out = reference_gemm(a, w_q) + (0 if bias is None else bias.double())
    return out.view(*x.shape[:-1], N)


# ------------------------------------------------------------------------------ quantize_weight and gemm


@pytest.mark.parametrize("shape", [(N, K), (3, N, K)], ids=["dense", "grouped"])
def test_quantize_weight_gives_block_scaled_e4m3(shape: tuple[int, ...]) -> None:
    w = random_weights(*shape, device="cpu")
    w_q = quantize_weight(w)
    assert w_q.data.dtype == torch.float8_e4m3fn and w_q.data.shape == w.shape
    assert w_q.scales.shape == (*shape[:-2], 3, 4)
    assert calc_diff(dequantize_b(*w_q), w) < FP8_BOUND


@pytest.mark.parametrize("out_dtype", DTYPES)
@pytest.mark.parametrize("lead", LEADING, ids=str)
@pytest.mark.parametrize("bias", [False, True])
def test_gemm_matches_quantized_reference(out_dtype: torch.dtype, lead: tuple[int, ...], bias: bool) -> None:
    x, w_q = _x(lead), _w()
    b = torch.randn(N) if bias else None
    y = gemm(x, w_q, b, out_dtype=out_dtype)
    assert (y.shape, y.dtype) == ((*lead, N), out_dtype)
    assert calc_diff(y, _quantized_reference(x, w_q, b)) < TIGHT[out_dtype]


@pytest.mark.parametrize("out_dtype", DTYPES)
@pytest.mark.parametrize("lead", LEADING, ids=str)
def test_gemm_leaves_bias_unchanged(out_dtype: torch.dtype, lead: tuple[int, ...]) -> None:
    # One row once made the FP32 accumulator a view of the bias (expand + contiguous is a no-op there).
    b = torch.randn(N)
    kept = b.clone()
    gemm(_x(lead), _w(), b, out_dtype=out_dtype)
    assert torch.equal(b, kept)


@pytest.mark.parametrize("x_dtype", DTYPES)
def test_gemm_accepts_each_activation_dtype(x_dtype: torch.dtype) -> None:
    x, w_q = _x((9,), x_dtype), _w()
    assert calc_diff(gemm(x, w_q), _quantized_reference(x, w_q, None)) < TIGHT[torch.bfloat16]


def test_gemm_takes_a_plain_pair() -> None:
    x, w_q = _x((9,)), _w()
    assert torch.equal(gemm(x, (w_q.data, w_q.scales)), gemm(x, w_q))


BAD_GEMM_CALLS = {
    "x_int": (lambda: (torch.ones(4, K, dtype=torch.int32), _w()), {}, TypeError, "x must be"),
    "x_scalar": (lambda: (torch.tensor(1.0), _w()), {}, ValueError, "at least one dimension"),
    "k_differs": (lambda: (_x((4,))[:, :256], _w()), {}, ValueError, "K differs"),
    "w_not_pair": (lambda: (_x((4,)), _w().data), {}, TypeError, "w_q must be"),
    "w_grouped": (
        lambda: (_x((4,)), quantize_weight(random_weights(2, N, K, device="cpu"))),
        {},
        ValueError,
        "2-D",
    ),
    "out_dtype": (lambda: (_x((4,)), _w()), {"out_dtype": torch.float64}, TypeError, "out_dtype"),
    "bias_shape": (lambda: (_x((4,)), _w()), {"bias": torch.zeros(N + 8)}, ValueError, "bias"),
}


@pytest.mark.parametrize("name", list(BAD_GEMM_CALLS))
def test_bad_gemm_call_raises(name: str) -> None:
    make_args, kwargs, error, match = BAD_GEMM_CALLS[name]
    with pytest.raises(error, match=match):
        gemm(*make_args(), **kwargs)


# ------------------------------------------------------------------------------ FP8Linear


def _linear(bias: bool = True, dtype: torch.dtype = torch.float32) -> torch.nn.Linear:
    layer = torch.nn.Linear(K, N, bias=bias, dtype=dtype)
    with torch.no_grad():  # weights with a different magnitude per 128x128 block, so scales matter
        layer.weight.copy_(random_weights(N, K, device="cpu"))
        if bias:
            layer.bias.normal_()
    return layer


@pytest.mark.parametrize("x_dtype", DTYPES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("lead", LEADING, ids=str)
def test_fp8_linear_fallback_matches_float64_layer(
    x_dtype: torch.dtype, bias: bool, lead: tuple[int, ...]
) -> None:
    layer = _linear(bias)
    x = _x(lead, x_dtype)
    with torch.no_grad():
        ref = torch.nn.functional.linear(
            x.double(), layer.weight.double(), None if layer.bias is None else layer.bias.double()
        )
        y = FP8Linear.from_linear(layer, fallback="torch")(x)
    assert (y.shape, y.dtype) == ((*lead, N), x_dtype)
    assert calc_diff(y, ref) < FP8_BOUND


@pytest.mark.parametrize("out_dtype", DTYPES)
def test_fp8_linear_fallback_is_gemms_math(out_dtype: torch.dtype) -> None:
    layer = _linear()
    x = _x((6,))
    y = FP8Linear.from_linear(layer, fallback="torch", out_dtype=out_dtype)(x)
    w_q = quantize_weight(layer.weight.detach())
    assert y.dtype == out_dtype
    assert calc_diff(y, _quantized_reference(x, w_q, layer.bias.detach())) < TIGHT[out_dtype]


def test_fp8_linear_without_fallback_rejects_cpu_input() -> None:
    layer = FP8Linear.from_linear(_linear())
    with pytest.raises(RuntimeError, match="fallback='torch'"):
        layer(_x((4,)))


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"in_features": K, "out_features": 100}, ValueError, "% 8"),
        ({"in_features": 520, "out_features": N}, ValueError, "% 16"),
        ({"in_features": K, "out_features": N, "fallback": "cuda"}, ValueError, "fallback"),
        ({"in_features": K, "out_features": N, "out_dtype": torch.int8}, TypeError, "out_dtype"),
    ],
    ids=["n_not_multiple_of_8", "k_not_multiple_of_16", "unknown_fallback", "bad_out_dtype"],
)
def test_fp8_linear_rejects_bad_construction(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FP8Linear(**kwargs)


def test_from_linear_rejects_other_modules() -> None:
    with pytest.raises(TypeError, match="nn.Linear"):
        FP8Linear.from_linear(torch.nn.Conv1d(K, N, 1))


def test_fp8_linear_state_dict_round_trip() -> None:
    layer = FP8Linear.from_linear(_linear(), fallback="torch")
    state = layer.state_dict()
    assert {name: t.dtype for name, t in state.items()} == {
        "weight": torch.float8_e4m3fn,
        "weight_scale": torch.float32,
        "bias": torch.float32,
    }
    fresh = FP8Linear(K, N, fallback="torch")
    fresh.load_state_dict(state)
    x = _x((5,))
    assert torch.equal(fresh(x), layer(x))


def test_fp8_linear_refuses_a_high_precision_state_dict() -> None:
    with pytest.raises(TypeError, match="from_linear"):
        FP8Linear(K, N).load_state_dict(_linear().state_dict())


@pytest.mark.parametrize(
    "convert", [lambda m: m.to(torch.bfloat16), lambda m: m.half(), lambda m: m.double()]
)
def test_dtype_conversion_keeps_the_quantized_weight(convert) -> None:
    layer = FP8Linear.from_linear(_linear(), fallback="torch")
    weight, scales = layer.weight.clone(), layer.weight_scale.clone()
    convert(layer)
    assert layer.weight.dtype == torch.float8_e4m3fn and torch.equal(
        layer.weight.view(torch.uint8), weight.view(torch.uint8)
    )
    assert layer.weight_scale.dtype == torch.float32 and torch.equal(layer.weight_scale, scales)


def test_compiled_fp8_linear_fallback_matches_eager() -> None:
    torch._dynamo.reset()
    layer = FP8Linear.from_linear(_linear(), fallback="torch")
    x = _x((3, 5))
    assert torch.equal(torch.compile(layer, fullgraph=True, backend="aot_eager")(x), layer(x))
