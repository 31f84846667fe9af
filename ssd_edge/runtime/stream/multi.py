"""Several sources in one process: one Detector, the newest frame of every source in one batch.

    capture (one thread per source: a live source's 1-slot buffer, a file's read-ahead queue)
    ──▶ inference: gather one frame per source that has one ──▶ ``detect_batch`` ──▶ per-stream
    tracker ──▶ per-stream sinks needing no image (.jsonl) ──▶ output thread (overlay, video,
    image, server and RTSP sinks)

Live sources keep newest-frame semantics each; file sources drop nothing. A file read as fast as
the model goes (no ``--rate``, no live source beside it) is waited for, so every batch holds one
frame of each such file; a paced file and a live source join the batch when they have a frame. A
source that ends or fails is reported (log line, its ``Stats.state``) and the others go on.
``max_frames`` counts per stream; ``duration`` is for the whole run.
"""
import logging
import queue
import threading
import time

from .overlay import OverlayOptions, draw
from .pipeline import Controlled, PipelineOptions, _Prefetch
from .stats import Stats

log = logging.getLogger("ssd_edge.stream")
_END = object()


class StreamState:
    """One source of a :class:`MultiPipeline`: its sinks, tracker and :class:`Stats`."""

    def __init__(self, index, source, sinks=(), tracker=None, name=None):
        self.index, self.source, self.sinks, self.tracker = index, source, list(sinks), tracker
        self.name = name if name is not None else str(index)
        self.stats = Stats(source=source.uri)
        self.stats.index = index
        self.feed = None
        self.active = True
        self.waited = False     # read in lockstep (an unpaced file): the batch waits for it
        self.opened = False
        self.count = 0


