"""TEST DOUBLE helpers for the fake ``tensorrt``: parse an ONNX like TensorRT's parser, run it.

Execution runs the ONNX through ONNX Runtime (CPU). A graph ending in the ``EfficientNMS_TRT``
plugin, which ONNX Runtime cannot run, is split: ONNX Runtime computes the plugin's inputs and
the plugin itself is computed here with ``ssd_edge.postprocess`` (class-wise greedy NMS, strict
``score > score_threshold``) — a faithful stand-in for the fixed-shape outputs, NOT an
independent check of NVIDIA's kernel. Only ``background_class`` 0 and the shared-box layout
``boxes [B, N, 4]`` are supported (what ssd-edge exports); anything else raises.
"""
import json
import os

import numpy as np

from .trt_presence import MAX_OPSET, OPS_TABLE, PLUGINS

ONNX_TO_TRT_DTYPE = {1: "FLOAT", 10: "HALF", 6: "INT32", 7: "INT32", 9: "BOOL", 3: "INT8"}
_NP = {"FLOAT": np.float32, "HALF": np.float16, "INT32": np.int32, "BOOL": np.bool_,
       "INT8": np.int8, "INT64": np.int64, "UINT8": np.uint8}


def np_dtype(trt_name):
    return np.dtype(_NP[trt_name])


def _ops_table(key):
    path = os.path.join(os.path.dirname(__import__("ssd_edge.export", fromlist=["x"]).__file__),
                        "data", "tensorrt_onnx_ops.json")
    try:
        with open(path) as f:
            ops = json.load(f)["releases"][OPS_TABLE[key]]["ops"]
        return {name: bool(v[0]) for name, v in ops.items()}
    except (OSError, KeyError, ValueError, TypeError, IndexError):
        return None   # table not there (yet): fall back to "any op ONNX defines"


def _dims(value_info):
    t = value_info.type.tensor_type
    return [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]


def parse_onnx(data, version, plugins_loaded):
    """Parse like TensorRT's ONNX parser. Returns ``(model, inputs, outputs, errors)`` with
    inputs/outputs as ``[(name, dims with -1 for dynamic, trt dtype name)]`` and errors as
    ``[(node_index, node_name, op, code, desc)]``."""
    import onnx
    try:
        model = onnx.load_from_string(bytes(data))
    except Exception as e:  # noqa: BLE001  (protobuf raises several types)
        return None, [], [], [(-1, "", "", "MODEL_DESERIALIZE_FAILED", "Failed to parse ONNX "
                               "model: %s" % type(e).__name__)]
    errors = []
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset > MAX_OPSET[version]:
        errors.append((-1, "", "", "UNSUPPORTED_GRAPH", "Unsupported ONNX opset %d (this parser "
                       "supports up to %d)" % (opset, MAX_OPSET[version])))
    table = _ops_table(version)
    for i, node in enumerate(model.graph.node):
        if node.op_type in PLUGINS:
            creator_ok = plugins_loaded and version in PLUGINS[node.op_type] and node.domain == ""
            if not creator_ok:
                errors.append((i, node.name, node.op_type, "UNSUPPORTED_NODE", 'Assertion failed: '
                               'creator && "Plugin not found, are the plugin name, version, and '
                               'namespace correct?"'))
            continue
        known = (table.get(node.op_type, False) if table is not None and node.domain == ""
                 else onnx.defs.has(node.op_type, node.domain))
        if not known:
            errors.append((i, node.name, node.op_type, "UNSUPPORTED_NODE", "No importer "
                           "registered for op: %s. Attempting to import as plugin." % node.op_type))
    inits = {t.name for t in model.graph.initializer}
    inputs = [(v.name, _dims(v), ONNX_TO_TRT_DTYPE.get(v.type.tensor_type.elem_type, "FLOAT"))
              for v in model.graph.input if v.name not in inits]
    outputs = [(v.name, _dims(v), ONNX_TO_TRT_DTYPE.get(v.type.tensor_type.elem_type, "FLOAT"))
               for v in model.graph.output]
    return model, inputs, outputs, errors


class OnnxExecutor:
    """Runs an engine's ONNX on CPU: ``run({name: array}) -> {name: array}``."""

    def __init__(self, model_bytes):
        import onnx
        self.model = onnx.load_from_string(model_bytes)
        self.nms = [n for n in self.model.graph.node if n.op_type == "EfficientNMS_TRT"]
        if len(self.nms) > 1:
            raise NotImplementedError("fake TensorRT: at most one EfficientNMS_TRT node")
        self._session = None

    def _session_for(self):
        import onnx
        import onnxruntime as ort
        if self._session is None:
            model = onnx.ModelProto()
            model.CopyFrom(self.model)
            if self.nms:
                node = self.nms[0]
                model.graph.node.remove([n for n in model.graph.node if n.name == node.name][0])
                del model.graph.output[:]
                inits = {t.name for t in model.graph.initializer}
                for name in node.input:
                    if name not in inits:
                        model.graph.output.append(onnx.helper.make_tensor_value_info(
                            name, onnx.TensorProto.FLOAT, None))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            self._session = ort.InferenceSession(model.SerializeToString(), opts,
                                                 providers=["CPUExecutionProvider"])
        return self._session

    def run(self, feeds):
        sess = self._session_for()
        names = [o.name for o in sess.get_outputs()]
        values = dict(zip(names, sess.run(names, feeds)))
        if not self.nms:
            return values
        return self._efficient_nms(self.nms[0], values)

    def _efficient_nms(self, node, values):
        import onnx
        from ssd_edge import postprocess
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if int(attrs.get("background_class", -1)) != 0:
            raise NotImplementedError("fake EfficientNMS_TRT: only background_class=0")
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in self.model.graph.initializer}
        get = lambda n: values[n] if n in values else inits[n]  # noqa: E731
        boxes, scores = get(node.input[0]), get(node.input[1])
        if boxes.ndim != 3:
            raise NotImplementedError("fake EfficientNMS_TRT: only boxes [B, N, 4]")
        if len(node.input) > 2 and node.input[2]:
            boxes = _decode_center_size(boxes, get(node.input[2]))
        k = int(attrs["max_output_boxes"])
        b = boxes.shape[0]
        out = {"num": np.zeros((b, 1), np.int32), "boxes": np.zeros((b, k, 4), np.float32),
               "scores": np.zeros((b, k), np.float32), "classes": np.zeros((b, k), np.int32)}
        for i in range(b):
            det = postprocess(scores[i], boxes[i], conf_threshold=float(attrs["score_threshold"]),
                              iou_threshold=float(attrs["iou_threshold"]), candidate_size=4096,
                              max_detections=k,
                              class_agnostic=bool(attrs.get("class_agnostic", 0)))
            order = np.argsort(-det.scores, kind="stable")
            n = len(order)
            out["num"][i, 0] = n
            out["boxes"][i, :n] = det.boxes[order]
            out["scores"][i, :n] = det.scores[order]
            out["classes"][i, :n] = det.class_ids[order]
        return dict(zip(node.output, (out["num"], out["boxes"], out["scores"], out["classes"])))


def _decode_center_size(deltas, anchors):
    """The plugin's fused decoder (no variances): x = dx*aw + ax, w = aw*exp(dw); → corners."""
    a = np.broadcast_to(anchors, deltas.shape)
    c = deltas[..., :2] * a[..., 2:] + a[..., :2]
    wh = a[..., 2:] * np.exp(deltas[..., 2:])
    return np.concatenate([c - wh / 2, c + wh / 2], axis=-1).astype(np.float32)
