"""Run a detector over a dataset and evaluate it; write the result as JSON and a PR plot.

``detect`` is any callable ``detect(image_bgr) -> Detections`` (or the ``{"boxes", "scores",
"labels"}`` dict): the runtime's ``Detector``, a torch model wrapped by the caller, a test double.
If it exposes its labels (``detect.labels`` or ``detect.spec.labels``, BACKGROUND at 0) and they
differ from the dataset's, detections are mapped to the dataset's class ids by name, so a VOC-20
model can be evaluated on a dataset read with ``classes=[...]``; classes the dataset lacks are
dropped, and no name in common is an error.
"""
import json
import time

import numpy as np

from ..detections import Detections
from ..errors import SsdEdgeError
from ..fileio import atomic_write_text
from .metrics import evaluate

SCHEMA = 1


def evaluate_detector(detect, dataset, metric="voc07", progress=True, limit=None):
    """Detect on every image of ``dataset`` and evaluate.

    Args:
        detect: ``detect(image_bgr (H, W, 3) uint8) -> Detections`` (pixel xyxy boxes).
        dataset: a :class:`ssd_edge.data.DetectionDataset`.
        metric: ``voc07``, ``voc12`` or ``coco``.
        progress: show a progress bar (tqdm, when installed).
        limit: evaluate only the first ``limit`` images (None: all).
    Returns:
        :func:`ssd_edge.eval.evaluate`'s dict plus ``dataset`` (root, images, skipped),
        ``seconds`` and ``images_per_second`` (decode + detect, the whole loop).
    """
    lut = _label_map(_labels_of(detect), dataset.class_names)
    n = len(dataset) if limit is None else max(0, min(int(limit), len(dataset)))
    gts, dets = [], []
    start = time.perf_counter()
    for i in _progress(range(n), progress, n):
        image = dataset.image(i)
        gts.append(dataset.annotation(i, (image.shape[1], image.shape[0])))
        dets.append(_remap(detect(image), lut))
    seconds = time.perf_counter() - start
    result = evaluate(gts, dets, metric, class_names=dataset.class_names)
    result["dataset"] = {"root": dataset.root, "type": type(dataset).__name__,
                         "images": n, "skipped": len(dataset.skipped)}
    result["seconds"] = round(seconds, 3)
    result["images_per_second"] = round(n / seconds, 2) if seconds > 0 else None
    return result


def _labels_of(detect):
    labels = getattr(detect, "labels", None)
    if labels is None:
        labels = getattr(getattr(detect, "spec", None), "labels", None)
    return tuple(labels) if labels is not None and not callable(labels) else None


def _label_map(model_labels, dataset_labels):
    """``(C_model,) int64`` model id → dataset id (0 = drop), or None when they are the same."""
    if model_labels is None or tuple(model_labels) == tuple(dataset_labels):
        return None
    index = {n: i for i, n in enumerate(dataset_labels) if i > 0}
    lut = np.array([0] + [index.get(n, 0) for n in model_labels[1:]], np.int64)
    if not lut.any():
        raise SsdEdgeError("expected the model's labels (%s) to share class names with the "
                           "dataset's (%s), got none in common; check labels.txt or --classes"
                           % (", ".join(model_labels[1:]), ", ".join(dataset_labels[1:])))
    return lut


def _remap(dets, lut):
    if lut is None:
        return dets
    if not isinstance(dets, Detections):
        dets = Detections(dets["boxes"], dets["scores"], dets["labels"])
    ids = dets.class_ids
    if len(ids) and ids.max() >= len(lut):
        raise SsdEdgeError("expected class ids below %d from the model, got %d"
                           % (len(lut), int(ids.max())))
    new = lut[ids]
    keep = new > 0
    return Detections(dets.boxes[keep], dets.scores[keep], new[keep])


def _progress(iterable, enabled, total):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc="evaluating", unit="img", leave=False)


COCO_STATS = ("ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100",
              "ar_small", "ar_medium", "ar_large")


def result_document(result, extra=None):
    """The JSON document (schema 1, field by field in docs/evaluation.md) for an :func:`evaluate`
    result.

    Per-class values become a list of objects (``classes[]``) so that every field has a fixed
    name; COCO-only numbers are null for VOC metrics. ``extra`` (model path, backend...) is
    merged at the top level.
    """
    curves = result.get("pr_curves", {})
    precision = curves.get("precision", {})
    doc = {"schema": SCHEMA, "metric": result["metric"], "map": result["map"],
           "num_images": result["num_images"], "iou_threshold": result.get("iou_threshold")}
    doc.update({k: result.get(k) for k in COCO_STATS})
    doc["absent"] = [str(k) for k in result.get("absent", [])]
    doc["recall_points"] = list(curves.get("recall", []))
    doc["classes"] = []
    for cid, (key, ap) in enumerate(result["per_class"].items(), 1):
        doc["classes"].append({
            "id": cid, "name": str(key), "ap": ap,
            "ap50": result.get("per_class_ap50", {}).get(key),
            "num_gt": result.get("num_gt", {}).get(key, 0),
            "num_detections": result.get("num_detections", {}).get(key, 0),
            "precision": precision.get(key)})
    for k in ("dataset", "seconds", "images_per_second"):
        doc[k] = result.get(k)
    doc.update(extra or {})
    return doc


def write_results(result, json_path, plot_path=None, extra=None):
    """Write :func:`result_document` to ``json_path`` atomically and, if ``plot_path`` is given,
    the precision-recall plot (PNG) there. Returns the written document."""
    doc = result_document(result, extra)
    atomic_write_text(json_path, json.dumps(doc, indent=1, default=_plain) + "\n")
    if plot_path is not None:
        from .plot import plot_pr_curves
        plot_pr_curves(result, plot_path)
    return doc


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError("not JSON serialisable: %r" % type(value).__name__)


def format_table(result):
    """Per-class AP and the mAP as aligned text lines (what ``ssd-eval`` prints)."""
    rows = [(str(k), v, result.get("num_gt", {}).get(k)) for k, v in result["per_class"].items()]
    width = max([len(r[0]) for r in rows] + [8])
    lines = ["%-*s  %8s  %6s" % (width, "class", "AP", "GT")]
    for name, ap, n in rows:
        lines.append("%-*s  %8s  %6s" % (width, name, "-" if ap <= -1 else "%.4f" % ap,
                                          "" if n is None else n))
    lines.append("%-*s  %8.4f" % (width, "mAP (%s)" % result["metric"], result["map"]))
    for key in ("ap50", "ap75"):
        if key in result:
            lines.append("%-*s  %8.4f" % (width, key.upper(), result[key]))
    return "\n".join(lines)
