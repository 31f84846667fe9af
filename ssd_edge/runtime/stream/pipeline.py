"""The pipeline: capture, inference and output overlap in three threads joined by bounded queues.

    capture thread ──(file: queue of ``queue_size``; live: the source's 1-slot buffer)──▶
    inference (the thread iterating the pipeline; then the sinks that need no image, e.g. .jsonl)
    ──(queue of ``queue_size``)──▶ output thread (overlay, video/display/server sinks, stats)

Files lose no frame (the capture thread blocks when the queue is full); live sources keep only
the newest frame. Every queue and statistics window is bounded, so memory stays flat over long
runs. :meth:`Pipeline.stop` (SIGINT/SIGTERM in the CLI) ends the run after the frame in hand:
frames already read are drawn and written, then every sink is closed (a video is finalised).
The pipeline takes any detector object (``det(frame) -> Detections``; ``last_timings``,
``backend_name``, ``precision``, ``path`` are read when present); it never loads a backend itself.
"""
import contextlib
import logging
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Optional

from ...errors import SsdEdgeError
from .overlay import OverlayOptions, draw
from .stats import Stats

log = logging.getLogger("ssd_edge.stream")
_END = object()


@dataclass(frozen=True)
class PipelineOptions:
    """``--max-frames``, ``--duration`` (seconds), queue depth and the status line."""

    max_frames: Optional[int] = None
    duration: Optional[float] = None
    queue_size: int = 4
    status: bool = False
    status_interval: float = 0.5

    def __post_init__(self):
        if self.max_frames is not None and self.max_frames < 1:
            raise SsdEdgeError("expected --max-frames >= 1, got %d" % self.max_frames)
        if self.duration is not None and self.duration <= 0:
            raise SsdEdgeError("expected --duration > 0 seconds, got %s" % self.duration)
        if self.queue_size < 1:
            raise SsdEdgeError("expected queue_size >= 1, got %d" % self.queue_size)


class _Prefetch:
    """Capture thread for a non-live source: reads ahead into a bounded queue, drops nothing."""

    def __init__(self, source, depth, stop):
        self.source, self.stop = source, stop
        self.q = queue.Queue(maxsize=depth)
        self.thread = threading.Thread(target=self._run, name="ssd-capture", daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while not self.stop.is_set():
                frame = self.source.read()
                if not self._put(_END if frame is None else frame) or frame is None:
                    return
        except BaseException as e:      # handed to the reading thread, raised there
            self._put(e)

    def _put(self, item):
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read(self, timeout=None):
        try:
            item = self.q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no frame within %s s" % timeout)
        if item is _END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5.0)


class Controlled:
    """``stop()`` / ``stopping`` / ``run()`` of a pipeline: set ``_stop`` (an Event) and
    ``stats``, and iterate in ``__iter__``."""

    def stop(self):
        """Ask the run to end after the frame in hand; safe from a signal handler or any thread."""
        self._stop.set()

    @property
    def stopping(self):
        return self._stop.is_set()

    def run(self):
        """Process the whole run; return its :class:`Stats`."""
        for _ in self:
            pass
        return self.stats

    def __iter__(self):
        raise NotImplementedError

    def _write(self, sinks, image, frame, dets):
        """Hand one frame to ``sinks``; a sink that asks to stop (a closed window) ends the run."""
        for sink in sinks:
            sink.write(image, frame, dets)
            if sink.stop_requested:
                self._stop.set()


