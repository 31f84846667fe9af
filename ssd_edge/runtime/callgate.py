"""How a shared Detector admits calls into its backend, and closes it under running calls.

One Detector may serve several threads. A backend that cannot be entered twice (a TensorRT
execution context with its shared bindings and pinned buffers, OpenCV's Net, torch's CUDA
graphs) runs one call at a time; one that documents concurrent calls (ONNX Runtime, OpenVINO)
runs them together. Either way :meth:`CallGate.close` returns only once no call is running and
lets none start after it, so the backend's device memory is never freed under a running call
and a thread that comes late gets one clear error.
"""
import contextlib
import threading

from ..errors import SsdEdgeError

CLOSED = "expected an open Detector, got one that was closed; load it again"


class CallGate:
    """``with gate.call(): ...`` around each backend call; ``gate.close()`` before releasing it.

    Args:
        exclusive: True to run one call at a time; False to let calls overlap.
    """

    def __init__(self, exclusive):
        self.exclusive = bool(exclusive)
        self._cond = threading.Condition(threading.RLock())
        self._running = 0
        self._closed = False

    @contextlib.contextmanager
    def call(self):
        """Hold a place for one backend call; raises :class:`SsdEdgeError` once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or not (self.exclusive and self._running))
            if self._closed:
                raise SsdEdgeError(CLOSED)
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def close(self):
        """Let no further call in and wait for the running ones to end (idempotent)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._running)

    @property
    def closed(self):
        return self._closed
