"""CUDA source -> sm_90a cubin, through nvcc or NVRTC, with ptxas' resource report parsed."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .. import envs
from .codegen import KERNELS_DIR

# wgmma and setmaxnreg exist only on the arch-specific target; the -gencode form is the one that builds
# without a plain sm_90 pass rejecting them.
NVCC_ARCH_FLAGS = ("-gencode=arch=compute_90a,code=sm_90a",)
# -default-device: NVRTC 13.0 (beside torch for CUDA 13.0 on the H100 host) leaves the generic lambdas
# inside the kernels host-only and rejects them; everything these sources define is device code.
NVRTC_ARCH_FLAGS = ("--gpu-architecture=sm_90a", "-default-device")
# pip distributions that ship libnvrtc (the first installed one names the compiler in the cache key).
NVRTC_DISTRIBUTIONS = ("nvidia-cuda-nvrtc", "nvidia-cuda-nvrtc-cu12")
COMMON_FLAGS = ("-std=c++17", "--ptxas-options=-v", "-DNDEBUG")

NO_COMPILER_MESSAGE = (
    "fp8gemm needs a CUDA compiler to build its kernels and found none: install the NVRTC wheel "
    "(pip install nvidia-cuda-nvrtc) or a CUDA toolkit with nvcc (set FP8GEMM_NVCC or CUDA_HOME if it is "
    "not on PATH)."
)


class CompileError(RuntimeError):
    """The kernel source did not compile; the message carries the compiler's log."""


@dataclass(frozen=True)
class PtxasReport:
    registers: int
    stack_frame_bytes: int
    spill_store_bytes: int
    spill_load_bytes: int
    setmaxnreg_ignored: bool

    @property
    def spills(self) -> bool:
        return self.spill_store_bytes > 0 or self.spill_load_bytes > 0 or self.stack_frame_bytes > 0


@dataclass(frozen=True)
class CompileResult:
    cubin: bytes
    log: str
    seconds: float
    compiler: str

    @property
    def report(self) -> PtxasReport:
        return parse_ptxas_report(self.log)


def parse_ptxas_report(log: str) -> PtxasReport:
    """Reads `ptxas -v` output (one kernel per compile)."""
    registers = re.search(r"Used (\d+) registers", log)
    frame = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", log)
    if registers is None or frame is None:
        raise CompileError(f"no ptxas resource report in the compiler log:\n{log}")
    return PtxasReport(
        registers=int(registers.group(1)),
        stack_frame_bytes=int(frame.group(1)),
        spill_store_bytes=int(frame.group(2)),
        spill_load_bytes=int(frame.group(3)),
        # C7508/C7509: ptxas ignores setmaxnreg when the kernel has no register cap at entry.
        setmaxnreg_ignored="setmaxnreg" in log and "ignor" in log.lower(),
    )


