"""INT8 artifact: explicit quantization (QDQ) that TensorRT, ONNX Runtime and OpenVINO all run.

TensorRT's ONNX parser accepts only symmetric signed INT8 (zero points 0) with per-channel weights
(axis → opset >= 13). Calibration runs on the user's images through the spec's pre-processing —
never on random data. ONNX Runtime's quantization pre-processing (shape inference plus graph
optimisation: BatchNorm folded into Conv) runs first; without it the QDQ graph wraps unfused
BatchNorms and runs slower than FP32 on a CPU.
"""
import logging
import os
import tempfile

import numpy as np

from ..errors import SsdEdgeError
from .graph import ensure_node_names, tail_nodes
from .metadata import get_spec, set_spec

log = logging.getLogger("ssd_edge.export")

METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
QUANTIZED_OPS = ["Conv", "Add", "Concat", "MaxPool", "AveragePool", "Mul", "Relu", "Clip"]


class _Reader(object):
    """ONNX Runtime CalibrationDataReader over pre-processed images, with a progress bar."""

    def __init__(self, input_name, images, progress=True):
        self.input_name = input_name
        self.images = images
        self.i = 0
        self.bar = _progress(len(images), "calibrating") if progress else None

    def get_next(self):
        if self.i >= len(self.images):
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            return None
        x = self.images[self.i][None]
        self.i += 1
        if self.bar is not None:
            self.bar.update(1)
        return {self.input_name: np.ascontiguousarray(x, dtype=np.float32)}

    def rewind(self):
        self.i = 0


def _progress(total, desc):
    try:
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, unit="img", leave=False)
    except ImportError:
        return None


def to_int8(model, images, method="minmax", progress=True):
    """Quantize an FP32 ``onnx.ModelProto`` to QDQ INT8 calibrated on ``images (N,3,H,W)``.

    Returns the quantized ``onnx.ModelProto`` (spec precision "int8"). The tail (softmax, prior
    decoding) stays in float. Calibration feeds one image at a time.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quant_pre_process, quantize_static)
    if images is None or len(images) == 0:
        raise SsdEdgeError("expected calibration images (N, 3, H, W) for INT8, got none")
    if method not in METHODS:
        raise SsdEdgeError("expected --calib-method minmax, entropy or percentile, got %s" % method)
    spec = get_spec(model)
    with tempfile.TemporaryDirectory() as tmp:
        src, pre, out = (os.path.join(tmp, n) for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(model, src)
        quant_pre_process(src, pre, skip_symbolic_shape=False)
        pre_model = ensure_node_names(onnx.load(pre))
        onnx.save(pre_model, pre)
        exclude = tail_nodes(pre_model.graph)

        class Reader(_Reader, CalibrationDataReader):
            pass

        reader = Reader(pre_model.graph.input[0].name, images, progress)
        quantize_static(pre, out, reader, quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=QUANTIZED_OPS, per_channel=True, reduce_range=False,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=exclude,
                        calibrate_method=getattr(CalibrationMethod, METHODS[method]),
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                       # TensorRT dequantizes only INT8; INT32 biases stay float
                                       "QuantizeBias": False})
        q = onnx.load(out)
    if spec is not None:
        set_spec(q, spec.replace(precision="int8"))
    _check_symmetric(q)
    return q


def _check_symmetric(model):
    """TensorRT rejects non-zero zero points; fail loudly rather than ship such a graph."""
    from onnx import numpy_helper
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zp = inits.get(node.input[2])
            if zp is not None and np.any(numpy_helper.to_array(zp) != 0):
                raise SsdEdgeError("INT8 export produced a non-zero zero point in %s; TensorRT "
                                   "needs symmetric quantization" % node.name)
            if zp is not None and zp.data_type != 3:  # 3 = INT8
                raise SsdEdgeError("INT8 export produced %s zero points in %s; TensorRT needs "
                                   "signed INT8" % (zp.data_type, node.name))
