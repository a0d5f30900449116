/* The warm path of every GEMM call in C: build the launch-plan key, look the plan up, launch it.
 *
 * The same three steps in Python (fp8gemm.launch_plans.python_warm_launch) read five attributes of each
 * tensor, each a torch binding call that makes a Python object, then convert cuLaunchKernel's arguments in
 * cuda.bindings:
 * 3-5 us above torch's own launch on the H100 hosts (docs/performance.md, lever 29). Here a plain tensor's
 * metadata comes from torch's C shim into one packed bytes key, and the driver is called through its raw
 * function pointer.
 *
 * Built per Python version by fp8gemm.jit.native with the host C compiler; only Python.h is needed (the
 * driver entry point comes from cuGetProcAddress through cuda.bindings, the shim's from libtorch_cpu).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cuLaunchKernel as cuda.h declares it, with CUresult an int and the handles opaque pointers. */
typedef int (*LaunchKernelFn)(void *function, unsigned grid_x, unsigned grid_y, unsigned grid_z,
                              unsigned block_x, unsigned block_y, unsigned block_z, unsigned smem_bytes,
                              void *stream, void **kernel_params, void **extra);

/* LaunchPlan.native in fp8gemm/jit/launcher.py packs these fields ("<QQqIIIIQ"). A plan bound to a stream
 * (a split-K plan's own workspace and counters, freed with the plan on the stream they were made on) launches
 * here only on that stream and outside graph capture; elsewhere its Python launch handles the buffers. */
typedef struct {
    uint64_t function;
    uint64_t kernel_params;
    int64_t device_index;
    uint32_t grid;
    uint32_t threads;
    uint32_t smem_bytes;
    uint32_t stream_bound;
    uint64_t stream;
} NativePlan;
#define NATIVE_PLAN_BYTES 48
_Static_assert(offsetof(NativePlan, stream) == 40 && sizeof(NativePlan) == NATIVE_PLAN_BYTES,
               "NativePlan's fields must lie as Python's \"<QQqIIIIQ\" packs them");

/* torch's C shim (torch/csrc/inductor/aoti_torch/c/shim.h, exported by libtorch_cpu): a tensor's metadata
 * without a Python object per field. Each function takes an at::Tensor*; an at::Tensor is one intrusive
 * pointer to the TensorImpl whose address Tensor._cdata gives, so a pointer to that address is one. */
typedef int32_t (*ShimPtrFn)(void *tensor, void **ret);
typedef int32_t (*ShimI64Fn)(void *tensor, int64_t *ret);
typedef int32_t (*ShimI64ArrayFn)(void *tensor, int64_t **ret);
typedef int32_t (*ShimI32Fn)(void *tensor, int32_t *ret);
static struct {
    ShimPtrFn data_ptr;
    ShimI64Fn dim;
    ShimI64ArrayFn sizes;
    ShimI64ArrayFn strides;
    ShimI32Fn dtype;
    ShimI32Fn device_type;
    ShimI32Fn device_index;
} shim;
#define SHIM_FUNCTIONS 7
static PyObject *tensor_type;    /* torch.Tensor */
static PyObject *parameter_type; /* torch.nn.Parameter */

/* Packed key: per tensor its data pointer, dim, dtype and negative bit, device, sizes and strides (the dim
 * first, so the bytes cannot be read two ways). A, its scales, B, its scales, D and the extra tensor; no
 * operand here has more than MAX_KEY_DIMS dims (validation rejects one that has, on the path a missing key
 * takes). */
#define MAX_KEY_DIMS 4
#define MAX_KEY_TENSORS 6
#define SLOTS_PER_TENSOR (4 + 2 * MAX_KEY_DIMS)

/* Tensor attributes per entry of the tuple key, in the order fp8gemm.launch_plans.plan_key lists them. */
#define FIELDS_PER_TENSOR 5
/* A, its scales, B, its scales and D, then D's device. */
#define BASE_KEY_TENSORS 5
#define BASE_KEY_LENGTH (BASE_KEY_TENSORS * FIELDS_PER_TENSOR + 1)

