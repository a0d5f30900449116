"""Config -> loaded kernel: in-process dict, then the disk cache, then the compiler."""

from __future__ import annotations

import threading

from ..config import GemmConfig
from . import cache
from .codegen import ENTRY_POINT, gemm_source
from .compiler import CompileResult, chosen_compiler, compile_cubin, compile_flags, compiler_identity
from .launcher import LoadedKernel

_loaded: dict[GemmConfig, LoadedKernel] = {}
_lock = threading.Lock()


def compile_config(config: GemmConfig, compiler: str | None = None) -> CompileResult:
    """The cubin for `config`, from the disk cache when present (compiling and storing it otherwise)."""
    problems = config.problems()
    if problems:
        raise ValueError(f"invalid kernel config {config}: {'; '.join(problems)}")
    return compile_source(gemm_source(config), compiler)


def compile_source(source: str, compiler: str | None = None) -> CompileResult:
    name = compiler or chosen_compiler()
    key = cache.cache_key(source, compiler_identity(name), compile_flags(name))
    result = cache.load(key)
    if result is None:
        result = compile_cubin(source, name)
        cache.store(key, result)
    return result


def get_kernel(config: GemmConfig) -> LoadedKernel:
    kernel = _loaded.get(config)
    if kernel is None:
        with _lock:
            kernel = _loaded.get(config)
            if kernel is None:
                result = compile_config(config)
                kernel = LoadedKernel(
                    cubin=result.cubin,
                    entry_point=ENTRY_POINT,
                    smem_bytes=config.smem_bytes,
                    num_threads=config.num_threads,
                    cluster_size=config.cluster_n,
                )
                _loaded[config] = kernel
    return kernel


def precompile(configs: list[GemmConfig], max_workers: int | None = None) -> None:
    """Compiles `configs` into the disk cache in parallel processes (each compile is single-threaded)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=max_workers) as pool:
        list(pool.map(compile_config, configs))
