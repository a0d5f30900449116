/* The warm path of every GEMM call in C: build the launch-plan key, look the plan up, launch it.
 *
 * The same three steps in Python (fp8gemm.launch_plans.python_warm_launch) cost a CPython bytecode round
 * trip per tensor attribute (21 of them) and cuda.bindings' argument conversion around cuLaunchKernel:
 * 3-5 us above torch's own launch on the H100 hosts (docs/performance.md, lever 29). Here each attribute
 * is one C-level method call and the driver is called through its raw function pointer.
 *
 * The key is the very tuple the Python path builds, so both paths share one plan dict. Built per Python
 * version by fp8gemm.jit.native with the host C compiler; only Python.h is needed (the driver entry point
 * comes from cuGetProcAddress through cuda.bindings).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* cuLaunchKernel as cuda.h declares it, with CUresult an int and the handles opaque pointers. */
typedef int (*LaunchKernelFn)(void *function, unsigned grid_x, unsigned grid_y, unsigned grid_z,
                              unsigned block_x, unsigned block_y, unsigned block_z, unsigned smem_bytes,
                              void *stream, void **kernel_params, void **extra);

/* LaunchPlan.native in fp8gemm/jit/launcher.py packs these fields ("<QQqIII"). */
typedef struct {
    uint64_t function;
    uint64_t kernel_params;
    int64_t device_index;
    uint32_t grid;
    uint32_t threads;
    uint32_t smem_bytes;
} NativePlan;
#define NATIVE_PLAN_BYTES 36

/* Tensor attributes per key entry, in the order fp8gemm.launch_plans.plan_key lists them. */
#define FIELDS_PER_TENSOR 4
/* A, its scales, B, its scales and D, then D's device. */
#define BASE_KEY_LENGTH (5 * FIELDS_PER_TENSOR + 1)

static PyObject *plans;              /* fp8gemm.launch_plans._plans, never rebound */
static PyObject *current_device;     /* torch._C._cuda_getDevice */
static PyObject *current_raw_stream; /* torch._C._cuda_getCurrentRawStream */
static PyObject *raise_launch_error; /* (CUresult as int) -> raises RuntimeError */
static LaunchKernelFn launch_kernel;

static PyObject *name_data_ptr, *name_shape, *name_stride, *name_dtype, *name_get_device, *name_launch,
    *name_native;

static PyObject *call_method(PyObject *self, PyObject *name, PyObject *arg) {
    PyObject *args[2] = {self, arg};
    return PyObject_VectorcallMethod(name, args, arg ? 2 : 1, NULL);
}

/* Borrowed references to the two items of a tuple or list of two; 0 when `pair` is not one. */
static int unpack_pair(PyObject *pair, PyObject **first, PyObject **second) {
    if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
        *first = PyTuple_GET_ITEM(pair, 0);
        *second = PyTuple_GET_ITEM(pair, 1);
        return 1;
    }
    if (PyList_Check(pair) && PyList_GET_SIZE(pair) == 2) {
        *first = PyList_GET_ITEM(pair, 0);
        *second = PyList_GET_ITEM(pair, 1);
        return 1;
    }
    return 0;
}

/* key[at:at+4] = (tensor.data_ptr(), tensor.shape, tensor.stride(), tensor.dtype); -1 with an exception. */
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
    return 0;
}

/* The launch-plan key, or NULL: with an exception set when one other than "not a tensor" occurred. */
static PyObject *plan_key(PyObject *a, PyObject *b, PyObject *d, PyObject *extra, PyObject *scalars) {
    PyObject *a_data, *a_scales, *b_data, *b_scales;
    if (!unpack_pair(a, &a_data, &a_scales) || !unpack_pair(b, &b_data, &b_scales)) return NULL;
    Py_ssize_t num_scalars = PyTuple_GET_SIZE(scalars);
    Py_ssize_t length = BASE_KEY_LENGTH + (extra != Py_None ? FIELDS_PER_TENSOR : 0) + num_scalars;
    PyObject *key = PyTuple_New(length);
    if (key == NULL) return NULL;
    PyObject *tensors[] = {a_data, a_scales, b_data, b_scales, d};
    for (int i = 0; i < 5; ++i)
        if (put_tensor(key, i * FIELDS_PER_TENSOR, tensors[i])) goto fail;
    PyObject *device = call_method(d, name_get_device, NULL);
    if (device == NULL) goto fail;
    PyTuple_SET_ITEM(key, BASE_KEY_LENGTH - 1, device);
    if (extra != Py_None && put_tensor(key, BASE_KEY_LENGTH, extra)) goto fail;
    for (Py_ssize_t i = 0; i < num_scalars; ++i) {
        PyObject *scalar = PyTuple_GET_ITEM(scalars, i);
        Py_INCREF(scalar);
        PyTuple_SET_ITEM(key, length - num_scalars + i, scalar);
    }
    return key;
fail:
    Py_DECREF(key);
    /* The Python key treats these as "not a tensor": the validation path then names the argument. */
    if (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_ValueError) ||
        PyErr_ExceptionMatches(PyExc_AttributeError) || PyErr_ExceptionMatches(PyExc_RuntimeError))
        PyErr_Clear();
    return NULL;
}