static PyObject *plans;              /* fp8gemm.launch_plans._plans, never rebound */
static PyObject *current_device;     /* torch._C._cuda_getDevice */
static PyObject *current_raw_stream; /* torch._C._cuda_getCurrentRawStream */
static PyObject *stream_capturing;   /* torch._C._cuda_isCurrentStreamCapturing */
static PyObject *raise_launch_error; /* (CUresult as int) -> raises RuntimeError */
static LaunchKernelFn launch_kernel;

static PyObject *name_data_ptr, *name_shape, *name_stride, *name_dtype, *name_get_device, *name_launch,
    *name_native, *name_cdata, *name_is_neg;

static PyObject *call_method(PyObject *self, PyObject *name, PyObject *arg) {
    PyObject *args[2] = {self, arg};
    return PyObject_VectorcallMethod(name, args, arg ? 2 : 1, NULL);
}

/* New references to the two items of a tuple or list of two; 0 when `pair` is not one. Owned, not
 * borrowed: reading a tensor can run Python code (a subclass's getters, a TorchFunctionMode) that empties
 * a list. */
static int unpack_pair(PyObject *pair, PyObject **first, PyObject **second) {
    if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
        *first = PyTuple_GET_ITEM(pair, 0);
        *second = PyTuple_GET_ITEM(pair, 1);
    } else if (PyList_Check(pair) && PyList_GET_SIZE(pair) == 2) {
        *first = PyList_GET_ITEM(pair, 0);
        *second = PyList_GET_ITEM(pair, 1);
    } else {
        return 0;
    }
    Py_INCREF(*first);
    Py_INCREF(*second);
    return 1;
}

/* Whether `tensor` is a negative view (-1 with an exception set): validation rejects those, since the kernels
 * read the bytes, and a negative view has the same pointer, sizes, strides and dtype as its base. torch's
 * shim has no getter for the bit. */
static int is_neg(PyObject *tensor) {
    PyObject *flag = call_method(tensor, name_is_neg, NULL);
    if (flag == NULL) return -1;
    int result = PyObject_IsTrue(flag);
    Py_DECREF(flag);
    return result;
}

/* key[at:at+5] = (data_ptr(), shape, stride(), dtype, is_neg()); -1 with an exception. */
static int put_tensor(PyObject *key, Py_ssize_t at, PyObject *tensor) {
    PyObject *value = call_method(tensor, name_data_ptr, NULL);
    if (value == NULL) return -1;
    PyTuple_SET_ITEM(key, at, value);
    if ((value = PyObject_GetAttr(tensor, name_shape)) == NULL) return -1;
    PyTuple_SET_ITEM(key, at + 1, value);
    if ((value = call_method(tensor, name_stride, NULL)) == NULL) return -1;
    PyTuple_SET_ITEM(key, at + 2, value);
    if ((value = PyObject_GetAttr(tensor, name_dtype)) == NULL) return -1;
    PyTuple_SET_ITEM(key, at + 3, value);
    if ((value = call_method(tensor, name_is_neg, NULL)) == NULL) return -1;
    PyTuple_SET_ITEM(key, at + 4, value);
    return 0;
}

/* The tuple key of fp8gemm.launch_plans.plan_key, built the same way (tensor subclasses take this path). */
static PyObject *tuple_key(PyObject *const *tensors, Py_ssize_t num_tensors, PyObject *scalars) {
    Py_ssize_t num_scalars = PyTuple_GET_SIZE(scalars);
    Py_ssize_t length = BASE_KEY_LENGTH + (num_tensors - BASE_KEY_TENSORS) * FIELDS_PER_TENSOR + num_scalars;
    PyObject *key = PyTuple_New(length);
    if (key == NULL) return NULL;
    for (Py_ssize_t i = 0; i < BASE_KEY_TENSORS; ++i)
        if (put_tensor(key, i * FIELDS_PER_TENSOR, tensors[i])) goto fail;
    PyObject *device = call_method(tensors[BASE_KEY_TENSORS - 1], name_get_device, NULL);
    if (device == NULL) goto fail;
    PyTuple_SET_ITEM(key, BASE_KEY_LENGTH - 1, device);
    if (num_tensors > BASE_KEY_TENSORS && put_tensor(key, BASE_KEY_LENGTH, tensors[BASE_KEY_TENSORS]))
        goto fail;
    for (Py_ssize_t i = 0; i < num_scalars; ++i) {
        PyObject *scalar = PyTuple_GET_ITEM(scalars, i);
        Py_INCREF(scalar);
        PyTuple_SET_ITEM(key, length - num_scalars + i, scalar);
    }
    return key;
fail:
    Py_DECREF(key);
    return NULL;
}

