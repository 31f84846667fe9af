"""Network outputs → :class:`~ssd_edge.detections.Detections`, with class filters.

Two graph layouts (docs/architecture.md §3):

* ``decoded``: ``scores (B, P, C)`` and ``boxes (B, P, 4)`` → :func:`ssd_edge.postprocess`
  (pytorch-ssd's Predictor) per image;
* ``nms``: ``num_detections (B, 1)``, ``detection_boxes (B, K, 4)`` normalised xyxy,
  ``detection_scores (B, K)``, ``detection_classes (B, K)`` → used as they are (NMS already ran
  in the graph, with the IoU threshold it was exported with); only the confidence / class
  filters and the ``max_detections`` cap apply, and boxes are scaled to the frame.

Per-class thresholds and a class allow-list are one ``(C,)`` threshold vector (``inf`` = class
dropped). For the decoded layout, scores at or below their class's threshold are zeroed and the
Predictor runs at the smallest threshold: a box that fails its own class's threshold can then
neither survive nor take a slot of the ``max_detections`` cap, and since greedy NMS only lets
higher scores suppress lower ones, the boxes that remain are exactly those the per-class run
would keep.
"""
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..contract import NMS_OUTPUTS
from ..detections import Detections
from ..errors import SsdEdgeError
from ..nms import postprocess_image
from ..spec import DetectorSpec, NmsDefaults


@dataclass(frozen=True)
class DetectOptions:
    """Post-processing settings for one call (what ``detect_batch(frames, options)`` receives).

    Attributes:
        conf_threshold, iou_threshold, candidate_size, top_k, max_detections: as
            :func:`ssd_edge.postprocess`.
        thresholds: ``(C,)`` per-class score thresholds (index 0 unused; ``inf`` drops the
            class), or None when every class uses ``conf_threshold``.
        labels: class names indexed by class id.
    """

    conf_threshold: float
    iou_threshold: float
    candidate_size: int
    top_k: int
    max_detections: int
    labels: Tuple[str, ...]
    thresholds: Optional[Tuple[float, ...]] = None


def effective_nms(spec: DetectorSpec, nms: Optional[NmsDefaults] = None,
                  **given: Any) -> NmsDefaults:
    """The post-processing settings in force: each of ``given`` (``conf_threshold``,
    ``iou_threshold``, ``candidate_size``, ``top_k``, ``max_detections``) that is not None, else
    ``nms``'s (a :class:`~ssd_edge.spec.NmsDefaults`), else the model's ``spec.nms``.

    Returns:
        NmsDefaults.
    """
    base = nms if nms is not None else spec.nms
    if not isinstance(base, NmsDefaults):
        raise SsdEdgeError("expected nms as an ssd_edge.spec.NmsDefaults, got %s"
                           % type(base).__name__)
    changes = {k: v for k, v in given.items() if v is not None}
    return replace(base, **changes) if changes else base


def threshold_vector(labels: Sequence[str], conf_threshold: float,
                     classes: Optional[Sequence[str]] = None,
                     class_thresholds: Optional[Dict[str, float]] = None
                     ) -> Optional[Tuple[float, ...]]:
    """Build the per-class threshold tuple, or None when it would be uniform.

    Args:
        labels: class names, index 0 = ``BACKGROUND``.
        classes: names to keep (None = all).
        class_thresholds: ``{name: threshold}`` overriding ``conf_threshold`` for those classes.
    Raises:
        SsdEdgeError: a name that is not one of the model's classes.
    """
    if not classes and not class_thresholds:
        return None
    index = {name: i for i, name in enumerate(labels) if i > 0}
    thr = [float(conf_threshold)] * len(labels)
    for name, value in (class_thresholds or {}).items():
        thr[_class_index(index, name, labels)] = float(value)
    if classes:
        keep = {_class_index(index, name, labels) for name in classes}
        thr = [t if i in keep else float("inf") for i, t in enumerate(thr)]
    return tuple(thr)


def _class_index(index: Dict[str, int], name: str, labels: Sequence[str]) -> int:
    if name not in index:
        raise SsdEdgeError("expected a class name of this model (%s), got %r"
                           % (", ".join(labels[1:]), name))
    return index[name]


