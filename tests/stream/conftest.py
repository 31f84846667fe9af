"""Fixtures for the stream tests: synthetic videos and images, the tiny real ONNX detector.

Helpers live in ``streamkit.py`` (a unique module name: other test folders have their own
``conftest.py``, so tests never import from ``conftest``).
"""
import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from streamkit import export_tiny_onnx, synthetic_frame, write_video  # noqa: E402

cv2 = pytest.importorskip("cv2")

from ssd_edge.runtime.stream import (MjpegServer, Pipeline, SourceOptions, Stats,  # noqa: E402
                                     open_source)


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    """Path of the tiny real ONNX detector (needs torch and onnx to build it)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export_tiny_onnx(path)
    return str(path)


@pytest.fixture
def detector(tiny_onnx):
    """The real Detector on the tiny model (ONNX Runtime)."""
    pytest.importorskip("onnxruntime")
    from ssd_edge.runtime import Detector
    det = Detector.load(tiny_onnx, backend="ort")
    yield det
    det.close()


@pytest.fixture
def video(tmp_path):
    """A 12-frame 96×72 10 fps MP4 written by cv2.VideoWriter."""
    return str(write_video(tmp_path / "in.mp4", 12))


@pytest.fixture
def image_folder(tmp_path):
    """A folder with 5 PNG images named out of order, plus a text file that must be ignored."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i, name in enumerate(["b.png", "a.png", "d.png", "c.png", "e.png"]):
        cv2.imwrite(str(folder / name), synthetic_frame(i))
    (folder / "notes.txt").write_text("not an image")
    return str(folder)


@pytest.fixture
def served(video, detector):
    """A pipeline looping the test video into a server on an ephemeral 127.0.0.1 port."""
    stats = Stats(model=detector.path, backend=detector.backend_name,
                  precision=detector.precision)
    server = MjpegServer("127.0.0.1:0", stats=stats).start()
    pipe = Pipeline(open_source(video, SourceOptions(loop=-1, rate=30)), detector, [server],
                    stats=stats)
    t = threading.Thread(target=pipe.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while server.latest_record() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    yield server, pipe
    pipe.stop()
    t.join(10)
    assert not t.is_alive()
