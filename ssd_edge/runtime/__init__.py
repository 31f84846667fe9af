"""The thin runtime: artifacts in, :class:`~ssd_edge.detections.Detections` out.

``from ssd_edge.runtime import Detector`` imports numpy and the core only; each backend imports
its own package (onnxruntime, openvino, cv2, torch, tensorrt) when it is constructed.

* :class:`Detector` — ``Detector.load(path, backend="auto", ...)``; ``det(frame)``,
  ``det.detect_batch(frames)``.
* :data:`BACKENDS` — registered backends, ``name → "module:Class"``.
* :class:`Preprocessor`, :func:`open_artifact` — the pieces, for tools that need them alone.
"""
from .artifact import Artifact, open_artifact
from .backends import BACKENDS, backend_names
from .detector import Detector
from .postprocess import DetectOptions
from ..preprocess import Preprocessor, check_frame

__all__ = ["Artifact", "BACKENDS", "DetectOptions", "Detector", "Preprocessor", "backend_names",
           "check_frame", "open_artifact"]
