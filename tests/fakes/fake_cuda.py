"""TEST DOUBLE: a fake CUDA device with cuda-python and pycuda faces (no GPU exists here).

``FakeGpu`` holds "device memory" as numpy byte arrays addressed by integer pointers that are
*not* host addresses (so host code that dereferences a device pointer is caught), and streams
whose work (copies, engine executions) is queued and only runs at synchronize — a backend that
forgets to synchronize reads stale outputs, as on a real GPU. Pinned host memory is real host
memory (a numpy allocation kept alive here) so ``ctypes`` wrapping of ``cudaMallocHost``
pointers works as it does with the real library.

``fake_cudart_module(gpu)`` mirrors the cuda-python runtime API calls ssd_edge uses (each returns
``(err, *values)``), ``fake_pycuda_driver(gpu)`` the pycuda ones. ``install_fake_cuda`` puts them
into ``sys.modules`` through pytest's monkeypatch.
"""
import bisect
import ctypes
import enum
import types

import numpy as np


class FakeGpu:
    """One fake CUDA device; ``log`` records every memory/stream operation in order."""

    def __init__(self, name="NVIDIA Orin (fake)", compute_capability=(8, 7),
                 total_memory=8 << 30):
        self.name = name
        self.compute_capability = tuple(compute_capability)
        self.total_memory = int(total_memory)
        self.device = {}          # base pointer -> np.uint8 array
        self._bases = []          # sorted base pointers
        self.host = {}            # host address -> pinned np.uint8 array (kept alive)
        self.streams = {}         # handle -> list of pending callables
        self._next_ptr = 0x7F00_0000_0000
        self._next_stream = 0x5000
        self.log = []

    # -- device memory
    def malloc(self, nbytes):
        ptr = self._next_ptr
        self._next_ptr += (int(nbytes) + 511) // 256 * 256
        self.device[ptr] = np.zeros(int(nbytes), np.uint8)
        bisect.insort(self._bases, ptr)
        self.log.append(("malloc", nbytes))
        return ptr

    def free(self, ptr):
        del self.device[ptr]
        self._bases.remove(ptr)
        self.log.append(("free", ptr))

    def view(self, ptr, nbytes):
        """The ``nbytes`` of device memory at ``ptr`` (which may point inside an allocation)."""
        i = bisect.bisect_right(self._bases, ptr) - 1
        if i < 0:
            raise ValueError("fake CUDA: %#x is not a device pointer" % ptr)
        base = self._bases[i]
        off = ptr - base
        buf = self.device[base]
        if off + nbytes > buf.size:
            raise ValueError("fake CUDA: access of %d bytes at %#x runs past the allocation"
                             % (nbytes, ptr))
        return buf[off:off + nbytes]

    def read(self, ptr, dtype, shape):
        dtype = np.dtype(dtype)
        n = int(np.prod(shape)) * dtype.itemsize
        return self.view(ptr, n).view(dtype).reshape(shape).copy()

    def write(self, ptr, array):
        array = np.ascontiguousarray(array)
        self.view(ptr, array.nbytes)[:] = array.reshape(-1).view(np.uint8)

    # -- pinned host memory
    def malloc_host(self, nbytes):
        arr = np.zeros(int(nbytes), np.uint8)
        addr = arr.ctypes.data
        self.host[addr] = arr
        self.log.append(("malloc_host", nbytes))
        return addr

    def free_host(self, addr):
        del self.host[addr]

    # -- streams
    def stream_create(self):
        self._next_stream += 1
        self.streams[self._next_stream] = []
        return self._next_stream

    def enqueue(self, handle, what, fn):
        if handle not in self.streams:
            raise ValueError("fake CUDA: unknown stream handle %r" % (handle,))
        self.log.append(("enqueue", what))
        self.streams[handle].append(fn)

    def synchronize(self, handle):
        pending, self.streams[handle] = self.streams[handle], []
        for fn in pending:
            fn()
        self.log.append(("synchronize", len(pending)))

    def memcpy_async(self, dst, src, nbytes, to_device, handle):
        def run():
            if to_device:
                self.view(dst, nbytes)[:] = np.frombuffer(ctypes.string_at(src, nbytes), np.uint8)
            else:
                ctypes.memmove(dst, self.view(src, nbytes).ctypes.data, nbytes)
        self.enqueue(handle, "htod" if to_device else "dtoh", run)


# ------------------------------------------------------------------ cuda-python face
class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorNoDevice = 100


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


class FakeStream:
    """Like cuda-python's ``cudaStream_t``: an object whose int() is the handle."""

    def __init__(self, handle):
        self._handle = handle

    def __int__(self):
        return self._handle


def _handle(stream):
    return int(stream)


