"""Triton model configurations (``config.pbtxt``) for an ssd-edge detector, as protobuf text.

Each function returns the text of one ``ModelConfig`` message (Triton's ``model_config.proto``);
:mod:`ssd_edge.serving.triton_repo` writes them into a model repository. The spec travels in
every config's ``parameters`` (key ``ssd_edge.spec``), so a client needs no local file.

Dims in a config leave out the batch axis when ``max_batch_size > 0`` (Triton adds it).
"""
import json

from ..contract import SPEC_KEY

#: ONNX / numpy dtype name → Triton ``DataType``.
TRITON_DTYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int32": "TYPE_INT32",
                 "int64": "TYPE_INT64", "uint8": "TYPE_UINT8", "int8": "TYPE_INT8",
                 "bool": "TYPE_BOOL", "float64": "TYPE_FP64"}

SPEC_PARAM = SPEC_KEY
ROLE_PARAM = "ssd_edge.role"        # network | preprocess | postprocess | pipeline
LAYOUT_PARAM = "ssd_edge.layout"    # decoded | nms (what the network returns)
NMS_PARAM = "ssd_edge.nms"          # in-graph NMS parameters, JSON (NMS graphs only)
NETWORK_PARAM = "ssd_edge.network"  # pipeline: name of the network model it runs

#: The pipeline's request inputs besides the frame, and its outputs (one frame per request).
PIPELINE_OPTIONS = "nms_options"    # float32 [4]: iou_threshold, candidate_size, top_k, max_det
PIPELINE_THRESHOLDS = "thresholds"  # float32 [C]: per-class score threshold (inf drops a class)
PIPELINE_OUTPUTS = (("detection_boxes", "TYPE_FP32", (-1, 4)),
                    ("detection_scores", "TYPE_FP32", (-1,)),
                    ("detection_classes", "TYPE_INT32", (-1,)))


class Enum(str):
    """An enum literal, written bare (``TYPE_FP32``), not quoted."""


def pbtxt_string(text):
    """Quote ``text`` for protobuf text format: escapes for ``\\``, ``"``, control characters,
    and octal escapes for the UTF-8 bytes of non-ASCII characters (text format has no ``\\u``)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append("\\%03o" % byte)
    return '"' + "".join(out) + '"'


def render(fields, indent=0):
    """Render ``[(key, value), ...]`` as protobuf text; a value that is a list of pairs is a
    nested message, a tuple is a repeated scalar (``dims: [ 3, 300, 300 ]``)."""
    pad = "  " * indent
    lines = []
    for key, value in fields:
        if isinstance(value, list):
            lines.append("%s%s {" % (pad, key))
            lines.extend(render(value, indent + 1))
            lines.append("%s}" % pad)
        elif isinstance(value, tuple):
            lines.append("%s%s: [ %s ]" % (pad, key, ", ".join(str(int(v)) for v in value)))
        elif isinstance(value, Enum):
            lines.append("%s%s: %s" % (pad, key, value))
        elif isinstance(value, bool):
            lines.append("%s%s: %s" % (pad, key, "true" if value else "false"))
        elif isinstance(value, (int, float)):
            lines.append("%s%s: %s" % (pad, key, value))
        else:
            lines.append("%s%s: %s" % (pad, key, pbtxt_string(str(value))))
    return lines


def tensor(name, dtype, dims):
    """One ``ModelInput`` / ``ModelOutput``: ``dtype`` a Triton enum name, ``dims`` ints."""
    return [("name", name), ("data_type", Enum(dtype)), ("dims", tuple(dims))]


def parameters(values):
    """``parameters`` map entries from ``{key: str}`` (sorted, for stable files)."""
    return [("parameters", [("key", k), ("value", [("string_value", v)])])
            for k, v in sorted(values.items())]


def network_config(name, platform, spec, inputs, outputs, max_batch, kind, extra_params=None,
                   queue_delay_us=2000, instances=1):
    """Config of the network itself (``onnxruntime_onnx``, ``tensorrt_plan`` or ``python``).

    Args:
        platform: ``"onnxruntime_onnx"``, ``"tensorrt_plan"`` or ``"python"`` (a backend).
        inputs, outputs: ``[(name, numpy dtype name, dims without batch)]``.
        kind: ``"KIND_CPU"`` or ``"KIND_GPU"`` for the instance group.
        instances: the group's ``count`` (per GPU for ``KIND_GPU``).
    """
    fields = [("name", name)]
    fields.append(("backend", "python") if platform == "python" else ("platform", platform))
    fields.append(("max_batch_size", int(max_batch)))
    fields += [("input", tensor(n, TRITON_DTYPES[d], dims)) for n, d, dims in inputs]
    fields += [("output", tensor(n, TRITON_DTYPES[d], dims)) for n, d, dims in outputs]
    fields.append(("dynamic_batching", [("max_queue_delay_microseconds", int(queue_delay_us))]))
    fields.append(("instance_group", [("count", int(instances)), ("kind", Enum(kind))]))
    params = {SPEC_PARAM: spec.to_json(), ROLE_PARAM: "network"}
    params.update(extra_params or {})
    fields += parameters(params)
    return "\n".join(render(fields)) + "\n"


def preprocess_config(name, spec, max_batch):
    """Python model: one ``frame`` (uint8 BGR, any H x W) → ``input_0`` and ``frame_size``."""
    h, w = spec.input_size
    fields = [("name", name), ("backend", "python"), ("max_batch_size", int(max_batch)),
              ("input", tensor("frame", "TYPE_UINT8", (-1, -1, 3))),
              ("output", tensor("input_0", "TYPE_FP32", (3, h, w))),
              ("output", tensor("frame_size", "TYPE_INT32", (2,))),
              ("instance_group", [("count", 1), ("kind", Enum("KIND_CPU"))])]
    fields += parameters({SPEC_PARAM: spec.to_json(), ROLE_PARAM: "preprocess"})
    return "\n".join(render(fields)) + "\n"


def postprocess_config(name, spec, net_outputs, layout, max_batch):
    """Python model: the network's outputs + ``frame_size`` + options → detections in pixels."""
    c = spec.num_classes
    fields = [("name", name), ("backend", "python"), ("max_batch_size", int(max_batch))]
    fields += [("input", tensor(n, TRITON_DTYPES[d], dims)) for n, d, dims in net_outputs]
    fields += [("input", tensor("frame_size", "TYPE_INT32", (2,))),
               ("input", tensor(PIPELINE_THRESHOLDS, "TYPE_FP32", (c,))),
               ("input", tensor(PIPELINE_OPTIONS, "TYPE_FP32", (4,)))]
    fields += [("output", tensor(n, d, dims)) for n, d, dims in PIPELINE_OUTPUTS]
    fields.append(("instance_group", [("count", 1), ("kind", Enum("KIND_CPU"))]))
    fields += parameters({SPEC_PARAM: spec.to_json(), ROLE_PARAM: "postprocess",
                          LAYOUT_PARAM: layout})
    return "\n".join(render(fields)) + "\n"


