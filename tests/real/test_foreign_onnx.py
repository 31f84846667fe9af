"""UltraFace's own published ONNX files (no ssd-edge metadata, input ``input``, opset 9) run with
only labels and mean/std and give its Predictor's detections; ssd-export writes a copy that
describes itself."""
import json
import os
import re

import cv2
import numpy as np
import pytest

from realdata import as_rows, mismatch, need_real

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime")

# UltraFace's ONNX files hold the weights of its 320 checkpoints.
FILES = {"version-RFB-320.onnx": "version-RFB-320.pth",
         "version-slim-320.onnx": "version-slim-320.pth"}
NORM = dict(mean=(127.0,) * 3, std=(128.0,) * 3)


def settings(reference):
    s = reference["settings"]
    return dict(conf_threshold=s["conf_threshold"], iou_threshold=s["iou_threshold"],
                candidate_size=s["candidate_size"], top_k=s["top_k"], max_detections=-1)


def differences(det, ref):
    bad = []
    for image, want in sorted(ref["images"].items()):
        why = mismatch(as_rows(det(cv2.imread(need_real("photos", image)))), want)
        if why:
            bad.append("%s: %s" % (image, why))
    return bad


@pytest.mark.parametrize("backend", ["ort", "openvino", "opencv"])
@pytest.mark.parametrize("name", sorted(FILES))
def test_published_onnx_gives_the_predictors_detections(name, backend, reference):
    pytest.importorskip({"ort": "onnxruntime", "openvino": "openvino", "opencv": "cv2"}[backend])
    from ssd_edge import Detector
    path = need_real("models", "ultraface", "onnx", name)
    labels = need_real("models", "ultraface", "labels.txt")
    with Detector.load(path, backend=backend, labels=labels, **dict(NORM, **settings(reference))) \
            as det:
        assert det.spec.arch == "foreign" and det.spec.input_size == (240, 320)
        bad = differences(det, reference["checkpoints"][FILES[name]])
    assert not bad, "; ".join(bad)


def test_without_normalisation_it_says_which_flags(tmp_path):
    from ssd_edge import Detector, SsdEdgeError
    path = need_real("models", "ultraface", "onnx", "version-slim-320.onnx")
    with pytest.raises(SsdEdgeError, match="expected --mean and --std"):
        Detector.load(path, labels=["BACKGROUND", "face"])
    with pytest.raises(SsdEdgeError, match="pass --labels"):
        Detector.load(path)


def test_export_writes_a_copy_that_describes_itself(tmp_path, reference, capsys):
    onnx = pytest.importorskip("onnx")
    from ssd_edge import Detector
    from ssd_edge.cli.export import main
    src = need_real("models", "ultraface", "onnx", "version-RFB-320.onnx")
    labels = need_real("models", "ultraface", "labels.txt")
    before = open(src, "rb").read()
    assert main([src, "--labels", labels, "--mean", "127,127,127", "--std", "128",
                 "--output-dir", str(tmp_path), "--fp16"]) == 0
    out = capsys.readouterr().out
    assert open(src, "rb").read() == before                       # the original is untouched
    copy = tmp_path / "version-RFB-320.onnx"
    model = onnx.load(str(copy))
    assert [i.name for i in model.graph.input] == ["input_0"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1   # batch stays 1
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 13
    spec = json.loads({p.key: p.value for p in model.metadata_props}["ssd_edge.spec"])
    assert spec["arch"] == "foreign" and spec["input_size"] == [240, 320]
    assert spec["mean"] == [127.0] * 3 and spec["labels"] == ["BACKGROUND", "face"]
    # Parity against the original file (the copy's graph is at opset 13, its weights constants).
    line = [ln for ln in out.splitlines() if ln.startswith(str(copy) + " ")][0]
    found = re.search(r"max\|Δscores\| (\S+)  max\|Δboxes\| (\S+)  agreement 100.0%", line)
    assert found and float(found.group(1)) < 1e-5 and float(found.group(2)) < 1e-5, line
    assert (tmp_path / "version-RFB-320.fp16.onnx").exists()
    with Detector.load(str(copy), backend="ort", **settings(reference)) as det:   # no flags
        assert not differences(det, reference["checkpoints"]["version-RFB-320.pth"])


def test_ssd_detect_runs_it_with_flags(tmp_path, reference):
    from ssd_edge.cli.detect import main
    src = need_real("models", "ultraface", "onnx", "version-slim-320.onnx")
    photo = need_real("photos", "faces", "2.jpg")
    assert main(["--model", src, "--labels", need_real("models", "ultraface", "labels.txt"),
                 "--mean", "127", "--std", "128", "--threshold", "0.6", "--iou", "0.3",
                 "--backend", "ort", "--output-dir", str(tmp_path), photo]) == 0
    doc = json.load(open(str(tmp_path / "detections.json")))
    got = np.array([d["box"] for d in doc["inputs"][0]["frames"][0]["detections"]])
    want = np.array(reference["checkpoints"]["version-slim-320.pth"]["images"]["faces/2.jpg"])
    assert got.shape == (len(want), 4)
    # The JSON rounds to 0.01 px; order-free comparison of the boxes.
    assert np.abs(np.sort(got, 0) - np.sort(want[:, :4], 0)).max() < 0.5
    assert os.path.exists(str(tmp_path / "2.jpg"))
