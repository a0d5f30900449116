"""fp8gemm.ops (torch.library custom ops) on the CPU: registration (torch.library.opcheck), fake-tensor and meta
shape propagation, the CPU implementation against the float64 reference, errors, and torch.compile(fullgraph)
of small MoE-style models equal to eager.

Error model: the CPU implementation dequantizes exactly (an e4m3 value times an FP32 scale is exact in float64
and rounds once to float32), multiplies in float32 (relative ~1e-7 here) and rounds to the output dtype, so
against fp8gemm.testing.reference_gemm calc_diff stays below 1e-5 for bfloat16 (rounding alone gives ~1e-6)
and below 1e-10 for float32. Compiled and eager runs call the same implementations; only inductor's fused
SiLU may round differently by an ulp, which moves calc_diff by far less than 1e-6.
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend
from torch._subclasses.fake_tensor import FakeTensorMode

import fp8gemm
from fp8gemm import ops
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

N, K = 136, 272  # a partial 128-wide scale block along N and along K
SIZES = [70, 0, 130, 5]  # rows per expert, one empty
M_MAX = 40
MASKED_M = [3, 0, 17, 40]

# ------------------------------------------------------------------------------ sample calls (flattened args)


def _dense_args(c: bool = False) -> tuple:
    p = dense_inputs(65, N, K, device="cpu", out_dtype=torch.float32 if c else torch.bfloat16)
    extra = torch.randn(65, N) if c else None
    return (*p.a, *p.b, p.d, extra)


def _contiguous_args() -> tuple:
    p = grouped_contiguous_inputs(SIZES, N, K, device="cpu")
    return (*p.a, *p.b, p.d, p.m_indices)


def _masked_args() -> tuple:
    p = grouped_masked_inputs(MASKED_M, M_MAX, N, K, device="cpu")
    return (*p.a, *p.b, p.d, p.masked_m, 16)


GEMMS = {
    "dense": (torch.ops.fp8gemm.fp8_gemm_nt.default, _dense_args),
    "dense_c": (torch.ops.fp8gemm.fp8_gemm_nt.default, lambda: _dense_args(c=True)),
    "contiguous": (torch.ops.fp8gemm.m_grouped_fp8_gemm_nt_contiguous.default, _contiguous_args),
    "masked": (torch.ops.fp8gemm.m_grouped_fp8_gemm_nt_masked.default, _masked_args),
}
CASTS = {
    "token_row_2d": (torch.ops.fp8gemm.per_token_cast_to_fp8.default, (33, 272), (False, "row")),
    "token_gemm_2d": (torch.ops.fp8gemm.per_token_cast_to_fp8.default, (33, 272), (False, "gemm")),
    "token_gemm_3d": (torch.ops.fp8gemm.per_token_cast_to_fp8.default, (3, 7, 400), (True, "gemm")),
    "token_row_3d": (torch.ops.fp8gemm.per_token_cast_to_fp8.default, (3, 7, 400), (False, "row")),
    "token_gemm_one_block": (torch.ops.fp8gemm.per_token_cast_to_fp8.default, (8, 128), (False, "gemm")),
    "block_2d": (torch.ops.fp8gemm.per_block_cast_to_fp8.default, (136, 272), (False,)),
    "block_3d": (torch.ops.fp8gemm.per_block_cast_to_fp8.default, (2, 200, 160), (True,)),
}


def _cast_args(name: str) -> tuple:
    op, shape, rest = CASTS[name]
    return op, (random_activations(*shape, device="cpu"), *rest)


# ------------------------------------------------------------------------------ registration


# test_schema compares inputs before and after the call with allclose, which torch does not implement for
# float8 tensors on the CPU; test_gemm_ops_write_only_d checks that property directly.
GEMM_OPCHECKS = ("test_faketensor", "test_aot_dispatch_dynamic", "test_autograd_registration")


@pytest.mark.parametrize("name", list(GEMMS))
def test_gemm_op_passes_opcheck(name: str) -> None:
    op, make_args = GEMMS[name]
    torch.library.opcheck(op, make_args(), test_utils=GEMM_OPCHECKS)


@pytest.mark.parametrize("name", list(CASTS))
def test_cast_op_passes_opcheck(name: str) -> None:
    op, args = _cast_args(name)
    torch.library.opcheck(op, args)


def _bits(t: torch.Tensor | int | None) -> torch.Tensor | int | None:
    if not isinstance(t, torch.Tensor):
        return t
    return t.view(torch.uint8).clone() if t.dtype == torch.float8_e4m3fn else t.clone()


@pytest.mark.parametrize("name", list(GEMMS))
def test_gemm_ops_write_only_d(name: str) -> None:
    op, make_args = GEMMS[name]
    args = make_args()
    d_index = 4
    before = [_bits(t) for t in args]
    op(*args)
    for i, (old, new) in enumerate(zip(before, args, strict=True)):
        if isinstance(old, torch.Tensor) and i != d_index:
            assert torch.equal(old, _bits(new)), f"argument {i} was modified"
    assert not torch.isnan(args[d_index]).all(), "d was not written"


# ------------------------------------------------------------------------------ fake tensors and meta


def _call(op, args: tuple, mode: str) -> object:
    """op(*args) on the CPU tensors themselves, or on fake copies of them (the fake implementation)."""
    if mode == "cpu":
        return op(*args)
    with FakeTensorMode() as fake_mode:
        return op(*[fake_mode.from_tensor(t) if isinstance(t, torch.Tensor) else t for t in args])


def _significant_strides(t: torch.Tensor) -> tuple[int, ...]:
    """Strides of dims longer than 1 (the others never move an index)."""
    return tuple(s for s, n in zip(t.stride(), t.shape, strict=True) if n > 1)


@pytest.mark.parametrize("name", list(CASTS))
@pytest.mark.parametrize("mode", ["fake", "meta"])
def test_cast_fake_outputs_match_real(name: str, mode: str) -> None:
    op, args = _cast_args(name)
    real = op(*args)
    out = _call(op, args, "fake") if mode == "fake" else op(args[0].to("meta"), *args[1:])
    for r, f in zip(real, out, strict=True):
        assert (f.shape, f.dtype) == (r.shape, r.dtype)
        assert _significant_strides(f) == _significant_strides(r)


@pytest.mark.parametrize("name", list(GEMMS))
def test_gemm_op_traces_on_meta_tensors(name: str) -> None:
    op, make_args = GEMMS[name]
    args = [t.to("meta") if isinstance(t, torch.Tensor) else t for t in make_args()]
    assert op(*args) is None and args[4].device.type == "meta"


# ------------------------------------------------------------------------------ CPU implementation


def test_dense_cpu_matches_reference() -> None:
    p = dense_inputs(65, N, K, device="cpu")
    ops.fp8_gemm_nt(p.a, p.b, p.d)
    assert calc_diff(p.d, reference_gemm(p.a, p.b)) < 1e-5


@pytest.mark.parametrize("c_is_d", [False, True])
def test_dense_cpu_with_c_matches_reference(c_is_d: bool) -> None:
    p = dense_inputs(65, N, K, device="cpu", out_dtype=torch.float32)
    c = torch.randn(65, N)
    if c_is_d:
        p.d.copy_(c)
    ops.fp8_gemm_nt(p.a, p.b, p.d, c=p.d if c_is_d else c)
    assert calc_diff(p.d, c.double() + reference_gemm(p.a, p.b)) < 1e-10


def test_contiguous_cpu_writes_expert_rows_and_leaves_padding() -> None:
    p = grouped_contiguous_inputs(SIZES, N, K, device="cpu")
    ops.m_grouped_fp8_gemm_nt_contiguous(p.a, p.b, p.d, p.m_indices)
    for expert in range(len(SIZES)):
        rows = (p.m_indices == expert).nonzero().squeeze(1)
        if rows.numel():
            ref = reference_gemm((p.a[0][rows], p.a[1][rows]), (p.b[0][expert], p.b[1][expert]))
            assert calc_diff(p.d[rows], ref) < 1e-5, f"expert {expert}"
    assert torch.isnan(p.d[p.m_indices < 0]).all()


@pytest.mark.parametrize("masked_m", [MASKED_M, [-5, 2, M_MAX + 9, 1]], ids=["in_range", "clamped"])
def test_masked_cpu_writes_first_rows_only(masked_m: list[int]) -> None:
    p = grouped_masked_inputs(MASKED_M, M_MAX, N, K, device="cpu")
    counts = torch.tensor(masked_m, dtype=torch.int32)
    ops.m_grouped_fp8_gemm_nt_masked(p.a, p.b, p.d, counts, 16)
    ref = reference_gemm(p.a, p.b)
    for group, rows in enumerate(counts.clamp(0, M_MAX).tolist()):
        if rows:
            assert calc_diff(p.d[group, :rows], ref[group, :rows]) < 1e-5, f"group {group}"
        assert torch.isnan(p.d[group, rows:]).all(), f"group {group}: rows past masked_m written"


# ------------------------------------------------------------------------------ errors


def _with(args: tuple, index: int, value: object) -> tuple:
    return (*args[:index], value, *args[index + 1 :])


BAD_CALLS = {
    "dense_k_differs": ("dense", lambda a: _with(a, 2, a[2][:, :256]), ValueError, "but b\\[0\\] has K"),
    "dense_n_not_multiple_of_8": (
        "dense",
        lambda a: _with(_with(a, 2, a[2][:132]), 4, a[4][:, :132]),
        ValueError,
        "multiple of 8",
    ),
    "dense_f32_d_without_c": ("dense", lambda a: _with(a, 4, a[4].float()), TypeError, "d must have dtype"),
    "dense_sfa_shape": ("dense", lambda a: _with(a, 1, a[1][:, :1]), ValueError, "a\\[1\\]"),
    "dense_c_shape": ("dense_c", lambda a: _with(a, 5, a[5][:7]), ValueError, "c must have shape"),
    "contiguous_m_indices_int64": ("contiguous", lambda a: _with(a, 5, a[5].long()), TypeError, "m_indices"),
    "contiguous_b_2d": (
        "contiguous",
        lambda a: _with(_with(a, 2, a[2][0]), 3, a[3][0]),
        ValueError,
        "b\\[0\\]",
    ),
    "contiguous_d_rows": ("contiguous", lambda a: _with(a, 4, a[4][:128]), ValueError, "d must have shape"),
    "masked_groups_differ": (
        "masked",
        lambda a: _with(_with(a, 0, a[0][:2]), 1, a[1][:2]),
        ValueError,
        "groups",
    ),
    "masked_expected_m_zero": ("masked", lambda a: _with(a, 6, 0), ValueError, "expected_m"),
    "masked_masked_m_shape": ("masked", lambda a: _with(a, 5, a[5][:2]), ValueError, "masked_m"),
}


@pytest.mark.parametrize("mode", ["cpu", "fake"])
@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_gemm_call_raises(name: str, mode: str) -> None:
    gemm, change, error, match = BAD_CALLS[name]
    op, make_args = GEMMS[gemm]
    args = change(make_args())
    with pytest.raises(error, match=match):
        _call(op, args, mode)


def test_contiguous_cpu_rejects_expert_out_of_range() -> None:
    args = _contiguous_args()
    args[5][0] = len(SIZES)
    with pytest.raises(ValueError, match="is not an expert"):
        torch.ops.fp8gemm.m_grouped_fp8_gemm_nt_contiguous.default(*args)


@pytest.mark.parametrize(
    "x,rest,error",
    [
        (torch.ones(4, 128, dtype=torch.int32), (False, "row"), TypeError),
        (torch.ones(128), (False, "row"), ValueError),
        (torch.ones(4, 128), (False, "col"), ValueError),
        (torch.ones(4, 120), (False, "row"), ValueError),
    ],
    ids=["int_input", "one_dim", "unknown_layout", "k_not_multiple_of_16"],
)
@pytest.mark.parametrize("mode", ["cpu", "fake"])
def test_bad_cast_raises(x: torch.Tensor, rest: tuple, error: type, mode: str) -> None:
    with pytest.raises(error):
        _call(torch.ops.fp8gemm.per_token_cast_to_fp8.default, (x, *rest), mode)


def test_wrapper_rejects_an_operand_that_is_not_a_pair() -> None:
    p = dense_inputs(8, N, K, device="cpu")
    with pytest.raises(TypeError, match="a must be a"):
        ops.fp8_gemm_nt(p.a[0], p.b, p.d)


# ------------------------------------------------------------------------------ torch.compile


def _moe_inputs(sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Random activations and the contiguous-layout m_indices of `sizes` rows per expert."""
    p = grouped_contiguous_inputs(sizes, 8, 128, device="cpu")
    return random_activations(p.m_indices.numel(), 256, device="cpu"), p.m_indices


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_moe_matches_eager(backend: str) -> None:
    torch._dynamo.reset()
    model = TinyMoE(hidden=256, inter=272, out=136, num_experts=3, device="cpu")
    x, m_indices = _moe_inputs([100, 130, 5])
    eager = model(x, m_indices)
    compiled = torch.compile(model, fullgraph=True, backend=backend)(x, m_indices)
    assert not torch.isnan(eager).any()
    assert calc_diff(compiled, eager) < 1e-6


