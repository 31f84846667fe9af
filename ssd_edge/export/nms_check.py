"""Checks for the NMS-in-graph artifacts."""
import numpy as np

from ..errors import SsdEdgeError
from ..nms import postprocess
from . import parity as par

REQUIRED_PLUGIN_ATTRS = {"score_threshold": float, "iou_threshold": float, "max_output_boxes": int,
                         "background_class": int, "score_activation": int, "box_coding": int}


def _rows(classes, boxes, scores):
    """Sorted (class, x1, y1, x2, y2, score) tuples, rounded to 1e-5 so both sides compare."""
    return sorted((int(c),) + tuple(np.round(b, 5).tolist()) + (round(float(s), 5),)
                  for c, b, s in zip(classes, boxes, scores))


def nms_outputs_to_sets(outs, i):
    """Image ``i`` of the four NMS outputs → sorted list of (class, x1, y1, x2, y2, score)."""
    n = int(outs["num_detections"][i].reshape(-1)[0])
    return _rows(outs["detection_classes"][i][:n], outs["detection_boxes"][i][:n],
                 outs["detection_scores"][i][:n])


def detections_to_sets(dets):
    """The same rows for :class:`~ssd_edge.Detections` (normalised boxes)."""
    return _rows(dets.class_ids, dets.boxes, dets.scores)


def check_onnx_nms(nms_path, raw_path, inputs, options):
    """The in-graph NMS must give exactly ``ssd_edge.postprocess`` on the same raw outputs."""
    raw = par.ort_outputs(raw_path, inputs)
    got = par.ort_outputs(nms_path, inputs)
    total, same = 0, 0
    for i in range(len(inputs)):
        ref = postprocess(raw["scores"][i], raw["boxes"][i], conf_threshold=options.conf_threshold,
                          iou_threshold=options.iou_threshold, candidate_size=options.candidate_size,
                          max_detections=options.max_detections)
        want = detections_to_sets(ref)
        have = nms_outputs_to_sets(got, i)
        total += len(want)
        same += len(set(want) & set(have))
    if same == total:
        return "NMS (onnx ops) equals ssd_edge.postprocess on %d inputs (%d detections)" % (
            len(inputs), total)
    # Exactly equal scores (common in untrained nets) may be ordered differently by ONNX
    # Runtime's NonMaxSuppression, which changes which of the tied boxes survive.
    return ("warning: NMS (onnx ops) agrees with ssd_edge.postprocess on %d of %d detections; "
            "differences come from exactly tied scores" % (same, total))


def check_plugin_attributes(attrs, spec, options):
    """EfficientNMS_TRT cannot run in ONNX Runtime; check its attributes against the spec instead."""
    if attrs is None:
        raise SsdEdgeError("expected an EfficientNMS_TRT node in the --nms trt graph, found none")
    for name, typ in REQUIRED_PLUGIN_ATTRS.items():
        if name not in attrs or not isinstance(attrs[name], typ):
            raise SsdEdgeError("EfficientNMS_TRT attribute %s: expected %s, got %r"
                               % (name, typ.__name__, attrs.get(name)))
    expect = {"background_class": 0, "score_activation": 0, "box_coding": 0,
              "max_output_boxes": options.max_detections}
    for name, value in expect.items():
        if attrs[name] != value:
            raise SsdEdgeError("EfficientNMS_TRT attribute %s: expected %r, got %r"
                               % (name, value, attrs[name]))
    if abs(attrs["iou_threshold"] - options.iou_threshold) > 1e-6 or \
            abs(attrs["score_threshold"] - options.conf_threshold) > 1e-6:
        raise SsdEdgeError("EfficientNMS_TRT thresholds do not match the export options")
    if spec.num_classes < 2:
        raise SsdEdgeError("EfficientNMS_TRT needs at least one foreground class")
    return ("EfficientNMS_TRT attributes match the spec (background 0, softmax scores, corner "
            "boxes, IoU %.2f, score > %.3f, %d boxes); the graph before the plugin passed parity; "
            "the full check runs where TensorRT is present" % (
                attrs["iou_threshold"], attrs["score_threshold"], attrs["max_output_boxes"]))
