"""A slow-compiling kernel compiles on a background thread while a stand-in serves the calls (fp8gemm.jit.build),
without a GPU: the compiler is a fake that waits for the test to let it finish."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fp8gemm.config import GemmType
from fp8gemm.heuristics import choose_launch
from fp8gemm.jit import build
from fp8gemm.jit.compiler import CompileError, CompileResult

WAIT_S = 30

# The three-width masked kernel and its main width alone, as the masked op pairs them.
CHOSEN, _ = choose_launch(GemmType.GROUPED_MASKED, 512, 4096, 7168, 2, 132)
STAND_IN = CHOSEN.main_width_only()


class FakeCompiler:
    """Records each compile; holds each one until `release` (or raises `error` then)."""

    def __init__(self) -> None:
        self.sources: list[str] = []
        self.started = threading.Event()
        self.released = threading.Event()
        self.error: Exception | None = None

    def __call__(self, source: str, name: str) -> CompileResult:
        self.sources.append(source)
        self.started.set()
        assert self.released.wait(WAIT_S), "the test never released the compile"
        if self.error is not None:
            raise self.error
        return CompileResult(cubin=f"cubin {len(self.sources)}".encode(), log="", seconds=0.0, compiler=name)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def fake_compiler(kernel_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCompiler]:
    fake = FakeCompiler()
    monkeypatch.setattr(build, "compile_cubin", fake)
    monkeypatch.setattr(build, "chosen_compiler", lambda: "nvrtc")
    monkeypatch.setattr(build, "compiler_identity", lambda name: "fake-compiler 1.0")
    monkeypatch.setattr(build, "_loaded", {})
    monkeypatch.setattr(build, "_building", {})
    monkeypatch.setattr(build, "_failed", set())
    monkeypatch.delenv("FP8GEMM_JIT_BACKGROUND", raising=False)
    yield fake
    fake.release()  # never leave a pool thread waiting
    build.wait_for_background_compiles()


def test_the_stand_in_serves_while_the_chosen_kernel_compiles_in_the_background(fake_compiler: FakeCompiler) -> None:
    assert build.kernel_or_stand_in(CHOSEN, STAND_IN) == STAND_IN
    assert fake_compiler.started.wait(WAIT_S)
    assert CHOSEN not in build._loaded
    fake_compiler.release()
    build.wait_for_background_compiles()
    assert CHOSEN in build._loaded
    assert build.kernel_or_stand_in(CHOSEN, STAND_IN) == CHOSEN
    assert len(fake_compiler.sources) == 1


def test_calls_during_the_compile_keep_the_stand_in_and_start_no_second_compile(
    fake_compiler: FakeCompiler,
) -> None:
    for _ in range(3):
        assert build.kernel_or_stand_in(CHOSEN, STAND_IN) == STAND_IN
    assert fake_compiler.started.wait(WAIT_S)
    fake_compiler.release()
    build.wait_for_background_compiles()
    assert len(fake_compiler.sources) == 1


def test_a_kernel_in_the_disk_cache_is_used_at_once(fake_compiler: FakeCompiler) -> None:
    fake_compiler.release()
    build.compile_config(CHOSEN)  # into the disk cache, as warm-up or an earlier process leaves it
    assert build.kernel_or_stand_in(CHOSEN, STAND_IN) == CHOSEN
    assert CHOSEN not in build._building
    assert len(fake_compiler.sources) == 1


def test_the_switch_turns_the_stand_in_off(fake_compiler: FakeCompiler, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FP8GEMM_JIT_BACKGROUND", "0")
    assert build.kernel_or_stand_in(CHOSEN, STAND_IN) == CHOSEN
    assert not build._building and not fake_compiler.sources


def test_get_kernel_waits_for_the_background_compile_instead_of_starting_another(
    fake_compiler: FakeCompiler,
) -> None:
    # What a CUDA-graph capture does while the chosen kernel compiles: it must wait and get that kernel.
    build.kernel_or_stand_in(CHOSEN, STAND_IN)
    assert fake_compiler.started.wait(WAIT_S)
    threading.Timer(0.2, fake_compiler.release).start()
    kernel = build.get_kernel(CHOSEN)
    assert kernel is build._loaded[CHOSEN]
    assert len(fake_compiler.sources) == 1


def test_the_stand_in_compiles_beside_the_chosen_kernel(fake_compiler: FakeCompiler) -> None:
    build.kernel_or_stand_in(CHOSEN, STAND_IN)
    assert fake_compiler.started.wait(WAIT_S)
    threading.Timer(0.2, fake_compiler.release).start()
    assert build.get_kernel(STAND_IN) is build._loaded[STAND_IN]
    build.wait_for_background_compiles()
    assert set(build._loaded) == {CHOSEN, STAND_IN}
    assert len(fake_compiler.sources) == 2


def test_a_failed_background_compile_is_raised_by_the_next_call(fake_compiler: FakeCompiler) -> None:
    fake_compiler.error = CompileError("fake ptxas error")
    build.kernel_or_stand_in(CHOSEN, STAND_IN)
    fake_compiler.release()
    build.wait_for_background_compiles()
    # No second background attempt that would leave the stand-in serving for good: the call compiles the
    # chosen kernel itself and raises what the compiler said.
    assert build.kernel_or_stand_in(CHOSEN, STAND_IN) == CHOSEN
    with pytest.raises(CompileError, match="fake ptxas error"):
        build.get_kernel(CHOSEN)
    assert not build._building


def test_without_threads_at_shutdown_the_call_compiles_the_chosen_kernel_itself(
    fake_compiler: FakeCompiler, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ShutDownPool:
        def submit(self, *args: object) -> None:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(build, "_background_pool", ShutDownPool)
    fake_compiler.release()
    assert build.kernel_or_stand_in(CHOSEN, STAND_IN) == CHOSEN
    assert CHOSEN in build._loaded and not build._building
