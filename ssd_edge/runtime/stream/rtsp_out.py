"""``--output rtsp://HOST:PORT/PATH``: serve the annotated stream as H.264 over RTSP.

GStreamer's RTSP server does the serving. Its Python bindings (``gi``) come from the
distribution (Debian/Ubuntu/JetPack ``python3-gi``) and are built for the *system* Python, not a
virtual environment's, and PyPI's PyGObject needs a newer libgirepository than Debian 12 ships.
So the server runs in a child process of the system Python (:mod:`.rtsp_child`, no ssd-edge
imports) fed raw BGR frames over a pipe: the runtime's own Python needs no GStreamer at all, and
a venv need not be created with ``--system-site-packages``. ``$SSD_EDGE_GI_PYTHON`` names another
interpreter with ``gi`` (default ``/usr/bin/python3``, else ``python3`` on the PATH).

The server binds the host in the URL: ``rtsp://127.0.0.1:8554/live`` serves this machine only,
``rtsp://0.0.0.0:8554/live`` every interface (a warning says so). Players connect to
``rtsp://<this machine>:8554/live`` (VLC, ffplay, an NVR, another ``ssd-live --source``).
"""
import logging
import os
import re
import shutil
import subprocess

from ...errors import SsdEdgeError
from .sinks import Sink

log = logging.getLogger("ssd_edge.stream")

#: Environment variable naming the Python interpreter that has GStreamer's ``gi`` bindings.
GI_PYTHON_ENV = "SSD_EDGE_GI_PYTHON"

#: The Debian/Ubuntu packages the RTSP output needs (JetPack has most of them already).
PACKAGES = ("gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly")

_URL = re.compile(r"^rtsps?://(\[[^\]]+\]|[^:/]+)(?::(\d+))?(/[^?#]*)?$", re.I)


def parse_rtsp_url(url):
    """``rtsp://HOST[:PORT]/PATH`` → ``(host, port, path)``; port 8554 and path ``/live`` by default."""
    m = _URL.match(str(url))
    if not m or str(url).lower().startswith("rtsps"):
        raise SsdEdgeError("expected --output rtsp://HOST:PORT/PATH such as "
                           "rtsp://127.0.0.1:8554/live, got %s" % url)
    host = m.group(1).strip("[]")
    port = int(m.group(2) or 8554)
    path = m.group(3) if m.group(3) and m.group(3) != "/" else "/live"
    if not 0 < port < 65536:
        raise SsdEdgeError("expected an RTSP port in 1-65535, got %d in %s" % (port, url))
    return host, port, path


def gi_python():
    """The interpreter to run :mod:`.rtsp_child` with (see the module docstring)."""
    for cand in (os.environ.get(GI_PYTHON_ENV), "/usr/bin/python3", shutil.which("python3")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


class RtspSink(Sink):
    """A sink serving its frames at ``rtsp://HOST:PORT/PATH`` (H.264, ``bitrate`` kbit/s)."""

    def __init__(self, url, bitrate=4000):
        super().__init__(url)
        self.host, self.port, self.path = parse_rtsp_url(url)
        self.bitrate = int(bitrate)
        self.encoder = None
        self._proc, self._size = None, None

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "rtsp://%s:%d%s" % (host, self.port, self.path)

    def open(self, frame_size, fps=None):
        if self._proc is not None:
            return
        python = gi_python()
        if python is None:
            raise SsdEdgeError("--output rtsp:// needs a system python3 with GStreamer's bindings; "
                               "none found; apt-get install python3 %s" % PACKAGES)
        self._size = (int(frame_size[0]), int(frame_size[1]))
        child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rtsp_child.py")
        args = [python, child, self.host, str(self.port), self.path, str(self._size[0]),
                str(self._size[1]), "%.3f" % float(fps or 30.0), str(self.bitrate)]
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
        line = self._proc.stdout.readline().decode("utf-8", "replace").strip()
        if not line.startswith("ready"):
            self._proc.stdin.close()
            self._proc.wait(timeout=10)
            self._proc = None
            why = line[len("error: "):] if line.startswith("error: ") else "it exited"
            hint = "" if "port" in why else "; apt-get install %s" % PACKAGES
            raise SsdEdgeError("cannot serve %s: %s%s" % (self.url, why, hint))
        self.encoder = line.split()[1] if len(line.split()) > 1 else ""
        if self.host in ("0.0.0.0", "::"):
            log.warning("serving RTSP on every network interface (%s); use rtsp://127.0.0.1:%d%s "
                        "to keep it on this machine", self.url, self.port, self.path)
        log.info("RTSP: %s (H.264 by %s)", self.url, self.encoder)

    def write(self, image, frame=None, dets=None):
        h, w = image.shape[:2]
        if self._proc is None:
            self.open((w, h))
        if (w, h) != self._size:
            from .frames import import_cv2
            image = import_cv2().resize(image, self._size)   # one size for the whole stream
        try:
            self._proc.stdin.write(image.tobytes())
        except (BrokenPipeError, ValueError):
            raise SsdEdgeError("the RTSP server process for %s stopped; see the lines above"
                               % self.url)
        self.frames += 1

    def close(self):
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=5)
