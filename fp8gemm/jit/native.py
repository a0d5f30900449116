"""The C warm path (warm_call.c): built with the host C compiler, cached on disk, loaded once per process.

The kernels' JIT needs only nvcc or NVRTC; this one also needs a C compiler and Python's headers, as
Triton's launchers do. Without them, or with FP8GEMM_NATIVE_WARM_CALL=0, warm calls stay on the Python path
(`launch_plans.python_warm_launch`), which behaves the same, a few µs slower per call.

The first GEMM plan of a process calls `start()`: a cached module loads at once (about a millisecond); a
missing one is compiled on a background thread (0.2-0.5 s, while the caller goes on), and warm calls switch
over when it is ready.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import shutil
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
from functools import cache
from pathlib import Path
from types import ModuleType

from .. import __version__, envs

log = logging.getLogger("fp8gemm.jit")

SOURCE = Path(__file__).with_name("warm_call.c")
MODULE_NAME = "_fp8gemm_warm_call"
# LaunchPlan.native: function, kernelParams address, device index, grid, threads, smem bytes, whether the plan
# is bound to one stream, and that stream's handle (warm_call.c's NativePlan).
NATIVE_PLAN = struct.Struct("<QQqIIIIQ")
# Read by the packed key (torch/csrc/inductor/aoti_torch/c/shim.h: aoti_torch_get_<field>).
TORCH_SHIM_LIBRARY = "libtorch_cpu.so"
SHIM_FIELDS = ("data_ptr", "dim", "sizes", "strides", "dtype", "device_type", "device_index")
# cuGetProcAddress needs a CUDA version at or above the symbol's introduction; cuLaunchKernel's signature
# has not changed since CUDA 4.0, and 12.0 is below every driver the kernels run on.
LAUNCH_KERNEL_CUDA_VERSION = 12000

_lock = threading.Lock()
_started = False


def _compiler() -> str | None:
    candidates = [os.environ.get("CC"), "cc", "gcc", "clang"]
    return next((path for c in candidates if c and (path := shutil.which(c))), None)


def _module_path() -> Path:
    from .cache import cache_root

    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), sys.version.encode(), suffix.encode(), __version__.encode()):
        digest.update(part)
        digest.update(b"\x00")
    return cache_root() / "warm-call" / digest.hexdigest()[:32] / (MODULE_NAME + suffix)


def compile_command(output: str | Path) -> list[str]:
    """The host compiler's command line that builds warm_call.c into the extension module `output`."""
    compiler = _compiler()
    include = sysconfig.get_paths()["include"]
    if compiler is None or not Path(include, "Python.h").is_file():
        raise RuntimeError(f"no C compiler ({compiler}) or no Python.h in {include}")
    return [compiler, "-O2", "-shared", "-fPIC", f"-I{include}", str(SOURCE), "-o", str(output)]


