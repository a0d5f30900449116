"""The public GEMMs and casts as torch.library custom ops, for torch.compile and CUDA graphs.

Registered on `import fp8gemm`, namespace `fp8gemm`:

    fp8_gemm_nt(Tensor a, Tensor sfa, Tensor b, Tensor sfb, Tensor(a!) d, Tensor? c) -> ()
    m_grouped_fp8_gemm_nt_contiguous(Tensor a, Tensor sfa, Tensor b, Tensor sfb, Tensor(a!) d,
                                     Tensor m_indices) -> ()
    m_grouped_fp8_gemm_nt_masked(Tensor a, Tensor sfa, Tensor b, Tensor sfb, Tensor(a!) d,
                                 Tensor masked_m, int expected_m) -> ()
    per_token_cast_to_fp8(Tensor x, bool use_ue8m0, str out_layout) -> (Tensor, Tensor)
    per_block_cast_to_fp8(Tensor w, bool use_ue8m0) -> (Tensor, Tensor)

The functions of this module keep the DeepGEMM-style signatures of the plain ones (`fp8gemm.fp8_gemm_nt(a, b,
d)` with `a = (data, scales)`) and flatten the pairs, since a schema has no tuples; call them (or
`torch.ops.fp8gemm.*`) in code that torch.compile traces. The plain GEMM functions read data pointers, which
dynamo cannot trace, so while it traces they call these ops themselves. The GEMMs write `d` in place and
declare it mutated (torch.compile functionalizes the call and writes the result back); `c` may be `d` itself.

Dispatch by device:
- CUDA runs the kernels through the plain functions: the same checks and errors, torch's current stream, no
  host sync and no allocation beyond the plain functions' own (m_indices and masked_m are never read by the
  host), so the ops can be captured in a CUDA graph. The plain functions' `check=` debugging flag syncs the
  device and is not offered here.
- CPU runs the same math with torch ops (dequantize to float32, matmul in float32, write `d`), so models and
  torch.compile can be tested without a GPU; it enforces the kernels' shape rules (N % 8, K % 16) and the
  contiguous layout, and clamps masked_m to [0, M_max] as the kernel does.
- Fake tensors (tracing, the meta device) check dtypes and shapes; the casts' fake outputs carry the strides of
  the real ones (the "gemm" scale layout is MN-major with M padded to a multiple of 4; dims of size 1 may
  differ, which neither indexing nor torch.compile's stride checks see).
"""

from __future__ import annotations

import torch

from .api import validation as v
from .api.dense import fp8_gemm_nt as _fp8_gemm_nt_kernel
from .api.grouped import check_contiguous_layout
from .api.grouped import m_grouped_fp8_gemm_nt_contiguous as _contiguous_kernel
from .api.grouped import m_grouped_fp8_gemm_nt_masked as _masked_kernel
from .api.quant import per_block_cast_to_fp8 as _per_block_cast
from .api.quant import per_token_cast_to_fp8 as _per_token_cast
from .config import BLOCK_K, SCALE_BLOCK
from .testing.numerics import dequantize_a, dequantize_b
from .utils import ceil_div, get_tma_aligned_size

SCALE_LAYOUTS = ("row", "gemm")
CAST_INPUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32)

# ------------------------------------------------------------------------------ checks shared by fake and CPU


def _check_operands(
    a: torch.Tensor, sfa: torch.Tensor, b: torch.Tensor, sfb: torch.Tensor, a_ndim: int, b_ndim: int
) -> tuple[int, int]:
    """Dtypes and shapes of the FP8 operands and their scales (the kernels' rules); returns (N, K)."""
    v.check_tensor("b[0]", b, v.FP8, b_ndim)
    v.check_tensor("a[0]", a, v.FP8, a_ndim)
    *groups, n, k = b.shape
    if n % 8 != 0:
        raise ValueError(f"N (b[0].shape[-2]) must be a multiple of 8, got {n}")
    if k % 16 != 0:
        raise ValueError(f"K (b[0].shape[-1]) must be a multiple of 16, got {k}")
    if k == 0 and groups:
        raise ValueError("K (b[0].shape[-1]) must be positive for grouped GEMMs, as the kernels require")
    if a.shape[-1] != k:
        raise ValueError(f"a[0] has shape {tuple(a.shape)} but b[0] has K = {k}")
    k_blocks = ceil_div(k, BLOCK_K)
    v.check_tensor("a[1]", sfa, torch.float32, a_ndim)
    v.check_shape("a[1]", sfa, (*a.shape[:-1], k_blocks))
    v.check_tensor("b[1]", sfb, torch.float32, b_ndim)
    v.check_shape("b[1]", sfb, (*groups, ceil_div(n, SCALE_BLOCK), k_blocks))
    return n, k


