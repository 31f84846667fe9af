"""OpenVINO backend: the same ``.onnx`` files (FP32, FP16, QDQ INT8) on x86 and Arm CPUs.

On AVX2 CPUs without VNNI it is the backend that makes the INT8 artifact faster than FP32. For
FP32 artifacts ``INFERENCE_PRECISION_HINT`` is pinned to ``f32``: on CPUs with bf16/AMX OpenVINO
would otherwise drop to bf16 and the outputs would no longer match the other backends.
"""
import os

from ...errors import SsdEdgeError, missing_extra


class OpenVINOBackend:
    """A compiled OpenVINO model and one infer request behind the backend contract.

    Args:
        artifact: :class:`ssd_edge.runtime.artifact.Artifact` of kind ``onnx``.
        threads: ``INFERENCE_NUM_THREADS`` (None = OpenVINO's default).
        device: OpenVINO device name (None = ``"CPU"``; ``"GPU"`` for an Intel GPU).
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
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            raise SsdEdgeError("OpenVINO cannot load %s on %s: %s" % (
                os.path.basename(artifact.path), self.device, lines[0] if lines else e))
        self.request = self.compiled.create_infer_request()
        self.inputs = [p.get_any_name() for p in self.compiled.inputs]
        self.outputs = [p.get_any_name() for p in self.compiled.outputs]
        shape = self.compiled.inputs[0].get_partial_shape()
        dim = shape[0]
        self.batch_size = dim.get_length() if dim.is_static else None

    def __call__(self, feeds):
        """Run the model; ``feeds`` maps input names to arrays; returns output name → array."""
        result = self.request.infer(feeds)      # copies outputs (share_outputs defaults False)
        return {name: result[self.compiled.output(name)] for name in self.outputs}

    def close(self):
        self.request = None
        self.compiled = None
