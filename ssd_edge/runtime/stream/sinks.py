"""Sinks: where annotated frames and detections go. Several can run at once.

Every sink is an object with ``open(frame_size, fps)``, ``write(image, frame, dets)`` and
``close()``, usable from a robot's own program as well as from the pipeline:

* :class:`VideoSink` — a video file, codec from the extension; written to a hidden temporary
  file and renamed on ``close()``, so a finished file is always playable and a crash never leaves
  a truncated one under the real name.
* :class:`ImageSequenceSink` — ``out/%05d.jpg``, one image per frame, each written atomically.
* :class:`JsonlSink` — one JSON line per frame (docs/formats.md, "Detection line"), flushed per
  line so another process can follow it live.
* :class:`DisplaySink` — ``display://0``, an OpenCV window (``q`` or Esc stops the stream).
* :class:`~ssd_edge.runtime.stream.server.MjpegServer` — ``--serve``, in :mod:`.server`.

``image`` is the frame to show ((H, W, 3) uint8 BGR, overlay drawn), ``frame`` the source's
:class:`~.frames.Frame` (raw image and its index/timestamps), ``dets`` its Detections (pixel boxes).
"""
import errno
import json
import os

from ...errors import SsdEdgeError
from ...fileio import atomic_write_bytes, disk_errors, disk_message, make_parent
from .files import is_image
from .diskspace import MIN_FREE_BYTES, free_bytes, probe_writable, remove_quietly, unplayable
from .frames import import_cv2

#: A video sink looks at the free space every this many frames.
SPACE_CHECK_EVERY = 8

#: Version of the ``.jsonl`` detection line and of ``/detections`` (docs/formats.md).
DETECTIONS_SCHEMA = 1

#: Video container (by extension) → FourCC that OpenCV's FFmpeg writer supports in pip wheels.
CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


def detection_record(frame, dets, stream=None):
    """The detection line for one frame: a JSON-ready dict (docs/formats.md, "Detection line").

    ``stream``: the source's index when one output carries several sources' frames.
    """
    h, w = frame.image.shape[:2]
    record = {"schema": DETECTIONS_SCHEMA, "index": int(frame.index),
              "timestamp": round(float(frame.timestamp), 6), "pts": round(float(frame.pts), 6),
              "frame_size": [int(w), int(h)], "detections": dets.to_list()}
    if stream is not None:
        record["stream"] = int(stream)
    return record


class Sink:
    """Base sink. ``wants_image`` is False for sinks that never look at the drawn frame."""

    wants_image = True
    stop_requested = False

    def __init__(self, uri):
        self.uri = str(uri)
        self.frames = 0

    def open(self, frame_size, fps=None):
        """Prepare for frames of ``frame_size`` ``(W, H)`` at ``fps`` (None: unknown)."""

    def write(self, image, frame, dets):
        raise NotImplementedError

    def close(self):
        pass

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.uri)