/* Appends one tensor's slots through the shim; 1 where it has no key (too many dims, a shim error),
 * -1 with an exception set. */
static int pack_tensor(int64_t *slots, Py_ssize_t *used, PyObject *tensor) {
    PyObject *cdata = PyObject_GetAttr(tensor, name_cdata);
    if (cdata == NULL) return -1;
    void *impl = PyLong_AsVoidPtr(cdata);
    Py_DECREF(cdata);
    if (impl == NULL) return PyErr_Occurred() ? -1 : 1;
    void *handle = &impl;
    int64_t dim, *sizes, *strides;
    void *data;
    int32_t dtype, device_type, device_index;
    if (shim.dim(handle, &dim) || dim < 0 || dim > MAX_KEY_DIMS || shim.data_ptr(handle, &data) ||
        shim.sizes(handle, &sizes) || shim.strides(handle, &strides) || shim.dtype(handle, &dtype) ||
        shim.device_type(handle, &device_type) || shim.device_index(handle, &device_index))
        return 1;
    int negative = is_neg(tensor);
    if (negative < 0) return -1;
    int64_t *out = slots + *used;
    out[0] = (int64_t)(uintptr_t)data;
    out[1] = dim;
    out[2] = ((int64_t)negative << 32) | (uint32_t)dtype;
    out[3] = ((int64_t)device_type << 32) | (uint32_t)device_index;
    memcpy(out + 4, sizes, (size_t)dim * sizeof(int64_t));
    memcpy(out + 4 + dim, strides, (size_t)dim * sizeof(int64_t));
    *used += 4 + 2 * dim;
    return 0;
}

/* The packed key (bytes, or (bytes, *scalars)); NULL with an exception set, or NULL without one where
 * the tensors have none. */
static PyObject *packed_key(PyObject *const *tensors, Py_ssize_t num_tensors, PyObject *scalars) {
    int64_t slots[MAX_KEY_TENSORS * SLOTS_PER_TENSOR];
    Py_ssize_t used = 0;
    for (Py_ssize_t i = 0; i < num_tensors; ++i) {
        int status = pack_tensor(slots, &used, tensors[i]);
        if (status) return NULL;
    }
    PyObject *blob = PyBytes_FromStringAndSize((const char *)slots, used * (Py_ssize_t)sizeof(int64_t));
    Py_ssize_t num_scalars = PyTuple_GET_SIZE(scalars);
    if (blob == NULL || num_scalars == 0) return blob;
    PyObject *key = PyTuple_New(1 + num_scalars);
    if (key == NULL) {
        Py_DECREF(blob);
        return NULL;
    }
    PyTuple_SET_ITEM(key, 0, blob);
    for (Py_ssize_t i = 0; i < num_scalars; ++i) {
        PyObject *scalar = PyTuple_GET_ITEM(scalars, i);
        Py_INCREF(scalar);
        PyTuple_SET_ITEM(key, 1 + i, scalar);
    }
    return key;
}

static int is_plain_tensor(PyObject *object) {
    PyObject *type = (PyObject *)Py_TYPE(object);
    return type == tensor_type || type == parameter_type;
}

/* The launch-plan key: packed where every tensor is a plain torch.Tensor or Parameter (and torch's shim was
 * found), else the tuple key. NULL with an exception set when one other than "not a tensor" occurred,
 * NULL without one where the arguments have no key. */