def effective_thresholds(options: DetectOptions) -> Tuple[Optional[float], Optional[np.ndarray]]:
    """``(conf, thr)`` for the Predictor run under per-class thresholds.

    ``thr`` is the ``(C,)`` float32 threshold vector to zero scores at or below (None when every
    class uses ``options.conf_threshold``); ``conf`` is the threshold the Predictor then runs at,
    the smallest finite per-class one, or None when every class is dropped (no detections).
    The numpy and the torch (CUDA) post-processing both take their thresholds from here.
    """
    if options.thresholds is None:
        return float(options.conf_threshold), None
    thr = np.asarray(options.thresholds, np.float32)
    fg = thr[1:]
    if not np.isfinite(fg).any():
        return None, thr
    return float(fg[np.isfinite(fg)].min()), thr


def decoded_to_detections(scores: np.ndarray, boxes: np.ndarray, frame_size: Tuple[int, int],
                          options: DetectOptions) -> Detections:
    """One image's ``scores (P, C)`` and ``boxes (P, 4)`` → Detections in pixels of
    ``frame_size=(W, H)``."""
    conf, thr = effective_thresholds(options)
    if conf is None:
        return Detections.empty()
    if thr is not None:
        scores = np.where(scores > thr, scores, np.float32(0))
        # A zeroed score is <= conf (conf >= 0), so it never passes the Predictor's test.
    return postprocess_image(scores, boxes, frame_size=frame_size, conf_threshold=conf,
                             iou_threshold=options.iou_threshold,
                             candidate_size=options.candidate_size, top_k=options.top_k,
                             max_detections=options.max_detections, labels=options.labels)


def nms_to_detections(num: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                      classes: np.ndarray, frame_size: Tuple[int, int],
                      options: DetectOptions) -> Detections:
    """One image's in-graph NMS outputs → Detections, without running NMS again.

    Args:
        num: number of valid rows (scalar or ``(1,)``).
        boxes: ``(K, 4) float32`` normalised xyxy; ``scores``: ``(K,)``; ``classes``: ``(K,)``
            class ids indexing ``options.labels``.
        frame_size: ``(W, H)`` of the frame.
    """
    n = int(np.asarray(num).reshape(-1)[0])
    boxes = np.asarray(boxes, np.float32)[:n]
    scores = np.asarray(scores, np.float32)[:n]
    classes = np.asarray(classes).astype(np.int64)[:n]
    ncls = len(options.labels)
    ok = (classes > 0) & (classes < ncls)
    if options.thresholds is not None:
        thr = np.asarray(options.thresholds, np.float32)
        ok &= scores > thr[np.clip(classes, 0, ncls - 1)]
    else:
        ok &= scores > options.conf_threshold
    idx = np.flatnonzero(ok)
    cap = options.max_detections
    if cap is not None and 0 <= cap < len(idx):
        idx = np.sort(idx[np.argsort(-scores[idx], kind="stable")[:cap]])
    w, h = frame_size
    out = boxes[idx] * np.array([w, h, w, h], np.float32)
    return Detections(out, scores[idx], classes[idx], [options.labels[c] for c in classes[idx]])


def outputs_to_detections(outputs: Dict[str, np.ndarray], frame_sizes: Sequence[Tuple[int, int]],
                          options: DetectOptions, layout: str) -> List[Detections]:
    """A batch of backend outputs → one Detections per frame.

    Args:
        outputs: dict of output name → array with a leading batch axis.
        frame_sizes: ``(W, H)`` per frame; its length is the number of real frames.
        layout: ``"decoded"`` or ``"nms"``.
    """
    if layout == "nms":
        num, b, s, c = (outputs[k] for k in NMS_OUTPUTS)
        return [nms_to_detections(num[i], b[i], s[i], c[i], size, options)
                for i, size in enumerate(frame_sizes)]
    scores, boxes = split_decoded(outputs)
    return [decoded_to_detections(scores[i], boxes[i], size, options)
            for i, size in enumerate(frame_sizes)]


def split_decoded(outputs: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Return ``(scores (B, P, C), boxes (B, P, 4))`` from a decoded-layout output dict.

    Uses the names ``scores``/``boxes`` when present; for a foreign graph with two other names,
    the one whose last axis is 4 (and not the other's) is taken as boxes, else graph order.
    """
    if "scores" in outputs and "boxes" in outputs:
        return outputs["scores"], outputs["boxes"]
    arrays = list(outputs.values())
    if len(arrays) != 2:
        raise SsdEdgeError("expected a graph with outputs scores and boxes, got %s"
                           % ", ".join(outputs))
    a, b = arrays
    if a.shape[-1] == 4 and b.shape[-1] != 4:
        a, b = b, a
    return a, b
