"""LiteRT (TensorFlow Lite) backend: ``.tflite`` files (FP32, FP16 weights, full-integer INT8).

The ``ai-edge-litert`` interpreter with its default XNNPACK delegate on the CPU. ssd-export writes
the input as ``input_0 float32 [1, 3, H, W]`` (NCHW, as the ONNX files; the converter puts one
transpose to NHWC inside the graph) and the outputs ``scores`` / ``boxes`` with float32 edges
also in the INT8 file. A foreign file with an NHWC input (``[1, H, W, 3]``), integer input or
output, or unnamed outputs (``output_0``, ``output_1``: scores, then boxes) is handled here too.
"""
import os

import numpy as np

from ...errors import SsdEdgeError, missing_extra


class LiteRTBackend:
    """A LiteRT ``Interpreter`` behind the backend contract.

    Args:
        artifact: :class:`ssd_edge.runtime.artifact.Artifact` of kind ``tflite``.
        threads: interpreter threads (None = one per core).
        device: None or ``"cpu"`` (GPU and NPU delegates are the phone app's business).

    Attributes:
        layout: ``"NCHW"`` or ``"NHWC"``, the file's input layout (feeds are NCHW either way).
        batch_size: None for a batch-1 file (a batch is run image by image, as on a phone),
            else the file's fixed batch (the Detector chunks and pads to it).
    """

    def __init__(self, artifact, threads=None, device=None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise missing_extra("ai_edge_litert", "mobile")
        if device not in (None, "cpu", "CPU"):
            raise SsdEdgeError("expected device cpu (or none) for the litert backend, got %r"
                               % device)
        self.device = "cpu (XNNPACK)"
        self.precision = artifact.precision
        try:
            self.interp = Interpreter(model_path=artifact.path,
                                      num_threads=int(threads or os.cpu_count() or 1))
            self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise SsdEdgeError("LiteRT cannot load %s: %s" % (
                os.path.basename(artifact.path), (str(e).strip().splitlines() or [repr(e)])[0]))
        self._in, self._out = _signature(self.interp)
        shape = self._in["shape"]
        if len(shape) != 4 or 3 not in (shape[1], shape[3]):
            raise SsdEdgeError("expected a 4-D image input [B, 3, H, W] or [B, H, W, 3] in %s, "
                               "got %s" % (artifact.path, list(shape)))
        self.layout = "NCHW" if shape[1] == 3 else "NHWC"
        self._file_batch = int(shape[0]) if shape[0] > 0 else 1
        self.batch_size = None if self._file_batch == 1 else self._file_batch
        self.inputs = ["input_0"]
        self.outputs = ["scores", "boxes"]

    def __call__(self, feeds):
        """Run ``input_0 (B, 3, H, W) float32``; returns ``scores``/``boxes`` float32 arrays."""
        x = np.asarray(feeds[self.inputs[0]], np.float32)
        if self.layout == "NHWC":
            x = x.transpose(0, 2, 3, 1)
        step = self._file_batch
        parts = [self._run(x[i:i + step]) for i in range(0, len(x), step)]
        return {name: np.concatenate([p[k] for p in parts]) if len(parts) > 1 else parts[0][k]
                for k, name in enumerate(self.outputs)}

    def _run(self, x):
        self.interp.set_tensor(self._in["index"], _quantize(np.ascontiguousarray(x), self._in))
        self.interp.invoke()
        return [_dequantize(self.interp.get_tensor(d["index"]), d) for d in self._out]

    def close(self):
        self.interp = None


def _signature(interp):
    """(input detail, [scores detail, boxes detail]) from the default signature's names."""
    sigs = interp.get_signature_list()
    if sigs:
        key = next(iter(sigs))
        runner = interp.get_signature_runner(key)
        ins = runner.get_input_details()
        outs = runner.get_output_details()
        inp = ins.get("input_0") or next(iter(ins.values()))
        if "scores" in outs and "boxes" in outs:
            return inp, [outs["scores"], outs["boxes"]]
        ordered = [outs[k] for k in sorted(outs)]
    else:
        inp = interp.get_input_details()[0]
        ordered = interp.get_output_details()
    if len(ordered) != 2:
        raise SsdEdgeError("expected two outputs (scores, boxes) in the .tflite, got %d"
                           % len(ordered))
    return inp, ordered


def _quantize(x, detail):
    if detail["dtype"] == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def _dequantize(y, detail):
    if y.dtype == np.float32:
        return y
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)
