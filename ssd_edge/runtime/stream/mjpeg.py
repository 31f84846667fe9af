"""MJPEG over HTTP (``multipart/x-mixed-replace``), the format IP cameras and ``ssd-live --serve`` use.

The reader is stdlib only (``urllib``) plus ``cv2.imdecode``, so it works whatever video
backends this OpenCV build has. Each part is a JPEG; ``Content-Length`` is used when the part
carries it, else the part runs to the next boundary line.
"""
import socket
import urllib.error
import urllib.request

from ...errors import SsdEdgeError
from .frames import import_cv2

BOUNDARY = "ssdedgeframe"


def part_header(jpeg_len):
    """Bytes that open one part of the multipart stream written by :mod:`.server`."""
    return ("--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
            % (BOUNDARY, jpeg_len)).encode("ascii")


def probe(url, timeout=10.0):
    """Open ``url``; return ``(response, boundary)``, boundary ``None`` when it is not multipart."""
    try:
        resp = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise SsdEdgeError("cannot open %s: %s; check the URL and that the server runs"
                           % (url, getattr(e, "reason", e)))
    ctype = resp.headers.get("Content-Type", "")
    if not ctype.lower().startswith("multipart/"):
        return resp, None
    boundary = None
    for param in ctype.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        resp.close()
        raise SsdEdgeError("expected a boundary in the Content-Type of %s, got %r" % (url, ctype))
    if boundary.startswith("--"):
        boundary = boundary[2:]     # some cameras repeat the dashes in the header
    return resp, boundary


class MjpegReader:
    """Reader over one MJPEG HTTP response: ``grab()`` reads a part, ``retrieve()`` decodes it."""

    fps = None

    def __init__(self, url, timeout=10.0):
        self.url = url
        self.resp, boundary = probe(url, timeout)
        if boundary is None:
            ctype = self.resp.headers.get("Content-Type", "")
            self.resp.close()
            raise SsdEdgeError("expected an MJPEG stream (multipart/x-mixed-replace) at %s, got "
                               "Content-Type %r" % (url, ctype))
        self.marker = b"--" + boundary.encode("latin-1")
        self._jpeg = None
        self._at_part = False

    def _headers(self):
        """Skip to the next boundary line and read the part's headers; None at end of stream."""
        if self._at_part:
            self._at_part = False
        else:
            line = self.resp.readline()
            while line and not line.startswith(self.marker):
                line = self.resp.readline()
            if not line or line.strip().endswith(b"--"):
                return None
        headers = {}
        while True:
            line = self.resp.readline()
            if not line:
                return None
            if not line.strip():
                return headers
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()

    def grab(self):
        try:
            headers = self._headers()
            if headers is None:
                return False
            n = headers.get("content-length")
            if n is not None:
                data = self.resp.read(int(n))
                if len(data) < int(n):
                    return False
            else:
                data = self._until_boundary()
        except (OSError, ValueError, AttributeError, socket.timeout):
            return False
        self._jpeg = data
        return bool(data)

    def _until_boundary(self):
        chunks = []
        while True:
            line = self.resp.readline()
            if not line or line.startswith(self.marker):
                break
            chunks.append(line)
        self._at_part = bool(line) and not line.strip().endswith(b"--")  # opened the next part
        return b"".join(chunks).rstrip(b"\r\n")

    def retrieve(self):
        if not self._jpeg:
            return None
        cv2 = import_cv2()
        import numpy as np
        image = cv2.imdecode(np.frombuffer(self._jpeg, np.uint8), cv2.IMREAD_COLOR)
        self._jpeg = None
        return image

    def interrupt(self):
        """Unblock a pending read from another thread (closing the socket)."""
        try:
            self.resp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass

    def close(self):
        try:
            self.resp.close()
        except OSError:
            pass
