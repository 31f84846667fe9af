"""``stream([a, b, ...])``: several sources through one model from a program's own loop."""
from dataclasses import fields

from ...errors import SsdEdgeError
from .frames import SourceOptions
from .multi import MultiPipeline, StreamState
from .multi_outputs import StreamTagged, check_single_outputs, expand_output, source_name
from .overlay import OverlayOptions
from .pipeline import PipelineOptions
from .sinks import Sink, open_sink
from .sources import make_source
from .stats import Stats

_SOURCE_KEYS = {f.name for f in fields(SourceOptions)}
_PIPELINE_KEYS = {f.name for f in fields(PipelineOptions)}


class MultiStream:
    """An opened multi-source run: iterate ``(index, frame, dets)``; ``stats``, ``stop()``,
    ``close()``. ``stats.streams`` holds each source's :class:`Stats`."""

    def __init__(self, pipeline, owned_detector=None, server=None):
        self.pipeline, self._owned, self.server = pipeline, owned_detector, server
        self.stats = pipeline.stats
        self._iter = None

    def __iter__(self):
        if self._iter is None:
            self._iter = self._run()
        return self._iter

    def _run(self):
        items = iter(self.pipeline)
        try:
            for item in items:
                yield item
        finally:
            items.close()
            self._release()

    def stop(self):
        self.pipeline.stop()

    def close(self):
        if self._iter is not None:
            self._iter.close()
            return
        for s in self.pipeline.streams:
            s.source.close()
            for k in s.sinks:
                getattr(k, "shared", k).close()
        self._release()

    def _release(self):
        if self._owned is not None and hasattr(self._owned, "close"):
            self._owned.close()
            self._owned = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def multi_stream(sources, model, outputs, serve, overlay, options):
    """:func:`~.api.stream` for a list of sources (arguments as there, plus ``track`` and
    :class:`~.tracking.TrackOptions` fields). Every source must open."""
    from .api import take_detector
    from .tracking import TrackOptions, Tracker
    track_keys = {f.name for f in fields(TrackOptions)} - {"method"}
    topts = TrackOptions(method=options.pop("track", "none") or "none",
                         **{k: options.pop(k) for k in list(options) if k in track_keys})
    src_opts = SourceOptions(**{k: options.pop(k) for k in list(options) if k in _SOURCE_KEYS})
    pipe_opts = PipelineOptions(**{k: options.pop(k) for k in list(options)
                                   if k in _PIPELINE_KEYS})
    ov = overlay if isinstance(overlay, OverlayOptions) else OverlayOptions.parse(overlay)
    if not sources:
        raise SsdEdgeError("expected at least one source, got an empty list")
    states = [StreamState(i, make_source(u, src_opts), name=source_name(u))
              for i, u in enumerate(sources)]
    uris = [o for o in outputs if not isinstance(o, Sink)]
    check_single_outputs(uris, len(states))
    for o in outputs:
        if isinstance(o, Sink) or not ("{stream}" in o or "{name}" in o):
            sink = o if isinstance(o, Sink) else open_sink(o)
            for s in states:
                s.sinks.append(StreamTagged(sink, s.index) if hasattr(sink, "write_stream")
                               and len(states) > 1 else sink)
        else:
            for s in states:
                s.sinks.append(open_sink(expand_output(o, s.index, s.name)))
    model, owned = take_detector(model, options)
    opened, server = [], None
    try:
        for s in states:
            s.source.open()
            opened.append(s)
            if topts.enabled:
                s.tracker = Tracker(topts, fps=s.source.fps)
        stats = Stats.of(model)
        if serve is not None:
            from .server import MjpegServer
            server = MjpegServer(serve, stats=stats).start()
            for s in states:
                s.sinks.append(StreamTagged(server, s.index))
        pipe = MultiPipeline(states, model, overlay=ov, options=pipe_opts, stats=stats)
    except BaseException:
        for s in opened:
            s.source.close()
        if server is not None:
            server.close()
        if owned is not None and hasattr(owned, "close"):
            owned.close()
        raise
    return MultiStream(pipe, owned, server)
