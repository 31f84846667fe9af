"""With no model, everything runs the bundled model's FP32 ONNX shipped in the package, through
the best CPU backend, without torch; and that ONNX is never out of date with its checkpoint."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ssd_edge.runtime.assets import ASSETS_ENV, BUNDLED_MODEL, BUNDLED_ONNX, bundled_model

pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(ROOT, "ssd_edge", "assets")
ONNX = os.path.join(ASSETS, BUNDLED_ONNX)
PTH = os.path.join(ASSETS, BUNDLED_MODEL)


@pytest.fixture(autouse=True)
def package_assets(monkeypatch):
    monkeypatch.delenv(ASSETS_ENV, raising=False)


def demo_frames(n=6):
    cap = cv2.VideoCapture(os.path.join(ASSETS, "demo.mp4"))
    frames = []
    while len(frames) < n:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def test_default_is_the_shipped_onnx_on_a_cpu_backend():
    from ssd_edge import Detector
    assert bundled_model() == ONNX and bundled_model(checkpoint=True) == PTH
    with Detector.load() as det:
        assert det.path == ONNX and det.backend_name in ("ort", "openvino")
        assert det.precision in ("fp32",)
        found = sum(len(det(f)) for f in demo_frames())
    assert found > 0


def test_default_path_needs_no_torch(tmp_path):
    """A fresh interpreter where ``import torch`` fails (as on a board without it)."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np\n"
            "from ssd_edge import Detector\n"
            "det = Detector.load()\n"
            "print(det.backend_name, det.path, len(det(np.zeros((240, 320, 3), np.uint8))))\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop(ASSETS_ENV, None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[1] == ONNX


def test_cli_default_model_is_the_onnx(tmp_path):
    from ssd_edge.cli.detect import main
    image = str(tmp_path / "f.jpg")
    cv2.imwrite(image, demo_frames(1)[0])
    assert main([image, "--output-dir", str(tmp_path / "out")]) == 0
    with open(str(tmp_path / "out" / "detections.json")) as f:
        doc = json.load(f)
    assert doc["model"] == ONNX and doc["backend"] in ("ort", "openvino")


def test_shipped_onnx_was_exported_from_the_shipped_checkpoint():
    """Fails when the .pth changes without the ONNX being exported again:
    ssd-export ssd_edge/assets/shapes-mb2-ssd-lite.pth --dynamic-batch \
        --output ssd_edge/assets/shapes-mb2-ssd-lite.onnx"""
    from ssd_edge.runtime.artifact import open_artifact
    with open(PTH, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    spec = open_artifact(ONNX).spec
    assert spec.source_sha256 == sha, "the bundled ONNX is out of date with %s" % BUNDLED_MODEL
    from ssd_edge.spec import DetectorSpec
    side = DetectorSpec.load(PTH + ".spec.json")
    assert spec.replace(source_sha256=None) == side.replace(source_sha256=None), \
        "the bundled ONNX's spec differs from %s.spec.json" % BUNDLED_MODEL


@pytest.mark.slow
def test_shipped_onnx_equals_a_fresh_export(tmp_path):
    """Same outputs as the checkpoint exported now (a changed exporter or model code shows)."""
    pytest.importorskip("torch")
    import onnxruntime as ort
    from ssd_edge.cli.export import main
    fresh = str(tmp_path / "fresh.onnx")
    assert main([PTH, "--dynamic-batch", "--output", fresh, "-q", "--no-check"]) == 0
    from ssd_edge.runtime.preprocess import Preprocessor
    from ssd_edge.runtime.artifact import open_artifact
    x = Preprocessor(open_artifact(ONNX).spec)(demo_frames(4))
    outs = []
    for path in (ONNX, fresh):
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        outs.append(sess.run(None, {"input_0": x}))      # one batch of 4: a dynamic batch axis
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_shipped_onnx_has_a_dynamic_batch_axis():
    """Several sources batch their newest frames into one call (ssd-live --source A --source B)."""
    from ssd_edge.onnxinfo import read_onnx_info
    info = read_onnx_info(ONNX)
    assert not isinstance(info.inputs[0].shape[0], int), info.inputs[0].shape
    assert all(not isinstance(o.shape[0], int) for o in info.outputs)
