"""COCO box mAP@[.5:.95] in numpy, reproducing pycocotools' ``COCOeval`` (iouType "bbox").

The details that decide the numbers, as COCOeval has them:

* IoU thresholds ``linspace(.5, .95, 10)``, 101 recall points ``linspace(0, 1, 101)``, maxDets
  ``(1, 10, 100)``, areas all / small (< 32²) / medium / large (> 96²), bounds inclusive;
* per image and class the detections are sorted by score with a stable sort and cut at 100;
* IoU on ``[x, y, w, h]`` boxes without "+1"; against a crowd box the union is the detection's
  area; a match needs IoU >= threshold (capped at 1 - 1e-10);
* greedy matching in score order: each detection takes the not-yet-matched (or crowd) box of
  highest IoU, last one on ties, preferring boxes that are not ignored; crowd boxes and boxes
  outside the area range are ignored (matches to them count neither way), so are unmatched
  detections outside the area range;
* detections of all images merged by score (stable sort, image order on ties), precision made
  monotone from the right and sampled at the recall points (0 past the last recall);
* a class without (non-ignored) ground truth has -1 and is left out of the means.

Ground-truth ``area`` is used when given (COCO's segmentation area) and ``w * h`` otherwise; a
detection's area is ``w * h``. ``difficult`` (VOC's flag, unknown to COCO) is treated as ignored,
like a box outside the area range.
"""
import numpy as np

IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RANGES = ((0.0, 1e5 ** 2), (0.0, 32.0 ** 2), (32.0 ** 2, 96.0 ** 2), (96.0 ** 2, 1e5 ** 2))
AREA_NAMES = ("all", "small", "medium", "large")


