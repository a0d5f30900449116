"""The JIT pipeline without a GPU: code generation, compilation for sm_90a, ptxas reports, the disk cache and
compiler discovery.

The compile-every-config test uses NVRTC when it is available (about twice as fast as nvcc) unless
FP8GEMM_COMPILER names a compiler; it is skipped when no compiler is available. Hardware facts used: an SM
has 65,536 32-bit registers, so a CTA of T threads that must fit on one SM may use at most 65536 / T
registers per thread at entry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fp8gemm import config as cfg
from fp8gemm import envs
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.heuristics import all_configs
from fp8gemm.jit import build, cache, codegen, compiler
from fp8gemm.jit.compiler import CompileError, CompileResult, PtxasReport, parse_ptxas_report

REPO = Path(__file__).resolve().parents[1]
REGISTERS_PER_SM = 65536


def _available_compilers() -> list[str]:
    found = []
    if compiler.find_nvcc():
        found.append("nvcc")
    if compiler.nvrtc_available():
        found.append("nvrtc")
    return found


AVAILABLE = _available_compilers()


def _default_compiler() -> str | None:
    wanted = envs.compiler()
    if wanted != "auto":
        return wanted if wanted in AVAILABLE else None
    return "nvrtc" if "nvrtc" in AVAILABLE else ("nvcc" if "nvcc" in AVAILABLE else None)


COMPILER = _default_compiler()
needs_compiler = pytest.mark.skipif(
    COMPILER is None, reason="no CUDA compiler (nvcc or the NVRTC wheel) available"
)


@pytest.fixture
def fresh_compiler_lookup():
    """Forget memoised compiler discovery before and after a test that changes the environment."""
    compiler.find_nvcc.cache_clear()
    compiler.nvrtc_available.cache_clear()
    yield
    compiler.find_nvcc.cache_clear()
    compiler.nvrtc_available.cache_clear()


# ------------------------------------------------------------------------------ compile every config


@needs_compiler
@pytest.mark.parametrize("config", all_configs(), ids=str)
def test_config_compiles_for_sm90a_without_spills(config: GemmConfig) -> None:
    result = compiler.compile_cubin(codegen.gemm_source(config), COMPILER)
    report = result.report
    assert (report.stack_frame_bytes, report.spill_store_bytes, report.spill_load_bytes) == (0, 0, 0), (
        result.log
    )
    assert not report.setmaxnreg_ignored, result.log
    assert "Potential Performance Loss" not in result.log, result.log  # e.g. wgmma serialised (C7509/C7510)
    assert report.registers * config.num_threads <= REGISTERS_PER_SM, result.log
    assert result.cubin[:4] == b"\x7fELF"
    assert codegen.ENTRY_POINT.encode() in result.cubin


@pytest.mark.skipif(not {"nvcc", "nvrtc"} <= set(AVAILABLE), reason="needs both nvcc and the NVRTC wheel")
@pytest.mark.parametrize("name", ["nvcc", "nvrtc"])
def test_one_config_compiles_with_each_compiler(name: str) -> None:
    config = GemmConfig(GemmType.DENSE, 128, 112, 7)  # two math warpgroups, tiles straddling scale blocks
    result = compiler.compile_cubin(codegen.gemm_source(config), name)
    assert result.compiler == name
    assert result.cubin[:4] == b"\x7fELF" and codegen.ENTRY_POINT.encode() in result.cubin
    assert not result.report.spills and not result.report.setmaxnreg_ignored


@needs_compiler
def test_source_that_does_not_compile_raises_compile_error_with_the_log() -> None:
    with pytest.raises(CompileError, match=r"(?s)error.*this_is_not_cuda"):
        compiler.compile_cubin("this_is_not_cuda x;\n", COMPILER)


def test_jit_debug_prints_command_and_log(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("FP8GEMM_JIT_DEBUG", "1")
    monkeypatch.setattr(
        compiler, "_compile_nvrtc", lambda source: (b"cubin", "FAKE-PTXAS-LOG", "fake-command")
    )
    compiler.compile_cubin("// nothing", "nvrtc")
    err = capsys.readouterr().err
    assert "fake-command" in err and "FAKE-PTXAS-LOG" in err


# ------------------------------------------------------------------------------------ ptxas reports

NVCC_CLEAN = """\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'fp8gemm_kernel' for 'sm_90a'
ptxas info    : Function properties for fp8gemm_kernel
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 168 registers, used 1 barriers
ptxas info    : Compile time = 57.376 ms
"""

NVRTC_CLEAN = """\
ptxas info    : 77 bytes gmem
ptxas info    : Compiling entry function 'fp8gemm_kernel' for 'sm_90a'
ptxas info    : Function properties for fp8gemm_kernel
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 232 registers, used 1 barriers
"""

SPILLING = """\
ptxas info    : Compiling entry function 'fp8gemm_kernel' for 'sm_90a'
ptxas info    : Function properties for fp8gemm_kernel
    24 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 24 bytes cumulative stack size