def _check_dense(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    c: torch.Tensor | None,
) -> None:
    n, _ = _check_operands(a, sfa, b, sfb, a_ndim=2, b_ndim=2)
    m = a.shape[0]
    v.check_tensor("d", d, torch.bfloat16 if c is None else torch.float32, 2)
    v.check_shape("d", d, (m, n))
    if c is not None:
        v.check_tensor("c", c, torch.float32, 2)
        v.check_shape("c", c, (m, n))


def _check_contiguous(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    m_indices: torch.Tensor,
) -> None:
    n, _ = _check_operands(a, sfa, b, sfb, a_ndim=2, b_ndim=3)
    m = a.shape[0]
    v.check_tensor("d", d, torch.bfloat16, 2)
    v.check_shape("d", d, (m, n))
    v.check_tensor("m_indices", m_indices, torch.int32, 1)
    v.check_shape("m_indices", m_indices, (m,))


def _check_masked(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    masked_m: torch.Tensor,
    expected_m: int,
) -> None:
    n, _ = _check_operands(a, sfa, b, sfb, a_ndim=3, b_ndim=3)
    groups, m_max = b.shape[0], a.shape[1]
    if a.shape[0] != groups:
        raise ValueError(f"a[0] has {a.shape[0]} groups but b[0] has {groups}")
    v.check_tensor("d", d, torch.bfloat16, 3)
    v.check_shape("d", d, (groups, m_max, n))
    v.check_tensor("masked_m", masked_m, torch.int32, 1)
    v.check_shape("masked_m", masked_m, (groups,))
    v.check_int("expected_m", expected_m, 1)


def _check_cast_input(name: str, x: torch.Tensor) -> None:
    if x.dtype not in CAST_INPUT_DTYPES:
        raise TypeError(f"{name} must be bfloat16, float16 or float32, got {x.dtype}")
    if x.dim() not in (2, 3):
        raise ValueError(f"{name} must be 2-D or 3-D, got shape {tuple(x.shape)}")
    if x.shape[-1] % 16 != 0:
        raise ValueError(
            f"K ({name}.shape[-1]) must be a multiple of 16, got {x.shape[-1]} (as in the GEMMs)"
        )


def _token_scale_strides(shape: tuple[int, ...], out_layout: str) -> tuple[int, ...]:
    """Strides of per_token_cast_to_fp8's scales [..., M, K/128]: row-major for "row"; for "gemm" MN-major
    with each column padded to a multiple of 4 rows (16 bytes, what the kernel's TMA reads)."""
    *lead, m, k_blocks = shape
    if out_layout == "row":
        return (*((m * k_blocks,) if lead else ()), k_blocks, 1)
    m_pad = get_tma_aligned_size(m, 4)
    return (*((k_blocks * m_pad,) if lead else ()), 1, m_pad)


# Each GEMM op: the decorated function is its CUDA implementation (the kernels), then CPU and fake ones.

# ------------------------------------------------------------------------------ dense


@torch.library.custom_op(
    "fp8gemm::fp8_gemm_nt",
    mutates_args=("d",),
    device_types="cuda",
    schema="(Tensor a, Tensor sfa, Tensor b, Tensor sfb, Tensor(a!) d, Tensor? c) -> ()",
)
def _dense_op(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    c: torch.Tensor | None,
) -> None:
    _fp8_gemm_nt_kernel((a, sfa), (b, sfb), d, c)


