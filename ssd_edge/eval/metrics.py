"""``evaluate(ground_truth, detections, metric)``: mAP as VOC07, VOC12 (pytorch-ssd) or COCO.

Inputs, one entry per image, in the same order:

* ground truth: ``{"boxes": (N, 4) pixel xyxy, "labels": (N,) int class ids 1..C-1,
  "difficult": (N,) bool (optional), "iscrowd": (N,) bool (optional), "area": (N,) (optional)}``
  — what :meth:`ssd_edge.data.DetectionDataset.annotation` returns;
* detections: :class:`ssd_edge.Detections` or ``{"boxes": (M, 4) pixel xyxy, "scores": (M,),
  "labels": (M,) int class ids}``.

The result (JSON-ready: floats, lists and dicts only)::

    {"metric": "voc07", "map": 0.71, "per_class": {"cat": 0.8, ...},   # -1.0: no ground truth
     "num_gt": {"cat": 12, ...}, "num_detections": {"cat": 40, ...}, "num_images": 100,
     "absent": ["names without ground truth"],
     "pr_curves": {"iou": 0.5, "recall": [101 points], "precision": {"cat": [101 values]}},
     # COCO only: "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100",
     # "ar_small", "ar_medium", "ar_large", "per_class_ap50"}

``map`` is the mean over classes with ground truth; -1.0 if there is none. PR curves are the
monotone precision envelope sampled at 101 recall points (COCO's), at IoU 0.5.
"""
import numpy as np

from ..errors import SsdEdgeError
from . import coco as _coco
from . import voc as _voc

METRICS = ("voc07", "voc12", "coco")


def evaluate(ground_truth, detections, metric="voc07", num_classes=None, class_names=None,
             iou_threshold=0.5):
    """Mean average precision of ``detections`` against ``ground_truth`` (see the module doc).

    Args:
        metric: ``"voc07"`` (11-point, pytorch-ssd's default), ``"voc12"`` (area) or ``"coco"``.
        num_classes: C including BACKGROUND; defaults to ``len(class_names)``, else the largest
            label seen + 1.
        class_names: names indexed by class id (BACKGROUND at 0) used as keys of the result;
            without them the keys are the class ids.
        iou_threshold: VOC matching threshold (a match needs IoU strictly greater).
    """
    if metric not in METRICS:
        raise SsdEdgeError("expected a metric in %s, got %r" % (", ".join(METRICS), metric))
    gts = [_ground_truth(g, i) for i, g in enumerate(ground_truth)]
    dets = [_detections(d, i) for i, d in enumerate(detections)]
    if len(gts) != len(dets):
        raise SsdEdgeError("expected one detection entry per image, got %d images and %d "
                           "detection entries" % (len(gts), len(dets)))
    num_classes = _num_classes(gts, dets, num_classes, class_names)
    keys = list(class_names) if class_names is not None else list(range(num_classes))
    result = {"metric": metric, "num_images": len(gts)}
    if metric == "coco":
        _fill_coco(result, gts, dets, num_classes, keys)
    else:
        aps, curves, npos = _voc.evaluate_voc(gts, dets, num_classes, metric == "voc07",
                                              iou_threshold, _coco.REC_THRS)
        result["iou_threshold"] = iou_threshold
        _fill_common(result, aps, curves, keys)
        result["num_gt"] = {keys[k]: int(n) for k, n in enumerate(npos, 1)}
    result["num_detections"] = {keys[k]: int(sum((d["labels"] == k).sum() for d in dets))
                                for k in range(1, num_classes)}
    return result


def _fill_common(result, aps, curves, keys):
    valid = [a for a in aps if a > -1]
    result["map"] = float(np.mean(valid)) if valid else -1.0
    result["per_class"] = {keys[k]: float(a) for k, a in enumerate(aps, 1)}
    result["absent"] = [keys[k] for k, a in enumerate(aps, 1) if a <= -1]
    result["pr_curves"] = {"iou": 0.5, "recall": [round(float(r), 4) for r in _coco.REC_THRS],
                           "precision": {keys[k]: [round(float(p), 5) for p in c]
                                         for k, c in enumerate(curves, 1) if c is not None}}


