"""FP8 cast kernels on the GPU: bit for bit the torch reference, then through the GEMM.

The reference is the torch implementation run on a CPU copy of the same input (fp8gemm/api/quant.py
defines the casts by it). Bitwise means every e4m3 byte and every FP32 scale equal, except that a NaN
matches any NaN: IEEE leaves the sign of a NaN result unspecified (x86 makes Inf/Inf negative, the GPU
positive), so NaN positions must agree, not their sign bits.

The kernels allocate their outputs; to catch an element they never write, the caching allocator is first
emptied and handed back blocks filled with 0xff bytes (NaN as e4m3 and as FP32) that the outputs then reuse.

Round trip: the casts' outputs fed to fp8_gemm_nt must give the float64 product of their dequantized
values up to BF16 output rounding (calc_diff < 1e-5), and the product of the unquantized inputs up to FP8
quantization error (< 1e-3) (fp8gemm/testing/numerics.py).
"""

from __future__ import annotations

import math

import pytest
import torch

import fp8gemm
from fp8gemm.api.quant import reference_per_block_cast, reference_per_token_cast
from fp8gemm.testing import calc_diff, random_activations, random_weights, reference_gemm
from fp8gemm.utils import get_tma_aligned_size, is_mn_major_tma_aligned

pytestmark = pytest.mark.gpu

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
# K tails of every width 16..112, one block, M = 1, rows past a CTA's 16, DeepSeek shapes.
TOKEN_SHAPES = [
    (1, 16),
    (1, 7168),
    (3, 144),
    (7, 160),
    (16, 128),
    (17, 1040),
    (64, 256),
    (130, 992),
    (129, 4112),
    (300, 2096),
    (5, 7168),
    (4096, 7168),
]
BLOCK_SHAPES = [
    (8, 16),
    (128, 128),
    (200, 160),
    (300, 1040),
    (136, 7168),
    (2112, 7168),
    (7168, 2048),
    (129, 48),
]
GROUPED_TOKEN = [(2, 7, 160), (3, 64, 384), (4, 130, 1040), (1, 5, 256)]
GROUPED_BLOCK = [(3, 200, 160), (4, 264, 400), (2, 2112, 7168)]


def _poison_allocator(*nbytes: int) -> None:
    # With the cache emptied first, the poisoned blocks are the only free memory the outputs can take.
    torch.cuda.empty_cache()
    blocks = [torch.full((size + 4096,), 0xFF, dtype=torch.uint8, device="cuda") for size in nbytes]
    del blocks