static PyObject *plan_key(PyObject *a, PyObject *b, PyObject *d, PyObject *extra, PyObject *scalars) {
    PyObject *tensors[MAX_KEY_TENSORS];
    if (!unpack_pair(a, &tensors[0], &tensors[1])) return NULL;
    if (!unpack_pair(b, &tensors[2], &tensors[3])) {
        Py_DECREF(tensors[0]);
        Py_DECREF(tensors[1]);
        return NULL;
    }
    tensors[BASE_KEY_TENSORS - 1] = d;
    Py_ssize_t num_tensors = BASE_KEY_TENSORS;
    if (extra != Py_None) tensors[num_tensors++] = extra;
    int plain = shim.data_ptr != NULL;
    for (Py_ssize_t i = 0; plain && i < num_tensors; ++i) plain = is_plain_tensor(tensors[i]);
    PyObject *key =
        plain ? packed_key(tensors, num_tensors, scalars) : tuple_key(tensors, num_tensors, scalars);
    for (int i = 0; i < 4; ++i) Py_DECREF(tensors[i]); /* the two pairs' items, owned by unpack_pair */
    /* The Python key treats these as "not a tensor": the validation path then names the argument. */
    if (key == NULL && PyErr_Occurred() &&
        (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_ValueError) ||
         PyErr_ExceptionMatches(PyExc_AttributeError) || PyErr_ExceptionMatches(PyExc_RuntimeError)))
        PyErr_Clear();
    return key;
}

/* 0 when launched, 1 when another device is current (the caller's Python launch switches to the plan's
 * device around the call) or a bound plan's stream is not current or is capturing, -1 with an exception set. */
static int launch_on_current_stream(const NativePlan *p, void **kernel_params) {
    if (launch_kernel == NULL || current_device == NULL || current_raw_stream == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "fp8gemm's C warm path has no driver entry point configured");
        return -1;
    }
    PyObject *device = PyObject_CallNoArgs(current_device);
    if (device == NULL) return -1;
    long device_index = PyLong_AsLong(device);
    if (device_index == -1 && PyErr_Occurred()) {
        Py_DECREF(device);
        return -1;
    }
    if (device_index != p->device_index) {
        Py_DECREF(device);
        return 1;
    }
    PyObject *stream = PyObject_CallOneArg(current_raw_stream, device);
    Py_DECREF(device);
    if (stream == NULL) return -1;
    void *stream_handle = PyLong_AsVoidPtr(stream);
    Py_DECREF(stream);
    if (stream_handle == NULL && PyErr_Occurred()) return -1;
    if (p->stream_bound) {
        if ((uint64_t)(uintptr_t)stream_handle != p->stream || stream_capturing == NULL) return 1;
        PyObject *capturing = PyObject_CallNoArgs(stream_capturing);
        if (capturing == NULL) return -1;
        int is_capturing = PyObject_IsTrue(capturing);
        Py_DECREF(capturing);
        if (is_capturing) return is_capturing < 0 ? -1 : 1;
    }

    int err;
    /* As cuda.bindings does: a launch can block on a full queue, and other threads may need the GIL. */
    Py_BEGIN_ALLOW_THREADS
    err = launch_kernel((void *)(uintptr_t)p->function, p->grid, 1, 1, p->threads, 1, 1, p->smem_bytes,
                        stream_handle, kernel_params, NULL);
    Py_END_ALLOW_THREADS
    if (err != 0) {
        PyObject *raised = PyObject_CallFunction(raise_launch_error, "i", err);
        Py_XDECREF(raised);
        if (!PyErr_Occurred()) PyErr_Format(PyExc_RuntimeError, "cuLaunchKernel failed: CUresult %d", err);
        return -1;
    }
    return 0;
}