def test_compiled_moe_with_dynamic_rows_compiles_once() -> None:
    torch._dynamo.reset()
    model = TinyMoE(hidden=256, inter=272, out=136, num_experts=3, device="cpu")
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(model, fullgraph=True, backend=counter, dynamic=True)
    for sizes in ([100, 130, 5], [300, 0, 1]):
        x, m_indices = _moe_inputs(sizes)
        assert calc_diff(compiled(x, m_indices), model(x, m_indices)) < 1e-6
    assert counter.frame_count == 1


def _masked_decode(
    x: torch.Tensor, w: tuple[torch.Tensor, torch.Tensor], masked_m: torch.Tensor
) -> torch.Tensor:
    a = ops.per_token_cast_to_fp8(x, out_layout="gemm")
    d = torch.empty(*x.shape[:2], w[0].shape[1], dtype=torch.bfloat16)
    ops.m_grouped_fp8_gemm_nt_masked(a, w, d, masked_m, 8)
    written = torch.arange(x.shape[1]).unsqueeze(0) < masked_m.unsqueeze(1)
    return torch.where(written.unsqueeze(2), d, 0)


def test_compiled_masked_decode_matches_eager_for_new_masked_m() -> None:
    torch._dynamo.reset()
    w = ops.per_block_cast_to_fp8(random_weights(4, N, K, device="cpu"))
    x = random_activations(4, 16, K, device="cpu")
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(_masked_decode, fullgraph=True, backend=counter)
    for counts in ([3, 0, 16, 9], [16, 1, 0, 5]):
        masked_m = torch.tensor(counts, dtype=torch.int32)
        assert torch.equal(compiled(x, w, masked_m), _masked_decode(x, w, masked_m))
    assert counter.frame_count == 1  # masked_m is data: new counts reuse the graph


def test_plain_functions_compile_fullgraph_through_the_ops() -> None:
    # Under torch.compile the DeepGEMM-style functions route to the registered ops (no graph break).
    g = torch.Generator().manual_seed(7)
    x = torch.randn(96, 256, generator=g)
    w = torch.randn(128, 256, generator=g)
    a, b = fp8gemm.per_token_cast_to_fp8(x), fp8gemm.per_block_cast_to_fp8(w)

    def run(a0, a1, b0, b1):
        d = torch.full((96, 128), float("nan"), dtype=torch.bfloat16)
        fp8gemm.fp8_gemm_nt((a0, a1), (b0, b1), d)
        return d

    compiled = torch.compile(run, fullgraph=True, backend="eager")(*a, *b)
    expected = torch.full((96, 128), float("nan"), dtype=torch.bfloat16)
    ops.fp8_gemm_nt(a, b, expected)
    assert torch.equal(compiled, expected)
