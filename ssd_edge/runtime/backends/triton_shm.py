"""System shared memory for a ``triton://`` client on the server's own host (``?shm=1``).

Over gRPC or HTTP every request carries its tensors in the message: a 1x3x300x300 float32 input
is 1 MB to encode, send, parse and copy on both sides. A client on the same machine as the
server (a Jetson running Triton for its own cameras, a box serving local processes) can instead
write the tensors into a POSIX shared memory region it registered with the server, and send only
the region's name and offsets (tritonclient's ``tritonclient.utils.shared_memory``).

Regions are pooled: a call takes a free region big enough for all its requests' inputs (growing
one if none is), writes them at aligned offsets, and gives it back when its answers are in, so
any number of threads — short-lived ones too — use as many regions as there are calls in flight.
:meth:`ShmPool.close` unregisters and removes them all.
"""
import itertools
import os
import threading

import numpy as np

from ...errors import SsdEdgeError

_ALIGN = 64
_ids = itertools.count()


class _Region:
    def __init__(self, size):
        from tritonclient.utils import shared_memory as shm
        n = next(_ids)
        self.name = "ssd_edge_client_%d_%d" % (os.getpid(), n)
        self.key = "/" + self.name
        self.size = int(size)
        self.handle = shm.create_shared_memory_region(self.name, self.key, self.size,
                                                      create_only=True)

    def destroy(self):
        from tritonclient.utils import shared_memory as shm
        shm.destroy_shared_memory_region(self.handle)


class ShmPool:
    """Shared memory regions registered with one server.

    Args:
        client: a callable returning a tritonclient client usable from the calling thread
            (``register_system_shared_memory`` / ``unregister_system_shared_memory``).
        address: the server's ``HOST:PORT``, for error messages.
    """

    def __init__(self, client, address):
        self._client = client
        self._address = address
        self._free = []
        self._all = []
        self._lock = threading.Lock()

    def acquire(self, nbytes):
        """A registered region of at least ``nbytes`` bytes, for this caller only."""
        with self._lock:
            fits = [r for r in self._free if r.size >= nbytes]
            region = min(fits, key=lambda r: r.size) if fits else None
            if region is None and self._free:
                region = self._free.pop()            # too small: replaced below
                self._all.remove(region)
                self._unregister(region)
            elif region is not None:
                self._free.remove(region)
                return region
        region = _Region(_rounded(nbytes))
        try:
            self._client().register_system_shared_memory(region.name, region.key, region.size)
        except Exception as e:
            region.destroy()
            raise SsdEdgeError(
                "expected the Triton server %s to map this host's shared memory (?shm=1 needs "
                "the server on the same machine, sharing /dev/shm), got: %s"
                % (self._address, _line(e)))
        with self._lock:
            self._all.append(region)
        return region

    def release(self, region):
        with self._lock:
            if region in self._all:
                self._free.append(region)

    def write(self, region, arrays):
        """Copy ``arrays`` into ``region`` at aligned offsets; return ``[(offset, nbytes)]``."""
        from tritonclient.utils import shared_memory as shm
        out, offset = [], 0
        for arr in arrays:
            arr = np.ascontiguousarray(arr)
            shm.set_shared_memory_region(region.handle, [arr], offset=offset)
            out.append((offset, arr.nbytes))
            offset += _aligned(arr.nbytes)
        return out

    def close(self):
        """Unregister and remove every region (the pool is empty after)."""
        with self._lock:
            regions, self._all, self._free = self._all, [], []
        for r in regions:
            self._unregister(r)

    def _unregister(self, region):
        try:
            self._client().unregister_system_shared_memory(region.name)
        except Exception:      # a server that went away has already dropped it
            pass
        region.destroy()


def packed_size(arrays):
    """Bytes :meth:`ShmPool.write` needs for ``arrays`` (each at an aligned offset)."""
    return sum(_aligned(np.asarray(a).nbytes) for a in arrays)


def _rounded(n):
    """Region size for ``n`` bytes: a power of two, at least 1 MiB (fewer regrowths)."""
    size = 1 << 20
    while size < n:
        size *= 2
    return size


def _aligned(n):
    return (int(n) + _ALIGN - 1) // _ALIGN * _ALIGN


def _line(e):
    text = str(getattr(e, "message", lambda: None)() or e).strip()
    return (text.splitlines() or [repr(e)])[0]
