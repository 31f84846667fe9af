"""``--track bytetrack|sort|ocsort``: track ids through the ``trackers`` library (Apache-2.0).

One tracker per stream. The library's trackers take and return ``supervision.Detections``;
:class:`Tracker` converts both ways and keeps the detector's row order, so tracking adds
``Detections.track_ids`` and changes nothing else (an unconfirmed track has id -1).

``trackers`` needs Python >= 3.10 and numpy >= 2 and declares the GUI ``opencv-python``; ssd-edge
keeps ``opencv-python-headless`` as the only cv2 by installing it without its dependency list
(docs/streaming.md, "Tracking"). Where it cannot be installed (JetPack 5's Python 3.8, numpy 1)
``--track`` fails with one line saying so.
"""
import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...errors import SsdEdgeError

#: ``--track`` name → class in the ``trackers`` package.
METHODS = {"bytetrack": "ByteTrackTracker", "sort": "SORTTracker", "ocsort": "OCSORTTracker"}

#: How to install the library without a second OpenCV (docs/streaming.md, "Tracking").
INSTALL_HINT = ('pip install "ssd-edge[track]" && pip install --no-deps "trackers>=2.6" '
                '"supervision>=0.26"')


@dataclass(frozen=True)
class TrackOptions:
    """``--track`` and the tracker's own flags (``None``: the library's default for it).

    Attributes:
        method: ``none`` or a key of :data:`METHODS`.
        lost_track_buffer: frames (at 30 FPS) a lost track is kept for re-association.
        track_activation_threshold: minimum score for a detection to start a track
            (bytetrack, sort; default here: the detector's confidence threshold is not known, so
            the library's value applies unless given).
        minimum_consecutive_frames: matched frames before a track gets an id (until then -1).
        minimum_iou_threshold: minimum IoU to associate a detection with a track.
        high_conf_det_threshold: bytetrack/ocsort: score splitting the two association stages.
    """

    method: str = "none"
    lost_track_buffer: Optional[int] = None
    track_activation_threshold: Optional[float] = None
    minimum_consecutive_frames: Optional[int] = None
    minimum_iou_threshold: Optional[float] = None
    high_conf_det_threshold: Optional[float] = None

    def __post_init__(self):
        if self.method != "none" and self.method not in METHODS:
            raise SsdEdgeError("expected --track none|%s, got %r" % ("|".join(METHODS), self.method))
        for name in ("track_activation_threshold", "minimum_iou_threshold",
                     "high_conf_det_threshold"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise SsdEdgeError("expected --%s in [0, 1], got %s" % (name.replace("_", "-"), v))
        for name in ("lost_track_buffer", "minimum_consecutive_frames"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise SsdEdgeError("expected --%s >= 0, got %s" % (name.replace("_", "-"), v))

    @property
    def enabled(self):
        return self.method != "none"


def require_trackers():
    """Import the ``trackers`` package, or raise the one-line reason it cannot be used here."""
    if sys.version_info < (3, 10):
        raise SsdEdgeError("--track needs the trackers library, which needs Python >= 3.10; this "
                           "is Python %d.%d (e.g. JetPack 5): run without --track"
                           % sys.version_info[:2])
    if int(np.__version__.split(".")[0]) < 2:
        raise SsdEdgeError("--track needs the trackers library, which needs numpy >= 2; this is "
                           "numpy %s: run without --track, or use an environment with numpy 2"
                           % np.__version__)
    try:
        import trackers
    except ImportError as e:
        raise SsdEdgeError("--track needs the trackers library, not importable here (%s); %s"
                           % (e, INSTALL_HINT))
    return trackers


class Tracker:
    """One stream's tracker: ``tracker(dets) -> dets`` with ``track_ids`` set.

    Args:
        options: :class:`TrackOptions` (method other than ``none``).
        fps: the stream's frame rate when known (scales the lost-track buffer).
    """

    def __init__(self, options, fps=None):
        lib = require_trackers()
        cls = getattr(lib, METHODS[options.method])
        kwargs = {k: getattr(options, k) for k in ("lost_track_buffer",
                                                   "track_activation_threshold",
                                                   "minimum_consecutive_frames",
                                                   "minimum_iou_threshold",
                                                   "high_conf_det_threshold")
                  if getattr(options, k) is not None}
        if fps:
            kwargs["frame_rate"] = float(fps)
        import inspect
        accepted = inspect.signature(cls.__init__).parameters
        unknown = sorted(k for k in kwargs if k not in accepted)
        if unknown:
            raise SsdEdgeError("--track %s has no %s; expected flags among %s" % (
                options.method, ", ".join("--" + k.replace("_", "-") for k in unknown),
                ", ".join("--" + k.replace("_", "-") for k in accepted if k != "self")))
        self.method = options.method
        self._tracker = cls(**kwargs)
        import supervision
        self._sv = supervision

    def __call__(self, dets):
        """``dets``: Detections (pixel xyxy) → the same rows in the same order, ``track_ids`` (N,)."""
        n = len(dets)
        sv_in = self._sv.Detections(xyxy=dets.boxes.astype(np.float32),
                                    confidence=dets.scores.astype(np.float32),
                                    class_id=dets.class_ids.astype(int),
                                    data={"row": np.arange(n)})
        out = self._tracker.update(sv_in)
        ids = np.full(n, -1, np.int64)
        if len(out):
            ids[np.asarray(out.data["row"], np.int64)] = np.asarray(out.tracker_id, np.int64)
        return dets.with_track_ids(ids)

    def reset(self):
        self._tracker.reset()


class TrackedDetector:
    """A detector wrapped with one :class:`Tracker`: ``det(frame) -> Detections`` with track ids.

    Lets the single-stream pipeline track without knowing about tracking; ``last_timings``
    gains ``track`` (ms), and the wrapped detector's attributes stay readable.
    """

    def __init__(self, detector, tracker):
        self.detector, self.tracker = detector, tracker

    def __call__(self, frame):
        import time
        dets = self.detector(frame)
        t0 = time.perf_counter()
        dets = self.tracker(dets)
        self.track_ms = (time.perf_counter() - t0) * 1e3
        return dets

    @property
    def last_timings(self):
        t = dict(getattr(self.detector, "last_timings", None) or {})
        t["track"] = getattr(self, "track_ms", None)
        return t

    def __getattr__(self, name):
        return getattr(self.detector, name)