@cache
def find_nvcc() -> str | None:
    explicit = envs.nvcc_path()
    if explicit is not None:
        if not os.access(explicit, os.X_OK):
            raise RuntimeError(f"FP8GEMM_NVCC={explicit} is not an executable file. " + NO_COMPILER_MESSAGE)
        return explicit
    candidates = []
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if cuda_home:
        candidates.append(str(Path(cuda_home) / "bin" / "nvcc"))
    candidates += [shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@cache
def nvrtc_available() -> bool:
    try:
        from cuda.bindings import nvrtc

        err, _, _ = nvrtc.nvrtcVersion()
        return err == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:
        return False


def chosen_compiler() -> str:
    """'nvcc' or 'nvrtc' as FP8GEMM_COMPILER asks; raises with install advice when none is usable."""
    wanted = envs.compiler()
    if wanted in ("auto", "nvcc") and find_nvcc():
        return "nvcc"
    if wanted in ("auto", "nvrtc") and nvrtc_available():
        return "nvrtc"
    if wanted == "nvcc":
        raise RuntimeError("FP8GEMM_COMPILER=nvcc but no nvcc was found. " + NO_COMPILER_MESSAGE)
    if wanted == "nvrtc":
        raise RuntimeError(
            "FP8GEMM_COMPILER=nvrtc but the NVRTC library could not be loaded. " + NO_COMPILER_MESSAGE
        )
    raise RuntimeError(NO_COMPILER_MESSAGE)


@cache
def compiler_identity(name: str) -> str:
    """A string that changes whenever the compiler would produce different code (feeds the cache key).

    Built without running the compiler: `nvcc --version` costs ~15 ms and loading NVRTC ~70 ms, both paid
    on the first call of every process, against a 10 ms budget for a warm-cache first call. The nvcc
    binary's path, size and mtime change with every toolkit install (an nvcc that is a wrapper script hides
    the toolkit behind it: clear the cache after re-pointing one); the NVRTC wheel's version names it.
    """
    if name == "nvcc":
        path = os.path.realpath(find_nvcc())
        stat = os.stat(path)
        return f"nvcc {path} {stat.st_size} {stat.st_mtime_ns}"
    for dist in NVRTC_DISTRIBUTIONS:
        try:
            return f"nvrtc wheel {dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    from cuda.bindings import nvrtc

    _, major, minor = nvrtc.nvrtcVersion()
    return f"nvrtc {major}.{minor}"


def compile_flags(name: str) -> tuple[str, ...]:
    arch = NVCC_ARCH_FLAGS if name == "nvcc" else NVRTC_ARCH_FLAGS
    return (*arch, *COMMON_FLAGS, f"-I{KERNELS_DIR}")


def compile_cubin(source: str, name: str) -> CompileResult:
    """Compiles one generated source with the named compiler."""
    start = time.perf_counter()
    if name == "nvcc":
        cubin, log, command = _compile_nvcc(source)
    else:
        cubin, log, command = _compile_nvrtc(source)
    seconds = time.perf_counter() - start
    if envs.jit_debug():
        print(f"[fp8gemm jit] {command}\n[fp8gemm jit] {seconds:.2f} s\n{log.strip()}", file=sys.stderr)
    return CompileResult(cubin=cubin, log=log, seconds=seconds, compiler=name)


def _compile_nvcc(source: str) -> tuple[bytes, str, str]:
    with tempfile.TemporaryDirectory(prefix="fp8gemm-") as tmp:
        src, out = Path(tmp) / "kernel.cu", Path(tmp) / "kernel.cubin"
        src.write_text(source)
        command = [find_nvcc(), *compile_flags("nvcc"), "-O3", "-cubin", "-o", str(out), str(src)]
        proc = subprocess.run(command, capture_output=True, text=True)
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise CompileError(f"nvcc failed ({proc.returncode}):\n{log}\nsource:\n{source}")
        return out.read_bytes(), log, " ".join(command)


def _compile_nvrtc(source: str) -> tuple[bytes, str, str]:
    from cuda.bindings import nvrtc

    options = [opt.encode() for opt in compile_flags("nvrtc")]
    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), b"kernel.cu", 0, [], [])
    _check_nvrtc(err, "nvrtcCreateProgram")
    try:
        (compile_err,) = nvrtc.nvrtcCompileProgram(prog, len(options), options)
        err, size = nvrtc.nvrtcGetProgramLogSize(prog)
        _check_nvrtc(err, "nvrtcGetProgramLogSize")
        buffer = b" " * size
        (err,) = nvrtc.nvrtcGetProgramLog(prog, buffer)
        _check_nvrtc(err, "nvrtcGetProgramLog")
        log = buffer.rstrip(b"\x00").decode(errors="replace")
        if compile_err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise CompileError(f"NVRTC failed ({compile_err}):\n{log}\nsource:\n{source}")
        err, size = nvrtc.nvrtcGetCUBINSize(prog)
        _check_nvrtc(err, "nvrtcGetCUBINSize")
        cubin = b" " * size
        (err,) = nvrtc.nvrtcGetCUBIN(prog, cubin)
        _check_nvrtc(err, "nvrtcGetCUBIN")
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
    return cubin, log, "nvrtc " + " ".join(o.decode() for o in options)


def _check_nvrtc(err: object, what: str) -> None:
    from cuda.bindings import nvrtc

    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise CompileError(f"{what} failed: {err}")
