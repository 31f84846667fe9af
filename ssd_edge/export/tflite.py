"""LiteRT (TensorFlow Lite) artifacts: ``model.tflite``, ``model.fp16.tflite``, ``model.int8.tflite``.

* FP32: ``litert-torch`` converts the PyTorch module (``torch.export`` → StableHLO → TFLite).
  The input stays NCHW (``input_0 float32 [1, 3, H, W]``, like the ONNX files; the converter
  places one transpose to NHWC inside the graph), so every runtime feeds the same array.
* FP16: weights stored as float16 with explicit DEQUANTIZE ops in front of the float32 kernels
  (``ai-edge-quantizer``'s float casting); half the size, float32 compute.
* INT8: ``ai-edge-quantizer`` static int8 (weights symmetric per channel, activations per
  tensor), calibrated on the user's images through the spec's pre-processing. The ops inside
  the network's sub-modules (backbone, extras, head convolutions) are quantized; the tail the
  SSD's own ``forward`` runs (reshape, concat, softmax, prior decoding) stays float, as do the
  input and outputs (QUANTIZE after the input, one DEQUANTIZE per head output). The heads run
  in int8 too: with each activation's full range (``minmax``) their logits lose no agreement
  (UltraFace RFB-320 on real faces 99.1 % either way, the shapes mb2-ssd-lite 98.2 % against
  97.9 % with float heads), and float heads cost a DEQUANTIZE of every head's input map and
  float convolutions (about 7 % of UltraFace RFB-320's INT8 network time).

With two classes (face detectors) the scores are computed as ``sigmoid(logits @ [[1, -1], [-1,
1]])``, which is the softmax over two classes (``p0 = 1 / (1 + exp(x1 - x0))``) written as one
FULLY_CONNECTED and one LOGISTIC: XNNPACK runs SOFTMAX over ``[P, 2]`` row by row (about 70 µs
for UltraFace's 4420 priors on one AVX-512 core), the two ops in about 6 µs, and both stay inside
the one XNNPACK partition (a REVERSE_V2 or GATHER would not). Scores differ from PyTorch's
softmax by float rounding (~1e-7).

Each file's default signature is renamed to the ONNX names (``input_0`` → ``scores``,
``boxes``) and carries the spec as the metadata buffer ``ssd_edge.spec``
(:mod:`ssd_edge.mobileinfo`).
"""
import os
import tempfile

import numpy as np

from ..errors import SsdEdgeError, missing_extra
from ..fileio import atomic_write_bytes
from .quiet import output_to_file, tail

from ..contract import SPEC_KEY
# Ops whose output tensor is named inside a child module ("SSD/Sequential_3/Conv2d_0;1") are the
# network; ops named at the root ("SSD;25", or the two-class forward's) are the reshape / softmax /
# decoding tail.
NETWORK_OPS = r"^[^;/]+/"


def _litert_torch():
    try:
        import litert_torch
    except ImportError:
        raise missing_extra("litert_torch", "mobile")
    return litert_torch


def export_tflite(model, spec, path):
    """Convert ``model`` (``(1, 3, H, W)`` → scores, boxes) to an FP32 ``.tflite`` at ``path``."""
    import torch
    litert_torch = _quiet(_litert_torch)
    h, w = spec.input_size
    sample = (torch.zeros(1, 3, h, w),)
    module = model.eval()
    if getattr(model, "num_classes", None) == 2 and hasattr(model, "heads"):
        module = _two_class_forward(model)
    edge = _quiet(lambda: litert_torch.convert(module, sample))
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.TemporaryDirectory(dir=folder, prefix=".tflite-") as tmp:
        raw = os.path.join(tmp, "raw.tflite")
        _quiet(lambda: edge.export(raw))
        with open(raw, "rb") as f:
            finish_tflite(f.read(), spec, path)
    return path


def _two_class_forward(ssd):
    """``ssd``'s eval forward with the two-class softmax as FULLY_CONNECTED + LOGISTIC (see the
    module docstring); ``(1, 3, H, W)`` → ``scores (1, P, 2)``, ``boxes (1, P, 4)``. The heads
    run as the SSD's own sub-modules, so op names keep the ``Network/...`` vs root split the
    INT8 recipe relies on."""
    import torch
    from ..models.ssd import decode_corner

    class TwoClassSSD(torch.nn.Module):
        def __init__(self):
            super(TwoClassSSD, self).__init__()
            self.ssd = ssd
            self.register_buffer("pairs", torch.tensor([[1.0, -1.0], [-1.0, 1.0]]),
                                 persistent=False)

        def forward(self, x):
            conf, loc = self.ssd.heads(x)
            scores = torch.sigmoid(torch.nn.functional.linear(conf, self.pairs))
            return scores, decode_corner(loc, self.ssd.priors, self.ssd.center_variance,
                                         self.ssd.size_variance)
    return TwoClassSSD().eval()


