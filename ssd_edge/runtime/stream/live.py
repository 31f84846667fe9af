"""Live sources (cameras, network streams, GStreamer pipelines): newest frame only.

A capture thread grabs frames as fast as the device delivers them into a one-slot buffer; a
frame not taken before the next arrives is overwritten and counted in ``dropped``. A slow model
therefore always sees the newest frame and never builds a backlog. A source that stops delivering
is reopened with exponential backoff; when every attempt fails, ``read()`` raises the report.
"""
import logging
import threading
import time

from ...errors import SsdEdgeError
from .frames import Frame, Source, import_cv2, transform
from .redact import redact_uri

log = logging.getLogger("ssd_edge.stream")

#: Frames in a row that a live source may deliver undecodable before it counts as lost.
MAX_UNDECODABLE = 30


class CvReader:
    """``cv2.VideoCapture`` as a reader: ``grab() -> bool``, ``retrieve() -> image | None``."""

    def __init__(self, target, api, options, describe):
        cv2 = import_cv2()
        self.cap = cv2.VideoCapture(target, api)
        if not self.cap.isOpened():
            self.cap.release()
            raise SsdEdgeError("cannot open %s; %s" % (redact_uri(describe), _HINT))
        if options.width is not None and not isinstance(target, str):
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, options.width)
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, options.height)
        if options.rate is not None and not isinstance(target, str):
            self.cap.set(cv2.CAP_PROP_FPS, options.rate)
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None

    def grab(self):
        return self.cap.grab()

    def retrieve(self):
        ok, image = self.cap.retrieve()
        return image if ok else None

    def close(self):
        self.cap.release()


_HINT = ("check that the device exists and is not used by another program "
         "(ls /dev/video*, v4l2-ctl --list-devices), or that the URL plays elsewhere")


class LiveSource(Source):
    """A live source built from ``opener() -> reader`` (see :class:`CvReader`).

    ``software_flip=False`` when the reader already flips (a CSI pipeline's ``nvvidconv``).
    ``ends=True`` when a reader that stops delivering has reached its end (a ``gst://`` pipeline
    from a file): the source then ends like a file instead of being reopened.
    """

    live = True

    def __init__(self, uri, opener, options=None, software_flip=True, ends=False):
        super().__init__(uri, options)
        self._ends = ends
        self._ended = False
        self._pending = None
        self._opener = opener
        self._flip = software_flip
        self._reader = None
        self._cond = threading.Condition()
        self._slot = None
        self._error = None
        self._stop = threading.Event()
        self._thread = None
        self._count = 0
        self._t0 = None

    def open(self):
        self._reader = self._opener()
        self.fps = getattr(self._reader, "fps", None) or self.options.rate
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="ssd-capture", daemon=True)
        self._thread.start()
        with self._cond:
            got = self._cond.wait_for(lambda: self._slot is not None or self._error is not None,
                                      timeout=self.options.open_timeout)
            # A frame that arrived counts even when the source failed right after it: read()
            # delivers it, then raises the error.
            error = self._error if self._slot is None else None
        if error is not None or not got:
            self.close()
            raise error or SsdEdgeError(
                "%s opened but delivered no frame in %.0f s; %s"
                % (redact_uri(self.uri), self.options.open_timeout, _HINT))
        return self

    def _run(self):
        try:
            self._capture()
        except Exception as e:      # a driver or decoder failure must not leave read() waiting
            with self._cond:
                self._error = SsdEdgeError("capture from %s failed: %s: %s"
                                           % (redact_uri(self.uri), type(e).__name__,
                                              str(e).splitlines()[0] if str(e) else ""))
                self._cond.notify_all()

    def _grab(self):
        try:
            return self._reader.grab()
        except (OSError, ValueError, MemoryError) as e:
            self._reader.last_error = "%s: %s" % (type(e).__name__, e)
            return False

    def _image(self):
        """The next decoded image, or None when the reader failed (or only sent undecodable
        frames :data:`MAX_UNDECODABLE` times in a row, which counts as a lost source)."""
        for _ in range(MAX_UNDECODABLE):
            if not self._grab():
                return None
            try:
                image = self._reader.retrieve()
            except (OSError, ValueError, MemoryError):
                image = None
            if image is not None:
                return image
        self._reader.last_error = "%d frames in a row that do not decode" % MAX_UNDECODABLE
        return None

    def _capture(self):
        cv2 = import_cv2()
        while not self._stop.is_set():
            t0 = time.perf_counter()
            image, self._pending = self._pending, None
            if image is None:
                image = self._image()
            if image is None:
                if self._ends and self._count:
                    with self._cond:        # end of stream, not a lost camera
                        self._ended = True
                        self._cond.notify_all()
                    return
                if not self._reconnect():
                    return
                continue
            image = transform(cv2, image, self.options, flip=self._flip)
            frame = Frame(image, self._count, time.time(), time.monotonic() - self._t0,
                          (time.perf_counter() - t0) * 1e3)
            with self._cond:
                if self._slot is not None:
                    self.dropped += 1
                self._slot = frame
                self._count += 1
                self._cond.notify_all()

    def _reconnect(self):
        """Reopen with backoff; False (and the error set) when every attempt failed or on stop."""
        opts = self.options
        reason = getattr(self._reader, "last_error", None)
        self._reader.close()
        if self._stop.is_set():
            return False                # close() cut the read short: nothing was lost
        wait, waited = opts.reconnect_backoff, 0.0
        uri = redact_uri(self.uri)
        for attempt in range(1, opts.reconnect_attempts + 1):
            log.warning("%s: no frame%s; reopening (attempt %d of %d) in %.1f s",
                        uri, " (%s)" % reason if reason else "", attempt,
                        opts.reconnect_attempts, wait)
            if self._stop.wait(wait):
                return False
            waited += wait
            wait = min(wait * 2, 8.0)
            try:
                self._reader = self._opener()
                self._pending = self._image()       # reopened means a frame that decodes
                if self._pending is not None:
                    log.warning("%s: reopened", uri)
                    return True
                reason = getattr(self._reader, "last_error", None) or reason
                self._reader.close()
            except SsdEdgeError as e:
                reason = str(e)
        with self._cond:
            self._error = SsdEdgeError(
                "lost %s: no frames after %d reopen attempts over %.1f s%s; %s"
                % (uri, opts.reconnect_attempts, waited,
                   " (last: %s)" % reason if reason else "", _HINT))
            self._cond.notify_all()
        return False

    def read(self, timeout=None):
        """Return the newest frame not yet read; wait for one up to ``timeout`` s.

        Raises ``TimeoutError`` when none arrives in time, :class:`SsdEdgeError` when the
        source was lost for good; returns ``None`` after :meth:`close`.
        """
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self._slot is not None or self._error is not None or self._stop.is_set()
                or self._ended,
                timeout=timeout)
            if self._slot is not None:
                frame, self._slot = self._slot, None
                return frame
            if self._error is not None:
                raise self._error
            if self._stop.is_set() or self._ended:
                return None
            if not ok:
                raise TimeoutError("no frame from %s within %s s" % (redact_uri(self.uri), timeout))
        return None

    def close(self):
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        reader, thread = self._reader, self._thread
        if reader is not None and hasattr(reader, "interrupt"):
            reader.interrupt()      # unblocks a network read so the thread can see the stop
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
            if thread.is_alive():   # still inside the driver: releasing now could crash it
                return
        if self._reader is not None:
            self._reader.close()
            self._reader = None
