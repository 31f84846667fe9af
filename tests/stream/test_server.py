"""The HTTP server read with a real HTTP client; one pipeline reading another's MJPEG stream."""
import json
import socket
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from streamkit import FakeDetector

from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.stream import (MjpegServer, Pipeline, PipelineOptions, open_sink,
                                     open_source, parse_bind)
from ssd_edge.runtime.stream.mjpeg import MjpegReader

cv2 = pytest.importorskip("cv2")


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def test_page_stats_detections_and_mjpeg(served):
    server, pipe = served
    assert server.host == "127.0.0.1" and server.port > 0
    status, ctype, page = get(server.url)
    assert status == 200 and ctype.startswith("text/html")
    assert b'src="/stream.mjpg"' in page
    assert b"model tiny.onnx" in page and b"backend ort fp32" in page and b"source " in page

    time.sleep(0.3)
    stats = json.loads(get(server.url + "stats")[2])
    assert stats["schema"] == 2 and stats["backend"] == "ort" and stats["precision"] == "fp32"
    assert stats["frames"] > 0 and stats["fps"] > 0 and stats["frame_size"] == [96, 72]
    assert [s["index"] for s in stats["streams"]] == [0] and stats["streams"][0]["frames"] > 0
    assert stats["model"].endswith("tiny.onnx")
    assert stats["latency_ms"]["inference"] > 0 and stats["uptime_s"] > 0

    dets = json.loads(get(server.url + "detections")[2])
    assert dets["frame_size"] == [96, 72] and isinstance(dets["detections"], list)
    assert {"box", "score", "class_id", "label"} <= set(dets["detections"][0])

    reader = MjpegReader(server.url + "stream.mjpg")
    try:
        assert reader.grab()
        img = reader.retrieve()
    finally:
        reader.close()
    assert img is not None and img.shape == (72, 96, 3)

    status, ctype, jpeg = get(server.url + "snapshot.jpg")
    assert ctype == "image/jpeg" and cv2.imdecode(np.frombuffer(jpeg, np.uint8), 1) is not None
    with pytest.raises(urllib.error.HTTPError) as e:
        get(server.url + "nothing")
    assert e.value.code == 404


def test_second_pipeline_reads_the_first_ones_stream(tmp_path, served):
    server, _ = served
    jsonl = str(tmp_path / "second.jsonl")
    src = open_source("http://127.0.0.1:%d/stream.mjpg" % server.port)
    assert src.live
    stats = Pipeline(src, FakeDetector(), [open_sink(jsonl)],
                     options=PipelineOptions(max_frames=6)).run()
    lines = [json.loads(x) for x in open(jsonl)]
    assert len(lines) == 6 == stats.frames
    assert all(x["frame_size"] == [96, 72] for x in lines)


def test_port_in_use_is_one_line_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        with pytest.raises(SsdEdgeError, match="port %d on 127.0.0.1 is already in use" % port):
            MjpegServer("127.0.0.1:%d" % port).start()
    finally:
        s.close()


def test_bind_defaults_to_localhost():
    assert parse_bind("8080") == ("127.0.0.1", 8080)
    assert parse_bind("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_bind("[::1]:81") == ("::1", 81)
    for bad in ("http", "1.2.3.4:", "99999"):
        with pytest.raises(SsdEdgeError, match="--serve"):
            parse_bind(bad)
    server = MjpegServer("0").start()
    try:
        assert server._httpd.socket.getsockname()[0] == "127.0.0.1"
    finally:
        server.close()


def test_http_source_that_is_not_reachable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                               # nothing listens there now
    with pytest.raises(SsdEdgeError, match="cannot open http://127.0.0.1:%d" % port):
        open_source("http://127.0.0.1:%d/stream.mjpg" % port)


@pytest.mark.parametrize("uri, shown", [
    ("rtsp://admin:s3cret@10.0.0.5:554/live?token=abc#x", "rtsp://10.0.0.5:554/live"),
    ("http://user@cam.local/video.mjpg?auth=1", "http://cam.local/video.mjpg"),
    ("clip.mp4", "clip.mp4"),
    ("csi://0", "csi://0"),
])
def test_page_and_stats_never_show_credentials_or_tokens(uri, shown):
    from ssd_edge.runtime.stream.stats import Stats
    stats = Stats(model="/models/m.onnx", backend="openvino", precision="bf16", source=uri)
    server = MjpegServer("127.0.0.1:0", stats=stats).start()
    try:
        page = get(server.url)[2].decode()
        snap = json.loads(get(server.url + "stats")[2])
    finally:
        server.close()
    assert snap["source"] == shown and ("source %s" % shown) in page
    assert "model m.onnx" in page and "backend openvino bf16" in page
    for secret in ("s3cret", "admin", "token", "auth", "user@"):
        assert secret not in page and secret not in json.dumps(snap)
