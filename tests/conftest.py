"""Shared test plumbing.

- Tests marked `gpu` (the marker is registered in pyproject.toml) run only where a Hopper GPU (compute
  capability 9.x) is present; everywhere else they are collected and reported as skipped.
- `kernel_cache_dir`: a fresh, empty kernel cache directory for one test.
- With a Hopper GPU, warm calls take the C path from the first test on (fp8gemm.jit.native), so no
  background build switches key formats in the middle of a test that counts stored plans.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


def _hopper_present() -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _hopper_present():
        return
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        reason = f"needs a Hopper (sm_90) GPU; this one has compute capability {major}.{minor}"
    else:
        reason = "needs a Hopper (sm_90) GPU; torch.cuda.is_available() is False"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _c_warm_path_from_the_start() -> None:
    if _hopper_present():
        from fp8gemm.jit import native

        native.start(wait=True)


@pytest.fixture
def kernel_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Points FP8GEMM_CACHE_DIR at an empty directory and forgets the memoised cache root around the test."""
    from fp8gemm.jit import cache

    path = tmp_path / "kernel-cache"
    monkeypatch.setenv("FP8GEMM_CACHE_DIR", str(path))
    cache.cache_root.cache_clear()
    yield path
    cache.cache_root.cache_clear()
