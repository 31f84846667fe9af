"""The ``?shm=1`` region pool against a client double (the real server's side is tested in
tests/serving): regions are reused, grown, and a server that cannot map them is one line."""
import glob
import os

import numpy as np
import pytest

pytest.importorskip("tritonclient.utils.shared_memory")

from ssd_edge.errors import SsdEdgeError  # noqa: E402
from ssd_edge.runtime.backends.triton_shm import ShmPool, packed_size  # noqa: E402


class RecordingClient:
    """Test double for tritonclient's InferenceServerClient: records (un)registrations."""

    def __init__(self, refuse=None):
        self.registered, self.refuse = {}, refuse

    def register_system_shared_memory(self, name, key, byte_size):
        if self.refuse:
            from tritonclient.utils import InferenceServerException
            raise InferenceServerException(self.refuse + "\nsecond line")
        self.registered[name] = (key, byte_size)

    def unregister_system_shared_memory(self, name):
        del self.registered[name]


def mine():
    return glob.glob("/dev/shm/ssd_edge_client_%d_*" % os.getpid())


def test_regions_are_pooled_grown_written_and_removed():
    client = RecordingClient()
    pool = ShmPool(lambda: client, "127.0.0.1:8001")
    a = pool.acquire(10)
    b = pool.acquire(10)                    # a is in use: a second region
    assert a is not b and len(client.registered) == 2
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([7], np.uint8)]
    spans = pool.write(a, arrays)
    assert spans == [(0, 24), (64, 1)] and packed_size(arrays) == 128
    from tritonclient.utils import shared_memory as shm
    np.testing.assert_array_equal(shm.get_contents_as_numpy(a.handle, np.float32, [2, 3]),
                                  arrays[0])
    pool.release(a)
    assert pool.acquire(10) is a            # reused, not re-registered
    pool.release(a)
    pool.release(b)
    big = pool.acquire(8 << 20)             # none fits: one free region is replaced
    assert big.size >= 8 << 20 and len(client.registered) == 2
    pool.release(big)
    pool.close()
    assert client.registered == {} and mine() == []


def test_a_server_that_cannot_map_the_region_is_one_line():
    pool = ShmPool(lambda: RecordingClient(refuse="Unable to open shared memory region"),
                   "gpu-box:8001")
    with pytest.raises(SsdEdgeError) as e:
        pool.acquire(10)
    assert str(e.value).count("\n") == 0
    assert "gpu-box:8001" in str(e.value) and "same machine" in str(e.value)
    assert "Unable to open shared memory region" in str(e.value)
    assert mine() == []
