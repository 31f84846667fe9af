"""NMS inside the graph: ``--nms onnx`` (standard ONNX ops) and ``--nms trt`` (EfficientNMS_TRT).

Both replace the ``scores``/``boxes`` outputs with docs/architecture.md §3's four outputs:
``num_detections int32 [B,1]``, ``detection_boxes float32 [B,K,4]`` (normalised x1 y1 x2 y2),
``detection_scores float32 [B,K]``, ``detection_classes int32 [B,K]`` (padding after
``num_detections`` has score 0).
"""
import numpy as np

from .metadata import get_spec, set_spec

NMS_OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")


def add_onnx_nms(model, num_priors, num_classes, conf_threshold, iou_threshold,
                 candidate_size=200, top_k=-1, max_detections=200):
    """Append the Predictor's per-class NMS built from standard ONNX ops.

    Steps, per image and class 1..C-1: keep the ``candidate_size`` best scores (a TopK threshold,
    so the rest fall under ``conf_threshold``), ``NonMaxSuppression`` (score > conf, suppress
    IoU > iou; runs in ONNX Runtime and becomes INMSLayer in TensorRT >= 8.5), then scatter the
    survivors back and take the ``max_detections`` best over all classes with one TopK.
    """
    from onnx import TensorProto, helper, numpy_helper
    g = model.graph
    p, c = int(num_priors), int(num_classes)
    cand = int(min(candidate_size, p))
    k_out = int(min(max_detections if max_detections > 0 else p * (c - 1), p * (c - 1)))
    per_class = int(top_k if top_k and top_k > 0 else cand)

    def const(name, value, dtype):
        g.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), "nms/c_" + name))
        return "nms/c_" + name

    def node(op, inputs, outputs, **attrs):
        g.node.append(helper.make_node(op, inputs, outputs, name="nms/%s_%d" % (op, len(g.node)),
                                       **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    scores, boxes = "scores", "boxes"
    t = node("Transpose", [scores], ["nms/scores_bcp"], perm=[0, 2, 1])
    fg = node("Slice", [t, const("s0", [1], np.int64), const("s1", [c], np.int64),
                        const("s_axis", [1], np.int64)], ["nms/fg"])
    vals, _ = node("TopK", [fg, const("cand", [cand], np.int64)], ["nms/cand_v", "nms/cand_i"], axis=2)
    kth = node("Slice", [vals, const("k0", [cand - 1], np.int64), const("k1", [cand], np.int64),
                         const("k_axis", [2], np.int64)], ["nms/kth"])
    keep = node("GreaterOrEqual", [fg, kth], ["nms/in_cand"])
    zero = const("zero", 0.0, np.float32)
    masked = node("Where", [keep, fg, zero], ["nms/masked"])
    sel = node("NonMaxSuppression", [boxes, masked, const("per_class", [per_class], np.int64),
                                     const("iou", [iou_threshold], np.float32),
                                     const("conf", [conf_threshold], np.float32)], ["nms/selected"])
    kept_v = node("GatherND", [masked, sel], ["nms/kept_v"])
    zeros = node("Mul", [masked, zero], ["nms/zeros"])
    dense = node("ScatterND", [zeros, sel, kept_v], ["nms/dense"])
    flat = node("Reshape", [dense, const("flat", [0, -1], np.int64)], ["nms/flat"])
    top_v, top_i = node("TopK", [flat, const("kout", [k_out], np.int64)], ["nms/top_v", "nms/top_i"],
                        axis=1)
    p_const = const("P", p, np.int64)
    cls = node("Add", [node("Div", [top_i, p_const], ["nms/cls0"]), const("one", 1, np.int64)],
               ["nms/cls"])
    prior = node("Mod", [top_i, p_const], ["nms/prior"])
    idx = node("Expand", [node("Unsqueeze", [prior, const("ax2", [2], np.int64)], ["nms/prior3"]),
                          const("four", [1, 1, 4], np.int64)], ["nms/prior_idx"])
    sel_boxes = node("GatherElements", [boxes, idx], ["nms/sel_boxes"], axis=1)
    valid = node("Greater", [top_v, zero], ["nms/valid"])
    valid_f = node("Cast", [valid], ["nms/valid_f"], to=TensorProto.FLOAT)
    node("Mul", [sel_boxes, node("Unsqueeze", [valid_f, const("ax2b", [2], np.int64)],
                                 ["nms/valid3"])], ["detection_boxes"])
    node("Identity", [top_v], ["detection_scores"])
    node("Cast", [node("Mul", [cls, node("Cast", [valid], ["nms/valid_i"], to=TensorProto.INT64)],
                       ["nms/cls_m"])], ["detection_classes"], to=TensorProto.INT32)
    node("Cast", [node("ReduceSum", [node("Cast", [valid], ["nms/valid_i32"], to=TensorProto.INT32),
                                     const("ax1", [1], np.int64)], ["nms/count"], keepdims=1)],
         ["num_detections"], to=TensorProto.INT32)
    _set_outputs(model, k_out)
    return _mark(model, dict(variant="onnx", conf_threshold=float(conf_threshold),
                             iou_threshold=float(iou_threshold), candidate_size=cand,
                             top_k=int(top_k), max_detections=k_out))


def add_trt_nms(model, conf_threshold, iou_threshold, max_detections=200, class_agnostic=None):
    """Append an ``EfficientNMS_TRT`` plugin node (TensorRT only; ONNX Runtime cannot run it).

    Two-input mode on the already decoded corner boxes: ``box_coding=0``, softmax already in the
    graph so ``score_activation=0``, ``background_class=0``. All six attributes TensorRT >= 8.5
    requires are written with FLOAT/INT types; ``class_agnostic`` only when asked (TensorRT >= 8.6
    reads it, 8.5 ignores it). The plugin has no candidate cap; it considers the 4096 best scores.
    """
    from onnx import helper
    attrs = dict(plugin_version="1", background_class=0, max_output_boxes=int(max_detections),
                 score_threshold=float(max(conf_threshold, 0.0)), iou_threshold=float(iou_threshold),
                 score_activation=0, box_coding=0)
    if class_agnostic is not None:
        attrs["class_agnostic"] = int(bool(class_agnostic))
    model.graph.node.append(helper.make_node("EfficientNMS_TRT", ["boxes", "scores"],
                                             list(NMS_OUTPUTS), name="nms/efficient_nms", **attrs))
    _set_outputs(model, int(max_detections))
    return _mark(model, dict(variant="trt", conf_threshold=attrs["score_threshold"],
                             iou_threshold=attrs["iou_threshold"], max_detections=int(max_detections),
                             class_agnostic=bool(class_agnostic)))


def plugin_attributes(model):
    """The EfficientNMS_TRT node's attributes as a dict (for checks and ``--inspect``)."""
    from onnx import helper
    for n in model.graph.node:
        if n.op_type == "EfficientNMS_TRT":
            return {a.name: helper.get_attribute_value(a) for a in n.attribute}
    return None


def _set_outputs(model, k):
    from onnx import TensorProto, helper
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    b = batch.dim_param or batch.dim_value
    del model.graph.output[:]
    model.graph.output.extend([
        helper.make_tensor_value_info("num_detections", TensorProto.INT32, [b, 1]),
        helper.make_tensor_value_info("detection_boxes", TensorProto.FLOAT, [b, k, 4]),
        helper.make_tensor_value_info("detection_scores", TensorProto.FLOAT, [b, k]),
        helper.make_tensor_value_info("detection_classes", TensorProto.INT32, [b, k])])


NMS_KEY = "ssd_edge.nms"


def _mark(model, params):
    """Record the layout in the spec and the in-graph NMS parameters under ``ssd_edge.nms``."""
    import json
    spec = get_spec(model)
    if spec is not None:
        set_spec(model, spec.replace(output_layout="nms"))
    meta = model.metadata_props.add()
    meta.key, meta.value = NMS_KEY, json.dumps(params, sort_keys=True)
    return model
