"""Live streams: sources, sinks, the threaded pipeline, overlay and the HTTP server.

    from ssd_edge.runtime.stream import stream
    for frame, dets in stream(0, model="model.onnx"):     # camera 0
        print(dets.labels, dets.boxes)                      # pixel x1 y1 x2 y2 in `frame`

The building blocks are public for programs that compose their own loop: :func:`open_source`
and the source classes, :func:`open_sink` and the sink classes, :class:`Pipeline`,
:class:`MjpegServer`, :func:`draw`. See docs/streaming.md. Importing this package imports
neither OpenCV nor any inference backend; they load when a source, sink or model is opened.
"""
from ..assets import bundled_model
from .api import Stream, load_detector, stream
from .files import ImageSource, VideoFileSource
from .frames import FLIPS, Frame, Source, SourceOptions, has_gstreamer
from .live import LiveSource
from .overlay import OverlayOptions, class_color, draw
from .pipeline import Pipeline, PipelineOptions, stop_on_signals
from .server import MjpegServer, parse_bind
from .sinks import (CODECS, DETECTIONS_SCHEMA, DisplaySink, ImageSequenceSink, JsonlSink, Sink,
                    VideoSink, detection_record, open_sink)
from .sources import csi_pipeline, make_source, open_source
from .stats import STAGES, STATS_SCHEMA, Stats

__all__ = [
    "CODECS", "DETECTIONS_SCHEMA", "DisplaySink", "FLIPS", "Frame", "ImageSequenceSink", "ImageSource",
    "JsonlSink", "LiveSource", "MjpegServer", "OverlayOptions", "Pipeline", "PipelineOptions",
    "STAGES", "STATS_SCHEMA", "Sink", "Source", "SourceOptions", "Stats", "Stream",
    "VideoFileSource", "VideoSink", "bundled_model", "class_color", "csi_pipeline",
    "detection_record", "draw", "has_gstreamer", "load_detector", "make_source", "open_sink",
    "open_source", "parse_bind", "stop_on_signals", "stream",
]
