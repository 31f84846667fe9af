"""OpenVINO backend: the same ``.onnx`` files (FP32, FP16, QDQ INT8) on x86 and Arm CPUs.

On AVX2 CPUs without VNNI it is the backend that makes the INT8 artifact faster than FP32.
Inference precision per artifact:

* FP32: ``INFERENCE_PRECISION_HINT`` is pinned to ``f32``. On CPUs with bf16 (AVX512_BF16, AMX)
  OpenVINO would otherwise drop to bf16 and the outputs would no longer match the other backends.
* FP16: the device's own reduced precision, OpenVINO's default — bf16 on CPUs that compute it
  (what TensorRT's FP16 is to a GPU: the user asked for half precision; on the bundled model's
  held-out set the FP16 artifact in bf16 scores the FP32 mAP), f16 where the device has it, f32
  elsewhere. ONNX Runtime runs the same file slower than FP32 on a CPU (casts around each op).
* INT8: the quantized layers run in int8; the hint is left to OpenVINO.

``precision`` reports what runs (``fp32``, ``bf16``, ``fp16``, ``int8``), read back from the
compiled model.
"""
import os
import re
import threading

from ...errors import SsdEdgeError, missing_extra

# OpenVINO element type names → the precision words the Detector reports.
_RUN_PRECISION = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


class OpenVINOBackend:
    """A compiled OpenVINO model and one infer request behind the backend contract.

    Args:
        artifact: :class:`ssd_edge.runtime.artifact.Artifact` of kind ``onnx``.
        threads: ``INFERENCE_NUM_THREADS`` (None = OpenVINO's default).
        device: OpenVINO device name (None = ``"CPU"``; ``"GPU"`` for an Intel GPU).

    Attributes:
        precision: what the compiled model computes in (see the module docstring).
    """

    def __init__(self, artifact, threads=None, device=None):
        try:
            import openvino as ov
        except ImportError:
            raise missing_extra("openvino", "openvino")
        core = ov.Core() if hasattr(ov, "Core") else ov.runtime.Core()   # < 2023.1: .runtime
        self.device = (device or "CPU").upper()
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        if artifact.precision == "fp32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        try:
            model = core.read_model(artifact.path)
            self.compiled = core.compile_model(model, self.device, config)
        except RuntimeError as e:
            raise SsdEdgeError("OpenVINO cannot load %s on %s: %s; use the ort backend" % (
                os.path.basename(artifact.path), self.device, openvino_reason(e)))
        self.precision = run_precision(self.compiled, artifact.precision)
        self.request = self.compiled.create_infer_request()
        self._local = threading.local()
        self._local.request = self.request
        onnx = artifact.onnx
        self.inputs = _names(self.compiled.inputs, onnx.inputs if onnx else ())
        self.outputs = _names(self.compiled.outputs, onnx.outputs if onnx else ())
        self._ports = dict(zip(self.outputs, self.compiled.outputs))
        shape = self.compiled.inputs[0].get_partial_shape()
        dim = shape[0]
        self.batch_size = dim.get_length() if dim.is_static else None

    #: Each calling thread gets its own infer request (one request runs one inference at a
    #: time: "Infer Request is busy"), so a Detector shared by threads runs them in parallel.
    thread_safe = True

    def __call__(self, feeds):
        """Run the model; ``feeds`` maps input names to arrays; returns output name → array."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer(feeds)           # copies outputs (share_outputs defaults False)
        return {name: result[port] for name, port in self._ports.items()}

    def close(self):
        self.request = None
        self.compiled = None
        self._local = threading.local()


_OV_NOISE = re.compile(r"^(Exception from \S+:\d+:?|Check '.*' failed at \S+:\d+:?|"
                       r"FrontEnd API failed with \w+:?|Summary:)$")


def openvino_reason(err):
    """The line of an OpenVINO exception that says what is wrong: its messages open with
    source locations ("Exception from src/inference/src/cpp/core.cpp:84:") and summaries."""
    lines = [ln.strip().lstrip("-").strip() for ln in str(err).splitlines()]
    real = [ln for ln in lines if ln and not _OV_NOISE.match(ln)]
    if not real:
        return type(err).__name__
    return "; ".join(real[:2])[:300]


def _names(ports, declared):
    """One name per port: the one the ONNX graph declares. A port carries several tensor names
    (an FP16 artifact's ``scores`` is also ``graph_output_cast_0``, the converter's cast) and
    ``get_any_name()`` may return any of them."""
    wanted = [t.name for t in declared]
    out = []
    for port in ports:
        names = port.get_names()
        out.append(next((n for n in wanted if n in names), port.get_any_name()))
    return out


def run_precision(compiled, stored):
    """What ``compiled`` computes in: ``int8`` for a QDQ artifact (its quantized layers), else
    its ``INFERENCE_PRECISION_HINT`` as ``fp32``/``bf16``/``fp16``; ``stored`` (the artifact's
    own precision) when the device does not report one."""
    if stored == "int8":
        return "int8"
    try:
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
    except RuntimeError:            # devices without the property (older plugins, some GPUs)
        return stored
    # an ov.Type (``type_name`` "bf16") in current releases; a plain string in some older ones
    name = hint if isinstance(hint, str) else getattr(hint, "type_name", str(hint))
    return _RUN_PRECISION.get(str(name).lower(), stored)
