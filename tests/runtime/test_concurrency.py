"""One Detector shared by real threads gives, on every backend, the detections it gives alone."""
import threading

import numpy as np
import pytest

from ssd_edge.runtime import Detector
from ssd_edge.runtime.backends import BACKENDS

from tinymodels import make_frames

PACKAGES = {"ort": "onnxruntime", "opencv": "cv2", "openvino": "openvino"}


@pytest.mark.parametrize("backend", sorted(PACKAGES))
def test_shared_detector_across_threads_is_correct(tiny, backend):
    pytest.importorskip(PACKAGES[backend])
    assert backend in BACKENDS
    frames = make_frames(6, seed=3)
    with Detector.load(tiny["onnx"], backend=backend, conf_threshold=0.3) as det:
        expected = [det(f) for f in frames]
        assert sum(len(d) for d in expected) > 0
        failures, errors = [], []
        start = threading.Barrier(8)

        def worker(k):
            start.wait()
            try:
                for i in range(40):
                    j = (i + k) % len(frames)
                    got = det(frames[j]) if i % 3 else det.detect_batch([frames[j]])[0]
                    ref = expected[j]
                    if len(got) != len(ref) or not np.allclose(got.boxes, ref.boxes, atol=1e-3) \
                            or list(got.class_ids) != list(ref.class_ids):
                        failures.append((k, i, j))
            except Exception as e:          # noqa: BLE001 - any error fails the test below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors, errors[:3]
    assert not failures, "%d of 320 calls differ, e.g. %s" % (len(failures), failures[:3])
