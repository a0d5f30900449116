"""The launch-plan key holds everything a plan depends on (CPU: keys only, nothing is launched)."""

from __future__ import annotations

import pytest
import torch

from fp8gemm import launch_plans
from fp8gemm.api.gemm_launch import plan_key
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.heuristics import forced_config

FP8 = torch.float8_e4m3fn


def _args(m: int = 64, n: int = 256, k: int = 512):
    a = (torch.empty(m, k, dtype=FP8), torch.empty(m, k // 128))
    b = (torch.empty(n, k, dtype=FP8), torch.empty(n // 128, k // 128))
    return a, b, torch.empty(m, n, dtype=torch.bfloat16)


def test_same_tensors_give_equal_keys() -> None:
    a, b, d = _args()
    assert plan_key(a, b, d) == plan_key(a, b, d)


@pytest.mark.parametrize(
    "change",
    [
        lambda a, b, d: (a, b, d.view(torch.float16)),  # same bytes, other dtype
        lambda a, b, d: (a, b, d[:32]),  # same pointer, other shape
        lambda a, b, d: (a, b, d.as_strided((64, 128), (256, 1))),  # other stride
        lambda a, b, d: (a, b, d[1:]),  # other pointer
        lambda a, b, d: ((a[0], a[1][:32]), b, d),  # a scale tensor of the wrong shape
    ],
)
def test_any_change_a_plan_depends_on_changes_the_key(change) -> None:
    a, b, d = _args()
    a2, b2, d2 = change(a, b, d)
    assert plan_key(a, b, d) != plan_key(a2, b2, d2)


def test_the_extra_tensor_is_part_of_the_key() -> None:
    a, b, d = _args()
    c = torch.empty(d.shape)
    assert plan_key(a, b, d) != plan_key(a, b, d, c)
    assert plan_key(a, b, d, c) != plan_key(a, b, d, c[1:])
    assert plan_key(a, b, d, c) != plan_key(a, b, d, c.view(torch.int32))


def test_scalar_type_is_part_of_the_key() -> None:
    # True == 1 in Python; a key without the type would let a bool expected_m skip validation.
    a, b, d = _args()
    assert plan_key(a, b, d, None, (int, 1)) != plan_key(a, b, d, None, (bool, True))


@pytest.mark.parametrize("a", [None, (1, 2), "ab", (torch.empty(1),)])
def test_non_tensor_arguments_give_no_key(a) -> None:
    _, b, d = _args()
    assert plan_key(a, b, d) is None


def test_forcing_a_config_forgets_stored_plans() -> None:
    launch_plans.remember(("stale",), object())
    with forced_config(GemmConfig(GemmType.DENSE, 64, 16, 8, False)):
        assert launch_plans.lookup(("stale",)) is None