def to_tflite_fp16(fp32_path, path, spec):
    """``fp32_path`` with float16-stored weights (float32 compute) at ``path``."""
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    q = quantizer.Quantizer(fp32_path)
    q.update_quantization_recipe(
        regex=".*", operation_name="*", algorithm_key=AlgorithmName.FLOAT_CASTING,
        op_config=qtyping.OpQuantizationConfig(
            weight_tensor_config=qtyping.TensorQuantizationConfig(
                num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
            compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True))
    result = _quiet(lambda: q.quantize())
    finish_tflite(bytes(result.quantized_model), spec.replace(precision="fp16"), path)
    return path


def to_tflite_int8(fp32_path, path, spec, calib, method="minmax"):
    """Full-integer network with float edges and tail, calibrated on ``calib (N, 3, H, W)``
    float32 (the user's images after the spec's pre-processing; never random data).

    ``method``: ``"minmax"`` takes each activation's range over all images (as the ONNX INT8
    export does); ``"entropy"`` / ``"percentile"`` map to the quantizer's moving-average ranges,
    which clip rare outliers.
    """
    from ai_edge_quantizer import calibrator, qtyping, quantizer
    from ai_edge_quantizer.utils import qsv_utils
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    if calib is None or not len(calib):
        raise SsdEdgeError("the INT8 .tflite needs calibration images (--calib DIR); random "
                           "calibration is never used")
    q = quantizer.Quantizer(fp32_path)
    q.update_quantization_recipe(
        regex=NETWORK_OPS, operation_name="*",
        algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT,
        op_config=qtyping.OpQuantizationConfig(
            activation_tensor_config=qtyping.TensorQuantizationConfig(
                num_bits=8, symmetric=False, granularity=qtyping.QuantGranularity.TENSORWISE),
            weight_tensor_config=qtyping.TensorQuantizationConfig(
                num_bits=8, symmetric=True, granularity=qtyping.QuantGranularity.CHANNELWISE),
            compute_precision=qtyping.ComputePrecision.INTEGER, explicit_dequantize=False))
    data = {"serving_default": [{"input_0": np.ascontiguousarray(x[None], np.float32)}
                                for x in calib]}
    threads = max(1, min(4, os.cpu_count() or 1))
    update = qsv_utils.min_max_update if method == "minmax" else qsv_utils.moving_average_update

    def run():
        with open(fp32_path, "rb") as f:
            cal = calibrator.Calibrator(f.read(), num_threads=threads, qsv_update_func=update)
        cal.calibrate(data, q._recipe_manager)   # Quantizer.calibrate fixes the moving average
        return q.quantize(cal.get_model_qsvs())
    result = _quiet(run)
    finish_tflite(bytes(result.quantized_model), spec.replace(precision="int8"), path)
    return path


def finish_tflite(data, spec, path):
    """Rename the default signature to ``input_0`` → ``scores``, ``boxes``, put ``spec`` in the
    ``ssd_edge.spec`` metadata buffer (replacing any earlier one), write ``path`` atomically."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    model = fbu.read_model_from_bytearray(bytearray(data))   # resolves offset buffers
    for sig in model.signatureDefs or []:
        for item, name in zip(sig.inputs or [], ["input_0"]):
            item.name = name
        for item, name in zip(sig.outputs or [], ["scores", "boxes"]):
            item.name = name
    model.metadata = [m for m in (model.metadata or []) if _name(m.name) != SPEC_KEY]
    buf = schema.BufferT()
    buf.data = np.frombuffer(spec.to_json().encode("utf-8"), np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = SPEC_KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    atomic_write_bytes(path, bytes(fbu.convert_object_to_bytearray(model)))
    return path


def _name(raw):
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _quiet(fn):
    """Run ``fn`` with the converter's and quantizer's progress output in a log file."""
    import contextlib
    import io
    with tempfile.TemporaryDirectory(prefix="ssd-edge-litert-") as tmp:
        log = os.path.join(tmp, "litert.log")
        try:
            with output_to_file(log), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                return fn()
        except SsdEdgeError:
            raise
        except Exception as e:        # converter / quantizer failures come from many libraries
            raise SsdEdgeError("LiteRT conversion failed: %s (log: %s)" % (
                (str(e).strip().splitlines() or [repr(e)])[0], tail(log)))