class MultiPipeline(Controlled):
    """Run ``detector`` over several opened sources; iterate for ``(stream, image, dets)``.

    Args:
        streams: :class:`StreamState` list (sources opened, sinks not yet; a sink shared by
            every stream is wrapped per stream, see :class:`.multi_outputs.StreamTagged`).
        detector: ``detect_batch(frames) -> [Detections]`` (or just ``det(frame)``).
        overlay, options: as for :class:`~.pipeline.Pipeline`.
        stats: the aggregate :class:`Stats`; its ``streams`` lists each stream's.
    """

    def __init__(self, streams, detector, overlay=None, options=None, stats=None):
        self.streams, self.detector = list(streams), detector
        self.overlay = overlay if overlay is not None else OverlayOptions()
        self.options = options or PipelineOptions()
        self.stats = stats or Stats.of(detector)
        self.stats.streams = [s.stats for s in self.streams]
        self.stats.source = ", ".join(s.source.uri for s in self.streams)
        self._stop = threading.Event()
        self._out = queue.Queue(maxsize=self.options.queue_size * max(1, len(self.streams)))
        self._error = None
        batched = getattr(detector, "detect_batch", None)
        self._batch = batched if callable(batched) else None

    # ------------------------------------------------------------------ inference thread
    def __iter__(self):
        live = any(s.source.live for s in self.streams)
        for s in self.streams:
            if s.source.live:
                s.feed = s.source
            else:
                if live and not s.source.options.rate and s.source.fps:
                    s.source.pace(s.source.fps)     # mixed with live ones: real time
                s.waited = not s.source.paced
                s.feed = _Prefetch(s.source, self.options.queue_size, threading.Event())
        drawn = any(k.wants_image for s in self.streams for k in s.sinks)
        worker = None
        self.stats.start()
        for s in self.streams:
            s.stats.start()
        if drawn:
            worker = threading.Thread(target=self._output_loop, name="ssd-output", daemon=True)
            worker.start()
        t0 = time.monotonic()
        try:
            while not self._stop.is_set() and self._error is None:
                if self.options.duration is not None and \
                        time.monotonic() - t0 >= self.options.duration:
                    return
                batch = self._gather()
                if batch is None:
                    return
                if not batch:
                    time.sleep(0.002)
                    continue
                for item in self._infer(batch, drawn):
                    yield item
        finally:
            self._finish(worker)

    def _gather(self):
        """One frame from every stream that has one; None when every stream is done."""
        batch, max_frames = [], self.options.max_frames
        for s in self.streams:
            if not s.active:
                continue
            if max_frames is not None and s.count >= max_frames:
                self._end(s, None)
                continue
            try:
                frame = self._read(s)
            except TimeoutError:
                continue
            except Exception as e:          # a source lost for good: report, go on
                self._end(s, e)
                continue
            s.stats.set_dropped(s.source.dropped)
            if frame is None:
                self._end(s, None)
                continue
            s.count += 1
            batch.append((s, frame))
        if not any(s.active for s in self.streams) and not batch:
            return None
        return batch

    def _read(self, s):
        if not s.waited:
            return s.feed.read(timeout=0)
        while not self._stop.is_set():
            try:
                return s.feed.read(timeout=0.25)
            except TimeoutError:
                continue
        raise TimeoutError("stopping")

    def _end(self, s, error):
        s.active = False
        s.stats.state = "ended" if error is None else "failed"
        s.stats.error = None if error is None else str(error)
        if error is not None:
            log.warning("stream %d (%s) failed: %s; the other streams go on", s.index,
                        s.source.uri, error)
        elif self.options.max_frames is None or s.count < self.options.max_frames:
            log.info("stream %d (%s) ended after %d frames", s.index, s.source.uri, s.count)

    def _infer(self, batch, drawn):
        images = [f.image for _, f in batch]
        t0 = time.perf_counter()
        if self._batch is not None:
            results = self._batch(images)
        else:
            results = [self.detector(im) for im in images]
        wall = (time.perf_counter() - t0) * 1e3
        t = getattr(self.detector, "last_timings", None) or {"inference": wall}
        n = len(batch)
        for (s, frame), dets in zip(batch, results):
            ready = frame.timestamp if s.source.live else time.time()
            timings = {"capture": frame.capture_ms}
            for k in ("preprocess", "inference", "postprocess"):
                timings[k] = None if t.get(k) is None else t[k] / n   # a batch's share
            if s.tracker is not None:
                t1 = time.perf_counter()
                dets = s.tracker(dets)
                timings["track"] = (time.perf_counter() - t1) * 1e3
            if not s.opened:
                h, w = frame.image.shape[:2]
                for sink in s.sinks:
                    sink.open((w, h), s.source.fps)
                s.opened = True
            self._write([k for k in s.sinks if not k.wants_image], frame.image, frame, dets)
            if any(k.wants_image for k in s.sinks):
                self._emit((s, frame, dets, timings, ready))
            else:
                self._done(s, frame, timings, ready)
            yield s.index, frame.image, dets

    def _emit(self, item):
        while self._error is None or item is _END:
            try:
                self._out.put(item, timeout=0.25)
                return
            except queue.Full:
                continue

    def _finish(self, worker):
        self._stop.set()
        for s in self.streams:
            if s.feed is not None and s.feed is not s.source:
                s.feed.close()
        if worker is not None:
            self._emit(_END)
            worker.join()
        errors = [self._error] if self._error is not None else []
        closed = set()
        for s in self.streams:
            for closer in [s.source] + s.sinks:
                target = getattr(closer, "shared", closer)
                if id(target) in closed:
                    continue
                closed.add(id(target))
                try:
                    target.close()
                except Exception as e:      # close the rest: videos must still be finalised
                    errors.append(e)
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------ output thread
    def _output_loop(self):
        while True:
            item = self._out.get()
            if item is _END:
                return
            if self._error is not None:
                continue
            try:
                s, frame, dets, timings, ready = item
                image = frame.image
                if self.overlay.draws_anything:
                    t0 = time.perf_counter()
                    image = draw(frame.image, dets, self.overlay, fps=s.stats.fps())
                    timings["draw"] = (time.perf_counter() - t0) * 1e3
                self._write([k for k in s.sinks if k.wants_image], image, frame, dets)
                self._done(s, frame, timings, ready)
            except BaseException as e:
                self._error = e
                self._stop.set()

    def _done(self, s, frame, timings, ready):
        timings["end_to_end"] = (time.time() - ready) * 1e3
        h, w = frame.image.shape[:2]
        s.stats.record(timings, (w, h))
        self.stats.record(timings, (w, h))
        self.stats.set_dropped(sum(x.source.dropped for x in self.streams))
