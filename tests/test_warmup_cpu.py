"""fp8gemm.warmup without a GPU: planning (problem -> the heuristic's kernel, de-duplicated, for a given SM
count), shape validation, compiling into a fresh cache, and the `python -m fp8gemm.warmup` command line.

Compiling tests need a CUDA compiler (NVRTC preferred for speed, as in test_jit_cpu.py) and are skipped
without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fp8gemm
from fp8gemm.heuristics import choose_launch
from fp8gemm.jit import compiler
from fp8gemm.warmup import DEFAULT_NUM_SMS, KINDS, WarmupShape, default_num_sms, plan
from fp8gemm.warmup.__main__ import main

SHAPES = [
    {"kind": "dense", "n": 2112, "k": 7168, "m": [1, 2, 4, 8, 16, 32, 64, 128, 4096]},
    {"kind": "dense", "n": 256, "k": 16384, "m": [1, 64]},
    {"kind": "dense", "n": 4096, "k": 7168, "m": 128, "out_dtype": "float32"},
    {"kind": "masked", "n": 4096, "k": 7168, "m": [16, 64], "num_groups": 32},
    {"kind": "contiguous", "n": 4096, "k": 7168, "m": 16384, "num_groups": 32},
]
# Two kernels (decode and prefill tiles differ), cheap to compile.
SMALL = [{"kind": "dense", "n": 2112, "k": 7168, "m": [1, 4096]}]

COMPILER = "nvrtc" if compiler.nvrtc_available() else ("nvcc" if compiler.find_nvcc() else None)
needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no CUDA compiler (nvcc or the NVRTC wheel)")


@pytest.fixture
def warm_cache(kernel_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty kernel cache and the faster available compiler (inherited by the worker processes)."""
    monkeypatch.setenv("FP8GEMM_COMPILER", COMPILER)
    return kernel_cache_dir


def _cached_kernels(cache_dir: Path) -> int:
    return sum(1 for p in cache_dir.iterdir() if (p / "meta.json").exists()) if cache_dir.exists() else 0


# ------------------------------------------------------------------------------ planning


def _expected_kernels(shapes: list[dict], num_sms: int) -> set:
    """The heuristic's choice for every problem (a split-K launch needs no other kernel)."""
    out = set()
    for spec in shapes:
        shape = WarmupShape.from_dict(spec)
        for m in shape.m:
            config, _ = choose_launch(
                KINDS[shape.kind], m, shape.n, shape.k, shape.num_groups, num_sms, shape.output_f32
            )
            out.add(config)
    return out


@pytest.mark.parametrize("num_sms", [132, 114, 78])
def test_plan_holds_each_heuristic_choice_once(num_sms: int) -> None:
    planned = plan(SHAPES, num_sms)
    assert set(planned) == _expected_kernels(SHAPES, num_sms)
    problems = sum(len(WarmupShape.from_dict(s).m) for s in SHAPES)
    assert sum(len(p) for p in planned.values()) == problems  # every problem under exactly one kernel


def test_plan_merges_problems_sharing_a_kernel() -> None:
    planned = plan([SHAPES[0]], 132)
    assert len(planned) < len(SHAPES[0]["m"])