def _fill_coco(result, gts, dets, num_classes, keys):
    precision, recall = _coco.evaluate_coco(gts, dets, num_classes)
    stats = _coco.summarize(precision, recall)
    aps = [_class_mean(precision[:, :, k, 0, 2]) for k in range(num_classes - 1)]
    curves = [None if precision[0, 0, k, 0, 2] <= -1 else precision[0, :, k, 0, 2]
              for k in range(num_classes - 1)]
    _fill_common(result, aps, curves, keys)
    result.update(stats)
    result["per_class_ap50"] = {keys[k]: _class_mean(precision[:1, :, k - 1, 0, 2])
                                for k in range(1, num_classes)}
    result["num_gt"] = {keys[k]: int(sum(((g["labels"] == k) & ~g["iscrowd"] & ~g["difficult"]).sum()
                                         for g in gts)) for k in range(1, num_classes)}


def _class_mean(s):
    s = s[s > -1]
    return float(s.mean()) if s.size else -1.0


def _num_classes(gts, dets, num_classes, class_names):
    if num_classes is None:
        if class_names is not None:
            num_classes = len(class_names)
        else:
            seen = [int(x["labels"].max()) for x in gts + dets if len(x["labels"])]
            num_classes = max(seen + [1]) + 1
    if class_names is not None and len(class_names) != num_classes:
        raise SsdEdgeError("expected %d class names (BACKGROUND first), got %d"
                           % (num_classes, len(class_names)))
    for what, items in (("ground truth", gts), ("detection", dets)):
        for i, x in enumerate(items):
            bad = (x["labels"] < 1) | (x["labels"] >= num_classes)
            if bad.any():
                raise SsdEdgeError("expected %s labels in 1..%d, got %d in image %d"
                                   % (what, num_classes - 1, int(x["labels"][bad][0]), i))
    return num_classes


def _xywh(boxes):
    """xyxy → COCO's ``[x, y, w, h]`` in float64."""
    b = np.asarray(boxes, np.float64)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def _ground_truth(g, i):
    try:
        raw = np.asarray(g["boxes"], np.float64).reshape(-1, 4)
        labels = np.asarray(g["labels"], np.int64).reshape(-1)
    except (KeyError, TypeError, ValueError) as e:
        raise SsdEdgeError("expected ground truth %d as {'boxes': (N, 4), 'labels': (N,)}, got %s"
                           % (i, e))
    n = len(raw)
    if len(labels) != n:
        raise SsdEdgeError("expected %d labels in ground truth %d, got %d" % (n, i, len(labels)))
    flag = lambda k: np.asarray(g[k], bool).reshape(n) if g.get(k) is not None else np.zeros(n, bool)  # noqa: E731
    # VOC compares in float32 as pytorch-ssd does; COCO keeps the float64 of the json.
    boxes, xywh = raw.astype(np.float32), _xywh(raw)
    area = (np.asarray(g["area"], np.float64).reshape(n) if g.get("area") is not None
            else xywh[:, 2] * xywh[:, 3])
    return {"boxes": boxes, "labels": labels, "difficult": flag("difficult"),
            "iscrowd": flag("iscrowd"), "area": area, "xywh": xywh}


def _detections(d, i):
    if hasattr(d, "class_ids"):
        boxes, scores, labels = d.boxes, d.scores, d.class_ids
    else:
        try:
            boxes, scores, labels = d["boxes"], d["scores"], d["labels"]
        except (KeyError, TypeError):
            raise SsdEdgeError("expected detections %d as Detections or {'boxes', 'scores', "
                               "'labels'}, got %s" % (i, type(d).__name__))
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(labels, np.int64).reshape(-1)
    if not len(boxes) == len(scores) == len(labels):
        raise SsdEdgeError("expected as many boxes, scores and labels in detections %d, got %d, "
                           "%d, %d" % (i, len(boxes), len(scores), len(labels)))
    return {"boxes": boxes, "scores": scores, "labels": labels, "xywh": _xywh(boxes)}
