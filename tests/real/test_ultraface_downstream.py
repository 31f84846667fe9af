"""Downstream of a non-square (320x240) net: NMS in the graph, the torch frame path's resize,
the DeepStream config and the TensorRT batch profile keep H and W apart."""
import os

import cv2
import numpy as np
import pytest

from realdata import as_rows, need_real

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

PHOTOS = ["faces/1.jpg", "faces/2.jpg", "faces/6.jpg", "jetson-inference/humans_5.jpg"]


@pytest.fixture(scope="module")
def rfb320(tmp_path_factory):
    from ssd_edge.cli.export import main
    pth = need_real("models", "ultraface", "version-RFB-320.pth")
    out = tmp_path_factory.mktemp("rfb")
    labels = os.path.join(os.path.dirname(pth), "labels.txt")
    assert main([pth, "--labels", labels, "--output-dir", str(out), "--nms", "onnx", "--conf",
                 "0.6", "--iou", "0.3", "--max-detections", "200", "-q"]) == 0
    return pth, labels, str(out / "version-RFB-320.onnx"), str(out / "version-RFB-320.nms-onnx.onnx")


def frames():
    return [cv2.imread(need_real("photos", p)) for p in PHOTOS]


def sorted_rows(dets):
    rows = as_rows(dets)
    return rows[np.lexsort((rows[:, 0], -rows[:, 4]))]


def test_onnx_nms_graph_equals_decoded_postprocess(rfb320):
    from ssd_edge import Detector
    _, _, decoded, nms = rfb320
    with Detector.load(nms, backend="ort") as graph:
        assert graph.spec.input_size == (240, 320)
        g = graph.graph_nms
        with Detector.load(decoded, backend="ort", conf_threshold=g.get("conf_threshold", 0.6),
                           iou_threshold=g.get("iou_threshold", 0.3),
                           candidate_size=g.get("candidate_size", 200),
                           max_detections=g.get("max_detections", 200)) as ref:
            total = 0
            for frame in frames():
                got, want = sorted_rows(graph(frame)), sorted_rows(ref(frame))
                assert got.shape == want.shape
                np.testing.assert_allclose(got, want, atol=1e-3)
                total += len(want)
    assert total > 20


def test_torch_frame_path_resizes_to_w_by_h(rfb320):
    from ssd_edge import Detector
    from ssd_edge.runtime.preprocess import Preprocessor
    from ssd_edge.runtime.torch_gpu import FramePath, TorchPreprocessor
    pth, labels, _, _ = rfb320
    imgs = frames()
    with Detector.load(pth, backend="torch", device="cpu", labels=labels) as det:
        spec = det.spec
        x, sizes = TorchPreprocessor(spec, "cpu")(imgs)
        want = Preprocessor(spec)(imgs)
        assert tuple(x.shape) == want.shape == (len(imgs), 3, 240, 320)
        assert np.abs(x.numpy() - want).max() <= 1.0 / 128 + 1e-6   # one grey level at most
        got = FramePath(det.backend.model, spec, torch.device("cpu")).detect(imgs, det.options())
        ref = det.detect_batch(imgs)
    for g, r in zip(got, ref):
        assert abs(len(g) - len(r)) <= 1
        assert len(r) == 0 or np.abs(np.sort(g.boxes[:, 0])[:3] - np.sort(r.boxes[:, 0])[:3]).max() < 4


def test_deepstream_config_for_a_non_square_net(rfb320, tmp_path):
    from ssd_edge.export.deepstream import write_deepstream
    from ssd_edge.models import load_checkpoint
    pth, labels, decoded, _ = rfb320
    _, spec = load_checkpoint(pth, labels=labels)
    written = write_deepstream(decoded, spec, str(tmp_path))
    text = "\n".join(open(str(p)).read() for p in written if str(p).endswith((".txt", ".cfg")))
    assert "net-scale-factor=0.0078125" in text and "offsets=127.0;127.0;127.0" in text
    assert "maintain-aspect-ratio=0" in text
    # nvinfer reads the input dims from the ONNX; nothing square is written for it.
    assert "infer-dims" not in text or "3;240;320" in text


class _Profile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, lo, opt, hi):
        self.shapes[name] = (lo, opt, hi)


class _Builder:
    """Stand-in for ``tensorrt.Builder`` (TensorRT cannot run here): records the profile."""

    def create_optimization_profile(self):
        self.profile = _Profile()
        return self.profile


class _Config:
    def add_optimization_profile(self, profile):
        self.added = profile


class _Input:
    name = "input_0"
    shape = (-1, 3, 240, 320)


def test_tensorrt_batch_profile_keeps_h_and_w():
    from ssd_edge.export.tensorrt import BuildOptions
    from ssd_edge.export.tensorrt_steps import set_profile
    builder, config = _Builder(), _Config()
    opts = BuildOptions(max_batch=4)
    rng, _ = set_profile(builder, config, [_Input()], opts, [])
    lo, opt, hi = builder.profile.shapes["input_0"]
    assert lo[1:] == opt[1:] == hi[1:] == (3, 240, 320)
    assert (lo[0], hi[0]) == (rng[0], rng[2])
