"""``stream(source, model=...)``: detections from any source in a program's own loop.

    from ssd_edge.runtime.stream import stream
    for frame, dets in stream("rtsp://cam/1", model="model.onnx", outputs=["run.jsonl"]):
        ...   # frame: (H, W, 3) uint8 BGR; dets: Detections, pixel xyxy boxes

Several sources go through one model, batched: pass a list, and each item carries the index of
its source::

    for i, frame, dets in stream(["rtsp://cam/1", "rtsp://cam/2"], outputs=["cam-{stream}.jsonl"]):
        ...

Everything is opened when ``stream()`` is called, so a bad URI or model fails there (one-line
:class:`SsdEdgeError`), not at the first frame.
"""
import os
from dataclasses import fields
from typing import Any, Dict, Generator, Iterator, Optional, Sequence, Tuple

import numpy as np

from ...errors import SsdEdgeError
from ..assets import require_bundled_model
from .frames import SourceOptions
from .overlay import OverlayOptions
from .pipeline import Pipeline, PipelineOptions
from .server import MjpegServer
from .sinks import Sink, open_sink
from .sources import open_source
from .stats import Stats

_SOURCE_KEYS = {f.name for f in fields(SourceOptions)}
_PIPELINE_KEYS = {f.name for f in fields(PipelineOptions)}
_TRACK_KEYS = {"lost_track_buffer", "track_activation_threshold", "minimum_consecutive_frames",
               "minimum_iou_threshold", "high_conf_det_threshold"}


def load_detector(model: Any = None, **kwargs: Any) -> Any:
    """``Detector.load(model, **kwargs)``; with no model, the bundled one or a clear error."""
    if model is None:
        model = require_bundled_model()
    try:
        from ..detector import Detector
    except ImportError as e:
        raise SsdEdgeError("the Detector is not available in this installation (%s)" % e)
    return Detector.load(os.fspath(model), **kwargs)


def is_detector(obj: Any) -> bool:
    return callable(obj) and not isinstance(obj, (str, bytes, os.PathLike))


def take_detector(model: Any, options: Dict[str, Any]) -> Tuple[Any, Any]:
    """``(detector, owned)``: ``model`` itself when it is a loaded detector (then ``options``
    must be empty), else one loaded with ``options`` that the caller owns and closes."""
    if not is_detector(model):
        owned = load_detector(model, **options)
        return owned, owned
    if options:
        raise SsdEdgeError("expected no detector options with a loaded detector, got %s"
                           % ", ".join(sorted(options)))
    return model, None


class Stream:
    """An opened pipeline to iterate: ``(frame, dets)`` pairs; ``stats``, ``stop()``, ``close()``."""

    def __init__(self, pipeline: Pipeline, owned_detector: Any = None,
                 server: Optional[MjpegServer] = None) -> None:
        self.pipeline, self._owned, self.server = pipeline, owned_detector, server
        self.stats = pipeline.stats
        self._iter = None  # type: Optional[Generator[Any, None, None]]

    def __iter__(self) -> Iterator[Tuple[np.ndarray, Any]]:
        if self._iter is None:
            self._iter = self._run()
        return self._iter

    def _run(self) -> Generator[Any, None, None]:
        frames = iter(self.pipeline)
        try:
            for item in frames:
                yield item
        finally:
            frames.close()            # finalises the outputs now, not when garbage-collected
            self._release()

    def stop(self) -> None:
        """End after the frame in hand; outputs are finalised."""
        self.pipeline.stop()

    def close(self) -> None:
        """Stop now and release everything (also when the stream was never iterated)."""
        if self._iter is not None:
            self._iter.close()
        else:
            self.pipeline.source.close()
            for sink in self.pipeline.sinks:
                sink.close()
            self._release()

    def _release(self) -> None:
        if self._owned is not None and hasattr(self._owned, "close"):
            self._owned.close()
            self._owned = None

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def stream(source: Any, model: Any = None, outputs: Sequence[Any] = (),
           serve: Optional[str] = None, overlay: Any = "box,labels,conf",
           **options: Any) -> Stream:
    """Open ``source`` (a URI, see :mod:`.sources`) and run ``model`` on it.

    Args:
        source: camera number, path or URI; a list of them to run several sources batched
            (then iterate ``(stream index, frame, dets)``; outputs may hold ``{stream}``, and
            ``track="bytetrack"`` tracks each stream).
        model: an artifact path for ``Detector.load`` or a loaded detector object.
        outputs: sink URIs (``run.mp4``, ``run.jsonl``, ``out/%05d.jpg``, ``display://0``)
            or :class:`Sink` objects.
        serve: ``"[HOST:]PORT"`` to serve the annotated stream over HTTP (host 127.0.0.1).
        overlay: ``--overlay`` flags for what sinks see.
        options: ``track`` (``bytetrack``, ``sort``, ``ocsort``) with :class:`TrackOptions`
            fields (lost_track_buffer ...), :class:`SourceOptions` fields (width, height,
            rate, flip, loop ...), :class:`PipelineOptions` fields (max_frames, duration ...), and the rest goes to
            ``Detector.load`` (backend, conf_threshold, iou_threshold, classes, class_thresholds ...).
    """
    if isinstance(source, (list, tuple)):
        from .multi_api import multi_stream
        return multi_stream(source, model, outputs, serve, overlay, options)
    from .tracking import TrackOptions, TrackedDetector, Tracker
    topts = TrackOptions(method=options.pop("track", "none") or "none",
                         **{k: options.pop(k) for k in list(options) if k in _TRACK_KEYS})
    src_opts = SourceOptions(**{k: options.pop(k) for k in list(options) if k in _SOURCE_KEYS})
    pipe_opts = PipelineOptions(**{k: options.pop(k) for k in list(options)
                                   if k in _PIPELINE_KEYS})
    ov = overlay if isinstance(overlay, OverlayOptions) else OverlayOptions.parse(overlay)
    sinks = [o if isinstance(o, Sink) else open_sink(o) for o in outputs]
    model, owned = take_detector(model, options)
    src = None
    try:
        src = open_source(source, src_opts)
        stats = Stats.of(model, source=src.uri)
        server = None
        if serve is not None:
            server = MjpegServer(serve, stats=stats).start()
            sinks.append(server)
        det = TrackedDetector(model, Tracker(topts, fps=src.fps)) if topts.enabled else model
        pipe = Pipeline(src, det, sinks, overlay=ov, options=pipe_opts, stats=stats)
    except BaseException:
        if src is not None:
            src.close()
        if owned is not None and hasattr(owned, "close"):
            owned.close()
        raise
    return Stream(pipe, owned, server)
