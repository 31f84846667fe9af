"""Bad input to Detector.load / det(frame): one-line SsdEdgeError saying what and how to fix."""
import os
import sys

import numpy as np
import pytest

from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime import Detector


def one_line_error(fn, *args, **kw):
    with pytest.raises(SsdEdgeError) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


@pytest.mark.parametrize("name,content", [("model.txt", b"labels"), ("model.onnx", None),
                                          ("model.onnx", b"this is a text file, not ONNX\n"),
                                          ("model.pth.bak", b"x")])
def test_wrong_kind_of_model_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(os.urandom(2048) if content is None else content)
    msg = one_line_error(Detector.load, str(path))
    assert "expected" in msg


def test_unknown_backend(tiny):
    msg = one_line_error(Detector.load, tiny["onnx"], backend="tensorflow")
    assert "unknown backend 'tensorflow'" in msg and "ort" in msg and "openvino" in msg


@pytest.mark.parametrize("backend,package,extra", [("ort", "onnxruntime", "ort"),
                                                   ("opencv", "cv2", "cv"),
                                                   ("openvino", "openvino", "openvino")])
def test_missing_backend_package_names_the_extra(tiny, monkeypatch, backend, package, extra):
    # None in sys.modules hides an installed package exactly as if it were absent.
    monkeypatch.setitem(sys.modules, package, None)
    msg = one_line_error(Detector.load, tiny["onnx"], backend=backend)
    assert 'pip install "ssd-edge[%s]"' % extra in msg


def test_missing_torch_names_the_export_extra(tmp_path, monkeypatch):
    pth = tmp_path / "m.pth"
    pth.write_bytes(b"not read: torch is missing first")
    monkeypatch.setitem(sys.modules, "torch", None)
    msg = one_line_error(Detector.load, str(pth), backend="torch")
    assert 'pip install "ssd-edge[export]"' in msg


def test_backend_that_cannot_run_the_file(tmp_path, tiny):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    (tmp_path / "m.engine.json").write_text('{"spec": %s}' % tiny["spec"].to_json())
    msg = one_line_error(Detector.load, str(engine), backend="opencv")
    assert "backend 'opencv' runs .onnx files, got a .engine file" in msg and "trt" in msg


@pytest.mark.parametrize("frame", [np.zeros((48, 64), np.uint8), np.zeros((48, 64, 4), np.uint8),
                                   np.zeros((48, 64, 3), np.float32), "frame.jpg"])
def test_bad_frame(tiny, frame):
    with Detector.load(tiny["onnx"], backend="ort") as det:
        msg = one_line_error(det, frame)
        assert "HxWx3 uint8" in msg
        one_line_error(det.detect_batch, [np.zeros((8, 8, 3), np.uint8), frame])


def test_bad_device_and_unknown_class(tiny):
    one_line_error(Detector.load, tiny["onnx"], backend="ort", device="tpu")
    msg = one_line_error(Detector.load, tiny["onnx"], backend="ort", classes=["giraffe"])
    assert "giraffe" in msg and "person" in msg
    one_line_error(Detector.load, tiny["onnx"], backend="ort", class_thresholds={"cat": 0.5})


def test_foreign_onnx_without_labels_or_net(tiny):
    msg = one_line_error(Detector.load, tiny["foreign"])
    assert "--labels" in msg and "--net" in msg