/* 0 when launched; -1 with an exception set. */
static int launch_plan(PyObject *plan) {
    PyObject *native = PyObject_GetAttr(plan, name_native);
    if (native == NULL) return -1;
    if (native == Py_None || !PyBytes_Check(native) || PyBytes_GET_SIZE(native) != NATIVE_PLAN_BYTES) {
        /* Split-K plans allocate their workspace per call: their own launch does it. */
        Py_DECREF(native);
        PyObject *done = PyObject_CallMethodNoArgs(plan, name_launch);
        Py_XDECREF(done);
        return done == NULL ? -1 : 0;
    }
    NativePlan p;
    memcpy(&p, PyBytes_AS_STRING(native), NATIVE_PLAN_BYTES);
    Py_DECREF(native);

    PyObject *device = PyObject_CallNoArgs(current_device);
    if (device == NULL) return -1;
    long device_index = PyLong_AsLong(device);
    if (device_index != p.device_index) {
        /* Another device is current: the Python launch switches to the plan's device around the call. */
        Py_DECREF(device);
        if (PyErr_Occurred()) return -1;
        PyObject *done = PyObject_CallMethodNoArgs(plan, name_launch);
        Py_XDECREF(done);
        return done == NULL ? -1 : 0;
    }
    PyObject *stream = PyObject_CallOneArg(current_raw_stream, device);
    Py_DECREF(device);
    if (stream == NULL) return -1;
    void *stream_handle = PyLong_AsVoidPtr(stream);
    Py_DECREF(stream);
    if (stream_handle == NULL && PyErr_Occurred()) return -1;

    int err = launch_kernel((void *)(uintptr_t)p.function, p.grid, 1, 1, p.threads, 1, 1, p.smem_bytes,
                            stream_handle, (void **)(uintptr_t)p.kernel_params, NULL);
    if (err != 0) {
        PyObject *raised = PyObject_CallFunction(raise_launch_error, "i", err);
        Py_XDECREF(raised);
        if (!PyErr_Occurred()) PyErr_Format(PyExc_RuntimeError, "cuLaunchKernel failed: CUresult %d", err);
        return -1;
    }
    return 0;
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
    PyObject *plan = PyDict_GetItemWithError(plans, key);
    if (plan == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(key);
            return NULL;
        }
        return key;
    }
    Py_DECREF(key);
    /* The launch calls back into Python (stream lookup), where another thread may drop the plan. */
    Py_INCREF(plan);
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

static int set_callable(PyObject **slot, PyObject *value) {
    if (value != Py_None && !PyCallable_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "configure: expected a callable or None");
        return -1;
    }
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
    return 0;
}

/* configure(plans: dict, current_device, current_raw_stream, raise_launch_error, launch_kernel_address). */
static PyObject *configure(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5 || !PyDict_CheckExact(args[0]) || !PyLong_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "configure(plans: dict, current_device, current_raw_stream, raise_launch_error, "
                        "launch_kernel_address: int)");
        return NULL;
    }
    unsigned long long address = PyLong_AsUnsignedLongLong(args[4]);
    if (address == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (set_callable(&current_device, args[1]) || set_callable(&current_raw_stream, args[2]) ||
        set_callable(&raise_launch_error, args[3]))
        return NULL;
    Py_INCREF(args[0]);
    Py_XSETREF(plans, args[0]);
    launch_kernel = (LaunchKernelFn)(uintptr_t)address;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"warm_launch", (PyCFunction)(void (*)(void))warm_launch, METH_FASTCALL,
     "warm_launch(a, b, d, extra, scalars) -> True | key | None"},
    {"key", (PyCFunction)(void (*)(void))key, METH_FASTCALL, "key(a, b, d, extra, scalars) -> key | None"},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL,
     "configure(plans, current_device, current_raw_stream, raise_launch_error, launch_kernel_address)"},
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
        !(name_native = PyUnicode_InternFromString("native")))
        return NULL;
    return PyModule_Create(&module);
}
