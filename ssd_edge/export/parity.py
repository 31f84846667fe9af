"""Parity checks: every exported artifact against the PyTorch model it came from."""
import logging
from dataclasses import dataclass

import numpy as np

from ..boxes import pairwise_iou
from ..errors import SsdEdgeError
from ..nms import postprocess

log = logging.getLogger("ssd_edge.export")

FP32_TOLERANCE = 1e-4
# Below these detection agreements an FP16 / INT8 artifact gets a warning (not a failure).
AGREEMENT_WARN = {"fp16": 0.95, "int8": 0.80}


@dataclass(frozen=True)
class Parity:
    """Differences between an artifact and PyTorch on the same inputs.

    ``agreement`` is the share of detections (after NMS at the spec's default thresholds) that
    have a partner of the same class with IoU >= 0.5, over the larger of the two counts; 1.0 when
    both sides detect nothing (``detections`` says how many PyTorch found).
    """

    max_dscores: float
    max_dboxes: float
    agreement: float
    detections: int
    inputs: int

    def line(self):
        return "max|Δscores| %.2e  max|Δboxes| %.2e  agreement %.1f%% (%d detections, %d inputs)" % (
            self.max_dscores, self.max_dboxes, 100 * self.agreement, self.detections, self.inputs)


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


def ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_outputs(path, inputs):
    """Run an exported ONNX with ONNX Runtime (CPU) one image at a time; dict of stacked outputs."""
    sess = ort_session(path)
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


def compare_raw(spec, ref, test):
    """Parity of raw outputs: ``ref``/``test`` are ``(scores (N,P,C), boxes (N,P,4))``."""
    nms = spec.nms
    agree, count = [], 0
    for i in range(len(ref[0])):
        kw = dict(conf_threshold=nms.conf_threshold, iou_threshold=nms.iou_threshold,
                  candidate_size=nms.candidate_size, top_k=nms.top_k, max_detections=nms.max_detections)
        a = postprocess(ref[0][i], ref[1][i], **kw)
        b = postprocess(test[0][i], test[1][i], **kw)
        agree.append(agreement(a, b))
        count += len(a)
    return Parity(float(np.abs(ref[0] - test[0]).max()), float(np.abs(ref[1] - test[1]).max()),
                  float(np.mean(agree)), count, len(ref[0]))


def check_fp32(parity, path):
    """An FP32 artifact must match PyTorch to 1e-4, or the export fails."""
    worst = max(parity.max_dscores, parity.max_dboxes)
    if worst > FP32_TOLERANCE:
        raise SsdEdgeError("parity check failed for %s: expected max |Δ| <= %g against PyTorch, "
                           "got %.3g; the graph is kept for inspection" % (path, FP32_TOLERANCE, worst))


def warn_reduced(parity, precision):
    limit = AGREEMENT_WARN.get(precision)
    if limit is not None and parity.detections and parity.agreement < limit:
        return ("warning: %s detection agreement %.1f%% is under %.0f%%; check the calibration "
                "images (--calib) or keep FP32" % (precision, 100 * parity.agreement, 100 * limit))
    return None