class VideoSink(Sink):
    """A video file (``.mp4``/``.mov``/``.m4v`` mp4v, ``.avi`` MJPG, ``.mkv`` XVID)."""

    def __init__(self, path, fps=None, codec=None):
        super().__init__(path)
        self.path = os.fspath(path)
        ext = os.path.splitext(self.path)[1].lower()
        if codec is None and ext not in CODECS:
            raise SsdEdgeError("expected a video extension in %s, got %r (%s)"
                               % (", ".join(sorted(CODECS)), ext, self.path))
        self.codec = codec or CODECS[ext]
        self.fps = fps
        self._writer = None
        self._tmp = None
        self._size = None
        self._failed = False

    def open(self, frame_size, fps=None):
        if self._writer is not None:
            return
        cv2 = import_cv2()
        folder = make_parent(self.path)
        if os.path.isdir(self.path):
            raise SsdEdgeError("cannot write %s: it is a folder; expected a video file path"
                               % self.path)
        stem, ext = os.path.splitext(os.path.basename(self.path))
        self._tmp = os.path.join(folder, ".%s.part%s" % (stem, ext))
        self._size = (int(frame_size[0]), int(frame_size[1]))
        # OpenCV says only "not opened" for a read-only or full folder: find the real reason.
        probe_writable(self._tmp, self.path)
        rate = float(self.fps or fps or 30.0)
        self._writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*self.codec), rate,
                                       self._size)
        if not self._writer.isOpened():
            self._writer = None
            raise SsdEdgeError("cannot write %s: OpenCV has no %s encoder for %s files here; "
                               "expected one of %s" % (self.path, self.codec, ext,
                                                       ", ".join(sorted(CODECS))))

    def write(self, image, frame=None, dets=None):
        h, w = image.shape[:2]
        if self._writer is None:
            self.open((w, h))
        if (w, h) != self._size:
            cv2 = import_cv2()
            image = cv2.resize(image, self._size)   # a video keeps one size for all frames
        if self.frames % SPACE_CHECK_EVERY == 0:
            # cv2.VideoWriter.write reports nothing when the disk fills: look before writing.
            need = max(MIN_FREE_BYTES, image.nbytes // 4)
            if free_bytes(self._tmp) < need:
                self._failed = True
                raise SsdEdgeError(disk_message(self.path, OSError(errno.ENOSPC, "")))
        self._writer.write(image)
        self.frames += 1

    def close(self):
        """Finalise the container (writes the index a player needs) and move it into place,
        after checking that it plays; a file that does not is removed and reported."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if not self.frames or self._failed:
            remove_quietly(self._tmp)
            return
        why = unplayable(self._tmp)
        if why:
            remove_quietly(self._tmp)
            raise SsdEdgeError("cannot finish %s: %s" % (self.path, why))
        with disk_errors(self.path):
            os.replace(self._tmp, self.path)


class ImageSequenceSink(Sink):
    """Images named by a printf pattern with the frame number, e.g. ``out/%05d.jpg``."""

    def __init__(self, pattern):
        super().__init__(pattern)
        self.pattern = os.fspath(pattern)
        try:
            name = self.pattern % 0
        except (TypeError, ValueError):
            raise SsdEdgeError("expected an image pattern with one number such as out/%%05d.jpg, "
                               "got %s" % self.pattern)
        self.ext = os.path.splitext(name)[1].lower()
        if not is_image(name):
            raise SsdEdgeError("expected an image extension (.jpg, .png ...) in %s" % self.pattern)

    def open(self, frame_size, fps=None):
        folder = os.path.dirname(os.path.abspath(self.pattern % 0))
        with disk_errors(folder):
            make_parent(self.pattern % 0)

    def write(self, image, frame=None, dets=None):
        cv2 = import_cv2()
        ok, data = cv2.imencode(self.ext, image)
        if not ok:
            raise SsdEdgeError("cannot encode a frame as %s" % self.ext)
        atomic_write_bytes(self.pattern % self.frames, data.tobytes())   # a full disk: one line
        self.frames += 1


class JsonlSink(Sink):
    """One :func:`detection_record` line per frame."""

    wants_image = False

    def __init__(self, path):
        super().__init__(path)
        self.path = os.fspath(path)
        self._f = None

    def open(self, frame_size=None, fps=None):
        if self._f is not None:
            return
        make_parent(self.path)
        if os.path.isdir(self.path):
            raise SsdEdgeError("cannot write %s: it is a folder; expected a .jsonl file path"
                               % self.path)
        try:
            self._f = open(self.path, "wb", buffering=0)   # a line is on disk once written
        except OSError as e:
            raise SsdEdgeError(disk_message(self.path, e))
        self._good = 0

    def write(self, image, frame, dets):
        self.write_stream(None, image, frame, dets)

    def write_stream(self, stream, image, frame, dets):
        """Write the line with a ``stream`` field (one file for several sources)."""
        if self._f is None:
            self.open()
        line = json.dumps(detection_record(frame, dets, stream), separators=(",", ":")) + "\n"
        data = memoryview(line.encode("utf-8"))
        try:
            while data:
                data = data[self._f.write(data):]
        except OSError as e:
            self._cut()         # whole lines only: a reader never sees half a record
            raise SsdEdgeError(disk_message(self.path, e))
        self._good += len(line.encode("utf-8"))
        self.frames += 1

    def _cut(self):
        f, self._f = self._f, None
        try:
            os.ftruncate(f.fileno(), self._good)
        except (OSError, ValueError):
            pass
        try:
            f.close()
        except OSError:
            pass

    def close(self):
        if self._f is not None:
            f, self._f = self._f, None
            try:
                f.close()
            except OSError as e:
                raise SsdEdgeError(disk_message(self.path, e))


class DisplaySink(Sink):
    """An OpenCV window (``display://N``; N only names the window)."""

    def __init__(self, uri="display://0", title="ssd-live"):
        super().__init__(uri)
        self.title = "%s %s" % (title, uri.split("://", 1)[-1])
        self._open = False

    def open(self, frame_size=None, fps=None):
        cv2 = import_cv2()
        gui = [ln for ln in cv2.getBuildInformation().splitlines() if ln.strip().startswith("GUI:")]
        why = None
        if gui and "NONE" in gui[0]:
            why = "this OpenCV has no GUI (opencv-python-headless)"
        elif os.name == "posix" and not (os.environ.get("DISPLAY") or
                                         os.environ.get("WAYLAND_DISPLAY")):
            why = "no display (DISPLAY is not set)"
        if why:
            raise SsdEdgeError("cannot show %s: %s; run headless with --serve 8080 and open "
                               "http://127.0.0.1:8080, or --output out.mp4" % (self.uri, why))
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        self._open = True

    def write(self, image, frame=None, dets=None):
        cv2 = import_cv2()
        if not self._open:
            self.open()
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        if key in (27, ord("q")) or closed:
            self.stop_requested = True
        self.frames += 1

    def close(self):
        if self._open:
            import_cv2().destroyWindow(self.title)
            self._open = False


def open_sink(uri, fps=None):
    """Sink for ``uri``: ``display://N``, ``rtsp://HOST:PORT/PATH``, ``*.jsonl``,
    ``out/%05d.jpg`` or a video file."""
    uri = os.fspath(uri)
    low = uri.lower()
    if low.startswith("display://"):
        return DisplaySink(uri)
    if low.startswith("rtsp://"):
        from .rtsp_out import RtspSink
        return RtspSink(uri)
    if "://" in uri and not low.startswith("file://"):
        raise SsdEdgeError("unknown output scheme %r; expected display://N, rtsp://HOST:PORT/PATH, "
                           "a video file, an image pattern (out/%%05d.jpg) or a .jsonl file" % uri.split("://")[0])
    path = uri[len("file://"):] if low.startswith("file://") else uri
    ext = os.path.splitext(path)[1].lower()
    if ext == ".jsonl":
        return JsonlSink(path)
    if "%" in path:
        return ImageSequenceSink(path)
    if ext in CODECS:
        return VideoSink(path, fps=fps)
    raise SsdEdgeError("expected --output display://N, a video (%s), an image pattern such as "
                       "out/%%05d.jpg or a .jsonl file, got %s" % (", ".join(sorted(CODECS)), uri))
