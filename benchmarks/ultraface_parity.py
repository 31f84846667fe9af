#!/usr/bin/env python3
"""Per-checkpoint, per-backend parity with UltraFace's own Predictor, as a markdown table.

For every UltraFace checkpoint in the real-data folder's models/ultraface (and UltraFace's published
ONNX files) this runs the real photos recorded in tests/real/ultraface_reference.json through
the ``.pth`` on the torch backend and the exported FP32 ONNX on ONNX Runtime, OpenVINO (FP32
pinned) and OpenCV, at detect_imgs.py's settings, and prints: photos whose detection count
equals the Predictor's, detections, and the largest box (px) and score differences over detections
paired as the tests pair them (same class, nearest box).

    python benchmarks/ultraface_parity.py --real DIR [--out table.md]
"""
import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "real"))
from realdata import as_rows, mismatch, worst  # noqa: E402

#: The real-data folder (models/ultraface, photos/): --real DIR or $SSD_EDGE_REAL_DATA.
REAL = os.environ.get("SSD_EDGE_REAL_DATA")

PUBLISHED = {"onnx/version-RFB-320.onnx": "version-RFB-320.pth",
             "onnx/version-slim-320.onnx": "version-slim-320.pth"}


def run(det, ref):
    import cv2
    same = n = 0
    box = score = 0.0
    for image, want in sorted(ref["images"].items()):
        got = as_rows(det(cv2.imread(os.path.join(REAL, "photos", image))))
        ok = mismatch(got, want) is None
        same += ok
        n += len(want)
        if len(got) == len(want) and len(want):
            b, s = worst(got, want)
            box, score = max(box, b), max(score, s)
    return "%d/%d" % (same, len(ref["images"])), n, box, score


def main():
    global REAL
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", default=REAL,
                    help="the real-data folder: models/ultraface and photos/ (default "
                         "$SSD_EDGE_REAL_DATA)")
    ap.add_argument("--out")
    a = ap.parse_args()
    if not a.real or not os.path.isdir(os.path.join(a.real, "models", "ultraface")):
        raise SystemExit("pass --real DIR: the folder holding models/ultraface and photos/")
    REAL = a.real
    from ssd_edge import Detector
    from ssd_edge.cli.export import main as export
    with open(os.path.join(ROOT, "tests", "real", "ultraface_reference.json")) as f:
        reference = json.load(f)
    s = reference["settings"]
    kw = dict(conf_threshold=s["conf_threshold"], iou_threshold=s["iou_threshold"],
              candidate_size=s["candidate_size"], top_k=s["top_k"], max_detections=-1,
              threads=2)
    rows = ["| checkpoint | WxH | backend | photos equal | detections | max box Δ (px) | "
            "max score Δ |", "|---|---|---|---|---|---|---|"]
    models = os.path.join(REAL, "models", "ultraface")
    with tempfile.TemporaryDirectory() as tmp:
        for name, ref in reference["checkpoints"].items():
            pth = os.path.join(models, name)
            labels = os.path.join(os.path.dirname(pth), "labels.txt")
            size = "%dx%d" % tuple(ref["input_size_wh"])
            onnx = os.path.join(tmp, os.path.basename(name)[:-4] + ".onnx")
            export([pth, "--labels", labels, "--resolution", size, "--output", onnx,
                    "--no-check", "-q"])
            for backend, path, extra in (("torch", pth, dict(labels=labels, resolution=size)),
                                         ("ort", onnx, {}), ("openvino", onnx, {}),
                                         ("opencv", onnx, {})):
                with Detector.load(path, backend=backend, **dict(kw, **extra)) as det:
                    eq, n, b, sc = run(det, ref)
                rows.append("| %s | %s | %s | %s | %d | %.2g | %.2g |"
                            % (name, size, backend, eq, n, b, sc))
                print(rows[-1], flush=True)
        for name, ckpt in PUBLISHED.items():
            ref = reference["checkpoints"][ckpt]
            for backend in ("ort", "openvino", "opencv"):
                with Detector.load(os.path.join(models, name), backend=backend,
                                   labels=os.path.join(models, "labels.txt"), mean=(127,) * 3,
                                   std=(128,) * 3, **kw) as det:
                    eq, n, b, sc = run(det, ref)
                rows.append("| %s (published, no metadata) | 320x240 | %s | %s | %d | %.2g | "
                            "%.2g |" % (name, backend, eq, n, b, sc))
                print(rows[-1], flush=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
