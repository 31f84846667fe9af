"""--output rtsp://: a real GStreamer RTSP server started by ssd-live, read back by a second
ssd-live through OpenCV; the one-line errors when GStreamer is missing or the URL is wrong."""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from streamkit import ROOT, run_cli

cv2 = pytest.importorskip("cv2")

from ssd_edge.errors import SsdEdgeError  # noqa: E402
from ssd_edge.runtime.stream.rtsp_out import RtspSink, gi_python, parse_rtsp_url  # noqa: E402


def needs_gstreamer_rtsp():
    python = gi_python()
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', "
             "'1.0'); from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "assert Gst.ElementFactory.find('x264enc') or Gst.ElementFactory.find('nvv4l2h264enc')")
    if python is None or subprocess.run([python, "-c", probe], capture_output=True).returncode:
        pytest.skip("GStreamer RTSP server, python3-gi or x264enc not installed "
                    "(make system-deps installs them as root)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_parse_rtsp_url():
    assert parse_rtsp_url("rtsp://0.0.0.0:8554/live") == ("0.0.0.0", 8554, "/live")
    assert parse_rtsp_url("rtsp://127.0.0.1/cam/1") == ("127.0.0.1", 8554, "/cam/1")
    assert parse_rtsp_url("rtsp://[::1]:9000") == ("::1", 9000, "/live")
    for bad in ("rtsp://", "rtsp://host:99999/x", "rtsps://h/x"):
        with pytest.raises(SsdEdgeError, match="expected"):
            parse_rtsp_url(bad)


def test_missing_bindings_say_which_packages(tmp_path, tiny_onnx, video):
    pytest.importorskip("onnxruntime")
    env = dict(os.environ, SSD_EDGE_GI_PYTHON=sys.executable)    # this venv has no gi
    if subprocess.run([sys.executable, "-c", "import gi"], capture_output=True).returncode == 0:
        pytest.skip("this Python has gi")
    p = run_cli("live", "--model", tiny_onnx, "--source", video, "--headless",
                "--output", "rtsp://127.0.0.1:%d/x" % free_port(), env=env)
    assert p.returncode == 2
    last = p.stderr.strip().splitlines()[-1]
    assert "gir1.2-gst-rtsp-server-1.0" in last and "python3-gi" in last, p.stderr
    assert "Traceback" not in p.stderr


def test_port_in_use_is_one_line_and_paths_share_a_port():
    needs_gstreamer_rtsp()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(SsdEdgeError, match="cannot serve rtsp://127.0.0.1:%d: cannot "
                                               "listen" % port):
            RtspSink("rtsp://127.0.0.1:%d/a" % port).open((64, 48), 10)
    port = free_port()
    a, b = RtspSink("rtsp://127.0.0.1:%d/a" % port), RtspSink("rtsp://127.0.0.1:%d/b" % port)
    a.open((64, 48), 10)
    b.open((32, 24), 10)
    try:
        assert a._server is b._server                     # one server process, two paths
        with pytest.raises(SsdEdgeError, match="one output per RTSP path"):
            RtspSink("rtsp://127.0.0.1:%d/a" % port).open((64, 48), 10)
    finally:
        a.close()
        b.close()
    assert a._server is None and b._server is None


@pytest.mark.slow
def test_several_sources_each_on_their_own_path(tmp_path, tiny_onnx, monkeypatch):
    """Two sources, --output rtsp://.../cam{stream}: one port, two playable streams."""
    needs_gstreamer_rtsp()
    pytest.importorskip("onnxruntime")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=ROOT)
    sender = subprocess.Popen(
        [sys.executable, "-m", "ssd_edge.cli.live", "--model", tiny_onnx, "--source", "demo://",
         "--source", "demo://", "--width", "320", "--height", "240", "--rate", "12", "--loop",
         "-1", "--headless", "--output", "rtsp://127.0.0.1:%d/cam{stream}" % port],
        stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    try:
        wait_for_port(port, sender)
        for i in range(2):
            cap = cv2.VideoCapture("rtsp://127.0.0.1:%d/cam%d" % (port, i), cv2.CAP_FFMPEG)
            ok, image = cap.read()
            cap.release()
            assert ok and image.shape == (240, 320, 3)
    finally:
        sender.send_signal(signal.SIGINT)
        _, err = sender.communicate(timeout=60)
    assert sender.returncode == 0, err
    assert err.count("H.264 by") == 2


def wait_for_port(port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.2)
    raise AssertionError("nothing listens on port %d" % port)


def demo_frames():
    cap = cv2.VideoCapture(os.path.join(ROOT, "ssd_edge", "assets", "demo.mp4"))
    frames = []
    while True:
        ok, im = cap.read()
        if not ok:
            return frames
        frames.append(im)


def agreement(direct, received, min_iou=0.8):
    """Share of ``direct`` detections with a same-class ``received`` one at IoU >= min_iou."""
    from ssd_edge.boxes import pairwise_iou
    if not len(direct):
        return 0, 0
    if not len(received):
        return 0, len(direct)
    iou = pairwise_iou(direct.boxes, received.boxes)
    same = direct.class_ids[:, None] == received.class_ids[None, :]
    return int(((iou >= min_iou) & same).any(1).sum()), len(direct)


@pytest.mark.slow
def test_rtsp_round_trip_matches_the_direct_run(tmp_path, tiny_onnx):
    """ssd-live serves demo:// un-annotated over RTSP; a second ssd-live (the bundled model)
    reads it; each received frame is matched to its clip frame, and its detections agree with
    the bundled model run directly on that frame."""
    needs_gstreamer_rtsp()
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    port = free_port()
    url = "rtsp://127.0.0.1:%d/test" % port
    env = dict(os.environ, PYTHONPATH=ROOT)
    sender = subprocess.Popen(
        [sys.executable, "-m", "ssd_edge.cli.live", "--model", tiny_onnx, "--source", "demo://",
         "--rate", "12", "--loop", "-1", "--headless", "--overlay", "none", "--output", url],
        stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        wait_for_port(port, sender)
        recv = tmp_path / "recv"
        renv = dict(os.environ, OPENCV_FFMPEG_CAPTURE_OPTIONS="rtsp_transport;tcp")
        p = run_cli("live", "--source", url, "--headless", "--overlay", "none",
                    "--max-frames", "12", "--output", recv / "%05d.png",
                    "--output", tmp_path / "recv.jsonl", timeout=600, env=renv)
        assert p.returncode == 0, p.stderr
    finally:
        sender.send_signal(signal.SIGINT)
        _, err = sender.communicate(timeout=60)
    assert sender.returncode == 0, err
    assert "H.264 by" in err

    from ssd_edge import Detections
    from ssd_edge.runtime.stream import load_detector
    clip = demo_frames()
    small = [cv2.resize(f, (160, 120)).astype(np.float32) for f in clip]
    lines = [json.loads(x) for x in open(str(tmp_path / "recv.jsonl"))]
    pngs = sorted(glob.glob(str(recv / "*.png")))
    assert len(pngs) == len(lines) == 12
    det = load_detector(None)
    hit = total = 0
    for path, line in zip(pngs, lines):
        got = cv2.imread(path)
        assert got.shape == clip[0].shape                    # decoded at the source's size
        err = [((cv2.resize(got, (160, 120)).astype(np.float32) - s) ** 2).mean() for s in small]
        k = int(np.argmin(err))
        psnr = 10 * np.log10(255.0 ** 2 / max(err[k], 1e-6))
        assert psnr > 28, "received frame %s matches no clip frame (PSNR %.1f dB)" % (path, psnr)
        h, t = agreement(det(clip[k]), Detections.from_dict(line))
        hit, total = hit + h, total + t
    det.close()
    assert total > 12
    print("RTSP round trip: %d of %d detections agree (same class, IoU >= 0.8)" % (hit, total))
    assert hit >= 0.95 * total
