#!/usr/bin/env python3
"""UltraFace on this CPU: ssd-edge against UltraFace's own PyTorch Predictor, same weights.

Measured in one run, 2 threads everywhere (``torch.set_num_threads(2)``, ``threads=2``):

1. the checkpoint (default UltraFace's ``version-RFB-320.pth``, 320x240) exported by ssd-export's
   own code to FP32, FP16 and INT8 ONNX, INT8 calibrated on the 58 ``photos/jetson-inference``
   photos (never on the face photos it is measured on);
2. one real photo (``photos/faces/1.jpg``, 720x478, resized once to 640x480 before timing:
   decode and that resize excluded) through UltraFace's own ``Predictor`` (its checkout's
   ``vision/ssd``, ``--ultraface DIR``; torchvision, which its transforms import but its
   prediction path never calls, is replaced by an empty module when absent) and through the
   ``Detector`` on each FP32 backend present, the ``.pth`` on the torch backend, and the FP16 and
   INT8 ONNX through ``backend="auto"``, all at detect_imgs.py's settings (threshold 0.6, IoU
   0.3, candidate 1500, top_k 750), end to end (BGR frame in, detections out; the BGR→RGB
   conversion UltraFace's callers do is counted on its side). Medians of blocks of ``--repeat``
   calls (predictor_ref._blocks), speed-ups against the Predictor, the post-processing share of
   each Detector's frame time, and whether its detections equal the Predictor's (count, class,
   boxes within 0.5 px);
3. the FP16 and INT8 artifacts' agreement with the FP32 Detector over the face photos
   (``photos/faces`` and ``photos/jetson-inference/humans_*``; greedy one-to-one, same class,
   IoU >= 0.5: ssd-export's parity measure).

    python benchmarks/ultraface_bench.py --ultraface /path/to/Ultra-Light-Fast-Generic-Face-Detector-1MB

Results: ``benchmarks/results/ultraface_<cpu>.json`` with the CPU model and instruction sets.
"""
import argparse
import contextlib
import glob
import io
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from live_bench import cpu_description  # noqa: E402
from predictor_ref import _blocks, _placeholder_torchvision, agreement_over  # noqa: E402

#: The real-data folder (models/ultraface, photos/faces, photos/jetson-inference): --real DIR.
REAL = os.environ.get("SSD_EDGE_REAL_DATA")
SETTINGS = dict(conf_threshold=0.6, iou_threshold=0.3, candidate_size=1500, top_k=750,
                max_detections=-1)


def ultraface_predictor(checkout, pth, arch, width, num_classes):
    """``predict(rgb) -> (boxes, labels, probs)`` numpy: UltraFace's own Predictor."""
    sys.path.insert(0, checkout)
    _placeholder_torchvision()
    import torch
    with contextlib.redirect_stdout(io.StringIO()):
        from vision.ssd.config.fd_config import define_img_size
        define_img_size(width)
        from vision.ssd.mb_tiny_RFB_fd import create_Mb_Tiny_RFB_fd, create_Mb_Tiny_RFB_fd_predictor
        from vision.ssd.mb_tiny_fd import create_mb_tiny_fd, create_mb_tiny_fd_predictor
    make, predictor = ((create_Mb_Tiny_RFB_fd, create_Mb_Tiny_RFB_fd_predictor)
                       if arch == "ultraface-rfb" else (create_mb_tiny_fd,
                                                         create_mb_tiny_fd_predictor))
    net = make(num_classes, is_test=True, device="cpu")
    net.load_state_dict(torch.load(pth, map_location="cpu", weights_only=True))
    pred = predictor(net, candidate_size=SETTINGS["candidate_size"], device="cpu")

    def predict(rgb):
        with contextlib.redirect_stdout(io.StringIO()):      # it prints its inference time
            b, labels, p = pred.predict(rgb, SETTINGS["candidate_size"] / 2,
                                        SETTINGS["conf_threshold"])
        return b.numpy(), labels.numpy(), p.numpy()
    return predict


def same_as(dets, ref):
    boxes, labels, _ = ref
    if len(dets) != len(labels):
        return False
    order_a = np.lexsort((dets.boxes[:, 0], dets.class_ids))
    order_b = np.lexsort((boxes[:, 0], labels)) if len(labels) else order_a
    return bool(np.array_equal(dets.class_ids[order_a], labels[order_b])
                and np.abs(dets.boxes[order_a] - boxes[order_b]).max(initial=0) <= 0.5)


def export(pth, labels, folder):
    from ssd_edge.cli.export import main
    rc = main([pth, "--labels", labels, "--output-dir", folder, "--fp16", "--int8", "--calib",
               os.path.join(REAL, "photos", "jetson-inference"), "-q"])
    if rc:
        raise SystemExit("export failed")
    stem = os.path.join(folder, os.path.splitext(os.path.basename(pth))[0])
    return {p: stem + ext for p, ext in (("fp32", ".onnx"), ("fp16", ".fp16.onnx"),
                                         ("int8", ".int8.onnx"))}


