"""The Detector: an artifact plus a backend, turning BGR frames into Detections.

``Detector.load(path)`` reads the spec from the artifact, picks (or takes) a backend, and from
then on ``det(frame)`` runs preprocess → backend → post-processing, timing each stage. A backend
that owns the whole frame path (``detect_batch``) is handed the frames directly.
"""
import contextlib
import json
import logging
import os
import threading
import time

import numpy as np

from ..errors import SsdEdgeError
from .artifact import open_artifact
from .backends import (backend_class, check_kind, choose_backend, owns_frame_path,
                       probe_hardware)
from .postprocess import DetectOptions, outputs_to_detections, threshold_vector
from .preprocess import Preprocessor, check_frame
from .validate import check_detect_options

log = logging.getLogger("ssd_edge.runtime")


class Detector:
    """Run one detector artifact on frames.

    Attributes:
        spec: the :class:`~ssd_edge.spec.DetectorSpec` in use.
        path: the artifact's path.
        backend_name: the backend running it (``ort``, ``trt``, ``openvino``, ``opencv``,
            ``torch``); ``backend_reason`` says why ``auto`` picked it.
        precision: what the backend runs (``fp32``, ``fp16``, ``int8``).
        conf_threshold, iou_threshold, candidate_size, top_k, max_detections: post-processing
            settings (as :func:`ssd_edge.postprocess`), adjustable at any time. With NMS in the
            graph only the confidence filters and ``max_detections`` apply.
        classes: class names to keep (None = all); class_thresholds: ``{name: threshold}``.
        graph_nms: for a graph with NMS inside, the parameters it was exported with (its IoU,
            candidate and per-class limits are fixed; a ``conf_threshold`` below its own has no
            effect); None otherwise.
        last_timings: ``{"preprocess", "inference", "postprocess"}`` in ms for the last call.
    """

    def __init__(self, artifact, backend, backend_name, backend_reason="", conf_threshold=0.4,
                 iou_threshold=0.45, candidate_size=200, top_k=-1, max_detections=200,
                 classes=None, class_thresholds=None):
        self.artifact = artifact
        self.spec = artifact.spec
        self.path = artifact.path
        self.backend = backend
        self.backend_name = backend_name
        self.backend_reason = backend_reason
        self.precision = getattr(backend, "precision", None) or artifact.precision
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.candidate_size = candidate_size
        self.top_k = top_k
        self.max_detections = max_detections
        self._classes = None
        self._class_thresholds = None
        self.classes = classes
        self.class_thresholds = class_thresholds
        self.last_timings = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
        # One Detector may serve several threads: a backend that is not safe to enter twice
        # (OpenCV's Net, a TensorRT context, CUDA graphs) runs one call at a time.
        self._lock = contextlib.nullcontext() if getattr(backend, "thread_safe", False) \
            else threading.Lock()
        owns = owns_frame_path(backend)
        self._pre = None if owns else Preprocessor(self.spec)
        self._layout = "nms" if artifact.has_nms or "num_detections" in backend.outputs \
            else "decoded"
        self.graph_nms = _graph_nms(artifact) if self._layout == "nms" else None
        self.options()      # range-checks the settings now, not at the first frame

    @classmethod
    def load(cls, path, backend="auto", conf_threshold=0.4, iou_threshold=0.45,
             candidate_size=200, top_k=-1, max_detections=200, labels=None, mean=None, std=None,
             net=None, threads=None, device=None, classes=None, class_thresholds=None,
             fp16=None, cuda_graph=None, torch_compile=None):
        """Open ``path`` (``.onnx``, ``.ort``, ``.engine`` + sidecar, ``.pth``) on a backend.

        Args:
            backend: ``"auto"`` or a registered name (:data:`ssd_edge.runtime.backends.BACKENDS`).
            labels, net, mean, std: describe a foreign ONNX model without ssd_edge metadata
                (``labels``: a labels.txt path or names; ``net``: zoo name such as ``mb1-ssd``).
            threads: CPU threads for the backend (None = its default).
            device: backend device, e.g. ``"cpu"``, ``"cuda:0"`` (None = the best available).
            classes: class names to keep; class_thresholds: ``{name: threshold}``.
            fp16, cuda_graph, torch_compile: the torch backend's options (FP16 weights, CUDA
                graph replay, ``torch.compile``; see
                :class:`~ssd_edge.runtime.backends.torch_backend.TorchBackend`); None = its
                defaults. Other backends take none of them.
        """
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):
            raise SsdEdgeError("expected threads >= 1 (or None for the backend's default), got %r"
                               % (threads,))
        artifact = open_artifact(path, labels=labels, net=net, mean=mean, std=std)
        if backend in (None, "auto"):
            name, reason = choose_backend(artifact, probe_hardware())
            log.info("%s: backend %s (%s)", os.path.basename(artifact.path), name, reason)
        else:
            name, reason = backend, "requested"
        klass = backend_class(name)
        check_kind(name, artifact)
        extra = {k: v for k, v in (("fp16", fp16), ("cuda_graph", cuda_graph),
                                   ("torch_compile", torch_compile)) if v is not None}
        if extra and name != "torch":
            raise SsdEdgeError("expected %s only with the torch backend, got backend %r; drop "
                               "them (an FP16 ONNX is its own file: ssd-export --fp16)"
                               % (", ".join(sorted(extra)), name))
        impl = klass(artifact, threads=threads, device=device, **extra)
        return cls(artifact, impl, name, reason, conf_threshold, iou_threshold, candidate_size,
                   top_k, max_detections, classes, class_thresholds)

    # ------------------------------------------------------------------ settings
    @property
    def labels(self):
        return self.spec.labels

    @property
    def classes(self):
        return self._classes

    @classes.setter
    def classes(self, names):
        names = None if not names else tuple(names)
        threshold_vector(self.spec.labels, 0.0, names, None)      # validates the names now
        self._classes = names

    @property
    def class_thresholds(self):
        return self._class_thresholds

    @class_thresholds.setter
    def class_thresholds(self, mapping):
        mapping = dict(mapping) if mapping else None
        threshold_vector(self.spec.labels, 0.0, None, mapping)
        self._class_thresholds = mapping

    def options(self):
        """The current settings as a :class:`DetectOptions` (what backends receive)."""
        check_detect_options(self.conf_threshold, self.iou_threshold, self.candidate_size,
                             self.top_k, self.max_detections)
        return DetectOptions(
            float(self.conf_threshold), float(self.iou_threshold), int(self.candidate_size),
            int(self.top_k), int(self.max_detections), self.spec.labels,
            threshold_vector(self.spec.labels, self.conf_threshold, self._classes,
                             self._class_thresholds))

    # ------------------------------------------------------------------ running
    def __call__(self, frame):
        """Detect in one ``(H, W, 3) uint8`` BGR frame; boxes in that frame's pixels."""
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames):
        """Detect in a list of BGR uint8 frames (sizes may differ); one Detections per frame.

        A backend that owns the frame path (torch on CUDA) also takes a ``(N, H, W, 3)`` uint8
        torch tensor, e.g. frames a hardware decoder left in GPU memory.
        """
        if self.backend is None:
            raise SsdEdgeError("expected an open Detector, got one that was closed; load it again")
        if self._pre is None and _is_torch_tensor(frames):
            return self._owned_path(frames, self.options())
        frames = list(frames)
        for frame in frames:
            check_frame(frame)
        if not frames:
            return []
        options = self.options()
        if self._pre is None:
            return self._owned_path(frames, options)
        timings = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
        results = []
        for chunk in self._chunks(frames):
            results.extend(self._run_chunk(chunk, options, timings))
        self.last_timings = timings
        return results

    def _owned_path(self, frames, options):
        with self._lock:
            t0 = time.perf_counter()
            out = self.backend.detect_batch(frames, options)
            total = (time.perf_counter() - t0) * 1e3
            self.last_timings = dict(getattr(self.backend, "last_timings", None) or
                                     {"preprocess": 0.0, "inference": total, "postprocess": 0.0})
        return out

    def _chunks(self, frames):
        step = getattr(self.backend, "batch_size", None) or getattr(self.backend, "max_batch",
                                                                    None) or len(frames)
        return [frames[i:i + step] for i in range(0, len(frames), step)]

    def _run_chunk(self, frames, options, timings):
        t0 = time.perf_counter()
        fixed = getattr(self.backend, "batch_size", None)
        n = max(len(frames), fixed or 0)
        if n > len(frames):
            # A fixed-batch graph gets zero padding; its extra outputs are ignored.
            batch = np.zeros((n,) + self._input_shape(), np.float32)
            self._pre(frames, out=batch)
        else:
            batch = self._pre(frames)
        t1 = time.perf_counter()
        with self._lock:
            outputs = self.backend({self.backend.inputs[0]: batch})
        t2 = time.perf_counter()
        sizes = [(f.shape[1], f.shape[0]) for f in frames]
        dets = outputs_to_detections(outputs, sizes, options, self._layout)
        t3 = time.perf_counter()
        timings["preprocess"] += (t1 - t0) * 1e3
        timings["inference"] += (t2 - t1) * 1e3
        timings["postprocess"] += (t3 - t2) * 1e3
        return dets

    def _input_shape(self):
        h, w = self.spec.input_size
        return (3, h, w)

    # ------------------------------------------------------------------ lifetime
    def close(self):
        """Release the backend (sessions, device memory). The Detector is unusable after."""
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "Detector(%r, backend=%r, precision=%r, arch=%r, classes=%d)" % (
            self.path, self.backend_name, self.precision, self.spec.arch,
            self.spec.num_classes - 1)


def _is_torch_tensor(obj):
    # Checked by type name: the Detector never imports torch itself.
    return type(obj).__name__ == "Tensor" and type(obj).__module__.split(".")[0] == "torch"


def _graph_nms(artifact):
    """The in-graph NMS parameters the exporter recorded (``ssd_edge.nms`` metadata), or {}."""
    raw = artifact.onnx.metadata.get("ssd_edge.nms") if artifact.onnx is not None else None
    if raw is None and artifact.sidecar is not None:
        raw = artifact.sidecar.get("nms")
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
