"""MJPEG over HTTP (``multipart/x-mixed-replace``), the format IP cameras and ``ssd-live --serve`` use.

The reader is stdlib only (``urllib``) plus ``cv2.imdecode``, so it works whatever video
backends this OpenCV build has. Each part is a JPEG; ``Content-Length`` is used when the part
carries it, else the part runs to the next boundary line.
"""
import base64
import http.client
import socket
import urllib.error
import urllib.parse
import urllib.request

from ...errors import SsdEdgeError
from .redact import redact_uri

BOUNDARY = "ssdedgeframe"

#: Caps on what a peer may send, so a hostile or broken camera costs a lost frame, never the
#: process's memory: one header line, the headers of one part, one JPEG part, and the bytes
#: skipped while looking for the next boundary.
MAX_LINE = 8192
MAX_HEADERS = 64
MAX_PART = 32 << 20
MAX_SKIP = 32 << 20
_BODY_CHUNK = 1 << 16


class LostFrame(Exception):
    """A part that could not be read or parsed; the reader reconnects."""


def _content_length(text):
    if not text.isdigit() or len(text) > 12:
        raise LostFrame("a part with Content-Length %r" % text[:40])
    size = int(text)
    if size > MAX_PART:
        raise LostFrame("a part of %d bytes (at most %d accepted)" % (size, MAX_PART))
    return size


def _request(url):
    """``url`` as a urllib request; ``user:password@`` becomes a Basic Authorization header
    (urllib would take it for part of the host name)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url
    host = parts.hostname or ""
    host = "[%s]" % host if ":" in host else host
    netloc = host + (":%d" % parts.port if parts.port else "")
    req = urllib.request.Request(urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")
    req.add_header("Authorization", "Basic " + token)
    return req


def part_header(jpeg_len):
    """Bytes that open one part of the multipart stream written by :mod:`.server`."""
    return ("--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
            % (BOUNDARY, jpeg_len)).encode("ascii")


def probe(url, timeout=10.0):
    """Open ``url``; return ``(response, boundary)``, boundary ``None`` when it is not multipart."""
    shown = redact_uri(url)
    try:
        resp = urllib.request.urlopen(_request(url), timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        raise SsdEdgeError("cannot open %s: %s; check the URL and that the server runs"
                           % (shown, str(getattr(e, "reason", e)).replace(url, shown)))
    ctype = resp.headers.get("Content-Type", "")
    if not ctype.lower().startswith("multipart/"):
        if ctype.lower().startswith(("text/", "application/json", "application/xml")):
            resp.close()
            raise SsdEdgeError("%s is not an MJPEG stream: the server answered with %s (a web "
                               "page or an API?); pass the camera's stream URL"
                               % (shown, ctype.split(";")[0] or "no Content-Type"))
        return resp, None
    boundary = None
    for param in ctype.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        resp.close()
        raise SsdEdgeError("expected a boundary in the Content-Type of %s, got %r"
                           % (shown, ctype[:100]))
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
                               "Content-Type %r" % (redact_uri(url), ctype[:100]))
        self.marker = b"--" + boundary.encode("latin-1")
        self._jpeg = None
        self._at_part = False
        self.last_error = None

    def _headers(self):
        """Skip to the next boundary line and read the part's headers; None at end of stream."""
        if self._at_part:
            self._at_part = False
        else:
            line, skipped = self.resp.readline(MAX_LINE), 0
            while line and not line.startswith(self.marker):
                skipped += len(line)
                if skipped > MAX_SKIP:
                    raise LostFrame("no boundary in %d bytes" % skipped)
                line = self.resp.readline(MAX_LINE)
            if not line or line.strip().endswith(b"--"):
                return None
        headers = {}
        for _ in range(MAX_HEADERS + 1):
            line = self.resp.readline(MAX_LINE + 1)
            if not line:
                return None
            if len(line) > MAX_LINE:
                raise LostFrame("a part header line longer than %d bytes" % MAX_LINE)
            if not line.strip():
                return headers
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        raise LostFrame("more than %d headers in one part" % MAX_HEADERS)

    def grab(self):
        try:
            headers = self._headers()
            if headers is None:
                self.last_error = "the stream ended"
                return False
            n = headers.get("content-length")
            if n is not None:
                size = _content_length(n)
                data = self.resp.read(size)
                if len(data) < size:
                    raise LostFrame("a part ended after %d of %d bytes" % (len(data), size))
            else:
                data = self._until_boundary()
        except LostFrame as e:
            self.last_error = str(e)
            return False
        except (OSError, ValueError, AttributeError, socket.timeout, MemoryError,
                http.client.HTTPException) as e:
            self.last_error = "%s: %s" % (type(e).__name__, e)
            return False
        self._jpeg = data
        return bool(data)

    def _until_boundary(self):
        chunks, size = [], 0
        while True:
            line = self.resp.readline(_BODY_CHUNK)
            if not line or line.startswith(self.marker):
                break
            size += len(line)
            if size > MAX_PART:
                raise LostFrame("a part longer than %d bytes" % MAX_PART)
            chunks.append(line)
        self._at_part = bool(line) and not line.strip().endswith(b"--")  # opened the next part
        return b"".join(chunks).rstrip(b"\r\n")

    def retrieve(self):
        if not self._jpeg:
            return None
        from ...imagecheck import decode_image
        image = decode_image(self._jpeg)        # None for a part that is not a sane image
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
