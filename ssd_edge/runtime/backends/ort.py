"""ONNX Runtime backend: ``.onnx`` (FP32, FP16, QDQ INT8) and ``.ort`` files.

Execution providers are taken in the order TensorRT, CUDA, CPU among those the installed
onnxruntime build offers (``onnxruntime-gpu`` on a desktop, NVIDIA's wheel on a Jetson, the CPU
wheel elsewhere); ``device="cpu"`` pins the CPU. Graph optimisation is on at the highest level.
"""
import os

from ...errors import SsdEdgeError, missing_extra

_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class OrtBackend:
    """An ``onnxruntime.InferenceSession`` behind the backend contract.

    Args:
        artifact: :class:`ssd_edge.runtime.artifact.Artifact` of kind ``onnx`` or ``ort``.
        threads: ``intra_op_num_threads`` (None = ONNX Runtime's default, one per core).
        device: None (best available), ``"cpu"``, ``"cuda"``/``"cuda:N"`` or ``"tensorrt"``.
    """

    def __init__(self, artifact, threads=None, device=None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise missing_extra("onnxruntime", "ort")
        opts = ort.SessionOptions()
        # Old-IR files (UltraFace's, pytorch-ssd's) list weights as inputs: one warning per
        # tensor at ORT's default level, none of them actionable for a user.
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Errors only: ORT's "[W:onnxruntime:...]" lines would land among the CLIs' one-line
        # messages; what goes wrong is raised and reported by the Detector.
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = int(threads)
        providers = _providers(ort.get_available_providers(), device, artifact)
        try:
            self.session = ort.InferenceSession(artifact.path, opts, providers=providers)
        except Exception as e:  # ORT's own exception classes; the first line says what failed
            raise SsdEdgeError("ONNX Runtime cannot load %s: %s" % (
                os.path.basename(artifact.path), (str(e).strip().splitlines() or [repr(e)])[0]))
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        dim = self.session.get_inputs()[0].shape[0]
        self.batch_size = dim if isinstance(dim, int) and dim > 0 else None
        self.providers = self.session.get_providers()
        self.device = self.providers[0].replace("ExecutionProvider", "")

    #: ``InferenceSession.run`` may be called from several threads at once (ORT documents it).
    thread_safe = True

    def __call__(self, feeds):
        """Run the graph; ``feeds`` maps input names to arrays; returns output name → array."""
        return dict(zip(self.outputs, self.session.run(self.outputs, feeds)))

    def close(self):
        self.session = None


def _providers(available, device, artifact):
    """Providers (with options) for ``device`` among ``available``, in TensorRT, CUDA, CPU order."""
    dev = (device or "").lower()
    index = 0
    if ":" in dev:
        dev, _, num = dev.partition(":")
        index = int(num)
    if dev == "cpu":
        wanted = ["CPUExecutionProvider"]
    elif dev in ("cuda", "gpu"):
        wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    elif dev in ("", "tensorrt", "trt"):
        wanted = list(_ORDER)
    else:
        raise SsdEdgeError("expected device cpu, cuda[:N] or tensorrt for the ort backend, got %r"
                           % device)
    if dev in ("cuda", "gpu", "tensorrt", "trt") and wanted[0] not in available:
        raise SsdEdgeError("expected ONNX Runtime with %s for device %r, got providers %s; install "
                           "onnxruntime-gpu (or NVIDIA's Jetson wheel)" % (wanted[0], device,
                                                                          ", ".join(available)))
    out = []
    for name in wanted:
        if name not in available:
            continue
        if name == "TensorrtExecutionProvider":
            out.append((name, _trt_options(artifact, index)))
        elif name == "CUDAExecutionProvider":
            out.append((name, {"device_id": index}))
        else:
            out.append(name)
    return out


def _trt_options(artifact, index):
    # ONNX Runtime's TensorRT provider rebuilds its engines on every start unless told to cache.
    cache = os.path.join(os.path.expanduser("~"), ".cache", "ssd-edge", "ort-trt")
    return {"device_id": index, "trt_engine_cache_enable": True,
            "trt_engine_cache_path": cache,
            "trt_fp16_enable": artifact.precision == "fp16",
            "trt_int8_enable": artifact.precision == "int8"}
