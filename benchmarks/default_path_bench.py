#!/usr/bin/env python3
"""The no-model default path against the explicit paths to the same bundled model, in one run.

    python benchmarks/default_path_bench.py [--frames 60] [--rounds 5] [--threads N] [--out FILE]

Three detectors on the same frames of the bundled clip (``demo.mp4``), end to end per frame
(pre-processing, network, post-processing; ``Detector.__call__``):

* ``default``: ``Detector.load()`` — what ``ssd-live``/``ssd-detect``/``ssd-eval``/``ssd-bench``
  run with no ``--model`` (the shipped FP32 ONNX, backend ``auto``);
* ``explicit-onnx``: ``Detector.load("shapes-mb2-ssd-lite.onnx", backend="ort")``;
* ``pth-torch``: ``Detector.load("shapes-mb2-ssd-lite.pth")`` — the default before the ONNX was
  shipped (PyTorch eager on the CPU).

Rounds interleave the three so that a busy machine slows all of them alike; the medians and the
ratios come from the same run, with the CPU model and its instruction-set flags. Detections of the
default and the explicit ONNX path must be identical (exit 1 otherwise). The load average at the
end is recorded too: on a shared machine every figure is slower, the ratios less so.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ssd_edge import Detector  # noqa: E402
from ssd_edge.bench.environment import capture_environment, describe  # noqa: E402
from ssd_edge.runtime.assets import BUNDLED_MODEL, BUNDLED_ONNX, assets_dir  # noqa: E402


def frames(n):
    import cv2
    cap = cv2.VideoCapture(os.path.join(assets_dir(), "demo.mp4"))
    out = []
    while len(out) < n:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", help="write the result JSON here")
    a = p.parse_args(argv)
    imgs = frames(a.frames)
    dets = {
        "default": Detector.load(threads=a.threads),
        "explicit-onnx": Detector.load(os.path.join(assets_dir(), BUNDLED_ONNX), backend="ort",
                                       threads=a.threads),
        "pth-torch": Detector.load(os.path.join(assets_dir(), BUNDLED_MODEL), threads=a.threads),
    }
    for d in dets.values():           # warm-up
        for img in imgs[:5]:
            d(img)
    times = {k: [] for k in dets}
    for _ in range(a.rounds):
        for name, d in dets.items():
            for img in imgs:
                t0 = time.perf_counter()
                d(img)
                times[name].append((time.perf_counter() - t0) * 1e3)
    same = all(np.array_equal(dets["default"](img).boxes, dets["explicit-onnx"](img).boxes)
               for img in imgs)
    med = {k: float(np.median(v)) for k, v in times.items()}
    env = capture_environment()
    doc = {"schema": 1, "kind": "ssd-edge-default-path",
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": describe(env), "isa": (env.get("cpu") or {}).get("isa"),
           "threads": a.threads, "frames": len(imgs), "rounds": a.rounds,
           "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
           "paths": {k: {"backend": d.backend_name, "model": os.path.basename(d.path),
                         "precision": d.precision, "median_ms": round(med[k], 3),
                         "p90_ms": round(float(np.percentile(times[k], 90)), 3)}
                     for k, d in dets.items()},
           "ratio_pth_over_default": round(med["pth-torch"] / med["default"], 2),
           "ratio_default_over_explicit_onnx": round(med["default"] / med["explicit-onnx"], 3),
           "identical_detections_default_vs_explicit": bool(same)}
    for d in dets.values():
        d.close()
    text = json.dumps(doc, indent=1)
    print(text)
    if a.out:
        from ssd_edge.fileio import atomic_write_text
        atomic_write_text(a.out, text + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