"""

STACK_ONLY = SPILLING.replace(
    "24 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads",
    "8 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads",
)

C7508 = NVCC_CLEAN + (
    "ptxas info    : (C7508) Potential Performance Loss: 'setmaxnreg' ignored; unable to determine register "
    "count at entry.\n"
)
C7504 = NVCC_CLEAN + (
    "ptxas info    : (C7504) Potential Performance Loss: 'setmaxnreg' ignored to maintain compatibility across "
    "compilation units.\n"
)
C7509 = NVCC_CLEAN + (
    "ptxas info    : (C7509) Potential Performance Loss: wgmma.mma_async instructions are serialized due to the "
    "presence of Extern calls in the function 'fp8gemm_kernel'\n"
)

PARSE_CASES = {
    "nvcc_clean": (NVCC_CLEAN, PtxasReport(168, 0, 0, 0, False)),
    "nvrtc_clean": (NVRTC_CLEAN, PtxasReport(232, 0, 0, 0, False)),
    "spilling": (SPILLING, PtxasReport(255, 24, 12, 16, False)),
    "stack_only": (STACK_ONLY, PtxasReport(255, 8, 0, 0, False)),
    "setmaxnreg_no_entry_count": (C7508, PtxasReport(168, 0, 0, 0, True)),
    "setmaxnreg_rdc": (C7504, PtxasReport(168, 0, 0, 0, True)),
    "wgmma_serialised_only": (C7509, PtxasReport(168, 0, 0, 0, False)),
}


@pytest.mark.parametrize("name", list(PARSE_CASES))
def test_parse_ptxas_report(name: str) -> None:
    log, expected = PARSE_CASES[name]
    assert parse_ptxas_report(log) == expected


@pytest.mark.parametrize(
    "name,spills",
    [("nvcc_clean", False), ("spilling", True), ("stack_only", True), ("setmaxnreg_rdc", False)],
)
def test_report_spills_flag(name: str, spills: bool) -> None:
    assert parse_ptxas_report(PARSE_CASES[name][0]).spills is spills


@pytest.mark.parametrize(
    "log", ["", "nvcc warning : something unrelated\n", "ptxas info    : Used 40 registers\n"]
)
def test_log_without_resource_report_raises(log: str) -> None:
    with pytest.raises(CompileError, match="no ptxas resource report"):
        parse_ptxas_report(log)


def test_compile_result_report_reads_its_log() -> None:
    result = CompileResult(cubin=b"", log=SPILLING, seconds=0.0, compiler="nvcc")
    assert result.report.spill_load_bytes == 16


# ------------------------------------------------------------------------------------------- cache key

KEY_ARGS = ("source text", "nvcc Build cuda_13.0", ("-arch", "-O3"))


def test_cache_key_is_stable_and_hex() -> None:
    key = cache.cache_key(*KEY_ARGS)
    assert key == cache.cache_key(*KEY_ARGS)
    assert re.fullmatch(r"[0-9a-f]{16,64}", key)


@pytest.mark.parametrize(
    "changed",
    [
        ("source text ", KEY_ARGS[1], KEY_ARGS[2]),
        ("other source", KEY_ARGS[1], KEY_ARGS[2]),
        (KEY_ARGS[0], "nvcc Build cuda_13.1", KEY_ARGS[2]),
        (KEY_ARGS[0], "nvrtc 13.0", KEY_ARGS[2]),
        (KEY_ARGS[0], KEY_ARGS[1], ("-arch", "-O2")),
        (KEY_ARGS[0], KEY_ARGS[1], ("-arch",)),
        (KEY_ARGS[0], KEY_ARGS[1], ("-arch", "-O3", "-DNDEBUG")),
    ],
    ids=[
        "source_whitespace",
        "source",
        "compiler_version",
        "compiler_kind",
        "flag_value",
        "flag_removed",
        "flag_added",
    ],
)
def test_cache_key_changes_with_each_input(changed) -> None:
    assert cache.cache_key(*changed) != cache.cache_key(*KEY_ARGS)


def test_cache_key_changes_when_a_kernel_header_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = tmp_path / "fp8_gemm.cuh"
    header.write_text("// v1\n")
    monkeypatch.setattr(cache, "kernel_headers", lambda: [header])
    cache.headers_digest.cache_clear()
    try:
        before = cache.cache_key(*KEY_ARGS)
        header.write_text("// v2\n")
        cache.headers_digest.cache_clear()
        assert cache.cache_key(*KEY_ARGS) != before
    finally:
        cache.headers_digest.cache_clear()


def test_kernel_headers_cover_every_header_the_kernel_includes() -> None:
    headers = {p.name for p in codegen.kernel_headers()}
    for path in codegen.kernel_headers():
        for included in re.findall(r'#include\s+"([^"]+)"', path.read_text()):
            assert Path(included).name in headers, f"{path.name} includes {included}, which is not hashed"


# ----------------------------------------------------------------------------------------- cache store


def _result(payload: bytes = b"\x7fELF" + bytes(range(256)) * 4) -> CompileResult:
    return CompileResult(cubin=payload, log="ptxas info : Used 1 registers", seconds=0.25, compiler="nvrtc")


def test_cache_store_then_load_round_trips(kernel_cache_dir: Path) -> None:
    original = _result()
    cache.store("k" * 32, original)
    assert cache.load("k" * 32) == original
    assert (kernel_cache_dir / ("k" * 32)).is_dir()


def test_cache_load_of_unknown_key_is_none(kernel_cache_dir: Path) -> None:
    assert cache.load("0" * 32) is None


def test_cache_store_leaves_only_the_two_files(kernel_cache_dir: Path) -> None:
    cache.store("a" * 32, _result())
    names = sorted(p.name for p in (kernel_cache_dir / ("a" * 32)).iterdir())
    assert names == sorted([cache.CUBIN_NAME, cache.META_NAME])
    meta = json.loads((kernel_cache_dir / ("a" * 32) / cache.META_NAME).read_text())
    assert meta["sha256"] == hashlib.sha256(_result().cubin).hexdigest()


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    "corrupt", [_flip_byte, _truncate, _empty], ids=["flipped_byte", "truncated", "emptied"]
)
def test_corrupted_cubin_is_detected_removed_and_logged(
    kernel_cache_dir: Path, caplog: pytest.LogCaptureFixture, corrupt
) -> None:
    key = "c" * 32
    cache.store(key, _result())
    folder = kernel_cache_dir / key
    corrupt(folder / cache.CUBIN_NAME)
    with caplog.at_level(logging.WARNING, logger="fp8gemm.jit"):
        assert cache.load(key) is None
    assert not (folder / cache.CUBIN_NAME).exists() and not (folder / cache.META_NAME).exists()
    assert any(r.levelno == logging.WARNING and key in r.getMessage() for r in caplog.records)
    cache.store(key, _result())  # rebuilt and stored again
    assert cache.load(key) == _result()


def test_cubin_without_meta_is_not_trusted(kernel_cache_dir: Path) -> None:
    cache.store("m" * 32, _result())
    (kernel_cache_dir / ("m" * 32) / cache.META_NAME).unlink()
    assert cache.load("m" * 32) is None


@pytest.mark.parametrize("meta", ["[]", '"text"', "null"])
def test_meta_that_is_not_an_object_is_a_cache_miss(kernel_cache_dir: Path, meta: str) -> None:
    cache.store("j" * 32, _result())
    (kernel_cache_dir / ("j" * 32) / cache.META_NAME).write_text(meta)
    assert cache.load("j" * 32) is None


def test_unwritable_cache_dir_falls_back_to_temp_with_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_cache_dir: Path
) -> None:
    # A path below a regular file can never be a directory, even for root.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("FP8GEMM_CACHE_DIR", str(blocker / "cache"))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    cache.cache_root.cache_clear()
    with pytest.warns(RuntimeWarning, match="not writable"):
        root = cache.cache_root()
    assert root.is_dir() and temp in root.parents
    cache.store("f" * 32, _result())
    assert cache.load("f" * 32) == _result()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_cache_dir_falls_back_to_temp_with_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_cache_dir: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        monkeypatch.setenv("FP8GEMM_CACHE_DIR", str(locked))
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        cache.cache_root.cache_clear()
        with pytest.warns(RuntimeWarning, match="not writable"):
            root = cache.cache_root()
        assert root != locked and root.is_dir()
    finally:
        locked.chmod(0o700)


def test_compile_config_compiles_once_then_serves_the_cache(
    kernel_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fake_compile(source: str, name: str) -> CompileResult:
        calls.append(name)
        return CompileResult(cubin=f"cubin {len(calls)}".encode(), log="", seconds=0.0, compiler=name)

    monkeypatch.setattr(build, "compile_cubin", fake_compile)
    monkeypatch.setattr(build, "compiler_identity", lambda name: "fake-compiler 1.0")
    config = all_configs()[0]
    first = build.compile_config(config, compiler="nvrtc")
    second = build.compile_config(config, compiler="nvrtc")
    assert calls == ["nvrtc"] and second == first
    monkeypatch.setattr(build, "compiler_identity", lambda name: "fake-compiler 2.0")
    third = build.compile_config(config, compiler="nvrtc")
    assert len(calls) == 2 and third.cubin != first.cubin


def test_compile_config_rejects_invalid_config() -> None:
    with pytest.raises(ValueError, match="block_m=96"):
        build.compile_config(GemmConfig(GemmType.DENSE, 96, 128, 4), compiler="nvrtc")


# ----------------------------------------------------------------------------------- generated source

INSTANTIATION = re.compile(
    r"Fp8Gemm<\s*fp8gemm::GemmType::(\w+)\s*,\s*(\d+)u?\s*,\s*(\d+)u?\s*,\s*(\d+)u?\s*,\s*(true|false)\s*,"
    r"\s*(\d+)u?\s*,\s*(true|false)\s*>"
)


def _cpp_gemm_types() -> dict[str, int]:
    text = (codegen.KERNELS_DIR / "common" / "scheduler.cuh").read_text()
    body = re.search(r"enum class GemmType[^{]*\{(.*?)\};", text, re.S).group(1)
    return {name: int(value) for name, value in re.findall(r"(\w+)\s*=\s*(\d+)", body)}


@pytest.mark.parametrize("config", [c for c in all_configs() if not c.alt_widths], ids=str)
def test_generated_source_instantiates_exactly_the_config(config: GemmConfig) -> None:
    source = codegen.gemm_source(config)
    assert source.count("Fp8Gemm<") == 1
    ((gemm_type, block_m, block_n, stages, output_f32, cluster_n, stream_k),) = INSTANTIATION.findall(source)
    assert _cpp_gemm_types()[gemm_type] == int(config.gemm_type)
    assert (int(block_m), int(block_n), int(stages)) == (config.block_m, config.block_n, config.num_stages)
    assert (output_f32 == "true") == config.output_f32
    assert int(cluster_n) == config.cluster_n
    assert (stream_k == "true") == config.stream_k
    assert ("__cluster_dims__" in source) == (config.cluster_n > 1)


MASKED_WIDTHS = re.compile(r"MaskedWidths<\s*(\d+)u?\s*,(.*)>;")
TILE_WIDTH = re.compile(r"TileWidth<\s*" + r"\s*,\s*".join([r"(\d+)u?"] * 3) + r"\s*>")


@pytest.mark.parametrize("config", [c for c in all_configs() if c.alt_widths], ids=str)
def test_generated_source_of_a_masked_widths_config_instantiates_every_width_in_order(config: GemmConfig) -> None:
    source = codegen.gemm_source(config)
    assert "Fp8Gemm<" not in source
    ((block_m, widths),) = MASKED_WIDTHS.findall(source)
    assert int(block_m) == config.block_m
    expected = [(config.block_n, config.num_stages, 100)] + [
        (block_n, stages, cfg.ALT_TILE_COST_PERCENT[block_n]) for block_n, stages in config.alt_widths
    ]
    assert [tuple(map(int, width)) for width in TILE_WIDTH.findall(widths)] == expected
    assert "Kernel::Params params" in source


def test_generated_source_defines_one_extern_c_entry_point() -> None:
    source = codegen.gemm_source(all_configs()[0])
    assert len(re.findall(r'extern\s+"C"\s+__global__', source)) == 1
    assert len(re.findall(rf"\b{codegen.ENTRY_POINT}\s*\(", source)) == 1


# ----------------------------------------------------------------------------------- wgmma generator


def test_gen_wgmma_check_passes_on_committed_header() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_wgmma.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_gen_wgmma_check_detects_a_stale_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("gen_wgmma_under_test", REPO / "scripts" / "gen_wgmma.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stale = tmp_path / "wgmma_fp8.cuh"
    stale.write_text(module.HEADER.read_text() + "// hand edit\n")
    monkeypatch.setattr(module, "HEADER", stale)
    monkeypatch.setattr(sys, "argv", ["gen_wgmma.py", "--check"])
    assert module.main() == 1


def test_wgmma_header_has_an_instruction_for_every_block_n() -> None:
    from fp8gemm.config import BLOCK_N_CHOICES

    text = (codegen.KERNELS_DIR / "common" / "wgmma_fp8.cuh").read_text()
    defined = {int(n) for n in re.findall(r"struct WgmmaFp8<(\d+)>", text)}
    shapes = {
        int(n) for n in re.findall(r"wgmma\.mma_async\.sync\.aligned\.m64n(\d+)k32\.f32\.e4m3\.e4m3", text)
    }
    assert set(BLOCK_N_CHOICES) <= defined
    assert defined == shapes


# ---------------------------------------------------------------------------------- compiler discovery


def test_invalid_compiler_setting_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FP8GEMM_COMPILER", "clang")
    with pytest.raises(ValueError, match="FP8GEMM_COMPILER"):
        compiler.chosen_compiler()


def _hide_every_nvcc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    real_access = os.access
    # Toolkit installs at fixed locations (e.g. /usr/local/cuda) are hidden too.
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode, *a, **kw: False if str(path).endswith("nvcc") else real_access(path, mode),
    )


def test_missing_nvcc_raises_with_install_advice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_compiler_lookup
) -> None:
    monkeypatch.setenv("FP8GEMM_COMPILER", "nvcc")
    monkeypatch.setenv("FP8GEMM_NVCC", str(tmp_path / "missing" / "nvcc"))
    _hide_every_nvcc(monkeypatch, tmp_path)
    with pytest.raises(RuntimeError, match=r"(?is)nvcc.*install") as info:
        compiler.chosen_compiler()
    assert "nvrtc" in str(info.value).lower(), "the advice should name the pip-installable alternative"


def test_no_compiler_at_all_raises_with_install_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FP8GEMM_COMPILER", "auto")
    monkeypatch.setattr(compiler, "find_nvcc", lambda: None)
    monkeypatch.setattr(compiler, "nvrtc_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"(?i)install"):
        compiler.chosen_compiler()


def test_nvrtc_requested_but_unavailable_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FP8GEMM_COMPILER", "nvrtc")
    monkeypatch.setattr(compiler, "find_nvcc", lambda: "/usr/bin/nvcc")
    monkeypatch.setattr(compiler, "nvrtc_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"(?i)nvrtc.*install"):
        compiler.chosen_compiler()


@pytest.mark.parametrize("nvcc_found,expected", [(True, "nvcc"), (False, "nvrtc")])
def test_auto_prefers_nvcc_then_nvrtc(
    monkeypatch: pytest.MonkeyPatch, nvcc_found: bool, expected: str
) -> None:
    monkeypatch.setenv("FP8GEMM_COMPILER", "auto")
    monkeypatch.setattr(compiler, "find_nvcc", lambda: "/opt/cuda/bin/nvcc" if nvcc_found else None)
    monkeypatch.setattr(compiler, "nvrtc_available", lambda: True)
    assert compiler.chosen_compiler() == expected


def test_explicit_fp8gemm_nvcc_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_compiler_lookup
) -> None:
    fake = tmp_path / "my-nvcc"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("FP8GEMM_NVCC", str(fake))
    assert compiler.find_nvcc() == str(fake)


def test_explicit_fp8gemm_nvcc_that_does_not_exist_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_compiler_lookup
) -> None:
    other_bin = tmp_path / "bin"
    other_bin.mkdir()
    other = other_bin / "nvcc"
    other.write_text("#!/bin/sh\nexit 0\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", str(other_bin))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setenv("FP8GEMM_COMPILER", "nvcc")
    monkeypatch.setenv("FP8GEMM_NVCC", str(tmp_path / "missing" / "nvcc"))
    with pytest.raises(RuntimeError, match="FP8GEMM_NVCC"):
        compiler.chosen_compiler()
