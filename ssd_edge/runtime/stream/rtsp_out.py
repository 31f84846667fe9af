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
import struct
import subprocess
import threading

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


class _ServerProcess:
    """One :mod:`.rtsp_child` process serving every path of one HOST:PORT."""

    _all = {}                    # (host, port) -> _ServerProcess
    _all_lock = threading.Lock()

    def __init__(self, host, port, bitrate):
        python = gi_python()
        if python is None:
            raise SsdEdgeError("--output rtsp:// needs a system python3 with GStreamer's "
                               "bindings; none found; apt-get install python3 %s" % PACKAGES)
        child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rtsp_child.py")
        self.key, self.paths, self.users = (host, port), {}, 0
        self._lock = threading.Lock()
        self.proc = subprocess.Popen([python, child, host, str(port), str(int(bitrate))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode("utf-8", "replace").strip()
        if not line.startswith("ready"):
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
            why = line[len("error: "):] if line.startswith("error: ") else "it exited"
            hint = "" if "port" in why else "; apt-get install %s" % PACKAGES
            raise SsdEdgeError("cannot serve rtsp://%s:%d: %s%s" % (host, port, why, hint))
        self.encoder = line.split()[1] if len(line.split()) > 1 else ""

    @classmethod
    def get(cls, host, port, bitrate):
        with cls._all_lock:
            server = cls._all.get((host, port))
            if server is None:
                server = cls._all[(host, port)] = cls(host, port, bitrate)
            server.users += 1
            return server

    def mount(self, path, size, fps):
        with self._lock:
            if path in self.paths:
                raise SsdEdgeError("expected one output per RTSP path, got two for %s on port %d; "
                                   "put {stream} in the path" % (path, self.key[1]))
            mount = self.paths[path] = len(self.paths)
        self._send(b"M", mount, size, ("%s\t%.3f" % (path, fps)).encode("utf-8"))
        return mount

    def send(self, mount, size, data):
        self._send(b"F", mount, size, data)

    def _send(self, kind, mount, size, payload):
        head = _HEADER.pack(kind, mount, size[0], size[1], len(payload))
        with self._lock:
            try:
                self.proc.stdin.write(head)
                self.proc.stdin.write(payload)
            except (BrokenPipeError, ValueError):
                raise SsdEdgeError("the RTSP server process for port %d stopped" % self.key[1])

    def release(self):
        with self._all_lock:
            self.users -= 1
            if self.users > 0:
                return
            self._all.pop(self.key, None)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=5)


_HEADER = struct.Struct("<cIIII")


class RtspSink(Sink):
    """A sink serving its frames at ``rtsp://HOST:PORT/PATH`` (H.264, ``bitrate`` kbit/s).

    Sinks on the same HOST:PORT share one server process, each on its own path.
    """

    def __init__(self, url, bitrate=4000):
        super().__init__(url)
        self.host, self.port, self.path = parse_rtsp_url(url)
        self.bitrate = int(bitrate)
        self.encoder = None
        self._server, self._mount, self._size = None, None, None

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "rtsp://%s:%d%s" % (host, self.port, self.path)

    def open(self, frame_size, fps=None):
        if self._server is not None:
            return
        self._size = (int(frame_size[0]), int(frame_size[1]))
        server = _ServerProcess.get(self.host, self.port, self.bitrate)
        try:
            self._mount = server.mount(self.path, self._size, float(fps or 30.0))
        except SsdEdgeError:
            server.release()
            raise
        self._server, self.encoder = server, server.encoder
        if self.host in ("0.0.0.0", "::"):
            log.warning("serving RTSP on every network interface (%s); use rtsp://127.0.0.1:%d%s "
                        "to keep it on this machine", self.url, self.port, self.path)
        log.info("RTSP: %s (H.264 by %s)", self.url, self.encoder)

    def write(self, image, frame=None, dets=None):
        h, w = image.shape[:2]
        if self._server is None:
            self.open((w, h))
        if (w, h) != self._size:
            from .frames import import_cv2
            image = import_cv2().resize(image, self._size)   # one size for the whole stream
        self._server.send(self._mount, self._size, image.tobytes())
        self.frames += 1

    def close(self):
        server, self._server = self._server, None
        if server is not None:
            server.release()
