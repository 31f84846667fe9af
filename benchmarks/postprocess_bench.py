#!/usr/bin/env python3
"""ssd_edge.postprocess against pytorch-ssd's Predictor loop on the same outputs.

Inputs: a 3000-prior, 21-class output (mb1-ssd at 300) at conf_threshold 0.01, candidate 200,
IoU 0.45 — the evaluation setting, where the per-class loop hurts most. Two kinds of output:

* ``uniform``: softmax of N(0, 2²) logits with random boxes — every class has > 200 candidates,
  the worst case for both implementations;
* ``network``: the real outputs of an mb1-ssd (random weights) on a generated frame, with a
  uniform [0, 1e-3) jitter added to the scores: an untrained net gives many exactly equal scores (dead ReLUs leave only
  the bias), and pytorch-ssd's unstable ``torch.sort`` orders such ties arbitrarily.

The reference is pytorch-ssd's own ``box_utils.nms`` loop when ``--pytorch-ssd DIR`` points at a
checkout of it, otherwise a line-by-line torch transcription of ``Predictor.predict``'s loop
(same ops: per class mask, sort, candidate cap, greedy hard NMS with ``iou_of``).
Detections must be identical; the script exits 1 otherwise.

    python benchmarks/postprocess_bench.py [--pytorch-ssd /path/to/pytorch-ssd] [--repeat 50]
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ssd_edge import postprocess  # noqa: E402


def torch_loop(box_utils):
    import torch

    from ssd_edge.bench.pytorch_ssd import hard_nms   # pytorch-ssd's, transcribed

    nms = (lambda bs, thr, cand: box_utils.nms(bs, None, score_threshold=0.01, iou_threshold=thr,
                                                  sigma=0.5, top_k=-1, candidate_size=cand)) \
        if box_utils else (lambda bs, thr, cand: hard_nms(bs, thr, -1, cand))

    def predict(scores, boxes, w, h, conf=0.01, iou=0.45, cand=200):
        picked, labels = [], []
        for c in range(1, scores.size(1)):
            probs = scores[:, c]
            mask = probs > conf
            probs = probs[mask]
            if probs.size(0) == 0:
                continue
            bp = torch.cat([boxes[mask, :], probs.reshape(-1, 1)], dim=1)
            bp = nms(bp, iou, cand)
            picked.append(bp)
            labels.extend([c] * bp.size(0))
        bp = torch.cat(picked)
        bp[:, 0] *= w
        bp[:, 1] *= h
        bp[:, 2] *= w
        bp[:, 3] *= h
        return bp[:, :4], torch.LongTensor(labels), bp[:, 4]
    return predict


def uniform_outputs(seed=0, p=3000, c=21):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(p, c)) * 2
    s = np.exp(logits)
    s = (s / s.sum(1, keepdims=True)).astype(np.float32)
    cxcy, wh = rng.uniform(0, 1, (p, 2)), rng.uniform(0.05, 0.5, (p, 2))
    return s, np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1).astype(np.float32)


def network_outputs(seed=0):
    import torch
    from ssd_edge.export.calib import generated_frames
    from ssd_edge.models import build_model
    from ssd_edge.models.specs import default_spec
    from ssd_edge.runtime.preprocess import Preprocessor
    torch.manual_seed(seed)
    spec = default_spec("mb1-ssd", ["BACKGROUND"] + ["c%d" % i for i in range(20)])
    model = build_model(spec).eval()
    x = torch.from_numpy(Preprocessor(spec)(generated_frames(1, seed=seed)))
    with torch.no_grad():
        s, b = model(x)
    jitter = np.random.default_rng(seed).uniform(0, 1e-3, s[0].shape)
    return (s[0].numpy() + jitter).astype(np.float32), b[0].numpy()


def median_ms(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1e3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pytorch-ssd", help="checkout of pytorch-ssd to take box_utils.nms from")
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(2)
    box_utils = None
    if a.pytorch_ssd:
        sys.path.insert(0, a.pytorch_ssd)
        from vision.utils import box_utils  # noqa: F811
    predict = torch_loop(box_utils)
    w, h = 640, 480
    result = {"cpu": platform.processor() or platform.machine(), "reference":
              "pytorch-ssd box_utils" if box_utils else "torch transcription of Predictor.predict",
              "cases": {}}
    ok = True
    for name, make in (("uniform", uniform_outputs), ("network", network_outputs)):
        try:
            scores, boxes = make()
        except ImportError as e:
            print("%s: skipped (%s)" % (name, e))
            continue
        ours = lambda: postprocess(scores, boxes, frame_size=(w, h), conf_threshold=0.01,  # noqa: E731
                                   iou_threshold=0.45, candidate_size=200, max_detections=-1)
        ts, tb = torch.from_numpy(scores), torch.from_numpy(boxes)
        ref = lambda: predict(ts, tb, w, h)  # noqa: E731
        d, (rb, rl, rs) = ours(), ref()
        same = (d.class_ids.tolist() == rl.tolist() and np.allclose(d.boxes, rb.numpy(), atol=1e-4)
                and np.allclose(d.scores, rs.numpy()))
        ok &= same
        t_ours, t_ref = median_ms(ours, a.repeat), median_ms(ref, max(3, a.repeat // 10))
        result["cases"][name] = {"detections": len(d), "identical": bool(same),
                                 "ssd_edge_ms": round(t_ours, 3), "reference_ms": round(t_ref, 2),
                                 "speedup": round(t_ref / t_ours, 1)}
        print("%-8s %4d detections identical=%s  ssd_edge %.2f ms  reference %.1f ms  %.0fx"
              % (name, len(d), same, t_ours, t_ref, t_ref / t_ours))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
