"""``--serve [HOST:]PORT``: the annotated stream and its numbers over HTTP (stdlib only).

Routes: ``/`` an HTML page showing the stream (a grid of every stream when there are several),
``/stream.mjpg`` the annotated frames as MJPEG (``multipart/x-mixed-replace``), ``/snapshot.jpg``
the latest frame, ``/stats`` the :meth:`Stats.snapshot` JSON, ``/detections`` the latest frame's
detection line (both documented in docs/formats.md). With several sources the frame routes and
``/detections`` take ``?stream=N`` (default 0). The host defaults to 127.0.0.1: serving to the network is a choice
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
.grid{display:flex;flex-wrap:wrap;gap:8px}.cell{width:%(width)s}
img{width:100%%;border:1px solid #444}pre{font-size:12px;color:#9c9;white-space:pre-wrap}</style></head>
<body><h1>%(title)s</h1><p id="what">model %(model)s &middot; backend %(backend)s %(precision)s
&middot; source %(source)s</p><div class="grid">%(cells)s</div>
<pre id="stats">waiting for /stats ...</pre>
<script>
async function poll(){try{const s=await (await fetch('/stats')).json();
const ms=Object.entries(s.latency_ms).filter(e=>e[1]!==null).map(e=>e[0]+' '+e[1].toFixed(1)+' ms');
document.getElementById('stats').textContent=s.fps.toFixed(1)+' FPS  '+s.backend+' '+
s.precision+'  frames '+s.frames+'  dropped '+s.dropped+'\\n'+ms.join('  ');
for(const x of s.streams){const d=await (await fetch('/detections?stream='+x.index)).json();
const e=document.getElementById('s'+x.index); if(!e) continue;
e.textContent='#'+x.index+' '+x.source+'  '+x.state+'  '+x.fps.toFixed(1)+' FPS  frames '+
x.frames+'  dropped '+x.dropped+(x.error?'  '+x.error:'')+'\\n'+
(d.detections||[]).map(y=>y.label+(y.track_id>=0?' #'+y.track_id:'')+' '+
(100*y.score).toFixed(0)+'%%').join(', ');}}
catch(e){} setTimeout(poll,1000);} poll();
</script></body></html>
"""

CELL = ('<div class="cell"><img src="/stream.mjpg%(q)s" alt="stream %(i)d">'
        '<pre id="s%(i)d"></pre></div>')


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
        self._slots = {}        # stream index -> [image, record, seq, jpeg, jpeg_seq]
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
        self._put(0, image, detection_record(frame, dets))

    def write_stream(self, stream, image, frame, dets):
        """``write`` for source ``stream`` of several (its own MJPEG stream and detections)."""
        self._put(int(stream), image, detection_record(frame, dets, stream))

    def _put(self, stream, image, record):
        with self._cond:
            slot = self._slots.setdefault(stream, [None, None, 0, None, -1])
            slot[0], slot[1] = image, record
            slot[2] += 1
            self._cond.notify_all()
        self.frames += 1

    def _seq(self, stream):
        slot = self._slots.get(stream)
        return slot[2] if slot else 0

    def latest_jpeg(self, after=-1, timeout=1.0, stream=0):
        """``(jpeg bytes, seq)`` of a frame newer than ``after``; ``(None, after)`` on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq(stream) > after or self.closed, timeout=timeout)
            slot = self._slots.get(stream)
            if slot is None or slot[2] <= after or slot[0] is None:
                return None, after
            image, seq = slot[0], slot[2]
        with self._encode_lock:     # one encode per frame, shared by every client
            if slot[4] != seq:
                cv2 = import_cv2()
                ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                slot[3], slot[4] = (data.tobytes() if ok else None), seq
            return slot[3], seq

    def latest_record(self, stream=0):
        with self._cond:
            slot = self._slots.get(stream)
            return slot[1] if slot else None

    def page(self):
        """The HTML page: title, what runs (model, backend, precision, sources: credentials,
        tokens and query strings stripped; all HTML-escaped), then one cell per stream."""
        n = max(1, len(getattr(self.stats, "streams", None) or []))
        cells = "".join(CELL % {"i": i, "q": "?stream=%d" % i if i else ""} for i in range(n))
        snap = self.stats.snapshot() if self.stats is not None else {}
        esc = {k: html.escape(str(snap.get(k) or "\u2013")) for k in ("backend", "precision")}
        sources = [str(x.get("source") or "") for x in snap.get("streams") or []]
        esc["source"] = html.escape(", ".join(x for x in sources if x) or
                                    str(snap.get("source") or "\u2013"))
        esc["model"] = html.escape(os.path.basename(str(snap.get("model") or "")) or "\u2013")
        esc["title"] = html.escape(str(self.title))
        esc.update(cells=cells, width="640px" if n == 1 else "calc(50% - 8px)")
        return PAGE % esc

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
        path, _, query = self.path.partition("?")
        stream = _stream_arg(query)
        if stream is None:
            self._send(400, "text/plain", b"expected ?stream=N with N a stream number\n")
        elif path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", app.page().encode())
        elif path == "/stats":
            body = app.stats.snapshot() if app.stats is not None else {"schema": 1}
            self._send(200, "application/json", json.dumps(body).encode())
        elif path == "/detections":
            rec = app.latest_record(stream)
            self._send(200 if rec else 503, "application/json",
                       json.dumps(rec or {"error": "no frame yet"}).encode())
        elif path == "/snapshot.jpg":
            jpeg, _ = app.latest_jpeg(timeout=5.0, stream=stream)
            if jpeg is None:
                self._send(503, "text/plain", b"no frame yet\n")
            else:
                self._send(200, "image/jpeg", jpeg)
        elif path == "/stream.mjpg":
            self._stream(app, stream)
        else:
            self._send(404, "text/plain", b"not found; try / /stream.mjpg /stats /detections\n")

    def _send(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, app, stream=0):
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=" + BOUNDARY)
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seq = -1
        try:
            while not app.closed:
                jpeg, seq = app.latest_jpeg(seq, timeout=1.0, stream=stream)
                if jpeg is None:
                    continue
                self.wfile.write(part_header(len(jpeg)) + jpeg + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass    # the client went away


def _stream_arg(query):
    """The ``stream=N`` query value (0 when absent), or None when it is not a number."""
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "stream":
            return int(value) if value.isdigit() and len(value) < 6 else None
    return 0
