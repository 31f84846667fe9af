"""Builder hooks subclassing TensorRT classes: the legacy INT8 calibrator, the progress monitor.

Both base classes exist only in some releases (calibrators: 8.x–10.x, removed in 11; the
progress monitor: 10.0+), so the subclasses are made at build time from what
:mod:`ssd_edge.accel.trt_compat` finds.

The calibrator is TensorRT's *implicit* INT8 path, kept for TensorRT ≤ 10 users (and DLA on
JetPack 5/6, for which NVIDIA names IInt8EntropyCalibrator2 the required calibrator). The main
INT8 path is the QDQ ONNX, which every release from 8.5 to 11 builds without a calibrator.
"""
import logging
import os

import numpy as np

from ..errors import SsdEdgeError
from ..accel import trt_compat

LOG = logging.getLogger("ssd_edge.tensorrt")


def load_calibration_data(data, input_shape):
    """Calibration inputs as ``(N, C, H, W) float32``, already pre-processed by the spec.

    Args:
        data: an array or the path of a ``.npy`` file holding one.
        input_shape: the network input ``(B, C, H, W)`` (B ignored) the data must fit.
    """
    if isinstance(data, (str, os.PathLike)):
        try:
            data = np.load(os.fspath(data), allow_pickle=False)
        except (OSError, ValueError) as e:
            raise SsdEdgeError("expected calibration inputs as a .npy array in %s, got an "
                               "unreadable file (%s)" % (data, e))
    arr = np.ascontiguousarray(data, dtype=np.float32)
    if arr.ndim != 4 or tuple(arr.shape[1:]) != tuple(input_shape[1:]):
        raise SsdEdgeError("expected calibration inputs of shape (N, %s), got %s"
                           % (", ".join(str(d) for d in input_shape[1:]), arr.shape))
    return arr


def make_calibrator(trt, method, data, batch_size, cache_path, cuda):
    """An ``IInt8EntropyCalibrator2`` / ``IInt8MinMaxCalibrator`` feeding ``data`` in batches.

    Raises :class:`SsdEdgeError` where this TensorRT has no calibrators (11+).
    """
    base = trt_compat.calibrator_base(trt, method)
    if base is None:
        raise SsdEdgeError(
            "expected a TensorRT with INT8 calibrators (8.x to 10.x) for calibrator=%s, got "
            "TensorRT %s, which removed them; build the QDQ INT8 ONNX instead "
            "(ssd-export MODEL.pth --int8 --calib DIR, then ssd-export MODEL.int8.onnx --int8 "
            "--engine)" % (method, trt_compat.tensorrt_version(trt)))
    if data is not None and len(data) < batch_size:
        raise SsdEdgeError("expected at least %d calibration inputs (one batch), got %d"
                           % (batch_size, len(data)))

    class _Calibrator(base):
        def __init__(self):
            base.__init__(self)   # pybind trampoline: the base __init__ must run
            self._data, self._next = data, 0
            self._stream = None
            self._host = self._dev = None

        def get_batch_size(self):
            return batch_size

        def get_batch(self, names, *unused):
            if self._data is None or self._next + batch_size > len(self._data):
                return None
            batch = self._data[self._next:self._next + batch_size]
            self._next += batch_size
            if self._dev is None:
                self._stream = cuda.create_stream()
                self._host = cuda.alloc_host(batch.shape, np.float32)
                self._dev = cuda.alloc_device(batch.nbytes)
            self._host.array[...] = batch
            cuda.htod_async(self._dev, self._host.array, self._stream)
            cuda.synchronize(self._stream)
            LOG.info("calibration batch %d/%d", self._next // batch_size,
                     len(self._data) // batch_size)
            return [self._dev]

        def read_calibration_cache(self):
            if cache_path and os.path.exists(cache_path):
                with open(cache_path, "rb") as f:
                    LOG.info("using the calibration cache %s", cache_path)
                    return f.read()
            return None

        def write_calibration_cache(self, cache):
            if cache_path:
                from ..fileio import atomic_write_bytes
                atomic_write_bytes(cache_path, bytes(cache))

        def free(self):
            if self._dev is not None:
                cuda.free_device(self._dev)
                cuda.free_host(self._host)
                cuda.destroy_stream(self._stream)
                self._dev = None

    return _Calibrator()


def make_progress_monitor(trt):
    """A ``trt.IProgressMonitor`` logging build phases, or None where TensorRT has none (< 10)."""
    base = trt_compat.progress_monitor_base(trt)
    if base is None:
        return None

    class _Monitor(base):
        def __init__(self):
            base.__init__(self)
            self._steps = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            self._steps[phase_name] = max(int(num_steps), 1)
            LOG.info("TensorRT build: %s (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name, step):
            total = self._steps.get(phase_name, 1)
            if total >= 10 and (step + 1) % max(total // 10, 1) == 0:
                LOG.info("TensorRT build: %s %d%%", phase_name, 100 * (step + 1) // total)
            return True   # False would cancel the build

        def phase_finish(self, phase_name):
            LOG.debug("TensorRT build: %s done", phase_name)

    return _Monitor()
