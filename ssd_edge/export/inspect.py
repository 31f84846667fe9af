"""``ssd-export --inspect``: what an .onnx, .ort, .engine, .pth, .tflite, .ncnn.param or
.mlpackage holds (the mobile kinds in :mod:`ssd_edge.export.inspect_mobile`)."""
import json
import os

from ..contract import SPEC_KEY, engine_sidecar_path, file_sha256, read_sidecar
from ..errors import SsdEdgeError


def _io(values):
    out = []
    for v in values:
        t = v.type.tensor_type
        out.append({"name": v.name, "dtype": _DTYPES.get(t.elem_type, str(t.elem_type)),
                    "shape": [d.dim_value if d.dim_value else (d.dim_param or "?") for d in t.shape.dim]})
    return out


_DTYPES = {1: "float32", 10: "float16", 6: "int32", 7: "int64", 3: "int8", 2: "uint8", 9: "bool"}


def inspect_artifact(path):
    """Return a JSON-ready dict describing ``path``."""
    if not os.path.exists(path):
        raise SsdEdgeError("%s does not exist" % path)
    info = {"path": path, "size_bytes": os.path.getsize(path)}
    if path.endswith(".onnx"):
        from .metadata import get_spec, load_onnx
        from .nms_graph import NMS_KEY, plugin_attributes
        from .report import operator_report
        m = load_onnx(path)
        spec = get_spec(m)
        meta = {p.key: p.value for p in m.metadata_props}
        info.update(kind="onnx", spec=spec.to_dict() if spec else None,
                    inputs=_io(m.graph.input), outputs=_io(m.graph.output),
                    operators=operator_report(m),
                    nms=_json_field(meta, NMS_KEY, path),
                    plugin=plugin_attributes(m))
    elif path.endswith(".ort"):
        info.update(_inspect_ort(path))
    elif path.endswith(".engine") or path.endswith(".plan"):
        info.update(_inspect_engine(path))
    elif path.endswith((".tflite", ".param", ".mlpackage", ".mlpackage/")):
        from .inspect_mobile import inspect_mobile
        info.update(inspect_mobile(path))
    elif path.endswith(".pth") or path.endswith(".pt"):
        from ..models import load_checkpoint
        model, spec = load_checkpoint(path)
        info.update(kind="checkpoint", spec=spec.to_dict(),
                    parameters=int(sum(p.numel() for p in model.parameters())))
    else:
        raise SsdEdgeError("expected an .onnx, .ort, .engine, .pth, .tflite, .ncnn.param or "
                           ".mlpackage, got %s" % path)
    return info


def _inspect_ort(path):
    import onnxruntime as ort
    try:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise SsdEdgeError("expected an ONNX Runtime .ort model in %s (%s)" % (path, str(e)[:100]))
    meta = sess.get_modelmeta().custom_metadata_map
    spec = _json_field(meta, SPEC_KEY, path)
    io = lambda xs: [{"name": x.name, "dtype": x.type, "shape": x.shape} for x in xs]  # noqa: E731
    return {"kind": "ort", "spec": spec, "inputs": io(sess.get_inputs()), "outputs": io(sess.get_outputs())}


def _json_field(meta, key, path):
    if key not in meta:
        return None
    try:
        return json.loads(meta[key])
    except (ValueError, RecursionError) as e:
        raise SsdEdgeError("expected JSON in the %s metadata of %s, got unparsable text (%s)"
                           % (key, path, str(e)[:100]))


def _inspect_engine(path):
    side = engine_sidecar_path(path)
    if not os.path.exists(side):
        return {"kind": "engine", "sidecar": None,
                "matches_this_machine": "unknown: no sidecar %s (rebuild with ssd-export --engine)" % side}
    sidecar = read_sidecar(path)        # one line for unparsable JSON or forged field types
    digest = file_sha256(path)
    verdict = "unknown: TensorRT is not installed here"
    try:
        from .tensorrt import tensorrt_available, engine_matches_machine
        if tensorrt_available():
            ok, reason = engine_matches_machine(sidecar)
            verdict = "yes" if ok else "no: " + reason
    except ImportError:
        pass
    return {"kind": "engine", "sidecar": sidecar, "sha256": digest, "matches_this_machine": verdict}


def format_inspection(info):
    lines = ["%s (%s, %.1f MB)" % (info["path"], info["kind"], info["size_bytes"] / 1e6)]
    spec = info.get("spec")
    if spec:
        lines.append("spec: %s, %d classes (%s), input %sx%s (WxH) %s, mean %s std %s, precision %s, "
                     "output %s" % (spec["arch"], len(spec["labels"]), ", ".join(spec["labels"][1:6]) +
                                    ("…" if len(spec["labels"]) > 6 else ""), spec["input_size"][1],
                                    spec["input_size"][0], spec["channel_order"], spec["mean"],
                                    spec["std"], spec["precision"], spec["output_layout"]))
    elif info["kind"] != "engine":
        lines.append("spec: none (not exported by ssd-edge; pass --labels with --mean/--std, or "
                     "--net, to use it)")
    for key in ("inputs", "outputs"):
        for v in info.get(key, []):
            lines.append("%s: %s %s %s" % (key[:-1], v["name"], v["dtype"], v["shape"]))
    if info.get("operators"):
        from .report import format_report
        lines += ["operators: " + line for line in format_report(info["operators"])]
    if info.get("ops"):
        lines.append("ops: " + ", ".join("%s %d" % kv for kv in info["ops"].items()))
    for key in ("layout", "precision", "sidecar", "runs_here"):
        if info.get(key):
            lines.append("%s: %s" % (key.replace("_", " "), info[key]))
    if info.get("nms"):
        lines.append("nms in graph: %s" % json.dumps(info["nms"], sort_keys=True))
    if info.get("parameters"):
        lines.append("parameters: %.2f M" % (info["parameters"] / 1e6))
    if info["kind"] == "engine":
        lines.append("sidecar: %s" % json.dumps(info.get("sidecar"), sort_keys=True)[:400])
        lines.append("matches this machine: %s" % info["matches_this_machine"])
    return lines