def _wide_range(*shape: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Normal values times 2^e with e drawn per element in [-40, 40] (and per row in [-20, 20]): many blocks
    hold values far below their max, down to e4m3's subnormals and below, where rounding is easiest to get
    wrong."""
    gen = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(*shape, device="cuda", generator=gen)
    x = x * torch.exp2(torch.randint(-40, 41, shape, device="cuda", generator=gen).float())
    row_shift = torch.randint(-20, 21, (*shape[:-1], 1), device="cuda", generator=gen).float()
    limit = torch.finfo(dtype).max / 2  # FP16's range is narrow: keep every value finite
    return (x * torch.exp2(row_shift)).clamp(-limit, limit).to(dtype)


def _assert_same_bits(
    ours: tuple[torch.Tensor, torch.Tensor], ref: tuple[torch.Tensor, torch.Tensor]
) -> None:
    (q, s), (q_ref, s_ref) = ours, ref
    assert q.dtype == torch.float8_e4m3fn and q.shape == q_ref.shape and q.is_contiguous()
    assert s.dtype == torch.float32 and s.shape == s_ref.shape
    qb, qb_ref = q.cpu().view(torch.uint8), q_ref.view(torch.uint8)
    q_nan, q_nan_ref = (qb & 0x7F) == 0x7F, (qb_ref & 0x7F) == 0x7F
    assert torch.equal(q_nan, q_nan_ref), f"{int((q_nan != q_nan_ref).sum())} NaN positions differ"
    wrong = int((qb[~q_nan] != qb_ref[~q_nan_ref]).sum())
    assert wrong == 0, f"{wrong} of {qb.numel()} e4m3 values differ"
    s = s.cpu().contiguous()
    s_nan, s_nan_ref = torch.isnan(s), torch.isnan(s_ref)
    assert torch.equal(s_nan, s_nan_ref), "NaN scale positions differ"
    assert torch.equal(s[~s_nan].view(torch.int32), s_ref[~s_nan_ref].view(torch.int32)), "scales differ"


def _token_cast(
    x: torch.Tensor, ue8m0: bool = False, layout: str = "row"
) -> tuple[torch.Tensor, torch.Tensor]:
    m, k = x.shape[-2:]
    groups = x.shape[0] if x.dim() == 3 else 1
    scale_bytes = groups * get_tma_aligned_size(m, 4) * math.ceil(k / 128) * 4
    _poison_allocator(x.numel(), scale_bytes)
    q, s = fp8gemm.per_token_cast_to_fp8(x, use_ue8m0=ue8m0, out_layout=layout)
    _assert_same_bits((q, s), reference_per_token_cast(x.cpu(), ue8m0))
    return q, s


def _block_cast(w: torch.Tensor, ue8m0: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    n, k = w.shape[-2:]
    groups = w.shape[0] if w.dim() == 3 else 1
    _poison_allocator(w.numel(), groups * math.ceil(n / 128) * math.ceil(k / 128) * 4)
    q, s = fp8gemm.per_block_cast_to_fp8(w, use_ue8m0=ue8m0)
    _assert_same_bits((q, s), reference_per_block_cast(w.cpu(), ue8m0))
    return q, s


# ------------------------------------------------------------------------------------------- per token


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("m,k", TOKEN_SHAPES, ids=str)
def test_per_token_matches_reference(m: int, k: int, dtype: torch.dtype) -> None:
    _token_cast(random_activations(m, k).to(dtype))
    _token_cast(_wide_range(m, k, dtype=dtype, seed=m * k))


@pytest.mark.parametrize("layout", ["row", "gemm"])
@pytest.mark.parametrize("ue8m0", [False, True], ids=["scale", "ue8m0"])
@pytest.mark.parametrize("m,k", [(1, 16), (7, 160), (17, 1040), (130, 992), (4096, 7168)], ids=str)
def test_per_token_ue8m0_and_gemm_layout_match_reference(m: int, k: int, ue8m0: bool, layout: str) -> None:
    for dtype in DTYPES:
        _token_cast(_wide_range(m, k, dtype=dtype, seed=m + k), ue8m0, layout)


@pytest.mark.parametrize("m", [1, 3, 4, 5, 130])
def test_per_token_gemm_layout_is_the_gemm_scale_layout(m: int) -> None:
    x = random_activations(m, 1040)
    _, s = _token_cast(x, layout="gemm")
    _, s_row = reference_per_token_cast(x.cpu())
    expected = fp8gemm.get_mn_major_tma_aligned_tensor(s_row)
    assert s.shape == expected.shape and s.stride() == expected.stride() == (1, get_tma_aligned_size(m, 4))
    assert is_mn_major_tma_aligned(s)


@pytest.mark.parametrize("layout", ["row", "gemm"])
@pytest.mark.parametrize("g,m,k", GROUPED_TOKEN, ids=str)
def test_per_token_grouped_matches_reference(g: int, m: int, k: int, layout: str) -> None:
    for ue8m0 in (False, True):
        _, s = _token_cast(_wide_range(g, m, k, dtype=torch.bfloat16, seed=g * m * k), ue8m0, layout)
    if layout == "gemm":
        assert is_mn_major_tma_aligned(s)


# ------------------------------------------------------------------------------------------- per block


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n,k", BLOCK_SHAPES, ids=str)
def test_per_block_matches_reference(n: int, k: int, dtype: torch.dtype) -> None:
    _block_cast(random_weights(n, k).to(dtype))
    for ue8m0 in (False, True):
        _block_cast(_wide_range(n, k, dtype=dtype, seed=n + k), ue8m0)


@pytest.mark.parametrize("g,n,k", GROUPED_BLOCK, ids=str)
def test_per_block_grouped_matches_reference(g: int, n: int, k: int) -> None:
    w = random_weights(g, n, k) * torch.arange(1, g + 1, device="cuda").view(g, 1, 1)
    for ue8m0 in (False, True):
        _block_cast(w.to(torch.bfloat16), ue8m0)


# -------------------------------------------------------------------------------------- special values


@pytest.mark.parametrize("ue8m0", [False, True], ids=["scale", "ue8m0"])
def test_zero_blocks_nan_and_inf_rows(ue8m0: bool) -> None:
    x = random_activations(40, 400)
    x[1] = 0  # a whole row of zero blocks (and the zero-padded tail)
    x[2, 128:256] = 0
    x[3, 5] = math.nan
    x[4, 300] = math.inf
    x[5, 17] = -math.inf
    x[6, :] = math.nan
    x[7, 130], x[7, 131] = math.inf, -math.inf
    x[8, ::2] = -0.0  # e4m3 keeps the sign of zero: 0x80
    q, s = _token_cast(x, ue8m0)
    assert math.isnan(s[3, 0].item()) and s[4, 2].item() == math.inf and torch.isfinite(s[1]).all()
    _token_cast(x, ue8m0, "gemm")
    w = random_weights(300, 400)
    w[:128, :128] = 0
    w[200, 5] = math.nan
    w[5, 260] = -math.inf
    _, s = _block_cast(w, ue8m0)
    assert torch.isfinite(s[0, 0]) and s[0, 0] > 0
    assert math.isnan(s[1, 0].item()) and s[0, 2].item() == math.inf


def test_extreme_magnitudes() -> None:
    big, tiny = torch.finfo(torch.bfloat16).max, torch.finfo(torch.bfloat16).tiny
    x = random_activations(8, 256)
    x[0, 3], x[1, 3] = big, -big
    x[2] *= tiny
    x[3, 0], x[3, 1] = big, tiny
    x[4, :128] = torch.finfo(torch.bfloat16).smallest_normal / 64  # BF16 subnormals
    for ue8m0 in (False, True):
        _token_cast(x, ue8m0)
        _token_cast(x.float() * 1e-3, ue8m0)  # FP32 inputs whose blocks sit at or below the amax floor
        _block_cast(x, ue8m0)


# ------------------------------------------------------------------------------- layouts and contract


def test_strided_and_misaligned_inputs_are_copied_then_cast() -> None:
    wide = random_activations(64, 1040)
    _token_cast(wide[:, 16:528])  # rows 2080 bytes apart
    _token_cast(random_activations(512, 64).t())  # column-major
    flat = random_activations(64 * 512 + 1)
    misaligned = flat[1:].view(64, 512)  # contiguous, data pointer 2 bytes past a 16-byte boundary
    assert misaligned.is_contiguous() and misaligned.data_ptr() % 16 == 2
    _token_cast(misaligned)
    _block_cast(misaligned)
    _block_cast(random_weights(512, 300).t())


@pytest.mark.parametrize("shape", [(0, 256), (5, 0), (0, 3, 128), (2, 0, 16)], ids=str)
def test_empty_inputs(shape: tuple[int, ...]) -> None:
    x = torch.randn(*shape, device="cuda", dtype=torch.bfloat16)
    for layout in ("row", "gemm"):
        q, s = fp8gemm.per_token_cast_to_fp8(x, out_layout=layout)
        assert q.shape == shape and q.is_cuda and s.shape == (*shape[:-1], math.ceil(shape[-1] / 128))
    q, s = fp8gemm.per_block_cast_to_fp8(x)
    assert q.shape == shape and s.shape == (
        *shape[:-2],
        math.ceil(shape[-2] / 128),
        math.ceil(shape[-1] / 128),
    )


def test_casts_run_on_the_current_stream() -> None:
    source = random_activations(4096, 7168)
    x = torch.zeros_like(source)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        # The input is written on `stream` behind a long sleep: a cast launched anywhere else reads zeros.
        torch.cuda._sleep(50_000_000)
        x.copy_(source)
        q, s = fp8gemm.per_token_cast_to_fp8(x)
        qb, sb = fp8gemm.per_block_cast_to_fp8(x)
    stream.synchronize()
    _assert_same_bits((q, s), reference_per_token_cast(source.cpu()))
    _assert_same_bits((qb, sb), reference_per_block_cast(source.cpu()))


def test_repeated_calls_are_deterministic() -> None:
    x = _wide_range(517, 2064, dtype=torch.bfloat16, seed=5)
    first = fp8gemm.per_token_cast_to_fp8(x, out_layout="gemm")
    for _ in range(3):
        again = fp8gemm.per_token_cast_to_fp8(x, out_layout="gemm")
        assert torch.equal(first[0].view(torch.uint8), again[0].view(torch.uint8))
        assert torch.equal(first[1], again[1])


# -------------------------------------------------------------------------------------- through the GEMM


@pytest.mark.parametrize("layout", ["row", "gemm"])
@pytest.mark.parametrize("ue8m0", [False, True], ids=["scale", "ue8m0"])
@pytest.mark.parametrize(
    "m,n,k", [(1, 2112, 7168), (129, 520, 1040), (4096, 4096, 7168), (300, 264, 400)], ids=str
)
def test_cast_outputs_feed_the_gemm(m: int, n: int, k: int, ue8m0: bool, layout: str) -> None:
    x, w = random_activations(m, k), random_weights(n, k)
    a = fp8gemm.per_token_cast_to_fp8(x, use_ue8m0=ue8m0, out_layout=layout)
    b = fp8gemm.per_block_cast_to_fp8(w, use_ue8m0=ue8m0)
    d = torch.full((m, n), math.nan, dtype=torch.bfloat16, device="cuda")
    fp8gemm.fp8_gemm_nt(a, b, d)
    assert not torch.isnan(d).any(), "some output elements were never written"
    assert calc_diff(d, reference_gemm(a, b)) < 1e-5
    assert calc_diff(d, x.double() @ w.double().t()) < 1e-3


def test_grouped_cast_outputs_feed_the_masked_gemm() -> None:
    g, m_max, n, k = 4, 256, 1024, 2048
    x, w = random_activations(g, m_max, k), random_weights(g, n, k)
    a = fp8gemm.per_token_cast_to_fp8(x, out_layout="gemm")
    b = fp8gemm.per_block_cast_to_fp8(w)
    masked_m = torch.tensor([256, 100, 0, 17], dtype=torch.int32, device="cuda")
    d = torch.full((g, m_max, n), math.nan, dtype=torch.bfloat16, device="cuda")
    fp8gemm.m_grouped_fp8_gemm_nt_masked(a, b, d, masked_m, 128)
    for group, rows in enumerate(masked_m.tolist()):
        if rows:
            ref = reference_gemm((a[0][group, :rows], a[1][group, :rows]), (b[0][group], b[1][group]))
            assert calc_diff(d[group, :rows], ref) < 1e-5, f"group {group}"