@_dense_op.register_kernel("cpu")
def _dense_cpu(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    c: torch.Tensor | None,
) -> None:
    _check_dense(a, sfa, b, sfb, d, c)
    out = dequantize_a(a, sfa).float() @ dequantize_b(b, sfb).float().T
    if c is not None:
        out += c
    d.copy_(out)


@_dense_op.register_fake
def _dense_fake(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    c: torch.Tensor | None,
) -> None:
    _check_dense(a, sfa, b, sfb, d, c)


def fp8_gemm_nt(
    a: tuple[torch.Tensor, torch.Tensor],
    b: tuple[torch.Tensor, torch.Tensor],
    d: torch.Tensor,
    c: torch.Tensor | None = None,
) -> None:
    """`fp8gemm.fp8_gemm_nt(a, b, d, c)` as the custom op `fp8gemm::fp8_gemm_nt` (same contract)."""
    a_data, sfa = v.check_pair("a", a)
    b_data, sfb = v.check_pair("b", b)
    torch.ops.fp8gemm.fp8_gemm_nt.default(a_data, sfa, b_data, sfb, d, c)


# ------------------------------------------------------------------------------ grouped, contiguous layout


@torch.library.custom_op(
    "fp8gemm::m_grouped_fp8_gemm_nt_contiguous",
    mutates_args=("d",),
    device_types="cuda",
    schema="(Tensor a, Tensor sfa, Tensor b, Tensor sfb, Tensor(a!) d, Tensor m_indices) -> ()",
)
def _contiguous_op(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    m_indices: torch.Tensor,
) -> None:
    _contiguous_kernel((a, sfa), (b, sfb), d, m_indices)


@_contiguous_op.register_kernel("cpu")
def _contiguous_cpu(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    m_indices: torch.Tensor,
) -> None:
    _check_contiguous(a, sfa, b, sfb, d, m_indices)
    # The kernel skips tiles of invalid experts; on the CPU reading m_indices is free, so a bad layout raises.
    check_contiguous_layout(m_indices, b.shape[0])
    a_deq = dequantize_a(a, sfa).float()
    b_deq = dequantize_b(b, sfb).float()
    for expert in m_indices[m_indices >= 0].unique().tolist():
        rows = (m_indices == expert).nonzero().squeeze(1)
        d.index_copy_(0, rows, (a_deq[rows] @ b_deq[expert].T).to(d.dtype))


@_contiguous_op.register_fake
def _contiguous_fake(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    m_indices: torch.Tensor,
) -> None:
    _check_contiguous(a, sfa, b, sfb, d, m_indices)


def m_grouped_fp8_gemm_nt_contiguous(
    a: tuple[torch.Tensor, torch.Tensor],
    b: tuple[torch.Tensor, torch.Tensor],
    d: torch.Tensor,
    m_indices: torch.Tensor,
) -> None:
    """`fp8gemm.m_grouped_fp8_gemm_nt_contiguous(a, b, d, m_indices)` as a custom op (same contract)."""
    a_data, sfa = v.check_pair("a", a)
    b_data, sfb = v.check_pair("b", b)
    torch.ops.fp8gemm.m_grouped_fp8_gemm_nt_contiguous.default(a_data, sfa, b_data, sfb, d, m_indices)


# ------------------------------------------------------------------------------ grouped, masked layout


@torch.library.custom_op(
    "fp8gemm::m_grouped_fp8_gemm_nt_masked",
    mutates_args=("d",),
    device_types="cuda",
    schema="(Tensor a, Tensor sfa, Tensor b, Tensor sfb, Tensor(a!) d, Tensor masked_m, int expected_m) -> ()",
)
def _masked_op(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    masked_m: torch.Tensor,
    expected_m: int,
) -> None:
    _masked_kernel((a, sfa), (b, sfb), d, masked_m, expected_m)


@_masked_op.register_kernel("cpu")
def _masked_cpu(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    masked_m: torch.Tensor,
    expected_m: int,
) -> None:
    _check_masked(a, sfa, b, sfb, d, masked_m, expected_m)
    b_deq = dequantize_b(b, sfb).float()
    for group, rows in enumerate(masked_m.clamp(0, a.shape[1]).tolist()):
        a_deq = dequantize_a(a[group, :rows], sfa[group, :rows]).float()
        d[group, :rows] = a_deq @ b_deq[group].T