class Pipeline(Controlled):
    """Run ``detector`` on every frame of an opened ``source`` and feed ``sinks``.

    Iterate it for ``(image, dets)`` pairs (``image``: (H, W, 3) uint8 BGR as captured, do not
    modify it in place while sinks run; ``dets``: Detections, pixel boxes) or call :meth:`run`.
    The pipeline closes the source and every sink when it ends.
    """

    def __init__(self, source, detector, sinks=(), overlay=None, options=None, stats=None):
        self.source, self.detector, self.sinks = source, detector, list(sinks)
        self.overlay = overlay if overlay is not None else OverlayOptions()
        self.options = options or PipelineOptions()
        self.stats = stats or Stats.of(detector, source=getattr(source, "uri", ""))
        self._stop = threading.Event()
        self._out = queue.Queue(maxsize=self.options.queue_size)
        self._error = None
        self._opened = False
        self._last_status = 0.0
        self._status_shown = False


    # ------------------------------------------------------------------ inference thread
    def __iter__(self):
        feed = self.source if self.source.live else _Prefetch(self.source, self.options.queue_size,
                                                              threading.Event())
        # Sinks that never look at the drawn image (.jsonl, a collector) are cheap: they are
        # written right after inference, so their latency has no thread hand-off in it. Drawing
        # and image sinks (video, display, server) run on the output thread.
        inline = [s for s in self.sinks if not s.wants_image]
        drawn = [s for s in self.sinks if s.wants_image]
        worker = None
        self.stats.start()
        if drawn:
            worker = threading.Thread(target=self._output_loop, args=(drawn,), name="ssd-output",
                                      daemon=True)
            worker.start()
        try:
            for frame in self._frames(feed):
                # Latency starts when the frame is ready for the model: a live frame when it was
                # captured (its wait for a free model is real staleness), a file frame when the
                # model asks for it (read-ahead is not latency).
                ready = frame.timestamp if self.source.live else time.time()
                dets = self.detector(frame.image)
                t = getattr(self.detector, "last_timings", None) or {}
                timings = {"capture": frame.capture_ms, "preprocess": t.get("preprocess"),
                           "inference": t.get("inference"), "postprocess": t.get("postprocess"),
                           "track": t.get("track")}
                if not self._opened:
                    self._open_sinks(frame)
                self._write(inline, frame.image, frame, dets)
                if drawn:
                    self._emit((frame, dets, timings, ready))
                else:
                    self._done(frame, timings, ready)
                yield frame.image, dets
        finally:
            self._finish(feed, worker)

    def _open_sinks(self, frame):
        h, w = frame.image.shape[:2]
        for sink in self.sinks:
            sink.open((w, h), self.source.fps)
        self._opened = True

    def _frames(self, feed):
        opts, t0, n = self.options, time.monotonic(), 0
        while not self._stop.is_set() and self._error is None:
            if opts.max_frames is not None and n >= opts.max_frames:
                return
            if opts.duration is not None and time.monotonic() - t0 >= opts.duration:
                return
            try:
                frame = feed.read(timeout=0.25)
            except TimeoutError:
                continue
            self.stats.set_dropped(self.source.dropped)
            if frame is None:
                return
            n += 1
            yield frame

    def _emit(self, item):
        # After an output error the worker only drains, so the end marker must still get through.
        while self._error is None or item is _END:
            try:
                self._out.put(item, timeout=0.25)
                return
            except queue.Full:
                continue

    def _finish(self, feed, worker):
        self._stop.set()
        if feed is not self.source:
            feed.close()
        if worker is not None:
            self._emit(_END)              # frames already queued are still written
            worker.join()
        errors = [self._error] if self._error is not None else []
        for closer in [self.source] + self.sinks:
            try:
                closer.close()
            except Exception as e:        # close the rest: a video must still be finalised
                errors.append(e)
        if self._status_shown:
            sys.stderr.write("\n")
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------ output thread
    def _output_loop(self, sinks):
        while True:
            item = self._out.get()
            if item is _END:
                return
            if self._error is not None:
                continue                  # keep draining so the inference thread never blocks
            try:
                frame, dets, timings, ready = item
                image = frame.image
                if self.overlay.draws_anything:
                    t0 = time.perf_counter()
                    image = draw(frame.image, dets, self.overlay, fps=self.stats.fps())
                    timings["draw"] = (time.perf_counter() - t0) * 1e3
                self._write(sinks, image, frame, dets)
                self._done(frame, timings, ready)
            except BaseException as e:
                self._error = e
                self._stop.set()

    def _done(self, frame, timings, ready):
        """Every sink has the frame: record its latency and refresh the status line."""
        timings["end_to_end"] = (time.time() - ready) * 1e3
        h, w = frame.image.shape[:2]
        self.stats.record(timings, (w, h))
        self._show_status()

    def _show_status(self):
        now = time.monotonic()
        if not self.options.status or now - self._last_status < self.options.status_interval:
            return
        self._last_status = now
        line = self.stats.status_line()
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K" + line)
            self._status_shown = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


@contextlib.contextmanager
def stop_on_signals(pipeline, signals=(signal.SIGINT, signal.SIGTERM)):
    """Within the block, SIGINT/SIGTERM stop ``pipeline`` gracefully; a second one interrupts."""
    def handler(signum, _frame):
        if pipeline.stopping:
            raise KeyboardInterrupt
        log.warning("%s: finishing the frames in hand and closing the outputs (again to abort)",
                    signal.Signals(signum).name)
        pipeline.stop()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