def fake_cudart_module(gpu, name="cuda.bindings.runtime"):
    ok = cudaError_t.cudaSuccess
    m = types.ModuleType(name)
    m.cudaError_t, m.cudaMemcpyKind = cudaError_t, cudaMemcpyKind
    m.cudaGetErrorName = lambda err: (ok, cudaError_t(err).name.encode())
    m.cudaGetDevice = lambda: (ok, 0)
    m.cudaGetDeviceProperties = lambda dev: (ok, types.SimpleNamespace(
        name=gpu.name.encode() + b"\x00" * 8, major=gpu.compute_capability[0],
        minor=gpu.compute_capability[1], totalGlobalMem=gpu.total_memory))
    m.cudaMalloc = lambda n: (ok, gpu.malloc(n))
    m.cudaFree = lambda p: (gpu.free(p), ok)[1:]
    m.cudaMallocHost = lambda n: (ok, gpu.malloc_host(n))
    m.cudaFreeHost = lambda p: (gpu.free_host(p), ok)[1:]
    m.cudaStreamCreate = lambda: (ok, FakeStream(gpu.stream_create()))
    m.cudaStreamDestroy = lambda s: (gpu.streams.pop(_handle(s)), ok)[1:]
    m.cudaStreamSynchronize = lambda s: (gpu.synchronize(_handle(s)), ok)[1:]

    def cudaMemcpyAsync(dst, src, count, kind, stream):
        if kind not in (cudaMemcpyKind.cudaMemcpyHostToDevice,
                        cudaMemcpyKind.cudaMemcpyDeviceToHost):
            return (cudaError_t.cudaErrorInvalidValue,)
        gpu.memcpy_async(int(dst), int(src), int(count),
                         kind == cudaMemcpyKind.cudaMemcpyHostToDevice, _handle(stream))
        return (ok,)
    m.cudaMemcpyAsync = cudaMemcpyAsync
    return m


# ------------------------------------------------------------------ pycuda face
def fake_pycuda_driver(gpu):
    drv = types.ModuleType("pycuda.driver")

    class DeviceAllocation:
        def __init__(self, n):
            self.ptr = gpu.malloc(n)

        def __int__(self):
            return self.ptr

        def free(self):
            gpu.free(self.ptr)

    class Stream:
        def __init__(self):
            self.handle = gpu.stream_create()

        def synchronize(self):
            gpu.synchronize(self.handle)

    class Device:
        def name(self):
            return gpu.name

        def compute_capability(self):
            return gpu.compute_capability

        def total_memory(self):
            return gpu.total_memory

    drv.DeviceAllocation, drv.Stream = DeviceAllocation, Stream
    drv.Context = types.SimpleNamespace(get_device=Device)
    drv.mem_alloc = DeviceAllocation
    drv.pagelocked_empty = lambda shape, dtype: np.zeros(shape, dtype)
    drv.memcpy_htod_async = lambda dst, src, stream: gpu.memcpy_async(
        int(dst), src.ctypes.data, src.nbytes, True, stream.handle)
    drv.memcpy_dtoh_async = lambda dst, src, stream: gpu.memcpy_async(
        dst.ctypes.data, int(src), dst.nbytes, False, stream.handle)
    return drv


def install_fake_cuda(monkeypatch, gpu, flavour="bindings"):
    """Make ``gpu`` the CUDA device ssd_edge sees.

    flavour: ``"bindings"`` (cuda.bindings.runtime + utils.get_cuda_native_handle),
    ``"cudart"`` (the old ``from cuda import cudart`` layout) or ``"pycuda"``.
    """
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.bindings.utils",
                 "cuda.cudart", "pycuda", "pycuda.driver", "pycuda.autoprimaryctx",
                 "pycuda.autoinit"):
        monkeypatch.setitem(__import__("sys").modules, name, None)   # None = ImportError
    mods = {}
    if flavour == "bindings":
        rt = fake_cudart_module(gpu, "cuda.bindings.runtime")
        utils = types.ModuleType("cuda.bindings.utils")
        utils.get_cuda_native_handle = _handle
        pkg = types.ModuleType("cuda.bindings")
        pkg.runtime, pkg.utils = rt, utils
        top = types.ModuleType("cuda")
        top.bindings = pkg
        mods = {"cuda": top, "cuda.bindings": pkg, "cuda.bindings.runtime": rt,
                "cuda.bindings.utils": utils}
    elif flavour == "cudart":
        rt = fake_cudart_module(gpu, "cuda.cudart")
        top = types.ModuleType("cuda")
        top.cudart = rt
        mods = {"cuda": top, "cuda.cudart": rt}
    elif flavour == "pycuda":
        drv = fake_pycuda_driver(gpu)
        top = types.ModuleType("pycuda")
        top.driver = drv
        mods = {"pycuda": top, "pycuda.driver": drv,
                "pycuda.autoprimaryctx": types.ModuleType("pycuda.autoprimaryctx")}
    else:
        raise ValueError(flavour)
    for name, mod in mods.items():
        monkeypatch.setitem(__import__("sys").modules, name, mod)
    return gpu
