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

log = logging.getLogger("ssd_edge.stream")


class CvReader:
    """``cv2.VideoCapture`` as a reader: ``grab() -> bool``, ``retrieve() -> image | None``."""

    def __init__(self, target, api, options, describe):
        cv2 = import_cv2()
        self.cap = cv2.VideoCapture(target, api)
        if not self.cap.isOpened():
            self.cap.release()
            raise SsdEdgeError("cannot open %s; %s" % (describe, _HINT))
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
    """

    live = True

    def __init__(self, uri, opener, options=None, software_flip=True):
        super().__init__(uri, options)
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
            error = self._error
        if error is not None or not got:
            self.close()
            raise error or SsdEdgeError(
                "%s opened but delivered no frame in %.0f s; %s"
                % (self.uri, self.options.open_timeout, _HINT))
        return self

    def _run(self):
        cv2 = import_cv2()
        while not self._stop.is_set():
            if not self._reader.grab():
                if not self._reconnect():
                    return
                continue
            t0 = time.perf_counter()
            image = self._reader.retrieve()
            if image is None:
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
        self._reader.close()
        wait, waited = opts.reconnect_backoff, 0.0
        for attempt in range(1, opts.reconnect_attempts + 1):
            log.warning("%s: no frame; reopening (attempt %d of %d) in %.1f s",
                        self.uri, attempt, opts.reconnect_attempts, wait)
            if self._stop.wait(wait):
                return False
            waited += wait
            wait = min(wait * 2, 8.0)
            try:
                self._reader = self._opener()
                if self._reader.grab():
                    log.warning("%s: reopened", self.uri)
                    return True
                self._reader.close()
            except SsdEdgeError:
                pass
        with self._cond:
            self._error = SsdEdgeError(
                "lost %s: no frames after %d reopen attempts over %.1f s; %s"
                % (self.uri, opts.reconnect_attempts, waited, _HINT))
            self._cond.notify_all()
        return False

    def read(self, timeout=None):
        """Return the newest frame not yet read; wait for one up to ``timeout`` s.

        Raises ``TimeoutError`` when none arrives in time, :class:`SsdEdgeError` when the
        source was lost for good; returns ``None`` after :meth:`close`.
        """
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self._slot is not None or self._error is not None or self._stop.is_set(),
                timeout=timeout)
            if self._slot is not None:
                frame, self._slot = self._slot, None
                return frame
            if self._error is not None:
                raise self._error
            if self._stop.is_set():
                return None
            if not ok:
                raise TimeoutError("no frame from %s within %s s" % (self.uri, timeout))
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
