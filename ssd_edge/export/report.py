"""Operator report: what an ONNX graph contains and whether each TensorRT parser release takes it.

The per-release operator table (``data/tensorrt_onnx_ops.json``) is derived from the
``docs/operators.md`` of each onnx-tensorrt release branch (8.2 … 10.1). Releases after 10.1 keep
every operator of 10.1 and widen the opset range, so the 10.1 row is the floor for them.
"""
import collections
import json
import os

ACTIVATIONS = {"Relu": "ReLU", "Clip": "ReLU6 (Clip 0..6)", "HardSigmoid": "hard-sigmoid",
               "HardSwish": "hard-swish", "Sigmoid": "sigmoid", "LeakyRelu": "leaky ReLU",
               "Softmax": "softmax", "Tanh": "tanh", "Mul": None}
PLUGIN_OPS = {"EfficientNMS_TRT": "TensorRT plugin (libnvinfer_plugin), not an ONNX op"}


def _table():
    path = os.path.join(os.path.dirname(__file__), "data", "tensorrt_onnx_ops.json")
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)["releases"]


def opset_of(model):
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return None


def operator_report(model):
    """Return a JSON-ready dict: op counts, activations, opset, and per TensorRT release whether
    every op and the opset are supported, with the restrictions that apply to the ops present."""
    counts = collections.Counter(n.op_type for n in model.graph.node)
    opset = opset_of(model)
    acts = sorted({ACTIVATIONS[o] for o in counts if ACTIVATIONS.get(o)})
    releases = {}
    for rel, row in sorted(_table().items(), key=lambda kv: tuple(int(x) for x in kv[0].split("."))):
        missing, experimental, restrictions = [], [], {}
        for op in sorted(counts):
            if op in PLUGIN_OPS:
                continue
            info = row["ops"].get(op)
            if not info or not info[0]:
                missing.append(op)
                continue
            if info[1]:
                experimental.append(op)
            if info[2]:
                restrictions[op] = info[2]
        opset_ok = opset is not None and row["opset_min"] <= opset <= row["opset_max"]
        releases[rel] = {"ok": opset_ok and not missing, "opset_range": [row["opset_min"], row["opset_max"]],
                         "opset_ok": opset_ok, "unsupported_ops": missing,
                         "experimental_ops": experimental, "restrictions": restrictions}
    plugins = {op: PLUGIN_OPS[op] for op in counts if op in PLUGIN_OPS}
    return {"opset": opset, "nodes": sum(counts.values()), "op_counts": dict(sorted(counts.items())),
            "activations": acts, "plugins": plugins, "tensorrt": releases}


def format_report(rep):
    """Human-readable lines of :func:`operator_report`."""
    lines = ["opset %s, %d nodes: %s" % (rep["opset"], rep["nodes"], ", ".join(
        "%s×%d" % kv for kv in rep["op_counts"].items()))]
    lines.append("activations: %s" % (", ".join(rep["activations"]) or "none"))
    for op, what in rep["plugins"].items():
        lines.append("plugin: %s — %s" % (op, what))
    for rel, r in rep["tensorrt"].items():
        if r["ok"]:
            status = "ok"
        elif not r["opset_ok"]:
            status = "opset %s outside %d..%d" % (rep["opset"], r["opset_range"][0], r["opset_range"][1])
        else:
            status = "unsupported: " + ", ".join(r["unsupported_ops"])
        extra = ""
        if r["experimental_ops"]:
            extra += "; experimental: " + ", ".join(r["experimental_ops"])
        if r["restrictions"]:
            extra += "; restrictions on " + ", ".join(sorted(r["restrictions"]))
        lines.append("TensorRT %-5s %s%s" % (rel, status, extra))
    lines.append("TensorRT 10.3+/11.x: no per-release table; 10.1's operator set applies, "
                 "opset up to 20 (10.3), 24 (10.13+), 25 (11.x)")
    return lines
