"""Sources that are files: a video, an image, a folder of images. Every frame is delivered, in order."""
import os
import time

from ...errors import SsdEdgeError
from ...fileio import IMAGE_EXTENSIONS as IMAGE_EXTS
from ...cstderr import library_output
from .frames import Frame, Source, import_cv2, transform

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
              ".ts", ".mjpeg", ".mjpg", ".h264", ".264", ".hevc", ".gif")


def is_image(path):
    return os.path.splitext(str(path))[1].lower() in IMAGE_EXTS


def list_images(folder):
    """Image files directly inside ``folder``, sorted by name."""
    names = sorted(n for n in os.listdir(folder) if is_image(n) and not n.startswith("."))
    return [os.path.join(folder, n) for n in names]


class _Paced:
    """Sleeps so that frames come out at ``rate`` per second (``None``: as fast as asked)."""

    def __init__(self, rate):
        self.period = 1.0 / rate if rate else 0.0
        self.next = None

    def wait(self):
        if not self.period:
            return
        now = time.monotonic()
        if self.next is not None and self.next > now:
            time.sleep(self.next - now)
        self.next = max(now, self.next or now) + self.period


class _PacedSource(Source):
    """A file source that can be paced to a frame rate after it was made (mixed with live ones)."""

    def pace(self, rate):
        """Deliver frames at ``rate`` per second from now on (``None``: as fast as asked)."""
        self._pace = _Paced(rate)

    @property
    def paced(self):
        return bool(self._pace.period)


class VideoFileSource(_PacedSource):
    """A video file read frame by frame through ``cv2.VideoCapture``; ``loop`` rewinds it."""

    def __init__(self, path, options=None):
        super().__init__(path, options)
        self.path = str(path)
        self._cap = None
        self._pending = None
        self._count = 0
        self._passes = 0
        self._pace = _Paced(self.options.rate)

    def open(self):
        cv2 = import_cv2()
        if not os.path.isfile(self.path):
            raise SsdEdgeError("expected a video file, got %s, which does not exist" % self.path)
        if os.path.getsize(self.path) == 0:
            raise SsdEdgeError("expected a video in %s, got an empty file" % self.path)
        with library_output(replay=False) as caught:    # FFmpeg's lines: the reason below
            self._cap = cv2.VideoCapture(self.path)
            ok, image = (self._cap.read() if self._cap.isOpened() else (False, None))
        if not ok or image is None:
            self.close()
            raise SsdEdgeError("cannot read video %s: %s; expected a readable video (.mp4, .avi, "
                               ".mkv ...), check the file" % (self.path, caught.reason or
                                                              "OpenCV could not decode a frame"))
        caught.replay()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None
        if self.options.rate is None and self.options.native_rate and self.fps:
            self._pace = _Paced(self.fps)
        self._pending = (image, 0.0)
        return self

    def _next(self, cv2):
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        ok, image = self._cap.read()
        if not ok and self.options.loop and (self.options.loop < 0 or self._passes < self.options.loop):
            self._passes += 1
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
        if not ok:
            return None
        return image, self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0

    def read(self, timeout=None):
        if self._cap is None:
            return None
        cv2 = import_cv2()
        t0 = time.perf_counter()
        item = self._next(cv2)
        if item is None:
            return None
        image = transform(cv2, item[0], self.options)
        cap_ms = (time.perf_counter() - t0) * 1e3
        self._pace.wait()
        pts = item[1] if self._passes == 0 or self.fps is None else self._count / self.fps
        frame = Frame(image, self._count, time.time(), pts, cap_ms)
        self._count += 1
        return frame

    def close(self):
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageSource(_PacedSource):
    """One image or a folder of images (sorted by name), each delivered once per pass."""

    def __init__(self, path, options=None):
        super().__init__(path, options)
        self.path = str(path)
        self.paths = []
        self._i = 0
        self._count = 0
        self._pace = _Paced(self.options.rate)
        self.fps = self.options.rate
        self._t0 = time.monotonic()

    def open(self):
        if os.path.isdir(self.path):
            self.paths = list_images(self.path)
            if not self.paths:
                raise SsdEdgeError("expected images (%s) in folder %s, found none"
                                   % (", ".join(IMAGE_EXTS), self.path))
        elif os.path.isfile(self.path):
            self.paths = [self.path]
        else:
            raise SsdEdgeError("expected an image or a folder, got %s, which does not exist"
                               % self.path)
        self._t0 = time.monotonic()
        return self

    def read(self, timeout=None):
        cv2 = import_cv2()
        n = len(self.paths)
        if self._i >= n:
            loop = self.options.loop
            if not n or not loop or (loop > 0 and self._i >= n * (loop + 1)):
                return None
        path = self.paths[self._i % n]
        t0 = time.perf_counter()
        from ...imagecheck import read_image
        image = read_image(path)        # one line for empty, undecodable or huge images
        image = transform(cv2, image, self.options)
        cap_ms = (time.perf_counter() - t0) * 1e3
        self._pace.wait()
        frame = Frame(image, self._count, time.time(), time.monotonic() - self._t0, cap_ms)
        self._i += 1
        self._count += 1
        return frame

    @property
    def current_path(self):
        """Path of the image most recently read (``None`` before the first)."""
        return self.paths[(self._i - 1) % len(self.paths)] if self._i else None
