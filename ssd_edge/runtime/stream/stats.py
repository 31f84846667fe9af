"""Running statistics of a stream: frame rate, per-stage latency, dropped frames.

Memory stays flat however long the stream runs: per-stage samples live in fixed-size windows
(``collections.deque(maxlen=...)``) and the whole-run summary keeps only sums and counts.
All methods are thread-safe (the inference thread, the output thread and HTTP clients share one).
"""
import collections
import threading
import time

from ...stderrfilter import suppressed
from .redact import public_name

#: Pipeline stages, in the order a frame passes them. Each is a duration in milliseconds:
#: capture = decode/convert in the source, preprocess/inference/postprocess as the detector
#: reports them (a batch's time shared among its frames), track = the tracker (``--track``),
#: draw = overlay, end_to_end = from the frame being ready for the model (a live
#: frame: captured; a file frame: asked for, read-ahead excluded) to every sink having written it.
STAGES = ("capture", "preprocess", "inference", "postprocess", "track", "draw", "end_to_end")

#: Version of the ``/stats`` JSON (docs/formats.md, "/stats").
STATS_SCHEMA = 2




class Stats:
    """Thread-safe counters and windowed latencies for one stream."""

    def __init__(self, model="", backend="", precision="", source="", window=120):
        self.model, self.backend, self.precision, self.source = model, backend, precision, source
        self._lock = threading.Lock()
        self._window = {s: collections.deque(maxlen=window) for s in STAGES}
        self._totals = {s: [0.0, 0] for s in STAGES}
        self._done = collections.deque(maxlen=window)   # monotonic completion times, for FPS
        self._t0 = time.monotonic()
        self.frames = 0
        self.dropped = 0
        self.frame_size = None
        #: Position of the stream among several sources, its state (``running``, ``ended``,
        #: ``failed``) and the failure; ``streams``: per-stream Stats of a multi-source run.
        self.index, self.state, self.error = 0, "running", None
        self.streams = []

    @classmethod
    def of(cls, detector, source=""):
        """Stats naming ``detector``'s model, backend and precision (blank where it has none)."""
        return cls(source=source).describe(detector)

    def describe(self, detector, model=""):
        """Name ``detector``'s model (``model`` when it has no path), backend and precision."""
        self.model = getattr(detector, "path", model)
        self.backend = getattr(detector, "backend_name", "")
        self.precision = getattr(detector, "precision", "")
        return self

    def start(self):
        """Restart the clock (the pipeline calls it when its first frame is asked for)."""
        with self._lock:
            self._t0 = time.monotonic()

    def record(self, timings, frame_size=None):
        """Add one finished frame; ``timings`` maps stage name → ms (missing or None: skipped)."""
        now = time.monotonic()
        with self._lock:
            self.frames += 1
            self._done.append(now)
            if frame_size is not None:
                self.frame_size = (int(frame_size[0]), int(frame_size[1]))
            for stage in STAGES:
                v = timings.get(stage)
                if v is None:
                    continue
                self._window[stage].append(float(v))
                tot = self._totals[stage]
                tot[0] += float(v)
                tot[1] += 1

    def set_dropped(self, n):
        with self._lock:
            self.dropped = int(n)

    @property
    def uptime(self):
        """Seconds since the stream started."""
        return time.monotonic() - self._t0

    def fps(self):
        """Frames per second over the last window of finished frames (0.0 before two frames)."""
        with self._lock:
            if len(self._done) < 2:
                return 0.0
            span = self._done[-1] - self._done[0]
            return (len(self._done) - 1) / span if span > 0 else 0.0

    def latency(self):
        """``{stage: mean ms over the window or None}``."""
        with self._lock:
            return {s: (sum(w) / len(w) if w else None) for s, w in self._window.items()}

    def mean_totals(self):
        """``{stage: mean ms over the whole run or None}``."""
        with self._lock:
            return {s: (t[0] / t[1] if t[1] else None) for s, t in self._totals.items()}

    def snapshot(self):
        """The ``/stats`` JSON object (field by field in docs/formats.md)."""
        lat = self.latency()
        with self._lock:
            frames, dropped, size = self.frames, self.dropped, self.frame_size
        return {
            "schema": STATS_SCHEMA,
            # No credentials, tokens or absolute paths for HTTP clients (docs/formats.md).
            "model": public_name(self.model), "backend": str(self.backend),
            "precision": str(self.precision), "source": public_name(self.source),
            "frames": frames, "dropped": dropped,
            "fps": round(self.fps(), 3),
            "uptime_s": round(self.uptime, 3),
            "frame_size": list(size) if size else None,
            "latency_ms": {s: (None if v is None else round(v, 3)) for s, v in lat.items()},
            "streams": [x.stream_entry() for x in (self.streams or [self])],
            "decoder_messages": suppressed(),
        }

    def stream_entry(self):
        """This stream's entry in ``/stats`` ``streams`` (docs/formats.md)."""
        with self._lock:
            frames, dropped, size = self.frames, self.dropped, self.frame_size
        return {"index": int(self.index), "source": public_name(self.source), "state": self.state,
                "error": self.error, "frames": frames, "dropped": dropped,
                "fps": round(self.fps(), 3), "frame_size": list(size) if size else None}

    def status_line(self):
        """One line for a refreshing terminal status."""
        lat = self.latency()
        parts = ["%s %s" % (_short(s), _ms(lat[s])) for s in STAGES if lat[s] is not None]
        return "%6.1f FPS | frames %d | dropped %d | %s" % (
            self.fps(), self.frames, self.dropped, " ".join(parts))

    def summary(self):
        """Multi-line end-of-run summary: counts, mean FPS and mean per-stage latency."""
        tot = self.mean_totals()
        up = self.uptime
        lines = ["frames: %d in %.2f s (%.1f FPS), dropped: %d" % (
            self.frames, up, self.frames / up if up > 0 else 0.0, self.dropped),
            "model: %s  backend: %s  precision: %s" % (self.model, self.backend, self.precision)]
        lines += ["  %-12s %s" % (s, _ms(tot[s])) for s in STAGES if tot[s] is not None]
        return "\n".join(lines)


def _short(stage):
    return {"capture": "cap", "preprocess": "pre", "inference": "inf", "postprocess": "post",
            "track": "trk", "draw": "draw", "end_to_end": "e2e"}[stage]


def _ms(v):
    return "%.1f ms" % v
