"""``--serve [HOST:]PORT``: the annotated stream and its numbers over HTTP (stdlib only).

Routes: ``/`` an HTML page showing the stream, ``/stream.mjpg`` the annotated frames as MJPEG
(``multipart/x-mixed-replace``), ``/snapshot.jpg`` the latest frame, ``/stats`` the
:meth:`Stats.snapshot` JSON, ``/detections`` the latest frame's detection line (both documented
in docs/formats.md). The host defaults to 127.0.0.1: serving to the network is a choice
(``--serve 0.0.0.0:8080``), not an accident.
"""
import errno
import html
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler

from ...errors import SsdEdgeError
from .frames import import_cv2
from .httpguard import GuardedHTTPServer, GuardedHTTPServer6, HostPolicy
from .mjpeg import BOUNDARY, part_header
from .sinks import Sink, detection_record

DEFAULT_HOST = "127.0.0.1"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>%(title)s</title>
<style>body{font-family:sans-serif;background:#111;color:#eee;margin:1em}
img{width:640px;max-width:100%%;border:1px solid #444}pre{font-size:12px;color:#9c9}</style></head>
<body><h1>%(title)s</h1><p id="what">model %(model)s &middot; backend %(backend)s %(precision)s
&middot; source %(source)s</p><img id="stream" src="/stream.mjpg" alt="annotated stream">
<pre id="stats">waiting for /stats ...</pre>
<script>
async function poll(){try{const s=await (await fetch('/stats')).json();
const d=await (await fetch('/detections')).json();
const ms=Object.entries(s.latency_ms).filter(e=>e[1]!==null).map(e=>e[0]+' '+e[1].toFixed(1)+' ms');
document.getElementById('stats').textContent=s.fps.toFixed(1)+' FPS  '+s.backend+' '+
s.precision+'  frames '+s.frames+'  dropped '+s.dropped+'\\n'+ms.join('  ')+'\\n'+
(d.detections||[]).map(x=>x.label+' '+(100*x.score).toFixed(0)+'%%').join(', ');}
catch(e){} setTimeout(poll,1000);} poll();
</script></body></html>
"""


def parse_bind(text):
    """``"8080"`` / ``"0.0.0.0:8080"`` / ``"[::1]:8080"`` → ``(host, port)``; host defaults to 127.0.0.1."""
    text = str(text).strip()
    host, port = DEFAULT_HOST, text
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port.lstrip(":")
    elif ":" in text:
        host, port = text.rsplit(":", 1)
    if not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise SsdEdgeError("expected --serve [HOST:]PORT such as 8080 or 0.0.0.0:8080, got %r" % text)
    return host, int(port)


class MjpegServer(Sink):
    """A sink serving the latest annotated frame, its detections and ``stats`` over HTTP."""

    def __init__(self, bind=DEFAULT_HOST + ":8080", stats=None, quality=80, title="ssd-live",
                 allow_hosts=()):
        """``allow_hosts``: extra names the Host header may give (``--allow-host``), e.g. the
        name a reverse proxy or a DNS entry uses for this machine."""
        super().__init__("http://%s" % (bind,))
        self.allow_hosts = tuple(allow_hosts or ())
        self.host_policy = None
        self.host, self.port = bind if isinstance(bind, tuple) else parse_bind(bind)
        self.stats, self.quality, self.title = stats, int(quality), title
        self._cond = threading.Condition()
        self._image, self._record, self._seq = None, None, 0
        self._jpeg, self._jpeg_seq = None, -1
        self._encode_lock = threading.Lock()
        self._httpd, self._thread, self.closed = None, None, False

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d/" % (host, self.port)

    def start(self):
        """Bind and serve in a background thread; raises SsdEdgeError when the port is taken."""
        cls = GuardedHTTPServer6 if ":" in self.host else GuardedHTTPServer
        try:
            self._httpd = cls((self.host, self.port), _Handler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise SsdEdgeError("port %d on %s is already in use; pick another with --serve "
                                   "[HOST:]PORT" % (self.port, self.host))
            raise SsdEdgeError("cannot serve on %s:%d: %s" % (self.host, self.port,
                                                             e.strerror or e))
        self._httpd.app = self
        self.port = self._httpd.server_address[1]   # the real port when 0 was asked for
        self.host_policy = HostPolicy(self.host, self.port, self.allow_hosts)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ssd-http",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        return self

    def open(self, frame_size=None, fps=None):
        if self._httpd is None:
            self.start()

    def write(self, image, frame, dets):
        record = detection_record(frame, dets)
        with self._cond:
            self._image, self._record = image, record
            self._seq += 1
            self._cond.notify_all()
        self.frames += 1

    def latest_jpeg(self, after=-1, timeout=1.0):
        """``(jpeg bytes, seq)`` of a frame newer than ``after``; ``(None, after)`` on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self.closed, timeout=timeout)
            if self._seq <= after or self._image is None:
                return None, after
            image, seq = self._image, self._seq
        with self._encode_lock:     # one encode per frame, shared by every client
            if self._jpeg_seq != seq:
                cv2 = import_cv2()
                ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                self._jpeg, self._jpeg_seq = (data.tobytes() if ok else None), seq
            return self._jpeg, seq

    def page(self):
        """The HTML page: title, then what runs (model, backend, precision, source: its
        credentials, tokens and query string stripped), all HTML-escaped."""
        snap = self.stats.snapshot() if self.stats is not None else {}
        esc = {k: html.escape(str(snap.get(k) or "–")) for k in ("backend", "precision", "source")}
        esc["model"] = html.escape(os.path.basename(str(snap.get("model") or "")) or "–")
        esc["title"] = html.escape(str(self.title))
        return PAGE % esc

    def latest_record(self):
        with self._cond:
            return self._record

    def close(self):
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


class _Handler(BaseHTTPRequestHandler):
    server_version = "ssd-edge"
    protocol_version = "HTTP/1.0"

    def setup(self):
        self.timeout = self.server.idle_timeout     # a silent client is dropped after this
        super().setup()

    def version_string(self):       # no Python version for a client to fingerprint
        return self.server_version

    def end_headers(self):
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, fmt, *args):   # keep the terminal for the status line
        pass

    def do_GET(self):
        app = self.server.app
        if not app.host_policy.allows(self.headers.get("Host")):
            # A Host this server does not answer to: DNS rebinding, or a misrouted request.
            self._send(421, "text/plain", b"unknown Host; see ssd-live --allow-host\n")
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", app.page().encode())
        elif path == "/stats":
            body = app.stats.snapshot() if app.stats is not None else {"schema": 1}
            self._send(200, "application/json", json.dumps(body).encode())
        elif path == "/detections":
            rec = app.latest_record()
            self._send(200 if rec else 503, "application/json",
                       json.dumps(rec or {"error": "no frame yet"}).encode())
        elif path == "/snapshot.jpg":
            jpeg, _ = app.latest_jpeg(timeout=5.0)
            if jpeg is None:
                self._send(503, "text/plain", b"no frame yet\n")
            else:
                self._send(200, "image/jpeg", jpeg)
        elif path == "/stream.mjpg":
            self._stream(app)
        else:
            self._send(404, "text/plain", b"not found; try / /stream.mjpg /stats /detections\n")

    def _send(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, app):
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=" + BOUNDARY)
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seq = -1
        try:
            while not app.closed:
                jpeg, seq = app.latest_jpeg(seq, timeout=1.0)
                if jpeg is None:
                    continue
                self.wfile.write(part_header(len(jpeg)) + jpeg + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass    # the client went away