/* 0 when launched; -1 with an exception set. */
static int launch_plan(PyObject *plan) {
    PyObject *native = PyObject_GetAttr(plan, name_native);
    if (native == NULL) return -1;
    int status = 1;
    /* A split-K plan over the workspace budget has none: it allocates a workspace per call, in its launch. */
    if (native != Py_None && PyBytes_Check(native) && PyBytes_GET_SIZE(native) == NATIVE_PLAN_BYTES) {
        NativePlan p;
        memcpy(&p, PyBytes_AS_STRING(native), NATIVE_PLAN_BYTES);
        status = launch_on_current_stream(&p, (void **)(uintptr_t)p.kernel_params);
    }
    Py_DECREF(native);
    if (status != 1) return status;
    PyObject *done = PyObject_CallMethodNoArgs(plan, name_launch);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* launch(function, device_index, grid, threads, smem_bytes, params: bytes) -> bool: one launch of a kernel
 * whose single parameter is `params`, on the current stream; False (nothing launched) when the current
 * device is another, for the caller's Python launch to switch. */
static PyObject *launch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6 || !PyBytes_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError,
                        "launch(function, device_index, grid, threads, smem_bytes, params: bytes)");
        return NULL;
    }
    NativePlan p = {0};
    p.function = PyLong_AsUnsignedLongLong(args[0]);
    p.device_index = PyLong_AsLongLong(args[1]);
    uint32_t *dims[] = {&p.grid, &p.threads, &p.smem_bytes};
    for (int i = 0; i < 3; ++i) {
        unsigned long long value = PyLong_AsUnsignedLongLong(args[2 + i]);
        if (value > UINT32_MAX && !PyErr_Occurred())
            PyErr_SetString(PyExc_OverflowError, "launch: grid, threads and smem_bytes are 32-bit");
        *dims[i] = (uint32_t)value;
    }
    if (PyErr_Occurred()) return NULL;
    void *kernel_params[1] = {PyBytes_AS_STRING(args[5])};
    int status = launch_on_current_stream(&p, kernel_params);
    if (status < 0) return NULL;
    return PyBool_FromLong(status == 0);
}

/* warm_launch(a, b, d, extra, scalars) -> True (launched), the key (no plan stored under it yet) or None
 * (the arguments are not tensors as the key needs them). */
static PyObject *warm_launch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5 || !PyTuple_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "warm_launch(a, b, d, extra, scalars: tuple)");
        return NULL;
    }
    if (plans == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "warm_launch before configure()");
        return NULL;
    }
    PyObject *key = plan_key(args[0], args[1], args[2], args[3], args[4]);
    if (key == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    /* Held across the lookup: a scalar's __eq__ is Python code, which may reconfigure this module. */
    PyObject *store = plans;
    Py_INCREF(store);
    PyObject *plan = PyDict_GetItemWithError(store, key);
    /* Owned before anything else runs: dropping the key or the launch's stream lookup run Python code,
     * which may drop the plan from the dict. */
    Py_XINCREF(plan);
    Py_DECREF(store);
    if (plan == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(key);
            return NULL;
        }
        return key;
    }
    Py_DECREF(key);
    int failed = launch_plan(plan);
    Py_DECREF(plan);
    if (failed) return NULL;
    Py_RETURN_TRUE;
}

/* key(a, b, d, extra, scalars) -> the launch-plan key or None; for tests against the Python key. */
static PyObject *key(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5 || !PyTuple_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "key(a, b, d, extra, scalars: tuple)");
        return NULL;
    }
    PyObject *result = plan_key(args[0], args[1], args[2], args[3], args[4]);
    if (result == NULL && !PyErr_Occurred()) Py_RETURN_NONE;
    return result;
}

static void set_object(PyObject **slot, PyObject *value) {
    Py_XINCREF(value);
    Py_XSETREF(*slot, value);
}

/* configure(plans: dict, current_device, current_raw_stream, stream_capturing, raise_launch_error,
 * launch_kernel_address). */
static PyObject *configure(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6 || !PyDict_CheckExact(args[0]) || !PyLong_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError,
                        "configure(plans: dict, current_device, current_raw_stream, stream_capturing, "
                        "raise_launch_error, launch_kernel_address: int)");
        return NULL;
    }
    unsigned long long address = PyLong_AsUnsignedLongLong(args[5]);
    if (address == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    /* The torch callables may be None (a CPU build of torch, tests): no launch then. */
    for (int i = 1; i <= 3; ++i) {
        if (args[i] != Py_None && !PyCallable_Check(args[i])) {
            PyErr_SetString(PyExc_TypeError,
                            "configure: current_device, current_raw_stream and stream_capturing must be "
                            "callables or None");
            return NULL;
        }
    }
    if (!PyCallable_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "configure: raise_launch_error must be callable");
        return NULL;
    }
    set_object(&plans, args[0]);
    set_object(&current_device, args[1] == Py_None ? NULL : args[1]);
    set_object(&current_raw_stream, args[2] == Py_None ? NULL : args[2]);
    set_object(&stream_capturing, args[3] == Py_None ? NULL : args[3]);
    set_object(&raise_launch_error, args[4]);
    launch_kernel = address ? (LaunchKernelFn)(uintptr_t)address : NULL;
    Py_RETURN_NONE;
}