def box_iou_xywh(dt, gt, crowd):
    """COCO's ``bbIou``: ``(D, 4)`` and ``(G, 4)`` float64 ``[x, y, w, h]`` → ``(D, G)``."""
    w = (np.minimum(dt[:, None, 2] + dt[:, None, 0], gt[None, :, 2] + gt[None, :, 0])
         - np.maximum(dt[:, None, 0], gt[None, :, 0]))
    h = (np.minimum(dt[:, None, 3] + dt[:, None, 1], gt[None, :, 3] + gt[None, :, 1])
         - np.maximum(dt[:, None, 1], gt[None, :, 1]))
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    da = (dt[:, 2] * dt[:, 3])[:, None]
    union = np.where(crowd[None, :], da, da + (gt[:, 2] * gt[:, 3])[None, :] - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


def match(ious, gt_ignore, crowd):
    """Greedy matching for every IoU threshold at once.

    Args:
        ious: ``(D, G)`` with detections in score order and ground truth ignored-last.
        gt_ignore, crowd: ``(G,) bool``.
    Returns:
        ``(dtm, dt_ignore)``: ``(T, D) bool`` matched, and matched to an ignored box.
    """
    T, (D, G) = len(IOU_THRS), ious.shape
    dtm, dtig = np.zeros((T, D), bool), np.zeros((T, D), bool)
    if G == 0 or D == 0:
        return dtm, dtig
    thr = np.minimum(IOU_THRS, 1 - 1e-10)[:, None]
    gtm = np.zeros((T, G), bool)
    rows = np.arange(T)
    # Only detections reaching the lowest threshold with some box can match anything.
    for d in np.flatnonzero((ious >= thr[0, 0]).any(axis=1)):
        ok = (~gtm | crowd[None, :]) & (ious[d][None, :] >= thr)
        for ignored in (False, True):
            cand = ok & (gt_ignore == ignored)[None, :] & ~dtm[:, d:d + 1]
            vals = np.where(cand, ious[d][None, :], -1.0)
            j = G - 1 - np.argmax(vals[:, ::-1], axis=1)   # last index of the maximum
            hit = cand[rows, j]
            dtm[hit, d] = True
            dtig[hit, d] = ignored
            gtm[rows[hit], j[hit]] = True
    return dtm, dtig


def _image_class(g, d, k):
    """Sorted, cut detections and ground truth of class ``k`` in one image (or None if both empty)."""
    gm, dm = g["labels"] == k, d["labels"] == k
    if not gm.any() and not dm.any():
        return None
    order = np.argsort(-d["scores"][dm], kind="mergesort")[:MAX_DETS[-1]]
    dt = d["xywh"][dm][order]
    gt = g["xywh"][gm]
    crowd = g["iscrowd"][gm]
    ious = box_iou_xywh(dt, gt, crowd) if len(gt) and len(dt) else np.zeros((len(dt), len(gt)))
    return {"scores": d["scores"][dm][order], "dt_area": dt[:, 2] * dt[:, 3], "ious": ious,
            "crowd": crowd, "ignore": crowd | g["difficult"][gm], "gt_area": g["area"][gm]}


def _evaluate_area(e, lo, hi):
    """One image, class and area range: ``(dtm, dt_ignore, gt_ignore)`` in COCOeval's order."""
    gt_ignore = e["ignore"] | (e["gt_area"] < lo) | (e["gt_area"] > hi)
    gorder = np.argsort(gt_ignore, kind="mergesort")
    gt_ignore = gt_ignore[gorder]
    dtm, dtig = match(e["ious"][:, gorder], gt_ignore, e["crowd"][gorder])
    outside = (e["dt_area"] < lo) | (e["dt_area"] > hi)
    return dtm, dtig | (~dtm & outside[None, :]), gt_ignore


def _accumulate(per_image, max_det):
    """Precision ``(T, R)`` and recall ``(T,)`` of one class and area range, or None (-1)."""
    if not per_image:
        return None
    scores = np.concatenate([e[0][:max_det] for e in per_image])
    dtm = np.concatenate([e[1][:, :max_det] for e in per_image], axis=1)
    dtig = np.concatenate([e[2][:, :max_det] for e in per_image], axis=1)
    npig = int(sum((~e[3]).sum() for e in per_image))
    if npig == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    dtm, dtig = dtm[:, order], dtig[:, order]
    tp = np.cumsum(dtm & ~dtig, axis=1).astype(float)
    fp = np.cumsum(~dtm & ~dtig, axis=1).astype(float)
    nd = tp.shape[1]
    rc = tp / npig
    pr = tp / (fp + tp + np.spacing(1))
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    precision = np.zeros((len(IOU_THRS), len(REC_THRS)))
    for t in range(len(IOU_THRS)):
        idx = np.searchsorted(rc[t], REC_THRS, side="left")
        valid = idx < nd
        precision[t, valid] = pr[t, idx[valid]]
    recall = rc[:, -1] if nd else np.zeros(len(IOU_THRS))
    return precision, recall


def evaluate_coco(gts, dets, num_classes):
    """COCOeval's arrays for classes 1..C-1.

    Args:
        gts: per image dicts with ``xywh`` (N, 4) float64, ``labels``, ``iscrowd``,
            ``difficult`` (bool) and ``area`` (float64).
        dets: per image dicts with ``xywh`` float64, ``scores`` float64, ``labels``.
    Returns:
        ``(precision (T, R, K, A, M), recall (T, K, A, M))``, -1 where undefined.
    """
    T, R, K, A, M = len(IOU_THRS), len(REC_THRS), num_classes - 1, len(AREA_RANGES), len(MAX_DETS)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    for k in range(1, num_classes):
        evals = [e for e in (_image_class(g, d, k) for g, d in zip(gts, dets)) if e is not None]
        for a, (lo, hi) in enumerate(AREA_RANGES):
            per_image = [(e["scores"],) + _evaluate_area(e, lo, hi) for e in evals]
            for m, max_det in enumerate(MAX_DETS):
                out = _accumulate(per_image, max_det)
                if out is not None:
                    precision[:, :, k - 1, a, m], recall[:, k - 1, a, m] = out
    return precision, recall


def _mean(s):
    s = s[s > -1]
    return float(np.mean(s)) if s.size else -1.0


def summarize(precision, recall):
    """The 12 numbers COCOeval prints, in its order, as a dict."""
    out = {}
    t50, t75 = (np.where(IOU_THRS == v)[0] for v in (.5, .75))
    out["map"] = _mean(precision[:, :, :, 0, 2])
    out["ap50"] = _mean(precision[t50][:, :, :, 0, 2])
    out["ap75"] = _mean(precision[t75][:, :, :, 0, 2])
    for a, name in enumerate(AREA_NAMES[1:], 1):
        out["ap_" + name] = _mean(precision[:, :, :, a, 2])
    for m, n in enumerate(MAX_DETS):
        out["ar%d" % n] = _mean(recall[:, :, 0, m])
    for a, name in enumerate(AREA_NAMES[1:], 1):
        out["ar_" + name] = _mean(recall[:, :, a, 2])
    return out


STATS_ORDER = ("map", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100",
               "ar_small", "ar_medium", "ar_large")
