"""What every source shares: its options, the frame record, and the per-frame transform.

Frames are ``(H, W, 3) uint8`` BGR arrays, as OpenCV delivers them; sizes are ``(W, H)``.
"""
import collections
from dataclasses import dataclass
from typing import Optional

from ...errors import SsdEdgeError
from ...imagecheck import import_cv2  # noqa: F401  (one OpenCV importer for all zones)

#: Flip / rotation names, as jetson-inference's ``--input-flip`` spells them.
FLIPS = ("none", "horizontal", "vertical", "rotate-180", "clockwise", "counterclockwise")

#: One frame from a source.
#:   image: (H, W, 3) uint8 BGR, after the source's resize and flip.
#:   index: 0-based count of frames the source produced (a live source's dropped frames leave gaps).
#:   timestamp: Unix time in seconds when the frame was captured.
#:   pts: seconds into the source (media time for a video file, seconds since opening otherwise).
#:   capture_ms: time spent decoding and converting this frame, in milliseconds.
Frame = collections.namedtuple("Frame", "image index timestamp pts capture_ms")


#: Upper bounds of the frame size and rate a source may be asked for (a 16K frame, 1000 FPS):
#: larger values are refused before anything is allocated.
_LIMITS = {"width": 16384, "height": 16384, "rate": 1000.0}


@dataclass(frozen=True)
class SourceOptions:
    """How to open a source (the ``--width/--height/--rate/--flip/--loop`` flags).

    Attributes:
        width, height: frame size to deliver in pixels; cameras are asked for it, and frames
            that still differ are resized (bilinear). ``None`` keeps the native size.
        rate: frames per second to ask a camera for; files and images are paced to it
            (real-time playback) when given, else read as fast as the pipeline takes them.
        native_rate: with no ``rate``, pace a video file to its own frame rate (what a viewer of
            ``--serve`` expects) instead of reading it as fast as the pipeline can.
        flip: one of :data:`FLIPS`.
        loop: extra passes over a file, image or folder; ``-1`` loops forever.
        reconnect_attempts: how often a lost live source is reopened before it is reported.
        reconnect_backoff: first wait in seconds between attempts; it doubles, capped at 8 s.
        open_timeout: seconds a live source may take to deliver its first frame.
    """

    width: Optional[int] = None
    height: Optional[int] = None
    rate: Optional[float] = None
    native_rate: bool = False
    flip: str = "none"
    loop: int = 0
    reconnect_attempts: int = 5
    reconnect_backoff: float = 0.5
    open_timeout: float = 10.0

    def __post_init__(self):
        if self.flip not in FLIPS:
            raise SsdEdgeError("expected --flip in %s, got %r" % (", ".join(FLIPS), self.flip))
        for name in ("width", "height", "rate"):
            v = getattr(self, name)
            if v is not None and not 0 < v <= _LIMITS[name]:     # NaN fails too
                raise SsdEdgeError("expected a positive --%s of at most %s, got %s"
                                   % (name, _LIMITS[name], v))
        if (self.width is None) != (self.height is None):
            raise SsdEdgeError("expected --width and --height together, got only one of them")
        if self.loop < -1:
            raise SsdEdgeError("expected --loop >= -1 (-1 loops forever), got %d" % self.loop)


def has_gstreamer(cv2):
    """True when this OpenCV build has its GStreamer video I/O backend."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line.split(":", 1)[1]
    return False


def require_gstreamer(cv2, uri):
    if not has_gstreamer(cv2):
        raise SsdEdgeError(
            "%s needs OpenCV built with GStreamer, got OpenCV %s with GStreamer: NO "
            "(cv2.getBuildInformation()); on a Jetson use JetPack's OpenCV (apt python3-opencv, "
            "a venv with --system-site-packages), elsewhere build OpenCV with -DWITH_GSTREAMER=ON"
            % (uri, cv2.__version__))


def transform(cv2, image, options, flip=True):
    """Resize to ``options.width × height`` when it differs, then apply ``options.flip``."""
    if options.width is not None:
        h, w = image.shape[:2]
        if (w, h) != (options.width, options.height):
            image = cv2.resize(image, (options.width, options.height),
                               interpolation=cv2.INTER_LINEAR)
    if not flip or options.flip == "none":
        return image
    if options.flip == "horizontal":
        return cv2.flip(image, 1)
    if options.flip == "vertical":
        return cv2.flip(image, 0)
    return cv2.rotate(image, {"rotate-180": cv2.ROTATE_180,
                              "clockwise": cv2.ROTATE_90_CLOCKWISE,
                              "counterclockwise": cv2.ROTATE_90_COUNTERCLOCKWISE}[options.flip])


class Source:
    """Base of every source: ``open()``, ``read(timeout) -> Frame | None`` (None: the end), ``close()``.

    ``live`` sources keep only their newest frame (``dropped`` counts the ones overwritten);
    other sources deliver every frame in order. ``fps`` is the nominal rate when known.
    """

    live = False

    def __init__(self, uri, options=None):
        self.uri = str(uri)
        self.options = options or SourceOptions()
        self.fps = None
        self.dropped = 0

    def open(self):
        return self

    def read(self, timeout=None):
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        """Yield every :class:`Frame` until the source ends."""
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.uri)
