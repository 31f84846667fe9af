"""One record per inference backend and per artifact kind; listing them imports no backend package.

Adding a backend is one new file in this package (its class) plus one :class:`BackendRecord`
in :data:`RECORDS` (and, for a new kind of model file, one :class:`ArtifactKind` in
:data:`ARTIFACT_KINDS`). Everything else — ``backend="auto"``'s candidates, the CLIs' ``--backend``
choices, ``ssd-doctor``, ``ssd-bench``, the conformance test — reads this table.
"""
import importlib
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ...accel.trt_compat import TENSORRT_MISSING


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
        missing: the error line when ``package`` is absent and no pip extra installs it
            (TensorRT comes with JetPack or NVIDIA's packages); None = "install the extra".
    """

    name: str
    target: str
    package: str
    extra: str
    kinds: Tuple[str, ...]
    frame_path: bool = False
    cpu_auto: bool = False
    missing: Optional[str] = None

    def __post_init__(self):
        module, sep, cls = self.target.partition(":")
        if not (module and sep and cls):
            raise ValueError("expected target 'module:Class', got %r" % self.target)
        if not self.kinds or not all(isinstance(k, str) for k in self.kinds):
            raise ValueError("expected a non-empty tuple of artifact kinds for %s" % self.name)


#: The registered backends, in the order ``ssd-doctor`` lists them and ``auto`` prefers them.
RECORDS = (
    BackendRecord("trt", "ssd_edge.runtime.backends.trt:TrtBackend", "tensorrt", "trt",
                  ("engine", "onnx"), missing=TENSORRT_MISSING),
    BackendRecord("ort", "ssd_edge.runtime.backends.ort:OrtBackend", "onnxruntime", "ort",
                  ("onnx", "ort"), cpu_auto=True),
    BackendRecord("openvino", "ssd_edge.runtime.backends.openvino:OpenVINOBackend", "openvino",
                  "openvino", ("onnx",), cpu_auto=True),
    BackendRecord("opencv", "ssd_edge.runtime.backends.opencv:OpenCVBackend", "cv2", "cv",
                  ("onnx",), cpu_auto=True),
    BackendRecord("torch", "ssd_edge.runtime.backends.torch_backend:TorchBackend", "torch",
                  "export", ("pth",), frame_path=True),
    BackendRecord("triton", "ssd_edge.runtime.backends.triton:TritonBackend", "tritonclient",
                  "triton", ("triton",), frame_path=True),
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


@dataclass(frozen=True)
class ArtifactKind:
    """One kind of model file, recognised by its name (:func:`ssd_edge.runtime.artifact.find_kind`).

    Attributes:
        kind: the name :attr:`BackendRecord.kinds` lists (``"onnx"``, ``"engine"`` …).
        suffixes: lower-case endings (``".onnx"``, ``".ncnn.param"``) or, with ``url``, address
            prefixes (``"triton://"``); the longest match wins.
        url: True when the "path" is an address, not a local file (no existence check).
        reader: ``"module:function"`` reading the spec of this kind:
            ``function(path) -> ({SPEC_KEY: json} or {}, sidecar dict or None)``; None for the
            built-in kinds, which :func:`ssd_edge.runtime.artifact.open_artifact` reads itself.
        opener: ``"module:function"`` that opens this kind whole:
            ``function(path, labels=, mean=, std=) -> Artifact`` (a served model, whose spec and
            overrides the server's config decides); takes precedence over ``reader``.
    """

    kind: str
    suffixes: Tuple[str, ...]
    url: bool = False
    reader: Optional[str] = None
    opener: Optional[str] = None

    def __post_init__(self):
        if not self.suffixes or any(s != s.lower() for s in self.suffixes):
            raise ValueError("expected lower-case suffixes for artifact kind %s" % self.kind)


#: The artifact kinds, by file name; the order is the one error messages list them in.
ARTIFACT_KINDS = (
    ArtifactKind("onnx", (".onnx",)),
    ArtifactKind("ort", (".ort",)),
    ArtifactKind("engine", (".engine", ".plan")),
    ArtifactKind("pth", (".pth", ".pt")),
    ArtifactKind("tflite", (".tflite",), reader="ssd_edge.mobileinfo:read_tflite"),
    ArtifactKind("ncnn", (".ncnn.param", ".param"),
                 reader="ssd_edge.mobileinfo:read_ncnn"),
    ArtifactKind("triton", ("triton://",), url=True,
                 opener="ssd_edge.runtime.triton_spec:open_triton"),
)


def load_target(target: str) -> Any:
    """Import ``"module:name"`` and return the object (a backend class, a spec reader)."""
    module_name, _, name = target.partition(":")
    return getattr(importlib.import_module(module_name), name)
