"""Pascal VOC average precision, as pytorch-ssd's ``eval_ssd.py`` computes it.

Per class: detections of all images sorted by score (highest first); each is compared with the
ground-truth boxes of its class in its image; the box of highest IoU (the first on ties) decides:

* IoU > threshold (0.5; strictly greater), box not difficult, not matched yet → true positive;
* IoU > threshold and the box is already matched → false positive (duplicate);
* IoU > threshold and the box is difficult → ignored (neither true nor false positive);
* otherwise (or no box of the class in the image) → false positive.

Recall is over the non-difficult boxes. ``voc07``: 11-point interpolated AP (max precision at
recall >= 0, 0.1, ..., 1.0, as ``np.arange(0, 1.1, 0.1)`` gives them); ``voc12``: area under the
monotone precision envelope (VOC2010 and later).

IoU is computed like pytorch-ssd's ``iou_of``: float32, no "+1 pixel" in widths, ``1e-5`` added
to the union. Its eval script writes detections as text with 1 added and subtracts 1 again after
reading, in float32; that round trip is reproduced so threshold decisions agree bit for bit.

Where pytorch-ssd is undefined this module decides: ties of score keep the input order (a stable
sort; pytorch-ssd's ``np.argsort`` is not stable), a class without non-difficult ground truth has
AP -1 and is left out of the mean (pytorch-ssd raises ``KeyError``), and ignored detections are
dropped before the precision is computed (identical results, without pytorch-ssd's 0/0 = NaN when
the top-scoring detection hits a difficult box).
"""
import numpy as np

EPS = np.float32(1e-5)


def iou_ssd(det, gts):
    """pytorch-ssd's ``iou_of``: ``(D, 4)`` × ``(G, 4)`` float32 xyxy → ``(D, G)`` float32."""
    det = det[:, None, :]
    gts = gts[None, :, :]
    lt = np.maximum(det[..., :2], gts[..., :2])
    rb = np.minimum(det[..., 2:], gts[..., 2:])
    wh = np.maximum(rb - lt, np.float32(0))
    overlap = wh[..., 0] * wh[..., 1]
    dwh = np.maximum(det[..., 2:] - det[..., :2], np.float32(0))
    gwh = np.maximum(gts[..., 2:] - gts[..., :2], np.float32(0))
    return overlap / (dwh[..., 0] * dwh[..., 1] + gwh[..., 0] * gwh[..., 1] - overlap + EPS)


def class_matches(gts, dets, cls, iou_threshold=0.5):
    """Sorted detections of class ``cls`` and their fate.

    Args:
        gts: per image dicts with ``boxes`` float32, ``labels``, ``difficult`` (see metrics).
        dets: per image dicts with ``boxes`` float32, ``scores``, ``labels``.
    Returns:
        ``(scores, tp, fp, npos)``: scores sorted descending, tp/fp ``(D,) bool`` (ignored
        detections removed), and the number of non-difficult ground-truth boxes.
    """
    npos, scores, best_iou, best_gt, offsets = 0, [], [], [], []
    difficult_all, base = [], 0
    for g, d in zip(gts, dets):
        gm, dm = g["labels"] == cls, d["labels"] == cls
        gboxes, gdiff = g["boxes"][gm], g["difficult"][gm]
        npos += int((~gdiff).sum())
        if dm.any():
            # pytorch-ssd writes "box + 1" as text and subtracts 1 after reading (float32).
            dboxes = (d["boxes"][dm] + np.float32(1)) - np.float32(1)
            scores.append(d["scores"][dm])
            if len(gboxes):
                ious = iou_ssd(dboxes, gboxes)
                j = ious.argmax(axis=1)
                best_iou.append(ious[np.arange(len(j)), j])
                best_gt.append(j + base)
            else:
                best_iou.append(np.full(dm.sum(), -1.0, np.float32))
                best_gt.append(np.full(dm.sum(), -1, np.int64))
        difficult_all.append(gdiff)
        base += len(gboxes)
    if not scores:
        return np.zeros(0), np.zeros(0, bool), np.zeros(0, bool), npos
    scores = np.concatenate(scores).astype(np.float64)
    order = np.argsort(-scores, kind="mergesort")
    best_iou = np.concatenate(best_iou)[order]
    best_gt = np.concatenate(best_gt)[order]
    difficult = np.concatenate(difficult_all)
    tp, fp, keep = _assign(best_iou, best_gt, difficult, iou_threshold)
    return scores[order][keep], tp[keep], fp[keep], npos


def _assign(best_iou, best_gt, difficult, iou_threshold):
    """Walk the sorted detections: the sequential part (a box is matched once)."""
    n = len(best_iou)
    tp, fp, keep = np.zeros(n, bool), np.zeros(n, bool), np.ones(n, bool)
    matched = np.zeros(len(difficult), bool)
    hit = best_iou > iou_threshold
    for i in range(n):
        if not hit[i]:
            fp[i] = True
            continue
        j = best_gt[i]
        if difficult[j]:
            keep[i] = False
        elif matched[j]:
            fp[i] = True
        else:
            tp[i] = matched[j] = True
    return tp, fp, keep


def precision_recall(tp, fp, npos):
    """Cumulative precision and recall ``(D,)`` float64 along the sorted detections."""
    tp = np.cumsum(tp, dtype=np.float64)
    fp = np.cumsum(fp, dtype=np.float64)
    return tp / np.maximum(tp + fp, np.finfo(np.float64).tiny), tp / npos


def ap_voc07(precision, recall):
    """11-point interpolated AP (VOC2007)."""
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        above = recall >= t
        ap += (precision[above].max() if above.any() else 0.0) / 11.0
    return float(ap)


def ap_voc12(precision, recall):
    """Area under the monotone precision envelope (VOC2010+)."""
    p = np.concatenate([[0.0], precision, [0.0]])
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(((r[steps + 1] - r[steps]) * p[steps + 1]).sum())


def sampled_curve(precision, recall, points):
    """Envelope precision at each recall in ``points`` (0 beyond the last recall reached)."""
    if len(precision) == 0:
        return np.zeros(len(points))
    env = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, points, side="left")
    return np.where(idx < len(env), env[np.minimum(idx, len(env) - 1)], 0.0)


def evaluate_voc(gts, dets, num_classes, use_07_metric=True, iou_threshold=0.5, points=None):
    """Per-class AP for classes 1..C-1: ``(aps, curves, npos)`` lists indexed by class - 1.

    ``aps[k]`` is -1.0 for a class without non-difficult ground truth.
    """
    ap_fn = ap_voc07 if use_07_metric else ap_voc12
    aps, curves, counts = [], [], []
    for cls in range(1, num_classes):
        _, tp, fp, npos = class_matches(gts, dets, cls, iou_threshold)
        counts.append(npos)
        if npos == 0:
            aps.append(-1.0)
            curves.append(None)
            continue
        precision, recall = precision_recall(tp, fp, npos)
        aps.append(ap_fn(precision, recall))
        curves.append(sampled_curve(precision, recall, points) if points is not None else None)
    return aps, curves, counts