/* read_tensors_with(tensor_type, parameter_type, shim_addresses: tuple of 7 ints): the packed key's
 * ingredients, in the order of the shim struct above; read_tensors_with(None, None, ()) goes back to tuple
 * keys. */
static PyObject *read_tensors_with(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs == 3 && args[0] == Py_None && args[1] == Py_None && PyTuple_Check(args[2]) &&
        PyTuple_GET_SIZE(args[2]) == 0) {
        memset(&shim, 0, sizeof shim);
        Py_CLEAR(tensor_type);
        Py_CLEAR(parameter_type);
        Py_RETURN_NONE;
    }
    if (nargs != 3 || !PyType_Check(args[0]) || !PyType_Check(args[1]) || !PyTuple_Check(args[2]) ||
        PyTuple_GET_SIZE(args[2]) != SHIM_FUNCTIONS) {
        PyErr_SetString(PyExc_TypeError,
                        "read_tensors_with(tensor_type, parameter_type, shim_addresses: tuple of 7)");
        return NULL;
    }
    void *addresses[SHIM_FUNCTIONS];
    for (int i = 0; i < SHIM_FUNCTIONS; ++i) {
        unsigned long long address = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(args[2], i));
        if (address == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
        if (address == 0) {
            PyErr_SetString(PyExc_ValueError, "read_tensors_with: a shim address is 0");
            return NULL;
        }
        addresses[i] = (void *)(uintptr_t)address;
    }
    Py_INCREF(args[0]);
    Py_XSETREF(tensor_type, args[0]);
    Py_INCREF(args[1]);
    Py_XSETREF(parameter_type, args[1]);
    shim.data_ptr = (ShimPtrFn)(uintptr_t)addresses[0];
    shim.dim = (ShimI64Fn)(uintptr_t)addresses[1];
    shim.sizes = (ShimI64ArrayFn)(uintptr_t)addresses[2];
    shim.strides = (ShimI64ArrayFn)(uintptr_t)addresses[3];
    shim.dtype = (ShimI32Fn)(uintptr_t)addresses[4];
    shim.device_type = (ShimI32Fn)(uintptr_t)addresses[5];
    shim.device_index = (ShimI32Fn)(uintptr_t)addresses[6];
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"warm_launch", (PyCFunction)(void (*)(void))warm_launch, METH_FASTCALL,
     "warm_launch(a, b, d, extra, scalars) -> True | key | None"},
    {"key", (PyCFunction)(void (*)(void))key, METH_FASTCALL, "key(a, b, d, extra, scalars) -> key | None"},
    {"launch", (PyCFunction)(void (*)(void))launch, METH_FASTCALL,
     "launch(function, device_index, grid, threads, smem_bytes, params) -> bool"},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL,
     "configure(plans, current_device, current_raw_stream, stream_capturing, raise_launch_error, "
     "launch_kernel_address)"},
    {"read_tensors_with", (PyCFunction)(void (*)(void))read_tensors_with, METH_FASTCALL,
     "read_tensors_with(tensor_type, parameter_type, shim_addresses)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fp8gemm_warm_call", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fp8gemm_warm_call(void) {
    if (!(name_data_ptr = PyUnicode_InternFromString("data_ptr")) ||
        !(name_shape = PyUnicode_InternFromString("shape")) ||
        !(name_stride = PyUnicode_InternFromString("stride")) ||
        !(name_dtype = PyUnicode_InternFromString("dtype")) ||
        !(name_get_device = PyUnicode_InternFromString("get_device")) ||
        !(name_launch = PyUnicode_InternFromString("launch")) ||
        !(name_native = PyUnicode_InternFromString("native")) ||
        !(name_cdata = PyUnicode_InternFromString("_cdata")) ||
        !(name_is_neg = PyUnicode_InternFromString("is_neg")))
        return NULL;
    return PyModule_Create(&module);
}
