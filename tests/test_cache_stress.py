"""JIT cache under concurrency: eight processes compiling the same and different kernels into one fresh
cache directory at once must leave a valid cache (every entry passes its checksum) and identical cubins for
identical keys."""

from __future__ import annotations

import multiprocessing as mp
import os

import pytest

from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.jit.compiler import nvrtc_available

SHARED = GemmConfig(GemmType.DENSE, 128, 128, 5)
DISTINCT = [GemmConfig(GemmType.DENSE, 64, n, 8) for n in (16, 32, 48, 64, 80, 96, 112, 128)]
NUM_PROCESSES = 8


def _compile_pair(args: tuple[str, int]) -> list[tuple[str, str]]:
    cache_dir, index = args
    os.environ["FP8GEMM_CACHE_DIR"] = cache_dir
    os.environ["FP8GEMM_COMPILER"] = "nvrtc"
    import hashlib

    from fp8gemm.jit.build import compile_config

    out = []
    for config in (SHARED, DISTINCT[index]):
        result = compile_config(config)
        out.append((str(config), hashlib.sha256(result.cubin).hexdigest()))
    return out


@pytest.mark.skipif(not nvrtc_available(), reason="needs the NVRTC wheel")
def test_concurrent_compiles_leave_a_valid_cache(tmp_path, monkeypatch) -> None:
    with mp.get_context("spawn").Pool(NUM_PROCESSES) as pool:
        results = pool.map(_compile_pair, [(str(tmp_path), i) for i in range(NUM_PROCESSES)])
    shared_digests = {digest for pairs in results for name, digest in pairs if name == str(SHARED)}
    assert len(shared_digests) == 1, "processes disagree on the shared kernel's cubin"

    monkeypatch.setenv("FP8GEMM_CACHE_DIR", str(tmp_path))
    from fp8gemm.jit import cache

    cache.cache_root.cache_clear()
    entries = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(entries) == 1 + NUM_PROCESSES
    for entry in entries:
        assert cache.load(entry.name) is not None, f"cache entry {entry.name} failed its checksum"
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()], "temporary files left behind"
    cache.cache_root.cache_clear()
