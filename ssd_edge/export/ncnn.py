"""ncnn artifacts through pnnx: ``model.ncnn.param`` / ``.bin`` (FP32) and ``model.fp16.ncnn.*``.

pnnx traces the module (TorchScript), writes its own intermediate files (``.pnnx.param``,
``.pnnx.onnx``, ``_pnnx.py``, ``_ncnn.py``, the traced ``.pt``) and the ncnn pair. All of it is
written into a private temporary folder; only the ncnn pair is moved beside the other artifacts
(weights first, so a visible ``.param`` always has its ``.bin``), and the spec goes into the
sidecar ``model[.fp16].ncnn.json`` (:mod:`ssd_edge.mobileinfo`), since the ncnn format
has no place for metadata. pnnx's blob names are ``in0`` → ``out0`` (scores), ``out1`` (boxes).
"""
import json
import os
import tempfile

import numpy as np

from ..errors import SsdEdgeError, missing_extra
from ..fileio import atomic_write_text
from .quiet import output_to_file, tail
from ..mobileinfo import NCNN_SIDECAR_SCHEMA, ncnn_bin_path, ncnn_sidecar_path


def export_ncnn(model, spec, param_path, fp16=False):
    """Write ``param_path`` (``…ncnn.param``), its ``.bin`` and ``.json`` sidecar from ``model``.

    ``fp16``: store the weights as float16 (pnnx's ``fp16=True``); else float32.
    Returns ``param_path``.
    """
    try:
        import pnnx
    except ImportError:
        raise missing_extra("pnnx", "mobile")
    import torch
    h, w = spec.input_size
    folder = os.path.dirname(os.path.abspath(param_path))
    with tempfile.TemporaryDirectory(dir=folder, prefix=".pnnx-") as tmp:
        names = {k: os.path.join(tmp, "m" + k) for k in (
            ".pt", ".pnnx.param", ".pnnx.bin", "_pnnx.py", ".pnnx.onnx", ".ncnn.param",
            ".ncnn.bin", "_ncnn.py")}
        log = os.path.join(tmp, "pnnx.log")
        try:
            with output_to_file(log):
                pnnx.export(model.eval(), names[".pt"], (torch.zeros(1, 3, h, w),),
                            pnnxparam=names[".pnnx.param"], pnnxbin=names[".pnnx.bin"],
                            pnnxpy=names["_pnnx.py"], pnnxonnx=names[".pnnx.onnx"],
                            ncnnparam=names[".ncnn.param"], ncnnbin=names[".ncnn.bin"],
                            ncnnpy=names["_ncnn.py"], fp16=bool(fp16))
        except Exception as e:         # pnnx raises plain Exceptions and torch's trace errors
            raise SsdEdgeError("pnnx cannot convert %s: %s (log: %s)" % (
                spec.arch, (str(e).strip().splitlines() or [repr(e)])[0], tail(log)))
        if not os.path.isfile(names[".ncnn.param"]):
            raise SsdEdgeError("pnnx wrote no ncnn model for %s; its log ends: %s"
                               % (spec.arch, tail(log)))
        os.replace(names[".ncnn.bin"], ncnn_bin_path(param_path))
        os.replace(names[".ncnn.param"], param_path)
    precision = "fp16" if fp16 else "fp32"
    side = {"schema": NCNN_SIDECAR_SCHEMA, "spec": spec.replace(precision=precision).to_dict(),
            "precision": precision, "input": "in0 float32 [3, H, W] per image (NCHW without "
            "the batch axis)", "outputs": {"out0": "scores", "out1": "boxes"}}
    atomic_write_text(ncnn_sidecar_path(param_path), json.dumps(side, indent=2) + "\n")
    return param_path
