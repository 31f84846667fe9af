"""One Detector shared by 8 threads over a backend that owns the frame path (torch on CUDA):
each call gets its own frames' detections and the backend runs one call at a time.

STAND-IN: no GPU here. torch's CUDA frame path (``FramePath``: preprocessing, the network —
replayed from CUDA graphs whose outputs are static buffers, valid until the next call — and NMS
on the device) runs here on CPU tensors, behind a backend that declares it owns the frame path
as ``TorchBackend`` does on CUDA. This checks the Detector's serialisation of such a backend;
the same check on a real CUDA device, with CUDA graphs, is still to be run.
"""
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ssd_edge.runtime import Detector  # noqa: E402
from ssd_edge.runtime.artifact import open_artifact  # noqa: E402
from ssd_edge.runtime.backends.torch_backend import TorchBackend  # noqa: E402
from ssd_edge.runtime.torch_gpu import FramePath  # noqa: E402

from tinymodels import make_frames  # noqa: E402


class RecordingPathBackend:
    """Owns the frame path like torch on CUDA; records calls that overlap."""

    inputs, outputs, precision = ["input_0"], ["scores", "boxes"], "fp32"
    owns_frame_path = True
    thread_safe = getattr(TorchBackend, "thread_safe", False)   # whatever torch declares

    def __init__(self, path):
        self.path = path
        self.running = self.max_running = self.calls = 0
        self._count = threading.Lock()

    @property
    def last_timings(self):
        return self.path.last_timings

    def detect_batch(self, frames, options):
        with self._count:
            self.running += 1
            self.calls += 1
            self.max_running = max(self.max_running, self.running)
        try:
            return self.path.detect(frames, options)
        finally:
            with self._count:
                self.running -= 1

    def close(self):
        pass


def test_shared_detector_over_the_torch_frame_path_is_correct_and_serialised(tiny):
    """CPU stand-in for the CUDA frame path (see the module docstring)."""
    art = open_artifact(tiny["onnx"])
    backend = RecordingPathBackend(FramePath(tiny["module"].eval(), art.spec,
                                             torch.device("cpu")))
    det = Detector(art, backend, "torch", conf_threshold=0.3)
    frames = make_frames(6, seed=5)
    expected = [det(f) for f in frames]
    assert sum(len(d) for d in expected) > 0
    wrong, errors, start = [], [], threading.Barrier(8)

    def worker(k):
        start.wait()
        for i in range(20):
            idx = [(k + i + j) % len(frames) for j in range(1 + (k + i) % 3)]
            try:
                got = det.detect_batch([frames[j] for j in idx])
            except Exception as e:      # noqa: BLE001 - reported below
                errors.append(repr(e))
                continue
            for j, g in zip(idx, got):
                ref = expected[j]
                if len(g) != len(ref) or not np.allclose(g.boxes, ref.boxes, atol=1e-3) \
                        or list(g.class_ids) != list(ref.class_ids):
                    wrong.append((k, i, j))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    det.close()
    assert not errors, errors[:3]
    assert not wrong, "%d wrong results, e.g. %s" % (len(wrong), wrong[:3])
    assert backend.calls == len(frames) + 8 * 20 and backend.max_running == 1
