"""Tiny ONNX detectors with the docs/architecture.md §3 I/O names, built with onnx.helper (no model zoo).

``input_0 float32 [B, 3, 8, 8]`` → 1x1 Conv → per-pixel "priors" (P = 64) →
``scores float32 [B, 64, 3]`` (softmax) and ``boxes float32 [B, 64, 4]`` (sigmoid, corner-ish).
Variants: static or dynamic batch, a QDQ INT8 input stage, FP16 weights (Cast around the conv),
an ``EfficientNMS_TRT`` tail (the four NMS outputs), an op no parser knows.
"""
import numpy as np

H = W = 8
P = H * W
C = 3


def tiny_spec():
    from ssd_edge import DetectorSpec, PriorLevel
    return DetectorSpec(arch="tiny-test", labels=("BACKGROUND", "cat", "dog"), input_size=(H, W),
                        prior_levels=(PriorLevel(8, 1.0, 1.0, 2.0, ()),))


def make_tiny_onnx(path, batch=1, variant="plain", spec=True, opset=13, seed=0):
    """Write the model to ``path`` and return ``path``.

    batch: an int (static) or ``"batch"`` (dynamic axis 0).
    variant: ``"plain"``, ``"qdq"``, ``"fp16"``, ``"nms"`` or ``"unsupported"``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(seed)
    w = (rng.randn(C + 4, 3, 1, 1) * 0.5).astype(np.float32)
    b = (rng.randn(C + 4) * 0.1).astype(np.float32)
    inits = [numpy_helper.from_array(np.array([0, C + 4, -1], np.int64), "shape"),
             numpy_helper.from_array(np.array([0], np.int64), "s0"),
             numpy_helper.from_array(np.array([C], np.int64), "sC"),
             numpy_helper.from_array(np.array([C + 4], np.int64), "sE"),
             numpy_helper.from_array(np.array([2], np.int64), "ax")]
    nodes, x = [], "input_0"
    if variant == "qdq":
        inits += [numpy_helper.from_array(np.array(3.0 / 127, np.float32), "q_scale"),
                  numpy_helper.from_array(np.array(0, np.int8), "q_zero")]
        nodes += [helper.make_node("QuantizeLinear", [x, "q_scale", "q_zero"], ["xq"]),
                  helper.make_node("DequantizeLinear", ["xq", "q_scale", "q_zero"], ["xdq"])]
        x = "xdq"
    if variant == "fp16":
        inits += [numpy_helper.from_array(w.astype(np.float16), "w"),
                  numpy_helper.from_array(b.astype(np.float16), "b")]
        nodes += [helper.make_node("Cast", [x], ["x16"], to=TensorProto.FLOAT16),
                  helper.make_node("Conv", ["x16", "w", "b"], ["y16"]),
                  helper.make_node("Cast", ["y16"], ["y"], to=TensorProto.FLOAT)]
    else:
        inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
        nodes.append(helper.make_node("Conv", [x, "w", "b"],
                                      ["y0" if variant == "unsupported" else "y"]))
    if variant == "unsupported":   # an op in no ONNX opset and no plugin: the parser must refuse
        nodes.append(helper.make_node("FancyOp", ["y0"], ["y"], name="fancy"))
    nodes += [helper.make_node("Reshape", ["y", "shape"], ["r"]),
              helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
              helper.make_node("Slice", ["t", "s0", "sC", "ax"], ["logits"]),
              helper.make_node("Slice", ["t", "sC", "sE", "ax"], ["loc"]),
              helper.make_node("Softmax", ["logits"], ["scores"], axis=-1),
              helper.make_node("Sigmoid", ["loc"], ["boxes"])]
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, P, C]),
               helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, P, 4])]
    if variant == "nms":
        outputs = _nms_tail(nodes, batch)
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(
        "input_0", TensorProto.FLOAT, [batch, 3, H, W])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if spec:
        from ssd_edge.export.metadata import set_spec
        set_spec(model, tiny_spec())
    onnx.save(model, str(path))
    return str(path)


def _nms_tail(nodes, batch, k=10):
    from onnx import TensorProto, helper
    nodes.append(helper.make_node(
        "EfficientNMS_TRT", ["boxes", "scores"],
        ["num_detections", "detection_boxes", "detection_scores", "detection_classes"],
        name="nms/efficient_nms", plugin_version="1", background_class=0, max_output_boxes=k,
        score_threshold=0.3, iou_threshold=0.45, score_activation=0, box_coding=0))
    return [helper.make_tensor_value_info("num_detections", TensorProto.INT32, [batch, 1]),
            helper.make_tensor_value_info("detection_boxes", TensorProto.FLOAT, [batch, k, 4]),
            helper.make_tensor_value_info("detection_scores", TensorProto.FLOAT, [batch, k]),
            helper.make_tensor_value_info("detection_classes", TensorProto.INT32, [batch, k])]


def ort_run(path, x):
    """ONNX Runtime (CPU) on the model at ``path``: output name → array."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {"input_0": x})))
