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
# LaunchPlan.native: function, kernelParams address, device index, grid, threads, smem bytes (warm_call.c's
# NativePlan).
NATIVE_PLAN = struct.Struct("<QQqIII")
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
    target.parent.mkdir(parents=True, exist_ok=True)
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
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shim_addresses() -> tuple[int, ...]:
    """torch's C shim functions the packed key reads tensors with, in warm_call.c's order."""
    import torch

    library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / TORCH_SHIM_LIBRARY))
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
    except (OSError, AttributeError, TypeError, ValueError) as error:
        # Keys are then built from the same attribute reads as the Python path, still in C.
        log.info("fp8gemm: torch's C shim not found; C warm path keys read tensor attributes: %s", error)
    return module


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
    from .launcher import _current_device, _current_raw_stream, _init_driver, raise_launch_error

    module = load()
    if module is None or _current_device is None:
        return False
    try:
        _init_driver()
        address = launch_kernel_address()
    except Exception as error:
        log.info("fp8gemm: C warm path unavailable, warm calls use Python: %s", error)
        return False
    module.configure(launch_plans._plans, _current_device, _current_raw_stream, raise_launch_error, address)
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
