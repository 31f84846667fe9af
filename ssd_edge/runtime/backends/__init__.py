"""Inference backends, registered by name; listing them imports nothing.

The backend contract (docs/architecture.md §5), for anyone adding one:

* one class per file, constructed as ``Class(artifact, threads=None, device=None)`` where
  ``artifact`` is a :class:`ssd_edge.runtime.artifact.Artifact` (path, kind, spec, precision,
  parsed ONNX info, engine sidecar, loaded torch model);
* ``inputs`` / ``outputs``: lists of tensor names; ``__call__(feeds: dict) -> dict`` of numpy
  arrays keyed by output name; ``close()`` releases sessions and device memory;
* optional ``batch_size``: an int when the graph only takes that exact batch (the Detector
  chunks and pads), None or absent for any batch; optional ``max_batch`` caps a chunk;
* optional ``precision`` (what actually runs, e.g. ``"fp16"`` for torch on CUDA) and
  ``device`` (a short description);
* optional ``detect_batch(frames, options) -> list[Detections]`` for a backend that owns the
  whole frame path (resize, network and NMS on a GPU), declared by the instance attribute
  ``owns_frame_path = True`` (an instance that cannot, e.g. torch on the CPU, leaves it False);
  the Detector then hands it the frames and reads ``last_timings`` from it if it sets one.

Registering a backend: one file here with its class, and one
:class:`~ssd_edge.runtime.backends.registry.BackendRecord` in ``registry.RECORDS``.

Import of the backend's package (onnxruntime, cv2, openvino, torch, tensorrt) happens inside the
class, never at module top, so ``import ssd_edge.runtime`` stays light.
"""
import importlib
import importlib.util

from ...errors import SsdEdgeError, missing_extra
from .select import Hardware, choose_backend, cpu_flags, probe_hardware  # noqa: F401

from .registry import RECORDS, REGISTRY, BackendRecord, owns_frame_path  # noqa: F401

#: name → ``"module:Class"`` (derived from :data:`RECORDS`; kept for callers that list names).
BACKENDS = {r.name: r.target for r in RECORDS}
#: name → (import name of the package it needs, pip extra that installs it).
PACKAGES = {r.name: (r.package, r.extra) for r in RECORDS}
#: name → artifact kinds it runs (see :func:`ssd_edge.runtime.artifact.artifact_kind`).
KINDS = {r.name: r.kinds for r in RECORDS}


def backend_names():
    """Registered backend names, without importing any of them."""
    return list(BACKENDS)


def is_installed(name):
    """True when the package backend ``name`` needs can be found (it is not imported)."""
    package = PACKAGES[name][0]
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _missing(name, package, extra):
    if name == "trt":
        # TensorRT is not on PyPI as an ssd-edge extra: JetPack or NVIDIA's packages provide it.
        from ..trt_compat import TENSORRT_MISSING
        return SsdEdgeError(TENSORRT_MISSING)
    return missing_extra(package, extra)


def backend_class(name):
    """Import and return the class registered as ``name``.

    Raises :class:`SsdEdgeError` for an unknown name or a missing package (naming the extra).
    """
    if name not in BACKENDS:
        raise SsdEdgeError("unknown backend %r; expected auto or one of %s"
                           % (name, ", ".join(BACKENDS)))
    package, extra = PACKAGES[name]
    if not is_installed(name):
        raise _missing(name, package, extra)
    module_name, class_name = BACKENDS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        if getattr(e, "name", None) == package or package in str(e):
            raise _missing(name, package, extra)
        raise
    return getattr(module, class_name)


def check_kind(name, artifact):
    """Raise when backend ``name`` cannot run ``artifact``'s kind of file."""
    kinds = KINDS.get(name, ())
    if artifact.kind not in kinds:
        runners = [n for n, k in KINDS.items() if artifact.kind in k]
        raise SsdEdgeError("backend %r runs %s files, got a .%s file (%s); use backend='auto' or "
                           "one of: %s" % (name, "/".join("." + k for k in kinds), artifact.kind,
                                           artifact.path, ", ".join(runners)))
