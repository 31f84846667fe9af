"""ssd-live and ssd-detect as users run them: real subprocesses, the tiny real ONNX model."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from streamkit import ROOT, count_frames, run_cli, synthetic_frame, write_video

cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.usefixtures("needs_ort")


@pytest.fixture
def needs_ort():
    pytest.importorskip("onnxruntime")


def live(*args):
    return [sys.executable, "-m", "ssd_edge.cli.live"] + [str(a) for a in args]


def one_line_error(proc, prog, fragment):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    # Informational lines (the backend auto-pick) may come first; the error is one last line.
    errors = [x for x in lines if "error" in x.lower() or "Traceback" in x]
    assert errors == lines[-1:] and lines[-1].startswith(prog + ": error: "), proc.stderr
    assert fragment in lines[-1], lines[-1]


def test_video_to_mp4_and_jsonl(tmp_path, video, tiny_onnx):
    mp4, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    p = run_cli("live", "--model", tiny_onnx, "--source", video, "--output", mp4,
                "--output", jsonl, "--backend", "ort", "--threshold", "0.3,car=0.45")
    assert p.returncode == 0, p.stderr
    assert count_frames(mp4) == count_frames(video) == 12
    lines = [json.loads(x) for x in open(str(jsonl))]
    assert [x["index"] for x in lines] == list(range(12))
    dets = [d for x in lines for d in x["detections"]]
    assert dets and all(d["score"] > (0.45 if d["label"] == "car" else 0.3) for d in dets)
    assert "frames: 12" in p.stderr and "inference" in p.stderr     # the final summary


def test_classes_filter(tmp_path, video, tiny_onnx):
    jsonl = tmp_path / "car.jsonl"
    p = run_cli("live", "--model", tiny_onnx, "--source", video, "--output", jsonl,
                "--classes", "car", "--threshold", "0.3", "--quiet")
    assert p.returncode == 0, p.stderr
    labels = {d["label"] for x in open(str(jsonl)) for d in json.loads(x)["detections"]}
    assert labels == {"car"}
    assert "frames:" not in p.stderr                      # --quiet: no summary


def test_sigint_mid_run_leaves_a_playable_mp4(tmp_path, video, tiny_onnx):
    mp4, jsonl = tmp_path / "live.mp4", tmp_path / "live.jsonl"
    proc = subprocess.Popen(live("--model", tiny_onnx, "--source", video, "--loop", -1,
                                 "--rate", 40, "--output", mp4, "--output", jsonl, "--headless"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if jsonl.exists() and len(jsonl.read_text().splitlines()) >= 8:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGINT" in err
    n = count_frames(mp4)
    assert n >= 8 and n == len(jsonl.read_text().splitlines())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _serving(tiny_onnx, video, *extra):
    proc = subprocess.Popen(live("--model", tiny_onnx, "--source", video, "--loop", -1,
                                 "--rate", 30, "--serve", "127.0.0.1:0", *extra),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def pump():
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        m = [re.search(r"serving on (http://127\.0\.0\.1:\d+/)", x) for x in lines]
        m = [x for x in m if x]
        if m:
            return proc, m[0].group(1), lines
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("ssd-live did not start serving: %s" % "".join(lines))


def test_one_ssd_live_reads_anothers_stream(tmp_path, video, tiny_onnx):
    first, url, _ = _serving(tiny_onnx, video)
    try:
        jsonl = tmp_path / "second.jsonl"
        p = run_cli("live", "--model", tiny_onnx, "--source", url + "stream.mjpg",
                    "--max-frames", 5, "--output", jsonl, "--headless", timeout=60)
        assert p.returncode == 0, p.stderr
        lines = [json.loads(x) for x in open(str(jsonl))]
        assert len(lines) == 5 and all(x["frame_size"] == [96, 72] for x in lines)
        # The first one counts its frames in /stats while it serves.
        import urllib.request
        stats = json.loads(urllib.request.urlopen(url + "stats", timeout=10).read())
        assert stats["frames"] > 5 and stats["source"].endswith("in.mp4")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    assert first.returncode == 0


def test_port_in_use(tiny_onnx, video):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        p = run_cli("live", "--model", tiny_onnx, "--source", video, "--serve",
                    s.getsockname()[1])
    finally:
        s.close()
    one_line_error(p, "ssd-live", "already in use")


@pytest.mark.parametrize("args,fragment", [
    (["--source", "bogus://x"], "unknown source scheme"),
    (["--camera", "7"], "camera 7 not found"),
    (["--source", "{video}", "--threshold", "person=high"], "expected --threshold"),
    (["--source", "{video}", "--classes", "unicorn", "--headless"], "unicorn"),
    (["--source", "{video}", "--output", "x.txt"], "expected --output"),
    (["--source", "{video}"], "run headless with --serve 8080"),
])
def test_live_user_errors(tiny_onnx, video, args, fragment):
    args = [a.format(video=video) for a in args]
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    p = run_cli("live", "--model", tiny_onnx, *args, env=env)
    one_line_error(p, "ssd-live", fragment)


def test_unreadable_video_and_missing_model(tmp_path, video):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\x00" * 2048)
    p = run_cli("live", "--model", "whatever.onnx", "--source", bad, "--headless")
    one_line_error(p, "ssd-live", "cannot read video")
    p = run_cli("live", "--source", video, "--headless")
    if p.returncode == 2 and "no model given" in p.stderr:
        one_line_error(p, "ssd-live", "pass --model")
    else:
        assert p.returncode == 0, p.stderr     # a bundled model exists in this installation


def test_ssd_detect_images_folder_and_video(tmp_path, image_folder, tiny_onnx):
    single = tmp_path / "single.jpg"
    cv2.imwrite(str(single), synthetic_frame(9))
    clip = write_video(tmp_path / "clip.avi", 6, fourcc="MJPG")
    out = tmp_path / "out"
    p = run_cli("detect", single, image_folder, clip, "--model", tiny_onnx, "--output-dir", out,
                "--threshold", "0.35")
    assert p.returncode == 0, p.stderr
    doc = json.loads((out / "detections.json").read_text())
    assert doc["schema"] == 1 and doc["backend"] and doc["precision"] == "fp32"
    kinds = [(os.path.basename(x["path"]), x["type"], len(x["frames"])) for x in doc["inputs"]]
    assert kinds == [("single.jpg", "image", 1), ("a.png", "image", 1), ("b.png", "image", 1),
                     ("c.png", "image", 1), ("d.png", "image", 1), ("e.png", "image", 1),
                     ("clip.avi", "video", 6)]
    for item in doc["inputs"]:
        assert os.path.exists(item["output"])
        for f in item["frames"]:
            assert all(d["score"] > 0.35 for d in f["detections"])
    assert count_frames(out / "clip.avi") == 6
    assert cv2.imread(str(out / "a.png")).shape == (72, 96, 3)


def test_ssd_detect_missing_input(tiny_onnx, tmp_path):
    p = run_cli("detect", tmp_path / "nope.jpg", "--model", tiny_onnx)
    one_line_error(p, "ssd-detect", "does not exist")
