"""Parity checks: every exported artifact against the PyTorch model it came from."""
import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..boxes import pairwise_iou
from ..errors import SsdEdgeError
from ..nms import postprocess

log = logging.getLogger("ssd_edge.export")

FP32_TOLERANCE = 1e-4
# Below these detection agreements an FP16 / INT8 artifact gets a warning (not a failure).
AGREEMENT_WARN = {"fp16": 0.95, "int8": 0.80}
# A detection agreement means something only over enough detections: the comparison threshold
# steps down this ladder (from the spec's own) until the reference has MIN_DETECTIONS.
MIN_DETECTIONS = 50
CONF_LADDER = (0.3, 0.2, 0.1, 0.05, 0.02, 0.01)


@dataclass(frozen=True)
class Parity:
    """Differences between an artifact and PyTorch on the same inputs.

    ``agreement`` is the share of detections (after NMS at confidence ``conf``: the spec's
    threshold, lowered step by step until the reference has :data:`MIN_DETECTIONS`) that have a
    partner of the same class with IoU >= 0.5, over the larger of the two counts; None (reported
    as n/a) when the reference has fewer than :data:`MIN_DETECTIONS` even at the lowest step.
    ``detections`` counts the reference's; ``nonfinite`` the NaN/Inf values in the artifact's
    outputs (any fails the check).
    """

    max_dscores: float
    max_dboxes: float
    agreement: Optional[float]
    detections: int
    inputs: int
    conf: float = 0.0
    nonfinite: int = 0

    def line(self):
        head = "max|Δscores| %.2e  max|Δboxes| %.2e  " % (self.max_dscores, self.max_dboxes)
        if self.nonfinite:
            return head + "%d NaN/Inf output values" % self.nonfinite
        if self.agreement is None:
            return head + ("agreement n/a (%d detections even at conf %g over %d inputs; "
                           "%d needed to compare)" % (self.detections, self.conf, self.inputs,
                                                      MIN_DETECTIONS))
        return head + "agreement %.1f%% (%d detections at conf %g, %d inputs)" % (
            100 * self.agreement, self.detections, self.conf, self.inputs)


def torch_outputs(model, inputs):
    """Run the PyTorch model on ``inputs (N, 3, H, W) float32`` one image at a time.

    Returns ``(scores (N, P, C), boxes (N, P, 4))`` numpy float32.
    """
    import torch
    scores, boxes = [], []
    with torch.no_grad():
        for x in inputs:
            s, b = model(torch.from_numpy(np.ascontiguousarray(x[None])))
            scores.append(s.numpy()[0])
            boxes.append(b.numpy()[0])
    return np.stack(scores), np.stack(boxes)


def ort_session(path, threads=None):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = int(threads)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_outputs(path, inputs, threads=None):
    """Run an exported ONNX with ONNX Runtime (CPU) one image at a time; dict of stacked outputs."""
    sess = ort_session(path, threads)
    names = [o.name for o in sess.get_outputs()]
    batch = sess.get_inputs()[0].shape[0]
    outs = {n: [] for n in names}
    for x in inputs:
        feed = x[None] if not isinstance(batch, int) or batch == 1 else np.repeat(x[None], batch, 0)
        for n, v in zip(names, sess.run(names, {sess.get_inputs()[0].name: feed})):
            outs[n].append(v[0])
    return {n: np.stack(v) for n, v in outs.items()}


def agreement(ref, test, iou=0.5):
    """Greedy one-to-one matching of two Detections (same class, IoU >= iou); share matched."""
    if len(ref) == 0 and len(test) == 0:
        return 1.0
    if len(ref) == 0 or len(test) == 0:
        return 0.0
    ious = pairwise_iou(ref.boxes, test.boxes, eps=0)
    ious[ref.class_ids[:, None] != test.class_ids[None, :]] = -1
    matched, used = 0, set()
    for i in np.argsort(-ref.scores, kind="stable"):
        order = [j for j in np.argsort(-ious[i]) if j not in used and ious[i, j] >= iou]
        if order:
            used.add(order[0])
            matched += 1
    return matched / max(len(ref), len(test))


def _max_abs(a, b):
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float(np.nan) if np.isnan(d).any() else float(d.max()) if d.size else 0.0


def compare_raw(spec, ref, test, min_detections=MIN_DETECTIONS):
    """Parity of raw outputs: ``ref``/``test`` are ``(scores (N,P,C), boxes (N,P,4))``."""
    nms = spec.nms
    nonfinite = int(sum(np.size(t) - np.isfinite(t).sum() for t in test))
    dscores, dboxes = _max_abs(ref[0], test[0]), _max_abs(ref[1], test[1])
    if nonfinite:
        return Parity(dscores, dboxes, None, 0, len(ref[0]), nms.conf_threshold, nonfinite)
    kw = dict(iou_threshold=nms.iou_threshold, candidate_size=nms.candidate_size,
              top_k=nms.top_k, max_detections=nms.max_detections)
    ladder = [nms.conf_threshold] + [c for c in CONF_LADDER if c < nms.conf_threshold]
    for conf in ladder:
        refs = [postprocess(ref[0][i], ref[1][i], conf_threshold=conf, **kw)
                for i in range(len(ref[0]))]
        count = sum(len(a) for a in refs)
        if count >= min_detections:
            agree = [agreement(a, postprocess(test[0][i], test[1][i], conf_threshold=conf, **kw))
                     for i, a in enumerate(refs)]
            return Parity(dscores, dboxes, float(np.mean(agree)), count, len(ref[0]), conf)
    return Parity(dscores, dboxes, None, count, len(ref[0]), conf)


def check_finite(parity, path):
    """NaN or Inf anywhere in an artifact's outputs fails its check, whatever its precision."""
    if parity.nonfinite:
        raise SsdEdgeError("parity check failed for %s: expected finite scores and boxes, got %d "
                           "NaN/Inf values on the check inputs; the file is kept for inspection"
                           % (path, parity.nonfinite))


def check_fp32(parity, path):
    """An FP32 artifact must be finite and match PyTorch to 1e-4, or the export fails."""
    check_finite(parity, path)
    worst = max(parity.max_dscores, parity.max_dboxes)
    if not worst <= FP32_TOLERANCE:     # NaN compares False both ways: written to fail on it
        raise SsdEdgeError("parity check failed for %s: expected max |Δ| <= %g against PyTorch, "
                           "got %.3g; the graph is kept for inspection" % (path, FP32_TOLERANCE, worst))


def warn_reduced(parity, precision):
    limit = AGREEMENT_WARN.get(precision)
    if limit is not None and parity.agreement is not None and parity.agreement < limit:
        return ("warning: %s detection agreement %.1f%% is under %.0f%%; check the calibration "
                "images (--calib) or keep FP32" % (precision, 100 * parity.agreement, 100 * limit))
    return None