def case(det, predict, frame, rgb, repeat, ref):
    import cv2
    d, p = _blocks([lambda: det(frame), lambda: predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))],
                   repeat)
    post = []
    for _ in range(repeat):
        det(frame)
        t = det.last_timings
        post.append(t["postprocess"] / max(sum(t.values()), 1e-9))
    return {"backend": det.backend_name, "precision": det.precision,
            "detector_ms": round(d, 3), "predictor_ms": round(p, 3),
            "speedup": round(p / d, 2), "postprocess_share": round(float(np.median(post)), 4),
            "detections": len(det(frame)), "identical_to_predictor": same_as(det(frame), ref)}


def main():
    global REAL
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ultraface", default=os.environ.get("SSD_EDGE_ULTRAFACE"),
                    help="checkout of Ultra-Light-Fast-Generic-Face-Detector-1MB")
    ap.add_argument("--real", default=REAL,
                    help="the real-data folder: models/ultraface, photos/faces, "
                         "photos/jetson-inference (default $SSD_EDGE_REAL_DATA)")
    ap.add_argument("--checkpoint", help="default: REAL/models/ultraface/version-RFB-320.pth")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--out")
    a = ap.parse_args()
    if not a.real or not os.path.isdir(os.path.join(a.real, "models", "ultraface")):
        raise SystemExit("pass --real DIR: the folder holding models/ultraface and photos/")
    REAL = a.real
    a.checkpoint = a.checkpoint or os.path.join(REAL, "models", "ultraface", "version-RFB-320.pth")
    if not a.ultraface or not os.path.isdir(os.path.join(a.ultraface, "vision", "ssd")):
        raise SystemExit("pass --ultraface DIR: a checkout of UltraFace (its vision/ssd runs as "
                         "the reference)")
    import cv2
    import torch
    from ssd_edge import Detector
    from ssd_edge.models import load_checkpoint
    torch.set_num_threads(2)
    labels = os.path.join(os.path.dirname(a.checkpoint), "labels.txt")
    _, spec = load_checkpoint(a.checkpoint, labels=labels)
    predict = ultraface_predictor(a.ultraface, a.checkpoint, spec.arch, spec.frame_size[0],
                                  spec.num_classes)
    frame = cv2.resize(cv2.imread(os.path.join(REAL, "photos", "faces", "1.jpg")), (640, 480))
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    ref = predict(rgb)
    faces = [cv2.imread(p) for p in sorted(glob.glob(os.path.join(REAL, "photos", "faces", "*")))
             + sorted(glob.glob(os.path.join(REAL, "photos", "jetson-inference", "humans_*")))]
    model, isa, slug = cpu_description()
    res = {"schema": 1, "cpu": model, "isa": isa, "threads": 2, "checkpoint":
           os.path.basename(a.checkpoint), "arch": spec.arch, "input_wh": list(spec.frame_size),
           "frame_wh": [640, 480], "settings": SETTINGS, "predictor_detections": len(ref[1]),
           "cases": [], "agreement": []}
    with tempfile.TemporaryDirectory() as tmp:
        files = export(a.checkpoint, labels, tmp)
        runs = [(a.checkpoint, "torch")] + [(files["fp32"], b) for b in ("ort", "openvino",
                                                                          "opencv")]
        runs += [(files["fp16"], "auto"), (files["int8"], "auto")]
        fp32 = Detector.load(files["fp32"], backend="ort", threads=2, **SETTINGS)
        for path, backend in runs:
            kw = dict(labels=labels) if path.endswith(".pth") else {}
            try:
                det = Detector.load(path, backend=backend, threads=2, **dict(SETTINGS, **kw))
            except Exception as e:  # a backend missing here is reported, not fatal
                res["cases"].append({"backend": backend, "file": os.path.basename(path),
                                     "skipped": str(e).splitlines()[0]})
                continue
            with det:
                row = dict(case(det, predict, frame, rgb, a.repeat, ref),
                           file=os.path.basename(path), requested=backend)
                res["cases"].append(row)
                print(json.dumps(row), flush=True)
                if backend == "auto":
                    agr = dict(agreement_over(fp32, det, faces, SETTINGS["conf_threshold"]),
                               file=os.path.basename(path), backend=det.backend_name,
                               precision=det.precision)
                    res["agreement"].append(agr)
                    print(json.dumps(agr), flush=True)
        fp32.close()
    # Other processes on the machine slow torch's OpenMP threads far more than the others: the
    # load average is recorded so a reader can tell a quiet run from a busy one.
    res["load_average_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
    out = a.out or os.path.join(HERE, "results", "ultraface_%s.json" % slug)
    from ssd_edge.fileio import atomic_write_text
    atomic_write_text(out, json.dumps(res, indent=1) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