def pipeline_config(name, spec, network, pre, post, net_outputs, max_batch, extra_params=None):
    """Ensemble: ``frame`` → ``pre`` → ``network`` (batched by the server) → ``post``."""
    c = spec.num_classes
    fields = [("name", name), ("platform", "ensemble"), ("max_batch_size", int(max_batch)),
              ("input", tensor("frame", "TYPE_UINT8", (-1, -1, 3))),
              ("input", tensor(PIPELINE_THRESHOLDS, "TYPE_FP32", (c,))),
              ("input", tensor(PIPELINE_OPTIONS, "TYPE_FP32", (4,)))]
    fields += [("output", tensor(n, d, dims)) for n, d, dims in PIPELINE_OUTPUTS]

    def step(model, inputs, outputs):
        s = [("model_name", model), ("model_version", -1)]
        s += [("input_map", [("key", k), ("value", v)]) for k, v in inputs]
        s += [("output_map", [("key", k), ("value", v)]) for k, v in outputs]
        return ("step", s)

    net_names = [n for n, _, _ in net_outputs]
    steps = [
        step(pre, [("frame", "frame")], [("input_0", "_input_0"), ("frame_size", "_frame_size")]),
        step(network, [("input_0", "_input_0")], [(n, "_" + n) for n in net_names]),
        step(post, [(n, "_" + n) for n in net_names] +
             [("frame_size", "_frame_size"), (PIPELINE_THRESHOLDS, PIPELINE_THRESHOLDS),
              (PIPELINE_OPTIONS, PIPELINE_OPTIONS)],
             [(n, n) for n, _, _ in PIPELINE_OUTPUTS]),
    ]
    fields.append(("ensemble_scheduling", steps))
    params = {SPEC_PARAM: spec.to_json(), ROLE_PARAM: "pipeline", NETWORK_PARAM: network}
    params.update(extra_params or {})
    fields += parameters(params)
    return "\n".join(render(fields)) + "\n"


def nms_param(nms):
    """The ``ssd_edge.nms`` parameter value for in-graph NMS settings (a dict)."""
    return json.dumps(nms, sort_keys=True, separators=(",", ":"))
