"""Every UltraFace checkpoint, through torch and its exported ONNX through ONNX Runtime,
OpenVINO (FP32 pinned) and OpenCV, gives the detections UltraFace's own Predictor gives on real
photos at detect_imgs.py's settings (recorded in ultraface_reference.json: how, in its "about")."""
import os

import cv2
import pytest

from realdata import as_rows, mismatch, need_real

pytest.importorskip("torch")
pytest.importorskip("onnx")

pytestmark = pytest.mark.slow

CHECKPOINTS = ["version-slim-320.pth", "version-RFB-320.pth", "version-slim-640.pth",
               "version-RFB-640.pth", "masked/RFB-320-masked_face-v2.pth",
               "masked/RFB-640-masked_face-v2.pth"]
BACKENDS = ["torch", "ort", "openvino", "opencv"]
_BACKEND_MODULE = {"ort": "onnxruntime", "openvino": "openvino", "opencv": "cv2", "torch": "torch"}


def settings(reference):
    s = reference["settings"]
    return dict(conf_threshold=s["conf_threshold"], iou_threshold=s["iou_threshold"],
                candidate_size=s["candidate_size"], top_k=s["top_k"], max_detections=-1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Checkpoint name → exported FP32 ONNX path (exported once, as ssd-export does)."""
    from ssd_edge.cli.export import main
    cache = {}

    def get(name, size):
        if name not in cache:
            pth = need_real("models", "ultraface", name)
            out = str(tmp_path_factory.mktemp("uf") / (os.path.basename(name)[:-4] + ".onnx"))
            labels = os.path.join(os.path.dirname(pth), "labels.txt")
            assert main([pth, "--labels", labels, "--resolution", "%dx%d" % tuple(size),
                         "--output", out, "--no-check", "-q"]) == 0
            cache[name] = out
        return cache[name]
    return get


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CHECKPOINTS)
def test_checkpoint_matches_ultraface_predictor(name, backend, reference, exported):
    pytest.importorskip(_BACKEND_MODULE[backend])
    from ssd_edge import Detector
    ref = reference["checkpoints"][name]
    pth = need_real("models", "ultraface", name)
    labels = os.path.join(os.path.dirname(pth), "labels.txt")
    size = ref["input_size_wh"]
    if backend == "torch":
        det = Detector.load(pth, backend="torch", labels=labels, threads=2,
                            resolution="%dx%d" % tuple(size), **settings(reference))
    else:
        det = Detector.load(exported(name, size), backend=backend, threads=2,
                            **settings(reference))
    assert det.spec.frame_size == tuple(size)
    bad = []
    with det:
        for image, want in sorted(ref["images"].items()):
            frame = cv2.imread(need_real("photos", image))
            why = mismatch(as_rows(det(frame)), want)
            if why:
                bad.append("%s: %s" % (image, why))
    assert not bad, "%d of %d photos differ: %s" % (len(bad), len(ref["images"]), "; ".join(bad))
