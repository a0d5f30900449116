"""Warm calls replay a stored launch plan; anything a plan depends on changing makes a new one or an error.

Each test refills the same buffers with fresh random values between calls, so a replayed plan is checked
against new data, not against the output it produced before.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import fp8gemm
from fp8gemm import launch_plans
from fp8gemm.api.gemm_launch import SplitKPlan
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.heuristics import forced_config
from fp8gemm.jit import native
from fp8gemm.testing import calc_diff, dense_inputs, grouped_masked_inputs, reference_gemm

pytestmark = pytest.mark.gpu


def _gemm_layout(problem):
    return (problem.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(problem.a[1]))


def _refill(problem, a) -> None:
    """New random FP8 values and scales in the same storage (the plan's pointers stay valid)."""
    (m, k), n = problem.a[0].shape, problem.b[0].shape[0]
    fresh = dense_inputs(m, n, k)
    a[0].copy_(fresh.a[0])
    a[1].copy_(fresh.a[1])
    problem.b[0].copy_(fresh.b[0])
    problem.b[1].copy_(fresh.b[1])
    problem.d.fill_(float("nan"))


@pytest.fixture(params=["python", "c"])
def warm_path(request, monkeypatch) -> None:
    """Warm calls through the Python path, then through the C one (fp8gemm.jit.native)."""
    if request.param == "python":
        monkeypatch.setattr(launch_plans, "warm_launch", launch_plans.python_warm_launch)
    else:
        assert native.install(), "the C warm path did not install on this GPU host"


def test_the_c_warm_path_takes_over_after_the_first_plan(tmp_path) -> None:
    # A fresh process and cache: the first plan starts the module's build on a background thread.
    code = (
        "import time, fp8gemm\n"
        "from fp8gemm.jit import native\n"
        "from fp8gemm.testing import dense_inputs\n"
        "p = dense_inputs(64, 256, 512)\n"
        "fp8gemm.fp8_gemm_nt((p.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(p.a[1])), p.b, p.d)\n"
        "started = time.monotonic()\n"
        "while not native.active() and time.monotonic() - started < 30:\n"
        "    time.sleep(0.01)\n"
        "print(native.active())\n"
    )
    env = {**os.environ, "FP8GEMM_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "True"


@pytest.mark.parametrize(
    "m,n,k", [(64, 2112, 7168), (300, 520, 1040), (4096, 4096, 7168), (64, 1024, 7168), (128, 2112, 7168)], ids=str
)
def test_warm_call_replays_plan_on_new_data(warm_path, m: int, n: int, k: int) -> None:
    launch_plans.forget_all()
    problem = dense_inputs(m, n, k)
    a = _gemm_layout(problem)
    fp8gemm.fp8_gemm_nt(a, problem.b, problem.d)
    assert len(launch_plans._plans) == 1
    for _ in range(3):
        _refill(problem, a)
        fp8gemm.fp8_gemm_nt(a, problem.b, problem.d)
        assert len(launch_plans._plans) == 1, "a warm call built a second plan"
        assert not torch.isnan(problem.d).any()
        assert calc_diff(problem.d, reference_gemm(a, problem.b)) < 1e-5


def test_row_major_scales_are_not_planned() -> None:
    # The conversion makes a temporary scale tensor per call; a plan would point at a freed one.
    launch_plans.forget_all()
    problem = dense_inputs(128, 2112, 7168)
    fp8gemm.fp8_gemm_nt(problem.a, problem.b, problem.d)
    assert len(launch_plans._plans) == 0
    assert calc_diff(problem.d, reference_gemm(problem.a, problem.b)) < 1e-5


def test_warm_key_still_rejects_wrong_output_dtype() -> None:
    problem = dense_inputs(64, 2112, 7168)
    a = _gemm_layout(problem)
    fp8gemm.fp8_gemm_nt(a, problem.b, problem.d)
    with pytest.raises(TypeError, match="d must have dtype torch.bfloat16"):
        fp8gemm.fp8_gemm_nt(a, problem.b, problem.d.view(torch.float16))


def test_warm_key_still_rejects_wrong_scale_shape() -> None:
    problem = dense_inputs(64, 2112, 7168)
    a = _gemm_layout(problem)
    fp8gemm.fp8_gemm_nt(a, problem.b, problem.d)
    with pytest.raises(ValueError, match=r"a\[1\] must have shape"):
        fp8gemm.fp8_gemm_nt((a[0], a[1][:32]), problem.b, problem.d)


def test_forced_config_is_not_bypassed_by_a_plan() -> None:
    problem = dense_inputs(256, 1024, 1024)
    a = _gemm_layout(problem)
    fp8gemm.fp8_gemm_nt(a, problem.b, problem.d)
    forced = GemmConfig(GemmType.DENSE, 64, 16, 8, False)
    with forced_config(forced):
        assert len(launch_plans._plans) == 0
        problem.d.fill_(float("nan"))
        fp8gemm.fp8_gemm_nt(a, problem.b, problem.d)
    assert calc_diff(problem.d, reference_gemm(a, problem.b)) < 1e-5


def test_masked_plan_follows_new_masked_m() -> None:
    launch_plans.forget_all()
    problem = grouped_masked_inputs([40, 0, 130, 256], 256, 1024, 1024)
    a = (problem.a[0], fp8gemm.get_mn_major_tma_aligned_tensor(problem.a[1]))
    for counts in ([40, 0, 130, 256], [256, 17, 0, 1]):
        problem.masked_m.copy_(torch.tensor(counts, dtype=torch.int32))
        problem.d.fill_(float("nan"))
        fp8gemm.m_grouped_fp8_gemm_nt_masked(a, problem.b, problem.d, problem.masked_m, 128)
        ref = reference_gemm(a, problem.b)
        for g, rows in enumerate(counts):
            if rows:
                assert calc_diff(problem.d[g, :rows], ref[g, :rows]) < 1e-5
            assert torch.isnan(problem.d[g, rows:]).all()
    assert len(launch_plans._plans) == 1


# The heuristic splits K for these shapes.
SPLIT_K_SHAPES = [(64, 1024, 7168), (128, 2112, 7168)]


def _split_k_planned(m: int, n: int, k: int):
    """A problem and its A operand after one call has stored its (only) plan."""
    launch_plans.forget_all()
    problem = dense_inputs(m, n, k)
    a = _gemm_layout(problem)
    fp8gemm.fp8_gemm_nt(a, problem.b, problem.d)
    return problem, a


@pytest.mark.parametrize("m,n,k", SPLIT_K_SHAPES, ids=str)
def test_split_k_plan_keeps_its_workspace_and_a_c_launch(m: int, n: int, k: int) -> None:
    _split_k_planned(m, n, k)
    (plan,) = launch_plans._plans.values()
    assert isinstance(plan, SplitKPlan) and plan.workspace is not None and plan.native is not None


@pytest.mark.parametrize("m,n,k", SPLIT_K_SHAPES, ids=str)
def test_split_k_plan_runs_on_another_stream(m: int, n: int, k: int) -> None:
    problem, a = _split_k_planned(m, n, k)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            _refill(problem, a)
            fp8gemm.fp8_gemm_nt(a, problem.b, problem.d)
            assert not torch.isnan(problem.d).any()
            assert calc_diff(problem.d, reference_gemm(a, problem.b)) < 1e-5
    torch.cuda.current_stream().wait_stream(side)
    # Dropped while the side stream may still run: the allocator must keep the plan's buffers for it.
    launch_plans.forget_all()
    torch.cuda.synchronize()
