"""The FP8 cast kernels without a GPU: every variant compiles for sm_90a, register and spill reports, the
generated source, launch geometry and parameter packing.

Compiles with NVRTC when available (FP8GEMM_COMPILER may name another); skipped without any compiler.
Occupancy model: an SM holds 65,536 registers and 2,048 threads. The casts hide HBM latency with bytes in
flight (64 B per thread per token, 128-256 B per block), so they must keep enough CTAs resident: four
256-thread CTAs per SM (<= 64 registers a thread), two for the FP32 per-block cast that holds twice the data.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
import torch

from fp8gemm import envs
from fp8gemm.jit import build, codegen, compiler, quant_build
from fp8gemm.jit.compiler import CompileResult
from fp8gemm.jit.quant_build import (
    CAST_INPUTS,
    CAST_THREADS,
    PER_TOKEN_ROWS_PER_CTA,
    CastConfig,
    CastKind,
    all_cast_configs,
    cast_source,
    pack_per_block_params,
    pack_per_token_params,
    per_block_grid,
    per_token_grid,
)

REGISTERS_PER_SM = 65536
AVAILABLE = [
    name for name, found in (("nvcc", compiler.find_nvcc()), ("nvrtc", compiler.nvrtc_available())) if found
]
# NVRTC compiles about twice as fast; FP8GEMM_COMPILER may ask for the other.
COMPILER = next((c for c in ("nvrtc", "nvcc") if c in AVAILABLE and envs.compiler() in ("auto", c)), None)
needs_compiler = pytest.mark.skipif(
    COMPILER is None, reason="no CUDA compiler (nvcc or the NVRTC wheel) available"
)
CONFIGS = all_cast_configs()


def _min_resident_ctas(config: CastConfig) -> int:
    return 2 if config.kind is CastKind.PER_BLOCK and config.input_dtype == torch.float32 else 4


# ---------------------------------------------------------------------------------------- compilation


@needs_compiler
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_cast_variant_compiles_for_sm90a_without_spills(config: CastConfig) -> None:
    result = compiler.compile_cubin(cast_source(config), COMPILER)
    report = result.report
    assert (report.stack_frame_bytes, report.spill_store_bytes, report.spill_load_bytes) == (0, 0, 0), (
        result.log
    )
    assert report.registers * CAST_THREADS * _min_resident_ctas(config) <= REGISTERS_PER_SM, result.log
    assert result.cubin[:4] == b"\x7fELF"
    assert config.entry_point.encode() in result.cubin


@pytest.mark.skipif(not {"nvcc", "nvrtc"} <= set(AVAILABLE), reason="needs both nvcc and the NVRTC wheel")
@pytest.mark.parametrize("name", ["nvcc", "nvrtc"])
@pytest.mark.parametrize(
    "config",
    [
        CastConfig(CastKind.PER_TOKEN, torch.bfloat16, False, True),
        CastConfig(CastKind.PER_BLOCK, torch.float16, True),
    ],
    ids=str,
)
def test_cast_compiles_with_each_compiler(name: str, config: CastConfig) -> None:
    result = compiler.compile_cubin(cast_source(config), name)
    assert result.compiler == name and not result.report.spills
    assert config.entry_point.encode() in result.cubin


def test_compile_cast_compiles_once_then_serves_the_cache(
    kernel_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fake_compile(source: str, name: str) -> CompileResult:
        calls.append(source)
        return CompileResult(cubin=f"cubin {len(calls)}".encode(), log="", seconds=0.0, compiler=name)

    monkeypatch.setattr(build, "compile_cubin", fake_compile)
    monkeypatch.setattr(build, "compiler_identity", lambda name: "fake-compiler 1.0")
    first = quant_build.compile_cast(CONFIGS[0], compiler="nvrtc")
    assert quant_build.compile_cast(CONFIGS[0], compiler="nvrtc") == first
    other = quant_build.compile_cast(CONFIGS[1], compiler="nvrtc")
    assert len(calls) == 2 and other.cubin != first.cubin
    assert calls == [cast_source(CONFIGS[0]), cast_source(CONFIGS[1])]


# ------------------------------------------------------------------------------------ generated source

INSTANTIATION = re.compile(
    r"fp8gemm::(PerTokenCast|PerBlockCast)<fp8gemm::CastInput::(\w+), (true|false)(?:, (true|false))?>"
)


def test_every_variant_is_distinct_and_valid() -> None:
    assert len(CONFIGS) == 3 * 2 * 3 == len(set(CONFIGS)) == len({str(c) for c in CONFIGS})
    assert all(not c.problems() for c in CONFIGS)
    assert {c.input_dtype for c in CONFIGS} == {torch.bfloat16, torch.float16, torch.float32}
    assert not any(c.gemm_layout for c in CONFIGS if c.kind is CastKind.PER_BLOCK)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_generated_source_instantiates_exactly_the_config(config: CastConfig) -> None:
    source = cast_source(config)
    ((kernel, cast_input, ue8m0, gemm),) = INSTANTIATION.findall(source)
    assert kernel == ("PerTokenCast" if config.kind is CastKind.PER_TOKEN else "PerBlockCast")
    assert cast_input == CAST_INPUTS[config.input_dtype]
    assert (ue8m0 == "true") == config.use_ue8m0
    assert (gemm == "true") == config.gemm_layout if config.kind is CastKind.PER_TOKEN else gemm == ""
    assert len(re.findall(r'extern\s+"C"\s+__global__', source)) == 1
    assert len(re.findall(rf"\b{config.entry_point}\s*\(", source)) == 1


def test_cast_input_enumerators_match_the_kernel() -> None:
    text = (codegen.KERNELS_DIR / "quant.cuh").read_text()
    body = re.search(r"enum class CastInput[^{]*\{(.*?)\};", text, re.S).group(1)
    values = {name: int(value) for name, value in re.findall(r"(\w+)\s*=\s*(\d+)", body)}
    assert list(values) == list(CAST_INPUTS.values()) and sorted(values.values()) == [0, 1, 2]


@pytest.mark.parametrize(
    "config",
    [
        CastConfig(CastKind.PER_BLOCK, torch.bfloat16, False, gemm_layout=True),
        CastConfig(CastKind.PER_TOKEN, torch.float64, False),
    ],
    ids=["block_gemm_layout", "fp64"],
)
def test_invalid_cast_config_is_rejected(config: CastConfig) -> None:
    assert config.problems()
    with pytest.raises(ValueError, match="invalid cast config"):
        cast_source(config)


def test_quant_header_is_hashed_into_every_cache_key() -> None:
    assert codegen.KERNELS_DIR / "quant.cuh" in codegen.kernel_headers()


# ---------------------------------------------------------------------------- launch geometry, params


@pytest.mark.parametrize(
    "rows,k,dtype,expected",
    [
        (4096, 7168, torch.bfloat16, 256 * 14),  # 16 rows x 4 blocks a CTA; 56 blocks
        (4096, 7168, torch.float32, 256 * 28),  # 2 blocks a CTA
        (1, 16, torch.bfloat16, 1),
        (17, 640, torch.float16, 2 * 2),  # 5 blocks -> 2 groups of 4
        (0, 128, torch.bfloat16, 0),
        (8, 0, torch.bfloat16, 0),
    ],
)
def test_per_token_grid_covers_every_row_and_block(
    rows: int, k: int, dtype: torch.dtype, expected: int
) -> None:
    config = CastConfig(CastKind.PER_TOKEN, dtype, False)
    assert PER_TOKEN_ROWS_PER_CTA == 16
    assert per_token_grid(config, rows, k) == expected


def test_per_block_grid_is_one_cta_per_block() -> None:
    assert per_block_grid(1, 7168, 2048) == 56 * 16
    assert per_block_grid(3, 200, 144) == 3 * 2 * 2
    assert per_block_grid(2, 0, 128) == 0


def test_params_pack_the_kernel_structs() -> None:
    token = pack_per_token_params(0x1000, 0x2000, 0x3000, rows=7, k=160, m=5, m_pad=8)
    assert len(token) == 40  # static_assert(sizeof(PerTokenCastParams) == 40)
    assert struct.unpack("<QQQIIII", token) == (0x1000, 0x2000, 0x3000, 7, 160, 5, 8)
    block = pack_per_block_params(0x1000, 0x2000, 0x3000, n=200, k=144)
    assert len(block) == 32  # static_assert(sizeof(PerBlockCastParams) == 32)
    assert struct.unpack("<QQQII", block) == (0x1000, 0x2000, 0x3000, 200, 144)
