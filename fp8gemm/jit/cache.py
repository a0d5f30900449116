"""On-disk cache of compiled kernels: one folder per key, written atomically, checked on read.

Key = sha256(generated source, every kernel header, compiler identity, flags, package version). A folder
holds `kernel.cubin` and `meta.json` (the cubin's sha256, the compile log and time). Files are written to a
temporary name and moved into place with os.replace, cubin first and meta last, so a reader that finds
meta.json finds a whole cubin; a cubin whose checksum does not match (truncated, corrupted) is logged,
deleted and rebuilt. A read-only cache directory falls back to a per-user temporary one with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from functools import cache
from pathlib import Path

from .. import __version__, envs
from .codegen import kernel_headers
from .compiler import CompileResult

log = logging.getLogger("fp8gemm.jit")

CUBIN_NAME = "kernel.cubin"
META_NAME = "meta.json"


@cache
def headers_digest() -> str:
    digest = hashlib.sha256()
    for path in kernel_headers():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(source: str, compiler_identity: str, flags: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for part in (source, headers_digest(), compiler_identity, " ".join(flags), __version__):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True)
        probe.close()
        return True
    except OSError:
        return False


@cache
def cache_root() -> Path:
    wanted = envs.cache_dir()
    if _writable(wanted):
        return wanted
    fallback = Path(tempfile.gettempdir()) / f"fp8gemm-cache-{os.getuid()}"
    warnings.warn(
        f"fp8gemm: kernel cache directory {wanted} is not writable; using {fallback} "
        "(set FP8GEMM_CACHE_DIR to choose another)",
        RuntimeWarning,
        stacklevel=2,
    )
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def load(key: str) -> CompileResult | None:
    folder = cache_root() / key
    try:
        meta = json.loads((folder / META_NAME).read_text())
        cubin = (folder / CUBIN_NAME).read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not {"sha256", "log", "seconds", "compiler"} <= meta.keys():
        log.warning("fp8gemm: cached kernel %s has unreadable metadata; rebuilding it", folder)
        return None
    if hashlib.sha256(cubin).hexdigest() != meta["sha256"]:
        log.warning("fp8gemm: cached kernel %s failed its checksum; rebuilding it", folder)
        for name in (META_NAME, CUBIN_NAME):
            (folder / name).unlink(missing_ok=True)
        return None
    return CompileResult(cubin=cubin, log=meta["log"], seconds=meta["seconds"], compiler=meta["compiler"])


def is_stored(key: str) -> bool:
    """Whether `key` has an entry (unchecked: `load` verifies it)."""
    return (cache_root() / key / META_NAME).is_file()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(key: str, result: CompileResult) -> None:
    folder = cache_root() / key
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "sha256": hashlib.sha256(result.cubin).hexdigest(),
        "log": result.log,
        "seconds": result.seconds,
        "compiler": result.compiler,
    }
    _atomic_write(folder / CUBIN_NAME, result.cubin)
    _atomic_write(folder / META_NAME, json.dumps(meta).encode())
