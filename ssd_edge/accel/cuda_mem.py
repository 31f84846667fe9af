"""Device memory for the TensorRT backend: cuda-python first, pycuda as the fallback.

TensorRT only ever sees Python ints (device pointers, the stream handle), so one small interface
serves both libraries. Import order, by what exists (see docs/tensorrt.md):

1. ``cuda.bindings.runtime`` — cuda-python ≥ 12.x layout, the only one in cuda-bindings 13;
2. ``cuda.cudart`` — cuda-python 11.x / 12.x (JetPack 5 and 6 builds of it);
3. ``pycuda.driver`` — the only practical choice on older boards (pip builds it against the
   local CUDA).

Host buffers are page-locked (pinned) so ``cudaMemcpyAsync`` really is asynchronous.
"""
import ctypes
from collections import namedtuple

import numpy as np

from ..errors import SsdEdgeError

GpuInfo = namedtuple("GpuInfo", "name compute_capability total_memory")
GpuInfo.__doc__ = ("The current CUDA device: ``name`` (str), ``compute_capability`` (str, "
                   "e.g. ``'8.7'``), ``total_memory`` (int, bytes; shared RAM on a Jetson).")

HostBuffer = namedtuple("HostBuffer", "array ptr")
HostBuffer.__doc__ = "A pinned host array and the pointer it was allocated at (None for pycuda)."

CUDA_MISSING = ("expected cuda-python or pycuda for TensorRT device memory, got neither; install "
                "one with: pip install \"ssd-edge[trt]\" (cuda-python) or "
                "pip install \"ssd-edge[trt-pycuda]\" (pycuda)")


def _text(value):
    """cuda-python returns C strings as bytes (NUL-padded for device names)."""
    return str(value, "utf-8", "replace") if isinstance(value, bytes) else str(value)


class CudaPythonMemory:
    """Device memory through cuda-python's runtime API (every call returns ``(err, *values)``)."""

    name = "cuda-python"

    def __init__(self, cudart, native_handle=None):
        self._rt = cudart
        self._native_handle = native_handle   # cuda.bindings.utils.get_cuda_native_handle
        self._h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost

    def _call(self, what, ret):
        err = ret[0]
        if err != self._rt.cudaError_t.cudaSuccess:
            name = _text(self._rt.cudaGetErrorName(err)[1])
            raise SsdEdgeError("expected %s to succeed, got CUDA error %s (is a CUDA GPU visible "
                               "to this process? check nvidia-smi / tegrastats)" % (what, name))
        return ret[1] if len(ret) == 2 else ret[1:]

    def device_info(self):
        dev = self._call("cudaGetDevice", self._rt.cudaGetDevice())
        prop = self._call("cudaGetDeviceProperties", self._rt.cudaGetDeviceProperties(dev))
        name = _text(prop.name)
        return GpuInfo(name.split("\x00")[0].strip(), "%d.%d" % (prop.major, prop.minor),
                       int(prop.totalGlobalMem))

    def alloc_device(self, nbytes):
        return int(self._call("cudaMalloc", self._rt.cudaMalloc(max(int(nbytes), 1))))

    def free_device(self, ptr):
        self._call("cudaFree", self._rt.cudaFree(ptr))

    def alloc_host(self, shape, dtype):
        dtype = np.dtype(dtype)
        nbytes = max(int(np.prod(shape)) * dtype.itemsize, 1)
        ptr = int(self._call("cudaMallocHost", self._rt.cudaMallocHost(nbytes)))
        # Wrap as uint8 then view: np.ctypeslib has no float16 mapping (TRT's samples do the same).
        raw = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr))
        used = raw[:int(np.prod(shape)) * dtype.itemsize]
        return HostBuffer(used.view(dtype).reshape(shape), ptr)

    def free_host(self, buf):
        self._call("cudaFreeHost", self._rt.cudaFreeHost(buf.ptr))

    def create_stream(self):
        return self._call("cudaStreamCreate", self._rt.cudaStreamCreate())

    def stream_handle(self, stream):
        # int(stream) is deprecated in cuda-bindings 13; its replacement may be absent earlier.
        return int(self._native_handle(stream)) if self._native_handle else int(stream)

    def destroy_stream(self, stream):
        self._call("cudaStreamDestroy", self._rt.cudaStreamDestroy(stream))

    def htod_async(self, dst_ptr, host, stream):
        self._call("cudaMemcpyAsync", self._rt.cudaMemcpyAsync(
            dst_ptr, host.ctypes.data, host.nbytes, self._h2d, stream))

    def dtoh_async(self, host, src_ptr, stream):
        self._call("cudaMemcpyAsync", self._rt.cudaMemcpyAsync(
            host.ctypes.data, src_ptr, host.nbytes, self._d2h, stream))

    def synchronize(self, stream):
        self._call("cudaStreamSynchronize", self._rt.cudaStreamSynchronize(stream))


class PycudaMemory:
    """Device memory through pycuda (primary context, as TensorRT 8.5's samples recommend)."""

    name = "pycuda"

    def __init__(self, driver):
        self._cuda = driver
        self._allocs = {}   # pointer -> DeviceAllocation (kept alive until freed)

    def device_info(self):
        dev = self._cuda.Context.get_device()
        major, minor = dev.compute_capability()
        return GpuInfo(str(dev.name()), "%d.%d" % (major, minor), int(dev.total_memory()))

    def alloc_device(self, nbytes):
        alloc = self._cuda.mem_alloc(max(int(nbytes), 1))
        self._allocs[int(alloc)] = alloc
        return int(alloc)

    def free_device(self, ptr):
        self._allocs.pop(ptr).free()

    def alloc_host(self, shape, dtype):
        return HostBuffer(self._cuda.pagelocked_empty(tuple(shape), np.dtype(dtype)), None)

    def free_host(self, buf):
        base = getattr(buf.array, "base", None)
        if hasattr(base, "free"):
            base.free()

    def create_stream(self):
        return self._cuda.Stream()

    def stream_handle(self, stream):
        return int(stream.handle)

    def destroy_stream(self, stream):
        pass   # pycuda frees the stream with the object

    def htod_async(self, dst_ptr, host, stream):
        self._cuda.memcpy_htod_async(dst_ptr, host, stream)

    def dtoh_async(self, host, src_ptr, stream):
        self._cuda.memcpy_dtoh_async(host, src_ptr, stream)

    def synchronize(self, stream):
        stream.synchronize()


def load_device_memory():
    """Return a :class:`CudaPythonMemory` or :class:`PycudaMemory`, whichever imports first."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            cudart = None
    if cudart is not None:
        try:
            from cuda.bindings.utils import get_cuda_native_handle
        except ImportError:
            get_cuda_native_handle = None
        return CudaPythonMemory(cudart, get_cuda_native_handle)
    try:
        import pycuda.driver as driver
    except ImportError:
        raise SsdEdgeError(CUDA_MISSING)
    try:
        import pycuda.autoprimaryctx  # noqa: F401  (pycuda >= 2021.1)
    except ImportError:
        import pycuda.autoinit  # noqa: F401
    return PycudaMemory(driver)
