"""CUDA driver plumbing: load cubins, encode TMA descriptors, launch on torch's current stream.

Kernels are loaded as context-independent libraries (cuLibraryLoadData), so one handle serves every GPU and
each launch runs in the context of the stream it is given.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass, field
from functools import cache, lru_cache

import torch

# Imported with the package, not on the first GEMM: the bindings take tens of ms to import, against a 10 ms
# budget for a warm-cache first call in a new process.
from cuda.bindings import driver

from .native import NATIVE_PLAN

# Bound once: the warm launch path would look them up on every call. Only CUDA builds of torch have them; a
# CPU build never reaches a launch (validation wants CUDA tensors).
_current_device = getattr(torch._C, "_cuda_getDevice", None)
_current_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)
_stream_capturing = getattr(torch._C, "_cuda_isCurrentStreamCapturing", None)
_cu_launch_kernel = driver.cuLaunchKernel
# warm_call.c's launch(function, device_index, grid, threads, smem_bytes, params) -> bool, once
# fp8gemm.jit.native.install() has made the C path ready.
raw_launch = None

# Size of GemmParams in kernels/gemm_params.cuh and the offsets of its fields (pinned there by static_asserts).
PARAMS_BYTES = 640
TMA_DESCRIPTOR_BYTES = 128


def check(result: tuple, what: str):
    """Unwraps a cuda.bindings (error, *values) tuple, raising RuntimeError on failure."""
    err, *values = result
    if err != driver.CUresult.CUDA_SUCCESS:
        _, name = driver.cuGetErrorName(err)
        _, text = driver.cuGetErrorString(err)
        raise RuntimeError(
            f"{what} failed: {name.decode() if name else err}: {text.decode() if text else ''}"
        )
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


@cache
def _init_driver() -> None:
    check(driver.cuInit(0), "cuInit")


@dataclass
class LoadedKernel:
    """A cubin loaded once per process; dynamic shared memory raised once per device."""

    cubin: bytes
    entry_point: str
    smem_bytes: int
    num_threads: int
    cluster_size: int = 1
    _library: object = None
    _kernel: object = None
    _devices_ready: set = field(default_factory=set)
    _max_ctas: dict = field(default_factory=dict)
    _functions: dict = field(default_factory=dict)

    def handle(self, device_index: int):
        if self._kernel is None:
            _init_driver()
            self._library = check(
                driver.cuLibraryLoadData(self.cubin, [], [], 0, [], [], 0), "cuLibraryLoadData"
            )
            self._kernel = check(
                driver.cuLibraryGetKernel(self._library, self.entry_point.encode()), "cuLibraryGetKernel"
            )
        if device_index not in self._devices_ready:
            device = check(driver.cuDeviceGet(device_index), "cuDeviceGet")
            attr = driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            check(
                driver.cuKernelSetAttribute(attr, self.smem_bytes, self._kernel, device),
                "cuKernelSetAttribute",
            )
            self._devices_ready.add(device_index)
        return self._kernel

    def function(self, device_index: int) -> driver.CUfunction:
        """The launchable handle on `device_index` (made once per device)."""
        function = self._functions.get(device_index)
        if function is None:
            function = self._functions[device_index] = driver.CUfunction(int(self.handle(device_index)))
        return function

    def launch(self, device_index: int, grid: int, params: bytes) -> None:
        """One launch with `params` (the kernel's one parameter) on torch's current stream on `device_index`:
        through the C path's raw driver call where fp8gemm.jit.native installed it."""
        function = self.function(device_index)
        if raw_launch is not None and raw_launch(
            int(function), device_index, grid, self.num_threads, self.smem_bytes, params
        ):
            return
        buffer = ctypes.create_string_buffer(params, len(params))
        args = (ctypes.c_void_p * 1)(ctypes.addressof(buffer))
        launch_kernel(
            function, device_index, grid, self.num_threads, self.smem_bytes, ctypes.addressof(args), None
        )

    def max_resident_ctas(self, device_index: int) -> int:
        """CTAs that can run at once at one CTA per SM: the SM count, or for clusters the co-resident
        clusters times their size (GPCs whose SM count is not a multiple of the cluster size leave SMs
        over, so this can be less than the SM count)."""
        cached = self._max_ctas.get(device_index)
        if cached is not None:
            return cached
        _init_driver()
        device = check(driver.cuDeviceGet(device_index), "cuDeviceGet")
        sm_count = check(
            driver.cuDeviceGetAttribute(
                driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device
            ),
            "cuDeviceGetAttribute",
        )
        ctas = sm_count
        if self.cluster_size > 1:
            kernel = self.handle(device_index)
            with torch.cuda.device(device_index):
                function = check(driver.cuKernelGetFunction(kernel), "cuKernelGetFunction")
                config = driver.CUlaunchConfig()
                config.gridDimX, config.gridDimY, config.gridDimZ = self.cluster_size, 1, 1
                config.blockDimX, config.blockDimY, config.blockDimZ = self.num_threads, 1, 1
                config.sharedMemBytes = self.smem_bytes
                clusters = check(
                    driver.cuOccupancyMaxActiveClusters(function, config), "cuOccupancyMaxActiveClusters"
                )
            ctas = min(sm_count, clusters * self.cluster_size)
        self._max_ctas[device_index] = ctas
        return ctas


class LaunchPlan:
    """One kernel launch with everything but the stream prebuilt: function handle, grid and parameter bytes.

    A warm GEMM call replays its plan, so the per-call host work is the stream lookup and one driver call.
    """

    __slots__ = ("device_index", "function", "grid", "threads", "smem_bytes", "params", "_args", "args", "native")

    def __init__(self, kernel: LoadedKernel, device_index: int, grid: int, params: ctypes.Array) -> None:
        self.device_index = device_index
        self.function = kernel.function(device_index)
        self.grid = grid
        self.threads = kernel.num_threads
        self.smem_bytes = kernel.smem_bytes
        # Built once, reused by every launch: kernelParams -> [&params] (the driver copies the bytes at launch).
        self.params = params
        self._args = (ctypes.c_void_p * 1)(ctypes.addressof(params))
        self.args = ctypes.addressof(self._args)
        # The same launch as the C warm path reads it (fp8gemm.jit.native), on any stream.
        self.native = self.native_on_stream(None)

    def native_on_stream(self, stream: int | None) -> bytes:
        """This launch for the C warm path; with a `stream` handle, only on that stream and outside graph
        capture (other launches take the owner's Python `launch`)."""
        return NATIVE_PLAN.pack(
            int(self.function), self.args, self.device_index, self.grid, self.threads, self.smem_bytes,
            stream is not None, stream or 0,
        )

    def launch(self, stream: int | None = None) -> None:
        """Enqueues the kernel on `stream` (default: torch's current stream on the plan's device)."""
        launch_kernel(self.function, self.device_index, self.grid, self.threads, self.smem_bytes, self.args, stream)


def launch_kernel(
    function: driver.CUfunction,
    device_index: int,
    grid: int,
    threads: int,
    smem_bytes: int,
    args: int,
    stream: int | None,
) -> None:
    """cuLaunchKernel with `args` the address of the kernelParams array, on `stream` (default: torch's
    current stream on `device_index`). Through cuda.bindings: on the H100 hosts its wrapper measured faster
    than a ctypes call of libcuda's cuLaunchKernel, with or without the GIL released (docs/performance.md)."""
    if _current_device() != device_index:
        # The kernel handle resolves in the current context, which must be the tensors' device's.
        with torch.cuda.device(device_index):
            return launch_kernel(function, device_index, grid, threads, smem_bytes, args, stream)
    if stream is None:
        stream = _current_raw_stream(device_index)
    (err,) = _cu_launch_kernel(function, grid, 1, 1, threads, 1, 1, smem_bytes, stream, args, 0)
    if err:
        check((err,), "cuLaunchKernel")


def raise_launch_error(err: int) -> None:
    """Raises the RuntimeError that a failed cuLaunchKernel gets on the Python path (for warm_call.c)."""
    check((driver.CUresult(err),), "cuLaunchKernel")


_TORCH_TO_TMA = {
    torch.float8_e4m3fn: ("CU_TENSOR_MAP_DATA_TYPE_UINT8", 1),
    torch.float32: ("CU_TENSOR_MAP_DATA_TYPE_FLOAT32", 4),
    torch.bfloat16: ("CU_TENSOR_MAP_DATA_TYPE_BFLOAT16", 2),
}


# Keyed by address too: serving loops reuse a handful of buffers, so a warm call encodes nothing.
@lru_cache(maxsize=4096)
def _encode_tma_2d(
    dtype: torch.dtype,
    address: int,
    inner: int,
    outer: int,
    outer_stride_bytes: int,
    box_inner: int,
    box_outer: int,
    swizzle_128b: bool,
) -> bytes:
    """128 bytes of a 2-D tiled TMA descriptor; out-of-bounds box elements read as zero."""
    _init_driver()
    type_name, _ = _TORCH_TO_TMA[dtype]
    swizzle = (
        driver.CUtensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_128B
        if swizzle_128b
        else driver.CUtensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_NONE
    )
    tensor_map = check(
        driver.cuTensorMapEncodeTiled(
            getattr(driver.CUtensorMapDataType, type_name),
            2,
            address,
            [driver.cuuint64_t(inner), driver.cuuint64_t(outer)],
            [driver.cuuint64_t(outer_stride_bytes)],
            [driver.cuuint32_t(box_inner), driver.cuuint32_t(box_outer)],
            [driver.cuuint32_t(1), driver.cuuint32_t(1)],
            driver.CUtensorMapInterleave.CU_TENSOR_MAP_INTERLEAVE_NONE,
            swizzle,
            driver.CUtensorMapL2promotion.CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            driver.CUtensorMapFloatOOBfill.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        ),
        "cuTensorMapEncodeTiled",
    )
    return ctypes.string_at(tensor_map.getPtr(), TMA_DESCRIPTOR_BYTES)


def tma_2d(
    tensor: torch.Tensor,
    rows: int,
    cols: int,
    row_stride: int,
    box_cols: int,
    box_rows: int,
    swizzle_128b: bool,
) -> bytes:
    """Descriptor for `tensor` viewed as a row-major [rows, cols] matrix (row_stride in elements)."""
    _, elem = _TORCH_TO_TMA[tensor.dtype]
    return _encode_tma_2d(
        tensor.dtype, tensor.data_ptr(), cols, rows, row_stride * elem, box_cols, box_rows, swizzle_128b
    )


def clear_descriptor_cache() -> None:
    _encode_tma_2d.cache_clear()


# GemmParams tail after the four descriptors: sfb, d, c, group_info, workspace, tile_counters pointers, then
# nine u32.
_PARAMS_TAIL = struct.Struct("<QQQQQQIIIIIIIII")
_PARAMS_TAIL_OFFSET = 4 * TMA_DESCRIPTOR_BYTES
GEMM_WORKSPACE_OFFSET = _PARAMS_TAIL_OFFSET + 4 * 8
GEMM_TILE_COUNTERS_OFFSET = _PARAMS_TAIL_OFFSET + 5 * 8


def pack_gemm_params(
    tma_a: bytes,
    tma_b: bytes,
    tma_sfa: bytes,
    tma_d: bytes | None,
    sfb: int,
    d: int,
    c: int,
    group_info: int,
    workspace: int,
    tile_counters: int,
    shape_m: int,
    shape_n: int,
    shape_k: int,
    num_groups: int,
    ldd: int,
    ldc: int,
    num_splits: int,
    b_evict_first: bool,
) -> ctypes.Array:
    """The bytes of one `fp8gemm::GemmParams`; `tma_d` None: the kernel stores D without TMA."""
    params = ctypes.create_string_buffer(PARAMS_BYTES)
    params[0:TMA_DESCRIPTOR_BYTES] = tma_a
    params[TMA_DESCRIPTOR_BYTES : 2 * TMA_DESCRIPTOR_BYTES] = tma_b
    params[2 * TMA_DESCRIPTOR_BYTES : 3 * TMA_DESCRIPTOR_BYTES] = tma_sfa
    if tma_d is not None:
        params[3 * TMA_DESCRIPTOR_BYTES : 4 * TMA_DESCRIPTOR_BYTES] = tma_d
    _PARAMS_TAIL.pack_into(
        params, _PARAMS_TAIL_OFFSET, sfb, d, c, group_info, workspace, tile_counters, shape_m, shape_n, shape_k,
        num_groups, ldd, ldc, num_splits, tma_d is not None, b_evict_first,
    )
    return params


def set_pointer(params: ctypes.Array, offset: int, address: int) -> None:
    """Rewrites one pointer field of a packed parameter buffer (the driver copies it at each launch)."""
    ctypes.c_uint64.from_buffer(params, offset).value = address
