"""Hostile network peers, as real servers on 127.0.0.1: broken MJPEG cameras feeding the reader,
and hostile or crowding clients of the ``--serve`` server."""
import http.client
import json
import socket
import statistics
import threading
import time

import numpy as np
import pytest

from streamkit import Peer, synthetic_frame

from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.stream import MjpegServer, SourceOptions, Stats, open_source
from ssd_edge.runtime.stream.httpguard import HostPolicy, split_host
from ssd_edge.runtime.stream.redact import public_name, redact_uri

cv2 = pytest.importorskip("cv2")

JPEG = cv2.imencode(".jpg", synthetic_frame(0))[1].tobytes()
HEAD = (b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=fr\r\n\r\n")


@pytest.fixture
def peer():
    made = []

    def make(script):
        p = Peer(script)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def good_parts(sock, n=2):
    for _ in range(n):
        sock.sendall(b"--fr\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                     % len(JPEG) + JPEG + b"\r\n")


def _open_and_drain(url, attempts=2):
    opts = SourceOptions(reconnect_attempts=attempts, reconnect_backoff=0.05, open_timeout=5)
    src = open_source(url, opts)
    frames = 0
    try:
        while True:
            try:
                if src.read(timeout=10) is None:
                    break
                frames += 1
            except SsdEdgeError as e:
                return frames, str(e)
    finally:
        src.close()
    return frames, None


HOSTILE = {
    "huge content-length": b"--fr\r\nContent-Length: 99999999999999\r\n\r\n" + b"x" * 1000,
    "negative content-length": b"--fr\r\nContent-Length: -5\r\n\r\n" + JPEG,
    "garbage content-length": b"--fr\r\nContent-Length: 12abc\r\n\r\n" + JPEG,
    "too many headers": b"--fr\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n" + JPEG,
    "endless header line": b"--fr\r\nX-A: " + b"a" * 200000,
    "random bytes": bytes(np.random.default_rng(0).integers(0, 256, 300000, dtype=np.uint8)),
    "a part claiming 100000x100000": b"--fr\r\nContent-Length: %d\r\n\r\n" % 40 +
    b"\xff\xd8\xff\xc0\x00\x11\x08\x86\xa0\x86\xa0\x03" + b"\x00" * 28,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_camera_is_a_lost_frame_then_one_line(peer, name):
    body = HOSTILE[name]

    def script(sock, n):
        sock.sendall(HEAD)
        if n <= 2:                              # the probe, then the reader
            good_parts(sock)                    # the first frame opens the source
        sock.sendall(body)
        time.sleep(0.3)
    p = peer(script)
    t0 = time.monotonic()
    frames, error = _open_and_drain(p.url)
    assert frames >= 1 and error is not None and "\n" not in error
    assert "lost http://127.0.0.1" in error and "reopen attempts" in error
    assert time.monotonic() - t0 < 30
    assert p.connections >= 3                   # it reconnected before reporting


def test_stalled_camera_times_out_and_reconnects(peer):
    def script(sock, n):
        sock.sendall(HEAD)
        if n <= 2:                              # the probe, then the reader
            good_parts(sock, 1)
        time.sleep(8)                           # says nothing more
    p = peer(script)
    opts = SourceOptions(reconnect_attempts=1, reconnect_backoff=0.05, open_timeout=2)
    src = open_source(p.url, opts)
    try:
        assert src.read(timeout=5) is not None
        with pytest.raises(SsdEdgeError, match="lost"):
            src.read(timeout=20)
    finally:
        src.close()


def test_html_page_at_a_camera_url_is_not_an_mjpeg_stream(peer):
    p = peer(lambda sock, n: sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n"
                                          b"<html>login</html>"))
    with pytest.raises(SsdEdgeError, match="not an MJPEG stream"):
        open_source(p.url, SourceOptions(open_timeout=3))


def test_credentials_never_reach_logs_or_errors(peer, caplog):
    def script(sock, n):
        sock.sendall(HEAD)
        if n <= 2:                              # the probe, then the reader
            good_parts(sock, 1)
    p = peer(script)
    url = p.url.replace("http://", "http://admin:hunter2@") + "?token=s3cret"
    frames, error = _open_and_drain(url, attempts=1)
    text = error + " ".join(r.getMessage() for r in caplog.records)
    assert frames >= 1 and "hunter2" not in text and "s3cret" not in text and "admin" not in text


def test_redaction():
    assert redact_uri("rtsp://u:p@cam:554/live?tok=1#x") == "rtsp://cam:554/live"
    assert public_name("/home/me/models/m.onnx") == "m.onnx"
    assert public_name("http://cam/v?key=1") == "http://cam/v"


# ------------------------------------------------------------------ the --serve server
@pytest.fixture
def server():
    stats = Stats(model="/secret/place/model.onnx", backend="ort", precision="fp32",
                  source="rtsp://admin:pw@10.0.0.5:554/live?token=abc")
    srv = MjpegServer("127.0.0.1:0", stats=stats).start()
    yield srv
    srv.close()


def _request(port, path="/stats", host=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Host": host} if host is not None else {}
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r, body


def test_stats_hides_credentials_and_paths_and_sends_safe_headers(server):
    r, body = _request(server.port)
    assert r.status == 200
    stats = json.loads(body)
    assert stats["model"] == "model.onnx"
    assert stats["source"] == "rtsp://10.0.0.5:554/live"
    assert b"pw" not in body and b"token" not in body and b"/secret" not in body
    assert r.getheader("X-Content-Type-Options") == "nosniff"
    assert r.getheader("Server") == "ssd-edge" and "Python" not in r.getheader("Server")


@pytest.mark.parametrize("host, ok", [
    (None, True), ("localhost:{port}", True), ("127.0.0.1:{port}", True), ("[::1]:{port}", True),
    ("evil.example:{port}", False), ("localhost.evil.example:{port}", False),
    ("127.0.0.1:1", False), ("", False), ("localhost", False), ("192.168.1.5:{port}", False)])
def test_host_header_must_name_a_loopback_address(server, host, ok):
    r, _ = _request(server.port, host=host.format(port=server.port) if host is not None else None)
    assert (r.status == 200) == ok, r.status
    if not ok:
        assert r.status == 421


def test_host_policy_off_loopback():
    pol = HostPolicy("0.0.0.0", 8080, allow=["cam.example"])
    assert pol.allows("cam.example:8080") and pol.allows("10.1.2.3:8080")
    assert pol.allows("localhost:8080") and not pol.allows("evil.example:8080")
    pol = HostPolicy("10.1.2.3", 8080)
    assert pol.allows("10.1.2.3:8080") and not pol.allows("rebind.example:8080")
    assert split_host("[::1]:80") == ("::1", 80) and split_host("a:b:c") == ("", None)


def test_200_simultaneous_stats_clients(server):
    n, barrier, times, errors = 200, threading.Barrier(200), [], []

    def client():
        barrier.wait()
        t0 = time.perf_counter()
        try:
            r, body = _request(server.port, timeout=10)
            assert r.status == 200 and json.loads(body)["schema"] == 2
            times.append(time.perf_counter() - t0)
        except Exception as e:          # noqa: BLE001 - counted, reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=client) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]
    times.sort()
    p99 = times[int(0.99 * (len(times) - 1))]
    assert len(times) == n and p99 < 1.0, (p99, statistics.median(times))


def test_idle_connection_is_closed(server):
    server._httpd.idle_timeout = 0.5        # the 30 s default, shortened for the test
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    t0 = time.monotonic()
    assert s.recv(100) == b""               # closed by the server, nothing sent
    assert time.monotonic() - t0 < 4
    s.close()


def test_worker_threads_are_bounded(server):
    server._httpd.idle_timeout = 5
    limit = server._httpd.max_connections
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(limit + 10)]
    time.sleep(0.5)
    alive = [t for t in threading.enumerate() if t.name == "ssd-http-client"]
    assert len(alive) <= limit
    r, _ = _request(server.port, timeout=5)
    assert r.status == 503
    for s in idle:
        s.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if _request(server.port, timeout=5)[0].status == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        pytest.fail("the server did not recover once the idle clients left")


def test_client_leaving_mid_request_prints_nothing(server, capfd):
    for payload in (b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port,
                    b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % server.port,
                    b"\x16\x03\x01\x02\x00garbage-tls-hello"):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(payload)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()                           # RST, mid-request
    time.sleep(1.0)
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Exception" not in err, err


# ------------------------------------------------------------------ live readers that end or break
def test_pipeline_that_ends_is_end_of_stream_not_a_lost_camera():
    from streamkit import FastCamera
    from ssd_edge.runtime.stream.live import LiveSource
    opened = []

    def opener():                           # test double: no GStreamer in pip's OpenCV
        opened.append(FastCamera(period=0.01, fail_after=5))
        return opened[-1]
    src = LiveSource("gst://videotestsrc num-buffers=5", opener, SourceOptions(), ends=True)
    src.open()
    got = 0
    while src.read(timeout=5) is not None:
        got += 1
    src.close()
    assert 1 <= got <= 5 and len(opened) == 1      # never reopened


def test_gst_sources_are_opened_as_ending(monkeypatch):
    from ssd_edge.runtime.stream import sources
    monkeypatch.setattr(sources, "require_gstreamer", lambda cv2, uri: None)
    src = sources.make_source("gst://videotestsrc num-buffers=3")
    assert src._ends and not sources.make_source("rtsp://cam/1")._ends


def test_reader_raising_is_reported_not_a_hang():
    from streamkit import FastCamera
    from ssd_edge.runtime.stream.live import LiveSource

    class Exploding(FastCamera):
        def grab(self):
            if self.n >= 3:
                raise RuntimeError("driver fault")
            return super().grab()
    src = LiveSource("test://boom", Exploding, SourceOptions(open_timeout=5))
    src.open()
    with pytest.raises(SsdEdgeError, match="capture from test://boom failed: RuntimeError"):
        for _ in range(10):
            src.read(timeout=5)
    src.close()
