"""Every FP8GEMM_* environment switch, declared once with its default and meaning."""

from __future__ import annotations

import os
from pathlib import Path


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


def compiler() -> str:
    """FP8GEMM_COMPILER: 'nvcc', 'nvrtc' or 'auto' (default: nvcc when found, else the NVRTC wheel)."""
    value = os.environ.get("FP8GEMM_COMPILER", "auto").strip().lower()
    if value not in ("auto", "nvcc", "nvrtc"):
        raise ValueError(f"FP8GEMM_COMPILER must be 'auto', 'nvcc' or 'nvrtc', got {value!r}")
    return value


def nvcc_path() -> str | None:
    """FP8GEMM_NVCC: explicit path of nvcc (default: $CUDA_HOME/bin/nvcc, then PATH)."""
    return os.environ.get("FP8GEMM_NVCC") or None


def cache_dir() -> Path:
    """FP8GEMM_CACHE_DIR: where compiled kernels are kept (default: $XDG_CACHE_HOME/fp8gemm or ~/.cache/fp8gemm)."""
    explicit = os.environ.get("FP8GEMM_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fp8gemm"


def jit_debug() -> bool:
    """FP8GEMM_JIT_DEBUG=1: print each compile command, its time and ptxas' register/spill report."""
    return _flag("FP8GEMM_JIT_DEBUG")


def native_warm_call() -> bool:
    """FP8GEMM_NATIVE_WARM_CALL=0: keep warm calls on the Python path instead of the C one (fp8gemm.jit.native)."""
    return os.environ.get("FP8GEMM_NATIVE_WARM_CALL", "1").strip().lower() not in ("0", "false", "no", "off")


def jit_background() -> bool:
    """FP8GEMM_JIT_BACKGROUND=0: compile every kernel before the call that needs it returns, instead of serving
    the first calls of a slow-compiling kernel with a quicker one while it compiles (fp8gemm.jit.build)."""
    return os.environ.get("FP8GEMM_JIT_BACKGROUND", "1").strip().lower() not in ("0", "false", "no", "off")
