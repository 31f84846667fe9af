"""libjpeg / libpng noise from a broken network camera stays off a real ``ssd-live``'s stderr.

A real MJPEG server on 127.0.0.1 sends parts a broken camera sends: JPEGs with extraneous bytes
before a marker and JPEGs cut short (libjpeg decodes them and prints "Corrupt JPEG data: ..."),
PNGs with a bad CRC (libpng prints "libpng error: ..."). ``ssd-live`` decodes them with
``cv2.imdecode`` in its capture thread while its other threads print its own lines."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from streamkit import ROOT, Peer, synthetic_frame, write_video

cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.slow      # ssd-live runs as a process

HEAD = (b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=fr\r\n\r\n")


def _parts():
    """(extraneous-bytes JPEG, JPEG cut short then closed, PNG with a bad IHDR CRC)."""
    jpeg = cv2.imencode(".jpg", synthetic_frame(3))[1].tobytes()
    app0_end = 4 + int.from_bytes(jpeg[4:6], "big")
    extraneous = jpeg[:app0_end] + b"\x00" * 5 + jpeg[app0_end:]
    cut = jpeg[:len(jpeg) // 2] + b"\xff\xd9"
    png = bytearray(cv2.imencode(".png", synthetic_frame(4))[1].tobytes())
    png[29] ^= 0xFF                         # the IHDR chunk's CRC
    return [extraneous, cut, bytes(png)]


PARTS = _parts()


def _send(sock, data):
    sock.sendall(b"--fr\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                 + data + b"\r\n")


def _script(sock, n):
    """1: the probe; 2: 10 rounds of broken parts, then the stream ends (one reconnect);
    3 and later: broken parts until the client leaves."""
    sock.sendall(HEAD)
    rounds = 10 if n == 2 else 100000
    for _ in range(rounds):
        for part in PARTS:
            _send(sock, part)
        time.sleep(0.03)


@pytest.fixture
def camera():
    p = Peer(_script)
    yield p
    p.close()


def _live(tiny_onnx, url, out, *extra, env=None):
    cmd = [sys.executable, "-m", "ssd_edge.cli.live", "--model", tiny_onnx, "--source", url,
           "--headless", "--output", str(out)] + list(extra)
    full = {k: v for k, v in os.environ.items() if k != "SSD_EDGE_DEBUG"}
    full.update(env or {})
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env=full)


def _noise(err):
    return [ln for ln in err.splitlines()
            if ln.startswith(("Corrupt JPEG", "libpng ", "Premature end of JPEG"))]


def test_broken_camera_noise_is_dropped_and_counted_once(tmp_path, tiny_onnx, camera):
    out = tmp_path / "d.jsonl"
    proc = _live(tiny_onnx, camera.url, out, "--max-frames", "40")
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    lines = err.splitlines()
    assert proc.returncode == 0, err
    assert not _noise(err), err
    assert len(out.read_text().splitlines()) == 40
    # ssd-edge's own lines, each exactly once and whole.
    for want in (": backend ", "no frame (the stream ended); reopening (attempt 1 of 5)",
                 ": reopened",
                 "frames: 40 in", "decoder messages about corrupt frames suppressed"):
        assert sum(want in ln for ln in lines) == 1, (want, err)
    summary = [ln for ln in lines if "suppressed" in ln][0]
    assert summary.startswith("ssd-live: ") and "libjpeg" in summary and "libpng" in summary
    assert int(summary.split()[1]) >= 40 and "SSD_EDGE_DEBUG=1" in summary
    assert sum("reopening" in ln for ln in lines) == 1, err     # none when the run stops
    assert "Traceback" not in err


def test_the_noise_is_real_and_shown_with_debug(tmp_path, tiny_onnx, camera):
    """The same run with SSD_EDGE_DEBUG=1: the filter is off and libjpeg's lines do appear
    (so the test above would see them if the filter let them through)."""
    proc = _live(tiny_onnx, camera.url, tmp_path / "d.jsonl", "--max-frames", "10",
                 env={"SSD_EDGE_DEBUG": "1"})
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 0, err
    assert any(ln.startswith("Corrupt JPEG data: 5 extraneous bytes") for ln in _noise(err))
    assert any(ln.startswith("libpng error: ") for ln in _noise(err)), err
    assert "suppressed" not in err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stats(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return None


def test_ctrl_c_restores_and_keeps_the_last_lines(tmp_path, tiny_onnx, camera):
    out, port = tmp_path / "d.jsonl", _free_port()
    proc = _live(tiny_onnx, camera.url, out, "--serve", "127.0.0.1:%d" % port)
    deadline, stats = time.monotonic() + 60, None
    while time.monotonic() < deadline and proc.poll() is None:
        stats = _stats(port)
        if stats and stats["frames"] >= 15 and stats["decoder_messages"] >= 10:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 0, err                     # docs/streaming.md: "Stopping"
    assert not _noise(err), err
    last = err.splitlines()[-1]
    assert "decoder messages about corrupt frames suppressed" in last, err
    assert int(last.split()[1]) >= stats["decoder_messages"] >= 10     # /stats counts them too
    assert sum("frames: " in ln for ln in err.splitlines()) == 1
    records = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert len(records) >= 15


def test_ffmpeg_decoder_noise_of_a_damaged_video_is_dropped(tmp_path, tiny_onnx):
    """FFmpeg's mpeg4 decoder (the one an RTSP or HTTP stream of MPEG-4 goes through) on a
    video damaged in the middle: its "[mpeg4 @ 0x...]" lines are counted, not shown."""
    data = bytearray(write_video(tmp_path / "in.mp4", 60, size=(320, 240)).read_bytes())
    rng = np.random.default_rng(0)
    for off in range(len(data) // 5, len(data) - len(data) // 5, 997):
        data[off:off + 40] = rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
    (tmp_path / "bad.mp4").write_bytes(bytes(data))
    proc = _live(tiny_onnx, str(tmp_path / "bad.mp4"), tmp_path / "d.jsonl")
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 0, err
    assert "[mpeg4 @" not in err, err
    summary = [ln for ln in err.splitlines() if "suppressed" in ln]
    assert len(summary) == 1 and "ffmpeg" in summary[0], err