def _compile(target: Path) -> None:
    for folder in (target.parent.parent, target.parent):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        command = compile_command(tmp)
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _import(path: Path) -> ModuleType:
    # Host code runs from here: only from folders this user owns down from the cache root (which falls back
    # to a shared temporary directory that another user could have made first), and from a file and the two
    # folders above it that nobody else may write (made so by _compile).
    file_folder, module_folder, root = path.parent, path.parent.parent, path.parent.parent.parent
    for part in (path, file_folder, module_folder, root):
        info = part.stat()
        writable_by_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and part is not root
        if info.st_uid != os.getuid() or writable_by_others:
            raise RuntimeError(f"{part} is not this user's alone; not loading host code from it")
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shim_addresses() -> tuple[int, ...]:
    """torch's C shim functions the packed key reads tensors with, in warm_call.c's order."""
    import torch

    # RTLD_NOLOAD: the copy torch already loaded, never a second one.
    path = Path(torch.__file__).parent / "lib" / TORCH_SHIM_LIBRARY
    library = ctypes.CDLL(str(path), mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    return tuple(
        ctypes.cast(getattr(library, f"aoti_torch_get_{name}"), ctypes.c_void_p).value for name in SHIM_FIELDS
    )


@cache
def load() -> ModuleType | None:
    """The compiled module (building it if needed), or None where it cannot be built (logged)."""
    try:
        path = _module_path()
        if not path.is_file():
            _compile(path)
        module = _import(path)
    except Exception as error:  # any failure leaves the Python path in place, which is correct
        log.info("fp8gemm: C warm path unavailable, warm calls use Python: %s", error)
        return None
    try:
        import torch

        module.read_tensors_with(torch.Tensor, torch.nn.Parameter, shim_addresses())
        _check_packed_key(module)
    except (OSError, AttributeError, TypeError, ValueError, RuntimeError) as error:
        # Keys are then built from the same attribute reads as the Python path, still in C.
        module.read_tensors_with(None, None, ())
        log.info("fp8gemm: torch's C shim not usable; C warm path keys read tensor attributes: %s", error)
    return module


def _check_packed_key(module: ModuleType) -> None:
    """Raises unless the shim reads a probe view's pointer, sizes and strides as torch's getters do (a torch
    whose Tensor were no longer one pointer to its TensorImpl would fail here, not in a key)."""
    import torch

    base = torch.empty(4, 24)
    probe = base[1:, 2::3]
    key = module.key((probe, probe), (probe, probe), probe, None, ())
    slots = struct.unpack(f"<{len(key) // 8}q", key) if isinstance(key, bytes) else ()
    expected = (probe.data_ptr(), probe.dim(), *slots[2:4], *probe.shape, *probe.stride())
    if slots[:8] != expected:
        raise RuntimeError(f"the packed key read {slots[:8]}, torch's getters {expected}")


def launch_kernel_address() -> int:
    """The driver's cuLaunchKernel (legacy default stream, as torch and cuda.bindings use)."""
    from cuda.bindings import driver

    from .launcher import check

    flags = driver.CUdriverProcAddress_flags.CU_GET_PROC_ADDRESS_LEGACY_STREAM
    address, _ = check(
        driver.cuGetProcAddress(b"cuLaunchKernel", LAUNCH_KERNEL_CUDA_VERSION, flags), "cuGetProcAddress"
    )
    if not address:
        raise RuntimeError("cuGetProcAddress found no cuLaunchKernel")
    return int(address)


def install() -> bool:
    """Makes the C path the warm path of every GEMM call (building it if needed); False where it cannot be
    (no C compiler or Python headers, no CUDA build of torch, no driver): the Python path stays."""
    from .. import launch_plans
    from . import launcher
    from .launcher import (
        _current_device,
        _current_raw_stream,
        _init_driver,
        _stream_capturing,
        raise_launch_error,
    )

    module = load()
    if module is None or _current_device is None:
        return False
    try:
        _init_driver()
        address = launch_kernel_address()
    except Exception as error:
        log.info("fp8gemm: C warm path unavailable, warm calls use Python: %s", error)
        return False
    module.configure(
        launch_plans._plans, _current_device, _current_raw_stream, _stream_capturing, raise_launch_error, address
    )
    launch_plans.warm_launch = module.warm_launch
    launcher.raw_launch = module.launch
    return True


def start(wait: bool = False) -> None:
    """`install` once per process (unless FP8GEMM_NATIVE_WARM_CALL=0): now if the module is cached or
    `wait`, else on a background thread."""
    global _started
    with _lock:
        if _started or not envs.native_warm_call():
            return
        _started = True
    if wait or _module_path().is_file():
        install()
    else:
        threading.Thread(target=install, name="fp8gemm-warm-call-build", daemon=True).start()


def active() -> bool:
    """Whether warm calls take the C path now."""
    from .. import launch_plans

    return launch_plans.warm_launch is not launch_plans.python_warm_launch
