"""Config -> loaded kernel: in-process dict, then the disk cache, then the compiler (in this thread, or on a
background thread while a quicker stand-in kernel serves the calls)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from .. import envs
from ..config import GemmConfig
from . import cache
from .codegen import ENTRY_POINT, gemm_source
from .compiler import CompileResult, chosen_compiler, compile_cubin, compile_flags, compiler_identity
from .launcher import LoadedKernel

# Background compiles run nvcc in a child process or NVRTC with the GIL released: each takes one core.
BACKGROUND_WORKERS = 2

_loaded: dict[GemmConfig, LoadedKernel] = {}
# Compiles under way: whoever claims a config compiles it, everyone else waits on its future.
_building: dict[GemmConfig, Future] = {}
# Configs whose background compile raised: the next call compiles them in its own thread and raises there.
_failed: set[GemmConfig] = set()
_lock = threading.Lock()
_background: ThreadPoolExecutor | None = None


def compile_config(config: GemmConfig, compiler: str | None = None) -> CompileResult:
    """The cubin for `config`, from the disk cache when present (compiling and storing it otherwise)."""
    problems = config.problems()
    if problems:
        raise ValueError(f"invalid kernel config {config}: {'; '.join(problems)}")
    return compile_source(gemm_source(config), compiler)


def _source_key(source: str, name: str) -> str:
    return cache.cache_key(source, compiler_identity(name), compile_flags(name))


def compile_source(source: str, compiler: str | None = None) -> CompileResult:
    name = compiler or chosen_compiler()
    key = _source_key(source, name)
    result = cache.load(key)
    if result is None:
        result = compile_cubin(source, name)
        cache.store(key, result)
    return result


def _claim(config: GemmConfig) -> tuple[Future, bool]:
    """The future that will hold `config`'s kernel, and whether the caller must fill it."""
    with _lock:
        future = _building.get(config)
        if future is not None:
            return future, False
        future = Future()
        kernel = _loaded.get(config)
        if kernel is not None:
            future.set_result(kernel)
            return future, False
        _building[config] = future
        return future, True


def _fill(config: GemmConfig, future: Future, background: bool = False) -> None:
    try:
        result = compile_config(config)
        kernel = LoadedKernel(
            cubin=result.cubin,
            entry_point=ENTRY_POINT,
            smem_bytes=config.smem_bytes,
            num_threads=config.num_threads,
            cluster_size=config.cluster_n,
        )
    except BaseException as exc:
        with _lock:
            del _building[config]
            if background:
                _failed.add(config)
        future.set_exception(exc)
        return
    with _lock:
        _loaded[config] = kernel
        del _building[config]
    future.set_result(kernel)


def get_kernel(config: GemmConfig) -> LoadedKernel:
    """`config`'s kernel, compiled (or waited for, if another thread is compiling it) when not yet loaded."""
    kernel = _loaded.get(config)
    if kernel is None:
        future, owner = _claim(config)
        if owner:
            _fill(config, future)
        kernel = future.result()
    return kernel


def kernel_or_stand_in(config: GemmConfig, stand_in: GemmConfig) -> GemmConfig:
    """`config` when its kernel is loaded or in the disk cache; otherwise `stand_in`, while `config` compiles on
    a background thread (FP8GEMM_JIT_BACKGROUND=0: always `config`).

    For kernels that take far longer to compile than a simpler one computing the same result (the masked
    kernel with three tile widths: 1.8 s against 0.8 s for its 128 x 128 width alone on the development
    machine), so that a process's first call does not wait for the slow compile. Callers must not keep a
    launch plan of the stand-in, nor use one during CUDA-graph capture (a graph would keep it)."""
    if config in _loaded or config in _failed or not envs.jit_background():
        return config
    with _lock:
        building = config in _building
    if not building:
        name = chosen_compiler()
        if cache.is_stored(_source_key(gemm_source(config), name)):
            return config
        future, owner = _claim(config)
        if owner:
            try:
                _background_pool().submit(_fill, config, future, True)
            except RuntimeError:  # the interpreter is shutting down: no new threads
                _fill(config, future)
                return config
    return stand_in


def _background_pool() -> ThreadPoolExecutor:
    global _background
    with _lock:
        if _background is None:
            # Not daemon threads: a process that exits right after its first call still finishes (and caches)
            # the compile it started.
            _background = ThreadPoolExecutor(BACKGROUND_WORKERS, thread_name_prefix="fp8gemm-jit")
        return _background


def wait_for_background_compiles() -> None:
    """Blocks until every kernel compiling on a background thread is loaded (or has failed), so that the
    calls after it launch the kernels their heuristics chose."""
    while True:
        with _lock:
            pending = list(_building.values())
        if not pending:
            return
        for future in pending:
            future.exception()


def precompile(configs: list[GemmConfig], max_workers: int | None = None) -> None:
    """Compiles `configs` into the disk cache in parallel processes (each compile is single-threaded)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=max_workers) as pool:
        list(pool.map(compile_config, configs))
