"""per_token_cast_to_fp8 / per_block_cast_to_fp8 on the CPU.

Error model (from the e4m3 format, not from the code): e4m3 keeps 3 mantissa bits, so a value in the normal
range (|q| >= 2^-6) is rounded with relative error <= 2^-4, and one in the subnormal range with absolute
error <= 2^-10 (half the 2^-9 subnormal step). With q = x / s, each dequantized element therefore satisfies
|q·s - x| <= 2^-4·|x| + 2^-10·s (plus float32 rounding of the division, a few 2^-24 relative). The largest
finite e4m3 magnitude is 448.

Special values (documented behaviour): an all-zero block gets a finite positive scale and zero values; a NaN
in a block makes that block's scale NaN and every value of that block NaN, leaving other blocks untouched;
an Inf makes its block's scale Inf, its Inf elements NaN and its finite elements ±0.

These run the torch implementation (CPU tensors), which is also the definition the CUDA kernels must match
bit for bit (tests/test_quant_gpu.py): so its arithmetic is pinned here exactly, not only within bounds.
"""

from __future__ import annotations

import math

import pytest
import torch

from fp8gemm import get_mn_major_tma_aligned_tensor, per_block_cast_to_fp8, per_token_cast_to_fp8
from fp8gemm.api.quant import AMAX_FLOOR, reference_per_block_cast, reference_per_token_cast
from fp8gemm.testing import calc_diff, dequantize_a, dequantize_b

BLOCK = 128
E4M3_MAX = 448.0
FP32_SLACK = 1 + 2.0**-20

