"""The Detector: an artifact plus a backend, turning BGR frames into Detections.

``Detector.load(path)`` reads the spec from the artifact, picks (or takes) a backend, and from
then on ``det(frame)`` runs preprocess → backend → post-processing, timing each stage. A backend
that owns the whole frame path (``detect_batch``) is handed the frames directly.
"""
import json
import logging
import os
import time

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..contract import NMS_KEY
from ..errors import SsdEdgeError
from ..detections import Detections
from ..spec import NmsDefaults
from .artifact import Artifact, open_artifact
from .callgate import CLOSED, CallGate
from .backends import (backend_class, check_kind, choose_backend, owns_frame_path,
                       probe_hardware)
from .postprocess import (DetectOptions, effective_nms, outputs_to_detections,
                          threshold_vector)
from ..preprocess import Preprocessor, check_frame

PathLike = Union[str, "os.PathLike[str]"]
from ..validate import check_detect_options

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
            settings (as :func:`ssd_edge.postprocess`), adjustable at any time; by default the
            model's own ``spec.nms``. With NMS in the graph only the confidence filters and
            ``max_detections`` apply.
        classes: class names to keep (None = all); class_thresholds: ``{name: threshold}``.
        graph_nms: for a graph with NMS inside, the parameters it was exported with (its IoU,
            candidate and per-class limits are fixed; a ``conf_threshold`` below its own has no
            effect); None otherwise.
        last_timings: ``{"preprocess", "inference", "postprocess"}`` in ms for the last call.
    """

    def __init__(self, artifact: Artifact, backend: Any, backend_name: str,
                 backend_reason: str = "", conf_threshold: Optional[float] = None,
                 iou_threshold: Optional[float] = None, candidate_size: Optional[int] = None,
                 top_k: Optional[int] = None, max_detections: Optional[int] = None,
                 classes: Optional[Sequence[str]] = None,
                 class_thresholds: Optional[Dict[str, float]] = None,
                 nms: Optional[NmsDefaults] = None) -> None:
        self.artifact = artifact
        self.spec = artifact.spec
        self.path = artifact.path
        self.backend = backend
        self.backend_name = backend_name
        self.backend_reason = backend_reason
        self.precision = getattr(backend, "precision", None) or artifact.precision
        settings = effective_nms(self.spec, nms, conf_threshold=conf_threshold,
                                 iou_threshold=iou_threshold, candidate_size=candidate_size,
                                 top_k=top_k, max_detections=max_detections)
        self.conf_threshold = settings.conf_threshold
        self.iou_threshold = settings.iou_threshold
        self.candidate_size = settings.candidate_size
        self.top_k = settings.top_k
        self.max_detections = settings.max_detections
        self._classes = None  # type: Optional[Tuple[str, ...]]
        self._class_thresholds = None  # type: Optional[Dict[str, float]]
        self.classes = classes
        self.class_thresholds = class_thresholds
        self.last_timings = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
        # One Detector may serve several threads: a backend that is not safe to enter twice
        # (OpenCV's Net, a TensorRT context, CUDA graphs) runs one call at a time, and close()
        # waits for running calls (see callgate).
        self._gate = CallGate(exclusive=not getattr(backend, "thread_safe", False))
        owns = owns_frame_path(backend)
        self._pre = None if owns else Preprocessor(self.spec)  # type: Optional[Preprocessor]
        self._layout = "nms" if artifact.has_nms or "num_detections" in backend.outputs \
            else "decoded"
        self.graph_nms = _graph_nms(artifact) if self._layout == "nms" else None
        self.options()      # range-checks the settings now, not at the first frame

    @classmethod
    def load(cls, path: Optional[PathLike] = None, backend: Optional[str] = "auto",
             conf_threshold: Optional[float] = None, iou_threshold: Optional[float] = None,
             candidate_size: Optional[int] = None, top_k: Optional[int] = None,
             max_detections: Optional[int] = None, labels: Any = None,
             mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
             net: Optional[str] = None, threads: Optional[int] = None,
             device: Optional[str] = None, classes: Optional[Sequence[str]] = None,
             class_thresholds: Optional[Dict[str, float]] = None, fp16: Optional[bool] = None,
             cuda_graph: Optional[bool] = None, torch_compile: Optional[bool] = None,
             nms: Optional[NmsDefaults] = None,
             resolution: Union[int, str, Tuple[int, int], None] = None) -> "Detector":
        """Open ``path`` (``.onnx``, ``.ort``, ``.engine`` + sidecar, ``.pth``) on a backend.

        ``path`` may also be a registry name (``"ultraface-rfb-320"``, see
        :mod:`ssd_edge.runtime.registry`): fetched into the user cache on first use. A local
        path of the same spelling wins.

        Args:
            path: the model; None = the bundled model's FP32 ONNX (no torch needed).
            backend: ``"auto"`` or a registered name (:data:`ssd_edge.runtime.backends.BACKENDS`).
            conf_threshold, iou_threshold, candidate_size, top_k, max_detections: as
                :func:`ssd_edge.postprocess`; each left None comes from ``nms`` when given, else
                from the model's own ``spec.nms`` (pytorch-ssd's Predictor defaults for a model
                that records none: 0.4, 0.45, 200, -1 and a 200 overall cap).
            nms: all five at once, as a :class:`~ssd_edge.spec.NmsDefaults`.
            labels, net, mean, std: describe a foreign ONNX model without ssd_edge metadata
                (``labels``: a labels.txt path or names; ``net``: zoo name such as ``mb1-ssd``).
            threads: CPU threads for the backend (None = its default).
            device: backend device, e.g. ``"cpu"``, ``"cuda:0"`` (None = the best available).
            classes: class names to keep; class_thresholds: ``{name: threshold}``.
            fp16, cuda_graph, torch_compile: the torch backend's options (FP16 weights, CUDA
                graph replay, ``torch.compile``; see
                :class:`~ssd_edge.runtime.backends.torch_backend.TorchBackend`); None = its
                defaults. Other backends take none of them.
            resolution: a ``.pth``'s input size (``N`` or ``"WxH"``; see
                :func:`ssd_edge.models.load_checkpoint`) — weights do not record it.
        """
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):
            raise SsdEdgeError("expected threads >= 1 (or None for the backend's default), got %r"
                               % (threads,))
        if path is None:
            from .assets import require_bundled_model
            path = require_bundled_model("pass a model: Detector.load(\"model.onnx\")")
        from .registry import resolve_model
        path, _ = resolve_model(path)
        artifact = open_artifact(path, labels=labels, net=net, mean=mean, std=std,
                                 resolution=resolution)
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
                   top_k, max_detections, classes, class_thresholds, nms)

    # ------------------------------------------------------------------ settings
    @property
    def labels(self) -> Tuple[str, ...]:
        return self.spec.labels

    @property
    def classes(self) -> Optional[Tuple[str, ...]]:
        return self._classes

    @classes.setter
    def classes(self, names: Optional[Sequence[str]]) -> None:
        names = None if not names else tuple(names)
        threshold_vector(self.spec.labels, 0.0, names, None)      # validates the names now
        self._classes = names

    @property
    def class_thresholds(self) -> Optional[Dict[str, float]]:
        return self._class_thresholds

    @class_thresholds.setter
    def class_thresholds(self, mapping: Optional[Dict[str, float]]) -> None:
        mapping = dict(mapping) if mapping else None
        threshold_vector(self.spec.labels, 0.0, None, mapping)
        self._class_thresholds = mapping

    def options(self) -> DetectOptions:
        """The current settings as a :class:`DetectOptions` (what backends receive)."""
        check_detect_options(self.conf_threshold, self.iou_threshold, self.candidate_size,
                             self.top_k, self.max_detections)
        return DetectOptions(
            float(self.conf_threshold), float(self.iou_threshold), int(self.candidate_size),
            int(self.top_k), int(self.max_detections), self.spec.labels,
            threshold_vector(self.spec.labels, self.conf_threshold, self._classes,
                             self._class_thresholds))

    # ------------------------------------------------------------------ running
    def __call__(self, frame: np.ndarray) -> Detections:
        """Detect in one ``(H, W, 3) uint8`` BGR frame; boxes in that frame's pixels."""
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Any) -> List[Detections]:
        """Detect in a list of BGR uint8 frames (sizes may differ); one Detections per frame.

        A backend that owns the frame path (torch on CUDA) also takes a ``(N, H, W, 3)`` uint8
        torch tensor, e.g. frames a hardware decoder left in GPU memory.
        """
        if self.backend is None:
            raise SsdEdgeError(CLOSED)
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

    def _owned_path(self, frames: Any, options: DetectOptions) -> List[Detections]:
        with self._gate.call():
            backend = self.backend
            t0 = time.perf_counter()
            out = backend.detect_batch(frames, options)
            total = (time.perf_counter() - t0) * 1e3
            self.last_timings = dict(getattr(backend, "last_timings", None) or
                                     {"preprocess": 0.0, "inference": total, "postprocess": 0.0})
        return out

    def _chunks(self, frames: List[np.ndarray]) -> List[List[np.ndarray]]:
        step = getattr(self.backend, "batch_size", None) or getattr(self.backend, "max_batch",
                                                                    None) or len(frames)
        return [frames[i:i + step] for i in range(0, len(frames), step)]

    def _run_chunk(self, frames: List[np.ndarray], options: DetectOptions,
                   timings: Dict[str, float]) -> List[Detections]:
        pre = self._pre
        assert pre is not None, "a backend that owns the frame path has no host preprocessing"
        t0 = time.perf_counter()
        fixed = getattr(self.backend, "batch_size", None)
        n = max(len(frames), fixed or 0)
        if n > len(frames):
            # A fixed-batch graph gets zero padding; its extra outputs are ignored.
            batch = np.zeros((n,) + self._input_shape(), np.float32)
            pre(frames, out=batch)
        else:
            batch = pre(frames)
        t1 = time.perf_counter()
        with self._gate.call():
            backend = self.backend
            outputs = backend({backend.inputs[0]: batch})
        t2 = time.perf_counter()
        sizes = [(f.shape[1], f.shape[0]) for f in frames]
        dets = outputs_to_detections(outputs, sizes, options, self._layout)
        t3 = time.perf_counter()
        timings["preprocess"] += (t1 - t0) * 1e3
        timings["inference"] += (t2 - t1) * 1e3
        timings["postprocess"] += (t3 - t2) * 1e3
        return dets

    def _input_shape(self) -> Tuple[int, int, int]:
        h, w = self.spec.input_size
        return (3, h, w)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the backend (sessions, device memory) once no call is running in it; the
        Detector is unusable after (calls raise :class:`SsdEdgeError`)."""
        self._gate.close()
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.close()

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "Detector(%r, backend=%r, precision=%r, arch=%r, classes=%d)" % (
            self.path, self.backend_name, self.precision, self.spec.arch,
            self.spec.num_classes - 1)


def _is_torch_tensor(obj: Any) -> bool:
    # Checked by type name: the Detector never imports torch itself.
    return type(obj).__name__ == "Tensor" and type(obj).__module__.split(".")[0] == "torch"


def _graph_nms(artifact: Artifact) -> Dict[str, Any]:
    """The in-graph NMS parameters the exporter recorded (``ssd_edge.nms`` metadata), or {}."""
    raw = artifact.onnx.metadata.get(NMS_KEY) if artifact.onnx is not None else None
    if raw is None and artifact.sidecar is not None:
        raw = artifact.sidecar.get("nms")
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
