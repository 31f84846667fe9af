"""``ssd-export --inspect`` for the mobile artifacts: ``.tflite``, ``.ncnn.param``, ``.mlpackage``."""
import json
import os
from collections import Counter

from ..errors import SsdEdgeError, missing_extra
from ..mobileinfo import (SPEC_KEY, ncnn_bin_path, ncnn_metadata, ncnn_sidecar_path,
                                  tflite_metadata)


def inspect_mobile(path):
    """Return the JSON-ready description of a mobile artifact (spec, I/O, operator counts)."""
    if path.endswith(".tflite"):
        return _tflite(path)
    if path.endswith(".param"):
        return _ncnn(path)
    if path.rstrip("/").endswith(".mlpackage"):
        from .coreml import read_coreml
        info = read_coreml(path)
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)
        info.update(kind="coreml", size_bytes=size,
                    runs_here="no: Core ML runs only on macOS / iOS")
        return info
    raise SsdEdgeError("expected a .tflite, .ncnn.param or .mlpackage, got %s" % path)


def _tflite(path):
    try:
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise missing_extra("ai_edge_litert", "mobile")
    meta = tflite_metadata(path)
    interp = Interpreter(model_path=path)
    sigs = interp.get_signature_list()
    key = next(iter(sigs)) if sigs else None
    if key is not None:
        runner = interp.get_signature_runner(key)
        ins, outs = runner.get_input_details(), runner.get_output_details()
    else:
        ins = {d["name"]: d for d in interp.get_input_details()}
        outs = {d["name"]: d for d in interp.get_output_details()}
    with open(path, "rb") as f:
        model = schema.Model.GetRootAs(f.read(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    ops = Counter()
    graph = model.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        code = codes[graph.Operators(i).OpcodeIndex()]
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        ops[names.get(builtin, "CUSTOM:%s" % code.CustomCode())] += 1
    shape = list(next(iter(ins.values()))["shape"]) if ins else []
    return {"kind": "tflite", "spec": _spec(meta.get(SPEC_KEY)), "signature": key,
            "inputs": _io(ins), "outputs": _io(outs), "ops": dict(sorted(ops.items())),
            "layout": "NCHW" if len(shape) == 4 and shape[1] == 3 else "NHWC",
            "metadata": sorted(meta)}


def _io(details):
    return [{"name": name, "dtype": getattr(d["dtype"], "__name__", str(d["dtype"])),
             "shape": [int(s) for s in d["shape"]]} for name, d in details.items()]


def _ncnn(path):
    meta = ncnn_metadata(path)
    layers = Counter()
    with open(path, "r", encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines or lines[0].strip() != "7767517":
        raise SsdEdgeError("expected an ncnn .param (first line 7767517), got %r in %s"
                           % (lines[0][:20] if lines else "", path))
    for line in lines[2:]:
        if line.strip():
            layers[line.split()[0]] += 1
    spec = _spec(meta.get(SPEC_KEY))
    h, w = spec["input_size"] if spec else ("H", "W")
    p, c = (_num_priors(spec), len(spec["labels"])) if spec else ("P", "C")
    return {"kind": "ncnn", "spec": spec, "sidecar": ncnn_sidecar_path(path),
            "weights": ncnn_bin_path(path), "size_bytes": os.path.getsize(path) +
            os.path.getsize(ncnn_bin_path(path)), "precision": meta.get("precision"),
            # ncnn blobs have no batch axis: one image per run
            "inputs": [{"name": "in0 (input_0)", "dtype": "float32", "shape": [3, h, w]}],
            "outputs": [{"name": "out0 (scores)", "dtype": "float32", "shape": [p, c]},
                        {"name": "out1 (boxes)", "dtype": "float32", "shape": [p, 4]}],
            "ops": dict(sorted(layers.items()))}


def _num_priors(spec):
    from ..spec import DetectorSpec
    return DetectorSpec.from_dict(spec).num_priors


def _spec(raw):
    if raw is None:
        return None
    return raw if isinstance(raw, dict) else json.loads(raw)