TOKEN_SHAPES = [(1, 128), (7, 160), (64, 256), (130, 992), (3, 16), (5, 7168)]
BLOCK_SHAPES = [(128, 128), (200, 160), (256, 384), (8, 16), (300, 1040), (136, 7168)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _activations(*shape: int, seed: int = 0, dtype=torch.bfloat16) -> torch.Tensor:
    x = torch.randn(*shape, generator=_gen(seed))
    x = x * torch.exp2(torch.randint(-8, 8, (*shape[:-1], 1), generator=_gen(seed + 1)).float())
    return x.to(dtype)


def _token_scale_map(s: torch.Tensor, k: int) -> torch.Tensor:
    return s.double().repeat_interleave(BLOCK, dim=-1)[..., :k]


def _block_scale_map(s: torch.Tensor, n: int, k: int) -> torch.Tensor:
    return s.double().repeat_interleave(BLOCK, dim=-2).repeat_interleave(BLOCK, dim=-1)[..., :n, :k]


def _assert_within_e4m3_error(x: torch.Tensor, deq: torch.Tensor, scale_map: torch.Tensor) -> None:
    x = x.double()
    bound = (2.0**-4 * x.abs() + 2.0**-10 * scale_map) * FP32_SLACK
    excess = (deq - x).abs() - bound
    assert excess.max().item() <= 0, f"worst element exceeds the e4m3 bound by {excess.max().item():.3g}"


def _block_amax(x: torch.Tensor, n_block: int, k_block: int) -> torch.Tensor:
    """amax over padded n_block x k_block blocks of the last two dims, float64."""
    *lead, n, k = x.shape
    nb, kb = math.ceil(n / n_block), math.ceil(k / k_block)
    padded = torch.zeros(*lead, nb * n_block, kb * k_block, dtype=torch.float64)
    padded[..., :n, :k] = x.double().abs()
    return padded.view(*lead, nb, n_block, kb, k_block).amax(dim=(-3, -1))


# ------------------------------------------------------------------------------------------- per token


@pytest.mark.parametrize("m,k", TOKEN_SHAPES)
def test_per_token_shapes_and_dtypes(m: int, k: int) -> None:
    q, s = per_token_cast_to_fp8(_activations(m, k))
    assert q.shape == (m, k) and q.dtype == torch.float8_e4m3fn and q.is_contiguous()
    assert s.shape == (m, math.ceil(k / BLOCK)) and s.dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("m,k", TOKEN_SHAPES)
def test_per_token_round_trip_within_e4m3_error(m: int, k: int, dtype: torch.dtype) -> None:
    x = _activations(m, k, seed=m + k, dtype=dtype)
    q, s = per_token_cast_to_fp8(x)
    deq = dequantize_a(q, s)
    _assert_within_e4m3_error(x, deq, _token_scale_map(s, k))
    assert calc_diff(deq, x) < 1e-3


@pytest.mark.parametrize("m,k", TOKEN_SHAPES)
def test_per_token_maps_each_block_max_to_448(m: int, k: int) -> None:
    x = _activations(m, k, seed=3)
    q, _ = per_token_cast_to_fp8(x)
    q_amax = _block_amax(q.double(), 1, BLOCK)
    assert torch.all(q_amax == E4M3_MAX)


def test_per_token_3d_equals_per_batch_2d() -> None:
    x = _activations(3, 17, 272, seed=4)
    q, s = per_token_cast_to_fp8(x)
    assert q.shape == (3, 17, 272) and s.shape == (3, 17, 3)
    for g in range(3):
        q_g, s_g = per_token_cast_to_fp8(x[g])
        assert torch.equal(q[g].view(torch.uint8), q_g.view(torch.uint8))
        assert torch.equal(s[g], s_g)


# ------------------------------------------------------------------------------------------- per block


@pytest.mark.parametrize("n,k", BLOCK_SHAPES)
def test_per_block_shapes_and_dtypes(n: int, k: int) -> None:
    q, s = per_block_cast_to_fp8(_activations(n, k))
    assert q.shape == (n, k) and q.dtype == torch.float8_e4m3fn and q.is_contiguous()
    assert s.shape == (math.ceil(n / BLOCK), math.ceil(k / BLOCK)) and s.dtype == torch.float32


@pytest.mark.parametrize("n,k", BLOCK_SHAPES)
def test_per_block_round_trip_within_e4m3_error(n: int, k: int) -> None:
    w = torch.randn(n, k, generator=_gen(n * k)).bfloat16()
    q, s = per_block_cast_to_fp8(w)
    deq = dequantize_b(q, s)
    _assert_within_e4m3_error(w, deq, _block_scale_map(s, n, k))
    assert calc_diff(deq, w) < 1e-3


@pytest.mark.parametrize("n,k", BLOCK_SHAPES)
def test_per_block_maps_each_block_max_to_448(n: int, k: int) -> None:
    q, _ = per_block_cast_to_fp8(torch.randn(n, k, generator=_gen(5)))
    assert torch.all(_block_amax(q.double(), BLOCK, BLOCK) == E4M3_MAX)


@pytest.mark.parametrize("g,n,k", [(1, 128, 128), (3, 200, 160), (4, 264, 400)])
def test_per_block_grouped_weights_equal_per_group_casts(g: int, n: int, k: int) -> None:
    w = torch.randn(g, n, k, generator=_gen(6)) * torch.arange(1, g + 1).view(g, 1, 1)
    q, s = per_block_cast_to_fp8(w.bfloat16())
    assert q.shape == (g, n, k) and s.shape == (g, math.ceil(n / BLOCK), math.ceil(k / BLOCK))
    for i in range(g):
        q_i, s_i = per_block_cast_to_fp8(w[i].bfloat16())
        assert torch.equal(q[i].view(torch.uint8), q_i.view(torch.uint8))
        assert torch.equal(s[i], s_i)
    _assert_within_e4m3_error(w.bfloat16(), dequantize_b(q, s), _block_scale_map(s, n, k))


# --------------------------------------------------------------------------------------------- UE8M0


def _assert_power_of_two(s: torch.Tensor) -> None:
    mantissa, _ = torch.frexp(s)
    assert torch.all(mantissa == 0.5), "scales are not powers of two"


@pytest.mark.parametrize("m,k", TOKEN_SHAPES)
def test_per_token_ue8m0_scales_are_smallest_sufficient_power_of_two(m: int, k: int) -> None:
    x = _activations(m, k, seed=7)
    q, s = per_token_cast_to_fp8(x, use_ue8m0=True)
    _assert_power_of_two(s)
    assert torch.all(q.float().abs() <= E4M3_MAX)
    amax = _block_amax(x, 1, BLOCK)
    s64 = s.double()
    assert torch.all(amax / s64 <= E4M3_MAX * FP32_SLACK)  # s suffices
    assert torch.all(amax / (s64 / 2) > E4M3_MAX)  # half of s would not
    _assert_within_e4m3_error(x, dequantize_a(q, s), _token_scale_map(s, k))


@pytest.mark.parametrize("n,k", BLOCK_SHAPES)
def test_per_block_ue8m0_scales_are_powers_of_two(n: int, k: int) -> None:
    w = torch.randn(n, k, generator=_gen(8)).bfloat16()
    q, s = per_block_cast_to_fp8(w, use_ue8m0=True)
    _assert_power_of_two(s)
    assert torch.all(q.float().abs() <= E4M3_MAX)
    amax = _block_amax(w, BLOCK, BLOCK)
    assert torch.all(amax / s.double() <= E4M3_MAX * FP32_SLACK)
    assert torch.all(amax / (s.double() / 2) > E4M3_MAX)
    assert calc_diff(dequantize_b(q, s), w) < 1e-3


@pytest.mark.parametrize("exponent", [-20, -3, 0, 5, 40])
def test_ue8m0_at_power_of_two_boundary(exponent: int) -> None:
    # Row 0: amax = 448·2^e exactly, so s = 2^e suffices; row 1: amax 2^-10 larger, so s must double.
    # (A margin far below 2^-10 is lost in float32 log2 for large |e|; the value still rounds to 448.)
    base = E4M3_MAX * 2.0**exponent
    x = torch.full((2, 128), base / 3, dtype=torch.float32)
    x[0, 5] = base
    x[1, 5] = base * (1 + 2.0**-10)
    q, s = per_token_cast_to_fp8(x, use_ue8m0=True)
    assert s[0, 0].item() == 2.0**exponent
    assert s[1, 0].item() == 2.0 ** (exponent + 1)
    assert q.float().abs().max().item() <= E4M3_MAX


# ------------------------------------------------------------------------------------- special values


@pytest.mark.parametrize("use_ue8m0", [False, True])
def test_per_token_all_zero_blocks_give_finite_scales_and_zero_values(use_ue8m0: bool) -> None:
    x = torch.randn(4, 384, generator=_gen(9)).bfloat16()
    x[1] = 0  # a whole row: three zero blocks
    x[2, 128:256] = 0  # one zero block between non-zero ones
    q, s = per_token_cast_to_fp8(x, use_ue8m0=use_ue8m0)
    assert torch.all(torch.isfinite(s)) and torch.all(s > 0)
    assert torch.all(q[1].float() == 0) and torch.all(q[2, 128:256].float() == 0)
    assert torch.all(dequantize_a(q, s)[1] == 0)
    _assert_within_e4m3_error(x, dequantize_a(q, s), _token_scale_map(s, 384))


@pytest.mark.parametrize("use_ue8m0", [False, True])
def test_per_block_all_zero_blocks_give_finite_scales_and_zero_values(use_ue8m0: bool) -> None:
    w = torch.zeros(3, 200, 160)
    w[1, :128, :128] = torch.randn(128, 128, generator=_gen(10))
    q, s = per_block_cast_to_fp8(w, use_ue8m0=use_ue8m0)
    assert torch.all(torch.isfinite(s)) and torch.all(s > 0)
    nonzero = torch.zeros_like(w, dtype=torch.bool)
    nonzero[1, :128, :128] = True
    assert torch.all(q.float()[~nonzero] == 0)
    assert torch.all(dequantize_b(q, s)[~nonzero] == 0)


@pytest.mark.parametrize("row,col", [(0, 0), (2, 130), (4, 159)])
def test_per_token_nan_poisons_only_its_block(row: int, col: int) -> None:
    x = torch.randn(5, 160, generator=_gen(11)).bfloat16()
    x[row, col] = float("nan")
    q, s = per_token_cast_to_fp8(x)
    kb = col // BLOCK
    assert math.isnan(s[row, kb].item())
    block = q[row, kb * BLOCK : (kb + 1) * BLOCK].float()
    assert torch.all(torch.isnan(block)), "every value of the NaN block is NaN"
    poisoned = torch.zeros(5, 2, dtype=torch.bool)
    poisoned[row, kb] = True
    assert torch.all(torch.isfinite(s[~poisoned]))
    q_ok = q.float().clone()
    q_ok[row, kb * BLOCK : (kb + 1) * BLOCK] = 0
    assert torch.all(torch.isfinite(q_ok))


@pytest.mark.parametrize("row,col", [(0, 0), (199, 159), (130, 5)])
def test_per_block_nan_poisons_only_its_block(row: int, col: int) -> None:
    w = torch.randn(200, 160, generator=_gen(12))
    w[row, col] = float("nan")
    q, s = per_block_cast_to_fp8(w)
    nb, kb = row // BLOCK, col // BLOCK
    assert math.isnan(s[nb, kb].item())
    rows, cols = slice(nb * BLOCK, (nb + 1) * BLOCK), slice(kb * BLOCK, (kb + 1) * BLOCK)
    assert torch.all(torch.isnan(q.float()[rows, cols]))
    poisoned = torch.zeros(2, 2, dtype=torch.bool)
    poisoned[nb, kb] = True
    assert torch.all(torch.isfinite(s[~poisoned]))
    q_ok = q.float().clone()
    q_ok[rows, cols] = 0
    assert torch.all(torch.isfinite(q_ok))


def test_per_token_inf_makes_its_block_scale_inf() -> None:
    x = torch.randn(2, 256, generator=_gen(13))
    x[1, 200] = float("inf")
    _, s = per_token_cast_to_fp8(x)
    assert math.isinf(s[1, 1].item())
    assert torch.all(torch.isfinite(s.flatten()[:3]))


# ----------------------------------------------------------------------------------------- gemm layout


def _m_pad(m: int) -> int:
    # 16-byte TMA stride alignment over 4-byte floats: round up to a multiple of 4.
    return (m + 3) // 4 * 4


@pytest.mark.parametrize("m,k", [(1, 256), (7, 160), (64, 384), (130, 1024), (5, 128)])
def test_per_token_gemm_layout_is_mn_major_and_padded(m: int, k: int) -> None:
    x = _activations(m, k, seed=14)
    q_row, s_row = per_token_cast_to_fp8(x)
    q, s = per_token_cast_to_fp8(x, out_layout="gemm")
    kb = math.ceil(k / BLOCK)
    assert s.shape == (m, kb)
    assert s.stride(0) == 1
    if kb > 1:
        assert s.stride(1) == _m_pad(m)
    assert torch.equal(s, s_row)
    assert torch.equal(q.view(torch.uint8), q_row.view(torch.uint8))


@pytest.mark.parametrize("g,m,k", [(2, 7, 160), (3, 64, 384), (1, 5, 256), (4, 6, 128)])
def test_per_token_gemm_layout_3d_is_mn_major_per_group(g: int, m: int, k: int) -> None:
    x = _activations(g, m, k, seed=15)
    _, s_row = per_token_cast_to_fp8(x)
    _, s = per_token_cast_to_fp8(x, out_layout="gemm")
    kb = math.ceil(k / BLOCK)
    assert s.shape == (g, m, kb)
    assert s.stride(1) == 1
    if kb > 1:
        assert s.stride(2) == _m_pad(m)
    if g > 1:
        assert s.stride(0) == kb * _m_pad(m)
    assert torch.equal(s, s_row)


# ------------------------------------------------------------------------------------- exact arithmetic


def _ieee_scale(amax: torch.Tensor) -> torch.Tensor:
    """max(amax, floor) / 448 rounded once to float32: a float64 quotient of float32 operands rounded to
    float32 is the correctly rounded float32 quotient (53 >= 2 * 24 + 2 bits)."""
    floor = torch.tensor(AMAX_FLOOR, dtype=torch.float32).double()
    return (amax.double().clamp(min=floor) / E4M3_MAX).float()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_per_token_scale_is_the_ieee_quotient(dtype: torch.dtype) -> None:
    x = _activations(33, 1040, seed=21, dtype=dtype)
    _, s = per_token_cast_to_fp8(x)
    assert torch.equal(s, _ieee_scale(_block_amax(x, 1, BLOCK)))


def test_per_block_scale_is_the_ieee_quotient() -> None:
    w = _activations(2, 300, 400, seed=22, dtype=torch.float32)
    _, s = per_block_cast_to_fp8(w)
    assert torch.equal(s, _ieee_scale(_block_amax(w, BLOCK, BLOCK)))


def test_per_token_values_are_the_ieee_quotient_cast_to_e4m3() -> None:
    x = _activations(17, 400, seed=23, dtype=torch.float32)
    q, s = per_token_cast_to_fp8(x)
    # float64 quotient rounded once to float32 = the IEEE float32 quotient, then torch's e4m3 cast.
    quotient = (x.double() / _token_scale_map(s, 400)).float()
    assert torch.equal(q.view(torch.uint8), quotient.to(torch.float8_e4m3fn).view(torch.uint8))


@pytest.mark.parametrize("exponent", [-20, -3, 0, 5, 40])
def test_ue8m0_rounds_up_a_scale_one_ulp_above_a_power_of_two(exponent: int) -> None:
    # amax/448 = 2^e (1 + 2^-23.8), which rounds to 2^e (1 + 2^-23): float32 log2 of it rounds to e for
    # |e| >= 2, so exp2(ceil(log2(s))) returned 2^e, too small. Row 1: exactly 2^e.
    base = torch.tensor(E4M3_MAX * 2.0**exponent, dtype=torch.float32)
    x = torch.full((2, 128), base.item() / 3, dtype=torch.float32)
    x[0, 9] = torch.nextafter(base, torch.tensor(math.inf))
    x[1, 9] = base
    q, s = per_token_cast_to_fp8(x, use_ue8m0=True)
    assert s[0, 0].item() == 2.0 ** (exponent + 1)
    assert s[1, 0].item() == 2.0**exponent
    assert q.float().abs().max().item() <= E4M3_MAX


def test_ue8m0_power_of_two_scales_are_kept_and_special_scales_survive() -> None:
    # Scale exactly 2^e for e in [-22, 100] (amax = 448 * 2^e); then a NaN block and an Inf block.
    exponents = torch.arange(-22, 101, dtype=torch.float32)
    x = torch.zeros(len(exponents) + 2, 128)
    x[: len(exponents), 0] = E4M3_MAX * torch.exp2(exponents)
    x[-2, 3] = float("nan")
    x[-1, 3] = float("-inf")
    _, s = per_token_cast_to_fp8(x, use_ue8m0=True)
    assert torch.equal(s[: len(exponents), 0], torch.exp2(exponents))
    assert math.isnan(s[-2, 0].item()), "NaN must not turn into a number through the bit arithmetic"
    assert s[-1, 0].item() == math.inf


def test_amax_floor_scale_for_tiny_and_zero_blocks() -> None:
    x = torch.zeros(3, 256)
    x[1, :128] = 1e-30  # below the floor: the floor's scale, and values that round to e4m3 zero
    x[2, 128] = 1e-5
    q, s = per_token_cast_to_fp8(x)
    floor_scale = _ieee_scale(torch.zeros(()))
    assert torch.all(s[:2] == floor_scale) and s[2, 0] == floor_scale and s[2, 1] == floor_scale
    assert torch.all(q.float()[:2] == 0)
    assert q.float()[2, 128].item() == pytest.approx(1e-5 / floor_scale.item(), rel=2**-3)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_inf_block_makes_finite_values_zero_and_inf_values_nan(sign: float) -> None:
    x = torch.randn(2, 256, generator=_gen(24))
    x[0, 140] = sign * math.inf
    q, s = per_token_cast_to_fp8(x)
    assert s[0, 1].item() == math.inf and torch.isfinite(s[0, 0]) and torch.all(torch.isfinite(s[1]))
    block = q[0, 128:].float()
    assert math.isnan(block[12].item())
    rest = torch.cat([block[:12], block[13:]])
    assert torch.all(rest == 0)
    assert torch.equal(torch.signbit(rest), torch.signbit(x[0, 128:][torch.arange(128) != 12]))
    assert torch.all(torch.isfinite(q.float()[1])) and torch.all(torch.isfinite(q.float()[0, :128]))


def test_extreme_magnitudes_map_the_block_max_to_448_and_never_beyond() -> None:
    # BF16's largest and smallest normal magnitudes, and blocks mixing them (tiny values flush to zero).
    big = torch.finfo(torch.bfloat16).max
    tiny = torch.finfo(torch.bfloat16).tiny
    x = torch.randn(4, 128, generator=_gen(25)).bfloat16()
    x[0, 5], x[1, 5] = big, -big
    x[2] *= tiny
    x[3, 0], x[3, 1] = big, tiny
    for ue8m0 in (False, True):
        q, s = per_token_cast_to_fp8(x, use_ue8m0=ue8m0)
        assert torch.all(torch.isfinite(s)) and torch.all(torch.isfinite(q.float()))
        assert q.float().abs().max().item() <= E4M3_MAX
        if not ue8m0:
            assert q.float()[0, 5].item() == E4M3_MAX and q.float()[1, 5].item() == -E4M3_MAX
        assert q.float()[3, 1].item() == 0


def test_torch_e4m3_cast_behaviour_the_kernels_rely_on() -> None:
    # Round to nearest even; |v| <= 448 (1 + 2^-22) (the most a cast here produces) lands on 448; NaN stays
    # NaN. Beyond 464 torch has saturated (current) or returned NaN (older): the casts never go there.
    values = torch.tensor(
        [448 * (1 + 2**-22), -448 * (1 + 2**-22), 416.0, 432.0, 2**-10, 3 * 2**-10, math.nan]
    )
    cast = values.to(torch.float8_e4m3fn).float()
    assert cast[:6].tolist() == [448.0, -448.0, 416.0, 448.0, 0.0, 2**-8]
    assert math.isnan(cast[6].item())


# ----------------------------------------------------------------------------- contract and validation


@pytest.mark.parametrize("k", [8, 100, 136, 7160])
def test_k_not_a_multiple_of_16_is_rejected(k: int) -> None:
    with pytest.raises(ValueError, match=rf"^K \(x.shape\[-1\]\) must be a multiple of 16, got {k}"):
        per_token_cast_to_fp8(torch.randn(4, k))
    with pytest.raises(ValueError, match=rf"^K \(w.shape\[-1\]\) must be a multiple of 16, got {k}"):
        per_block_cast_to_fp8(torch.randn(2, 4, k))


@pytest.mark.parametrize(
    "fn,name", [(per_token_cast_to_fp8, "x"), (per_block_cast_to_fp8, "w")], ids=["token", "block"]
)
def test_bad_inputs_name_the_argument(fn, name: str) -> None:
    with pytest.raises(TypeError, match=rf"^{name} must be a torch.Tensor, got ndarray"):
        fn(torch.randn(4, 128).numpy())
    with pytest.raises(TypeError, match=rf"^{name} must be bfloat16, float16 or float32, got torch.int8"):
        fn(torch.ones(4, 128, dtype=torch.int8))
    with pytest.raises(ValueError, match=rf"^{name} must be 2-D or 3-D, got shape \(2, 2, 4, 128\)"):
        fn(torch.randn(2, 2, 4, 128))


def test_non_contiguous_inputs_give_the_contiguous_result() -> None:
    wide = _activations(64, 400, seed=26)
    x = wide[:, 16:272]  # rows 800 bytes apart
    q, s = per_token_cast_to_fp8(x)
    q_ref, s_ref = per_token_cast_to_fp8(x.contiguous())
    assert torch.equal(q.view(torch.uint8), q_ref.view(torch.uint8)) and torch.equal(s, s_ref)
    wt = _activations(400, 256, seed=27).t()  # column-major
    q, s = per_block_cast_to_fp8(wt)
    q_ref, s_ref = per_block_cast_to_fp8(wt.contiguous())
    assert torch.equal(q.view(torch.uint8), q_ref.view(torch.uint8)) and torch.equal(s, s_ref)


@pytest.mark.parametrize("shape", [(0, 256), (5, 0), (0, 0), (0, 3, 128), (2, 0, 16)])
def test_empty_inputs_give_empty_outputs(shape: tuple[int, ...]) -> None:
    x = torch.randn(*shape)
    *lead, m, k = shape
    kb = math.ceil(k / BLOCK)
    for layout in ("row", "gemm"):
        q, s = per_token_cast_to_fp8(x, out_layout=layout)
        assert q.shape == shape and q.dtype == torch.float8_e4m3fn and s.shape == (*lead, m, kb)
    q, s = per_block_cast_to_fp8(x)
    assert q.shape == shape and s.shape == (*lead, math.ceil(m / BLOCK), kb)


def test_public_casts_on_cpu_are_the_reference() -> None:
    x = _activations(3, 40, 272, seed=28)
    for ue8m0 in (False, True):
        q, s = per_token_cast_to_fp8(x, use_ue8m0=ue8m0, out_layout="gemm")
        q_ref, s_ref = reference_per_token_cast(x, ue8m0)
        assert torch.equal(q.view(torch.uint8), q_ref.view(torch.uint8))
        assert torch.equal(s, s_ref) and s.stride() == get_mn_major_tma_aligned_tensor(s_ref).stride()
        q, s = per_block_cast_to_fp8(x, use_ue8m0=ue8m0)
        q_ref, s_ref = reference_per_block_cast(x, ue8m0)
        assert torch.equal(q.view(torch.uint8), q_ref.view(torch.uint8)) and torch.equal(s, s_ref)
