"""One record per inference backend; listing or probing them imports no backend package.

Adding a backend is one new file in this package (its class) plus one :class:`BackendRecord`
in :data:`RECORDS`. Everything else — ``backend="auto"``'s candidates, the CLIs' ``--backend``
choices, ``ssd-doctor``, ``ssd-bench``, the conformance test — reads this table.
"""
from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class BackendRecord:
    """What ssd-edge knows about one backend before importing it.

    Attributes:
        name: the registered name (``--backend NAME``, ``Detector.load(backend=NAME)``).
        target: ``"module:Class"`` of the backend class.
        package: import name of the Python package it needs (probed with ``find_spec``).
        extra: the ``pip install "ssd-edge[EXTRA]"`` that installs that package.
        kinds: artifact kinds it runs (see :func:`ssd_edge.runtime.artifact.artifact_kind`).
        frame_path: True when the class *may* own the whole frame path (resize, network and
            NMS on a device) through ``detect_batch``; an instance says whether it does through
            its ``owns_frame_path`` attribute.
        cpu_auto: True when ``backend="auto"`` may pick it for an ONNX file on a CPU (the
            order of :data:`RECORDS` is the order of preference).
    """

    name: str
    target: str
    package: str
    extra: str
    kinds: Tuple[str, ...]
    frame_path: bool = False
    cpu_auto: bool = False

    def __post_init__(self):
        module, sep, cls = self.target.partition(":")
        if not (module and sep and cls):
            raise ValueError("expected target 'module:Class', got %r" % self.target)
        if not self.kinds or not all(isinstance(k, str) for k in self.kinds):
            raise ValueError("expected a non-empty tuple of artifact kinds for %s" % self.name)


#: The registered backends, in the order ``ssd-doctor`` lists them and ``auto`` prefers them.
RECORDS = (
    BackendRecord("trt", "ssd_edge.runtime.backends.trt:TrtBackend", "tensorrt", "trt",
                  ("engine", "onnx")),
    BackendRecord("ort", "ssd_edge.runtime.backends.ort:OrtBackend", "onnxruntime", "ort",
                  ("onnx", "ort"), cpu_auto=True),
    BackendRecord("openvino", "ssd_edge.runtime.backends.openvino:OpenVINOBackend", "openvino",
                  "openvino", ("onnx",), cpu_auto=True),
    BackendRecord("opencv", "ssd_edge.runtime.backends.opencv:OpenCVBackend", "cv2", "cv",
                  ("onnx",), cpu_auto=True),
    BackendRecord("torch", "ssd_edge.runtime.backends.torch_backend:TorchBackend", "torch",
                  "export", ("pth",), frame_path=True),
    BackendRecord("litert", "ssd_edge.runtime.backends.litert:LiteRTBackend", "ai_edge_litert",
                  "mobile", ("tflite",)),
    BackendRecord("ncnn", "ssd_edge.runtime.backends.ncnn:NcnnBackend", "ncnn", "mobile",
                  ("ncnn",)),
)

#: name → record.
REGISTRY: Dict[str, BackendRecord] = {r.name: r for r in RECORDS}


def owns_frame_path(backend) -> bool:
    """True when a backend *instance* runs the whole frame path itself (``detect_batch``).

    A backend declares it with ``owns_frame_path = True``; the default is False, so a class
    that forgets it simply gets the Detector's host pre- and post-processing.
    """
    return bool(getattr(backend, "owns_frame_path", False)) and \
        callable(getattr(backend, "detect_batch", None))