def test_default_num_sms_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_num_sms() == DEFAULT_NUM_SMS == 132
    assert plan(SHAPES) == plan(SHAPES, 132)


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"kind": "batched", "n": 256, "k": 256, "m": 1}, "kind"),
        ({"kind": "dense", "n": 100, "k": 256, "m": 1}, "multiple of 8"),
        ({"kind": "dense", "n": 256, "k": 200, "m": 1}, "multiple of 16"),
        ({"kind": "dense", "n": 256, "k": 256, "m": []}, "non-empty"),
        ({"kind": "dense", "n": 256, "k": 256, "m": [4, 0]}, "positive"),
        ({"kind": "dense", "n": 256, "k": 256, "m": True}, "positive"),
        ({"kind": "dense", "n": 256, "k": 256, "m": 1, "num_groups": 4}, "num_groups = 1"),
        ({"kind": "masked", "n": 256, "k": 256, "m": 1, "num_groups": 0}, "num_groups"),
        ({"kind": "masked", "n": 256, "k": 256, "m": 1, "num_groups": 2, "out_dtype": "float32"}, "FP32"),
        ({"kind": "dense", "n": 256, "k": 256, "m": 1, "out_dtype": "int8"}, "out_dtype"),
        ({"kind": "dense", "n": 256, "k": 256, "m": 1, "groups": 2}, "unknown shape keys"),
        ({"kind": "dense", "n": 256, "m": 1}, "missing"),
        ([256, 256, 1], "mapping"),
    ],
    ids=lambda value: str(value) if isinstance(value, str) else None,
)
def test_bad_shape_is_rejected(spec: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plan([spec], 132)


@pytest.mark.parametrize("out_dtype", ["float16", torch.float16, "fp32", torch.float32])
def test_fp16_and_fp32_outputs_plan_the_f32_kernel(out_dtype: object) -> None:
    (config,) = plan([WarmupShape("dense", 2112, 7168, 64, out_dtype=out_dtype)], 132)
    assert config.output_f32


# ------------------------------------------------------------------------------ compiling


@needs_compiler
@pytest.mark.parametrize("max_workers", [1, 2], ids=["in_process", "two_processes"])
def test_warmup_compiles_the_planned_kernels_into_the_cache(warm_cache: Path, max_workers: int) -> None:
    report = fp8gemm.warmup(SMALL, num_sms=132, max_workers=max_workers, progress=False)
    assert list(report.kernels) == [str(k) for k in plan(SMALL, 132)]
    assert _cached_kernels(warm_cache) == len(report.kernels) >= 2
    assert report.num_sms == 132 and report.seconds >= max(report.kernels.values())


@needs_compiler
def test_progress_without_tqdm_is_silent(
    warm_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    fp8gemm.warmup(SMALL[:1], num_sms=132, max_workers=1, progress=True)
    assert capsys.readouterr() == ("", "")
    assert _cached_kernels(warm_cache) > 0


@needs_compiler
def test_progress_bar_with_tqdm(warm_cache: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("tqdm")
    fp8gemm.warmup(SMALL, num_sms=132, max_workers=1, progress=True)
    assert "fp8gemm warm-up" in capsys.readouterr().err


# ------------------------------------------------------------------------------ command line


def _run_cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FP8GEMM_CACHE_DIR": str(cache_dir), "FP8GEMM_COMPILER": COMPILER or "auto"}
    return subprocess.run(
        [sys.executable, "-m", "fp8gemm.warmup", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_cli_help(tmp_path: Path) -> None:
    result = _run_cli("--help", cache_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "usage: python -m fp8gemm.warmup" in result.stdout and "num_sms" in result.stdout
    assert result.stderr == ""  # in particular no runpy RuntimeWarning about fp8gemm.warmup


@needs_compiler
def test_cli_compiles_a_json_file(tmp_path: Path) -> None:
    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps({"num_sms": 132, "shapes": SMALL}))
    cache_dir = tmp_path / "cache"
    result = _run_cli(str(shapes), "--no-progress", cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr
    kernels = [str(k) for k in plan(SMALL, 132)]
    assert all(name in result.stdout for name in kernels)
    assert f"{len(kernels)} kernels ready for 132 SMs" in result.stdout
    assert _cached_kernels(cache_dir) == len(kernels)


def test_cli_dry_run_lists_kernels_and_compiles_nothing(
    kernel_cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps(SHAPES))
    assert main([str(shapes), "--dry-run", "--num-sms", "78"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(k) for k in plan(SHAPES, 78)]
    assert _cached_kernels(kernel_cache_dir) == 0


def test_cli_reads_yaml(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    yaml = pytest.importorskip("yaml")
    shapes = tmp_path / "shapes.yaml"
    shapes.write_text(yaml.safe_dump({"num_sms": 114, "shapes": SHAPES}))
    assert main([str(shapes), "--dry-run"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(plan(SHAPES, 114))


def test_cli_rejects_a_bad_shape(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps([{"kind": "dense", "n": 100, "k": 256, "m": 1}]))
    assert main([str(shapes), "--dry-run"]) == 2
    assert "multiple of 8" in capsys.readouterr().err


def test_cli_rejects_a_file_without_shapes(tmp_path: Path) -> None:
    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps({"layers": []}))
    with pytest.raises(SystemExit, match="expected a list of shapes"):
        main([str(shapes), "--dry-run"])