@_masked_op.register_fake
def _masked_fake(
    a: torch.Tensor,
    sfa: torch.Tensor,
    b: torch.Tensor,
    sfb: torch.Tensor,
    d: torch.Tensor,
    masked_m: torch.Tensor,
    expected_m: int,
) -> None:
    _check_masked(a, sfa, b, sfb, d, masked_m, expected_m)


def m_grouped_fp8_gemm_nt_masked(
    a: tuple[torch.Tensor, torch.Tensor],
    b: tuple[torch.Tensor, torch.Tensor],
    d: torch.Tensor,
    masked_m: torch.Tensor,
    expected_m: int,
) -> None:
    """`fp8gemm.m_grouped_fp8_gemm_nt_masked(a, b, d, masked_m, expected_m)` as a custom op (same contract)."""
    a_data, sfa = v.check_pair("a", a)
    b_data, sfb = v.check_pair("b", b)
    torch.ops.fp8gemm.m_grouped_fp8_gemm_nt_masked.default(a_data, sfa, b_data, sfb, d, masked_m, expected_m)


# ------------------------------------------------------------------------------ casts


@torch.library.custom_op(
    "fp8gemm::per_token_cast_to_fp8",
    mutates_args=(),
    device_types=("cpu", "cuda"),
    schema="(Tensor x, bool use_ue8m0, str out_layout) -> (Tensor, Tensor)",
)
def _per_token_cast_op(
    x: torch.Tensor, use_ue8m0: bool, out_layout: str
) -> tuple[torch.Tensor, torch.Tensor]:
    return _per_token_cast(x, use_ue8m0, out_layout)


@_per_token_cast_op.register_fake
def _per_token_cast_fake(
    x: torch.Tensor, use_ue8m0: bool, out_layout: str
) -> tuple[torch.Tensor, torch.Tensor]:
    _check_cast_input("x", x)
    if out_layout not in SCALE_LAYOUTS:
        raise ValueError(f"out_layout must be 'row' or 'gemm', got {out_layout!r}")
    shape = (*x.shape[:-1], ceil_div(x.shape[-1], BLOCK_K))
    scales = torch.empty_strided(
        shape, _token_scale_strides(shape, out_layout), dtype=torch.float32, device=x.device
    )
    return torch.empty(x.shape, dtype=v.FP8, device=x.device), scales


def per_token_cast_to_fp8(
    x: torch.Tensor, use_ue8m0: bool = False, out_layout: str = "row"
) -> tuple[torch.Tensor, torch.Tensor]:
    """`fp8gemm.per_token_cast_to_fp8` as a custom op (same contract; q contiguous, scales with the strides of
    `out_layout`)."""
    return torch.ops.fp8gemm.per_token_cast_to_fp8.default(x, use_ue8m0, out_layout)


@torch.library.custom_op(
    "fp8gemm::per_block_cast_to_fp8",
    mutates_args=(),
    device_types=("cpu", "cuda"),
    schema="(Tensor w, bool use_ue8m0) -> (Tensor, Tensor)",
)
def _per_block_cast_op(w: torch.Tensor, use_ue8m0: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return _per_block_cast(w, use_ue8m0)


@_per_block_cast_op.register_fake
def _per_block_cast_fake(w: torch.Tensor, use_ue8m0: bool) -> tuple[torch.Tensor, torch.Tensor]:
    _check_cast_input("w", w)
    *lead, n, k = w.shape
    scales = torch.empty(
        (*lead, ceil_div(n, SCALE_BLOCK), ceil_div(k, BLOCK_K)), dtype=torch.float32, device=w.device
    )
    return torch.empty(w.shape, dtype=v.FP8, device=w.device), scales


def per_block_cast_to_fp8(w: torch.Tensor, use_ue8m0: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """`fp8gemm.per_block_cast_to_fp8` as a custom op (same contract; both outputs contiguous)."""
    return torch.ops.fp8gemm.per_block_cast_to_fp8.default(w, use_ue8m0)
