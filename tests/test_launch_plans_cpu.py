"""The launch-plan key holds everything a plan depends on, and the C warm path keys and looks up exactly as
the Python one does (CPU: keys and lookups only, nothing reaches the driver)."""

from __future__ import annotations

import struct
import subprocess

import pytest
import torch

from fp8gemm import launch_plans
from fp8gemm.config import GemmConfig, GemmType
from fp8gemm.heuristics import forced_config
from fp8gemm.jit import native
from fp8gemm.jit.launcher import raise_launch_error

FP8 = torch.float8_e4m3fn


def _args(m: int = 64, n: int = 256, k: int = 512):
    a = (torch.empty(m, k, dtype=FP8), torch.empty(m, k // 128))
    b = (torch.empty(n, k, dtype=FP8), torch.empty(n // 128, k // 128))
    return a, b, torch.empty(m, n, dtype=torch.bfloat16)


def _native_module():
    module = native.load()
    assert module is not None, "the C warm path did not build (C compiler and Python.h are needed)"
    return module


def _c_key(a, b, d, extra=None, scalars=()):
    return _native_module().key(a, b, d, extra, scalars)


@pytest.fixture(params=["python", "c"])
def plan_key(request):
    return launch_plans.plan_key if request.param == "python" else _c_key


def test_same_tensors_give_equal_keys(plan_key) -> None:
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
def test_any_change_a_plan_depends_on_changes_the_key(plan_key, change) -> None:
    a, b, d = _args()
    a2, b2, d2 = change(a, b, d)
    assert plan_key(a, b, d) != plan_key(a2, b2, d2)


def test_the_extra_tensor_is_part_of_the_key(plan_key) -> None:
    a, b, d = _args()
    c = torch.empty(d.shape)
    assert plan_key(a, b, d) != plan_key(a, b, d, c)
    assert plan_key(a, b, d, c) != plan_key(a, b, d, c[1:])
    assert plan_key(a, b, d, c) != plan_key(a, b, d, c.view(torch.int32))


def test_scalar_type_is_part_of_the_key(plan_key) -> None:
    # True == 1 in Python; a key without the type would let a bool expected_m skip validation.
    a, b, d = _args()
    assert plan_key(a, b, d, None, (int, 1)) != plan_key(a, b, d, None, (bool, True))


@pytest.mark.parametrize("a", [None, (1, 2), "ab", (torch.empty(1),)])
def test_non_tensor_arguments_give_no_key(plan_key, a) -> None:
    _, b, d = _args()
    assert plan_key(a, b, d) is None


@pytest.mark.parametrize("extra", [None, torch.int32, torch.float32], ids=["none", "int32", "float32"])
def test_c_key_packs_each_tensors_pointer_dims_dtype_device_sizes_strides(extra) -> None:
    a, b, d = _args(m=96, n=384, k=1024)
    tensors = [a[0], a[1], b[0], b[1], d]
    extra = None if extra is None else torch.empty(2, 7, dtype=extra)[:, 1:]
    tensors += [] if extra is None else [extra]
    slots = list(struct.unpack(f"<{len(_c_key(a, b, d, extra)) // 8}q", _c_key(a, b, d, extra)))
    for t in tensors:
        head, slots = slots[:4], slots[4:]
        assert head[:2] == [t.data_ptr(), t.dim()]
        assert head[2] >> 32 == 0  # not a negative view
        assert head[3] >> 32 == 0 and head[3] & 0xFFFFFFFF == t.get_device() & 0xFFFFFFFF  # CPU: type 0
        sizes, strides, slots = slots[: t.dim()], slots[t.dim() : 2 * t.dim()], slots[2 * t.dim() :]
        assert (tuple(sizes), tuple(strides)) == (tuple(t.shape), t.stride())
    assert slots == []


def test_negative_views_change_the_key(plan_key) -> None:
    # Same pointer, shape, strides and dtype; validation rejects the negative view (the kernels read bytes).
    a, b, d = _args()
    z = torch.zeros(64, 256, dtype=torch.complex64)
    assert z.conj().imag.is_neg() and not z.imag.is_neg()
    assert plan_key(a, b, z.imag) != plan_key(a, b, z.conj().imag)


def test_list_pairs_key_like_tuples(plan_key) -> None:
    a, b, d = _args()
    assert plan_key([a[0], a[1]], [b[0], b[1]], d) == plan_key(a, b, d)


def test_c_key_survives_a_pair_emptied_while_it_is_read() -> None:
    # A tensor-like whose getter empties the list the pair came in: the C key must own what it reads.
    a, b, d = _args()

    class EmptiesItsPair:
        shape, dtype = (1,), None

        def data_ptr(self) -> int:
            pair.clear()
            return 1

        def stride(self) -> tuple[int, ...]:
            return (1,)

        def is_neg(self) -> bool:
            return False

    class Other(EmptiesItsPair):
        def data_ptr(self) -> int:
            return 2

    pair = [EmptiesItsPair(), Other()]
    # Not plain tensors: the tuple key, read from both objects although the list is empty by then.
    assert _c_key(pair, b, d)[:6] == (1, (1,), (1,), None, False, 2)


def test_c_key_tells_every_dtype_apart() -> None:
    a, b, d = _args()
    keys = {_c_key(a, b, d.view(dtype)) for dtype in (torch.bfloat16, torch.float16, torch.int16)}
    assert len(keys) == 3


class _Subclass(torch.Tensor):
    pass


def test_tensor_subclasses_get_the_python_key_in_c() -> None:
    # A subclass may override what the shim would read: its key comes from its Python attributes.
    a, b, d = _args()
    a = (a[0].as_subclass(_Subclass), a[1])
    assert _c_key(a, b, d) == launch_plans.plan_key(a, b, d)
    assert _c_key(a, b, d, None, (int, 3)) == launch_plans.plan_key(a, b, d, None, (int, 3))


def test_a_plan_dropped_while_its_key_is_freed_is_still_launched_safely() -> None:
    # Dropping a subclass's tuple key runs Python code (here: a shape object's __del__) that empties the
    # plan dict: the C path must own the plan it found before that runs.
    module = _native_module()
    module.configure(launch_plans._plans, None, None, None, raise_launch_error, 0)
    armed = []

    class Shape(tuple):
        def __del__(self) -> None:
            if armed:
                launch_plans.forget_all()

    class WithOddShape(torch.Tensor):
        @property
        def shape(self):
            return Shape(super().shape)

    launch_plans.forget_all()
    a, b, d = _args()
    a = (a[0].as_subclass(WithOddShape), a[1])
    key = module.warm_launch(a, b, d, None, ())
    plan = _RecordingPlan()
    launch_plans.remember(key, plan)
    del key
    armed.append(True)
    assert module.warm_launch(a, b, d, None, ()) is True
    assert plan.launches == 1
    launch_plans.forget_all()


def test_parameters_get_a_packed_key() -> None:
    a, b, d = _args()
    b = (torch.nn.Parameter(b[0], requires_grad=False), b[1])
    assert isinstance(_c_key(a, b, d), bytes)


class _RecordingPlan:
    """A stored plan with no fixed launch: the warm path must call its `launch` (as for split-K plans)."""

    native = None

    def __init__(self) -> None:
        self.launches = 0

    def launch(self) -> None:
        self.launches += 1


@pytest.fixture(params=["python", "c"])
def warm_launch(request):
    if request.param == "python":
        yield launch_plans.python_warm_launch
        return
    module = _native_module()
    was_installed = launch_plans.warm_launch is module.warm_launch
    # No driver here: the plans these tests store never reach it (their `native` is None).
    module.configure(launch_plans._plans, None, None, None, raise_launch_error, 0)
    yield module.warm_launch
    if was_installed:
        assert native.install()


def test_warm_launch_runs_a_stored_plan(warm_launch) -> None:
    launch_plans.forget_all()
    a, b, d = _args()
    key = warm_launch(a, b, d, None, ())
    assert key is not None and key is not True
    plan = _RecordingPlan()
    launch_plans.remember(key, plan)
    assert warm_launch(a, b, d, None, ()) is True
    assert warm_launch(a, b, d, None, ()) is True
    assert plan.launches == 2
    # Another output buffer: its own key, no launch.
    other = warm_launch(a, b, d[1:], None, ())
    assert other not in (None, True, key)
    assert plan.launches == 2
    launch_plans.forget_all()


def test_warm_launch_gives_no_key_for_non_tensors(warm_launch) -> None:
    _, b, d = _args()
    assert warm_launch((1, 2), b, d, None, ()) is None


def test_warm_launch_passes_a_plans_launch_error_on(warm_launch) -> None:
    class FailingPlan(_RecordingPlan):
        def launch(self) -> None:
            raise RuntimeError("cuLaunchKernel failed: test")

    launch_plans.forget_all()
    a, b, d = _args()
    launch_plans.remember(warm_launch(a, b, d, None, ()), FailingPlan())
    with pytest.raises(RuntimeError, match="cuLaunchKernel failed: test"):
        warm_launch(a, b, d, None, ())
    launch_plans.forget_all()


def test_c_warm_path_compiles_without_warnings(tmp_path) -> None:
    command = [*native.compile_command(tmp_path / "warm_call.so"), "-Wall", "-Wextra", "-Werror"]
    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_forcing_a_config_forgets_stored_plans() -> None:
    launch_plans.remember(("stale",), object())
    with forced_config(GemmConfig(GemmType.DENSE, 64, 16, 8, False)):
        assert launch_plans.lookup(("stale",)) is None


@pytest.mark.parametrize("switch,expected", [("0", []), ("1", ["install"])])
def test_the_native_warm_call_switch_decides_whether_the_c_path_installs(monkeypatch, switch, expected) -> None:
    calls = []
    monkeypatch.setenv("FP8GEMM_NATIVE_WARM_CALL", switch)
    monkeypatch.setattr(native, "_started", False)
    monkeypatch.setattr(native, "install", lambda: calls.append("install"))
    native.start(wait=True)
    assert calls == expected
