"""Several sources in one ssd-live / one stream(): batched, per-stream outputs, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from streamkit import ROOT, count_frames, write_video

cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")


def live(*args):
    return [sys.executable, "-m", "ssd_edge.cli.live"] + [str(a) for a in args]


def run(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(live(*args), capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT)


def lines(path):
    return [json.loads(x) for x in open(str(path))]


def comparable(line):
    """What must be identical between a batched and a single run (not the wall clock)."""
    return line["index"], line["pts"], line["frame_size"], line["detections"]


def test_four_demo_sources_equal_four_single_runs(tmp_path, tiny_onnx):
    p = run("--model", tiny_onnx, "--backend", "ort", "--headless",
            *[a for _ in range(4) for a in ("--source", "demo://")],
            "--output", tmp_path / "out-{stream}.jsonl", "--output", tmp_path / "all.jsonl",
            "--output", tmp_path / "v-{stream}.mp4")
    assert p.returncode == 0, p.stderr
    single = tmp_path / "single.jsonl"
    q = run("--model", tiny_onnx, "--backend", "ort", "--headless", "--source", "demo://",
            "--output", single)
    assert q.returncode == 0, q.stderr
    ref = [comparable(x) for x in lines(single)]
    assert len(ref) == 120 and any(r[3] for r in ref)
    for i in range(4):
        got = lines(tmp_path / ("out-%d.jsonl" % i))
        assert [comparable(x) for x in got] == ref                # every frame, same detections
        assert all("stream" not in x for x in got)
        assert count_frames(tmp_path / ("v-%d.mp4" % i)) == 120
    merged = lines(tmp_path / "all.jsonl")
    for i in range(4):
        assert [comparable(x) for x in merged if x["stream"] == i] == ref
    assert "stream 3" in p.stderr and "ended" in p.stderr


def test_one_video_for_several_sources_is_refused(tmp_path, tiny_onnx, video):
    p = run("--model", tiny_onnx, "--headless", "--source", video, "--source", video,
            "--output", tmp_path / "out.mp4")
    assert p.returncode == 2
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("ssd-live: error: ") and "{stream}" in last and "Traceback" not in p.stderr
    assert not os.listdir(str(tmp_path)) or not (tmp_path / "out.mp4").exists()


@pytest.mark.slow
def test_source_ending_early_and_dead_source(tmp_path, tiny_onnx, served):
    """A 12-frame file ends while demo:// goes on; an unreachable RTSP camera is reported and
    the live HTTP source and both files still run to their end."""
    server, _ = served
    short = write_video(tmp_path / "short.mp4", 12)
    p = run("--model", tiny_onnx, "--headless", "--source", short, "--source", "demo://",
            "--source", "rtsp://127.0.0.1:1/dead", "--source", server.url + "stream.mjpg",
            "--output", tmp_path / "o-{stream}.jsonl", "--max-frames", "60")
    assert p.returncode == 0, p.stderr
    assert len(lines(tmp_path / "o-0.jsonl")) == 12
    assert [x["index"] for x in lines(tmp_path / "o-1.jsonl")] == list(range(60))
    assert not (tmp_path / "o-2.jsonl").exists()
    live_lines = lines(tmp_path / "o-3.jsonl")
    assert 0 < len(live_lines) <= 60
    assert "stream 2 (rtsp://127.0.0.1:1/dead) failed to open" in p.stderr
    assert "stream 0 (%s) ended after 12 frames" % short in p.stderr


def test_sigint_with_four_outputs_open_finalises_every_one(tmp_path, tiny_onnx):
    env = dict(os.environ, PYTHONPATH=ROOT)
    args = ["--model", tiny_onnx, "--headless", "--loop", "-1", "--status"]
    for i in range(4):
        args += ["--source", "demo://"]
    args += ["--output", tmp_path / "v-{stream}.mp4", "--output", tmp_path / "d-{stream}.jsonl"]
    proc = subprocess.Popen(live(*args), stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(os.path.exists(str(tmp_path / ("d-%d.jsonl" % i))) and
                   len(open(str(tmp_path / ("d-%d.jsonl" % i))).readlines()) >= 20
                   for i in range(4)):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    for i in range(4):
        n = len(lines(tmp_path / ("d-%d.jsonl" % i)))
        assert n >= 20
        assert count_frames(tmp_path / ("v-%d.mp4" % i)) == n       # finalised, every frame
    assert not [f for f in os.listdir(str(tmp_path)) if ".part" in f]


def test_stream_api_yields_the_stream_index(tmp_path, tiny_onnx, video):
    from ssd_edge.runtime.stream import stream
    short = write_video(tmp_path / "short.mp4", 5)
    seen = {0: [], 1: []}
    with stream([video, short], model=tiny_onnx, backend="ort",
                outputs=[str(tmp_path / "all.jsonl")]) as s:
        for i, frame, dets in s:
            assert frame.shape == (72, 96, 3)
            seen[i].append(len(dets))
    assert (len(seen[0]), len(seen[1])) == (12, 5)
    got = lines(tmp_path / "all.jsonl")
    assert sorted(x["stream"] for x in got) == [0] * 12 + [1] * 5
    snap = s.stats.snapshot()
    assert snap["schema"] == 2 and [x["state"] for x in snap["streams"]] == ["ended", "ended"]
    assert [x["frames"] for x in snap["streams"]] == [12, 5] and snap["frames"] == 17


def test_multi_stream_server_shows_every_stream(tmp_path, tiny_onnx, video):
    import urllib.request
    from ssd_edge.runtime.stream import stream
    s = stream([video, video], model=tiny_onnx, backend="ort", serve="127.0.0.1:0",
               loop=-1, rate=30)
    url = s.server.url
    it = iter(s)
    for _ in range(20):
        next(it)
    page = urllib.request.urlopen(url, timeout=10).read().decode()
    assert 'src="/stream.mjpg"' in page and 'src="/stream.mjpg?stream=1"' in page
    stats = json.loads(urllib.request.urlopen(url + "stats", timeout=10).read())
    assert [x["index"] for x in stats["streams"]] == [0, 1]
    assert all(x["frames"] > 0 and x["state"] == "running" for x in stats["streams"])
    rec = json.loads(urllib.request.urlopen(url + "detections?stream=1", timeout=10).read())
    assert rec["stream"] == 1
    jpeg = urllib.request.urlopen(url + "snapshot.jpg?stream=1", timeout=10).read()
    assert jpeg[:2] == b"\xff\xd8"
    s.close()


def test_static_batch_model_runs_one_frame_per_call_and_says_so(tmp_path, tiny_onnx, video):
    import onnx
    model = onnx.load(tiny_onnx)
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 1      # a batch-1 export
    static = tmp_path / "static.onnx"
    onnx.save(model, str(static))
    p = run("--model", static, "--backend", "ort", "--headless", "--source", video,
            "--source", video, "--output", tmp_path / "s-{stream}.jsonl")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("--dynamic-batch") == 1
    q = run("--model", tiny_onnx, "--backend", "ort", "--headless", "--source", video,
            "--output", tmp_path / "ref.jsonl")
    ref = [comparable(x) for x in lines(tmp_path / "ref.jsonl")]
    for i in range(2):
        assert [comparable(x) for x in lines(tmp_path / ("s-%d.jsonl" % i))] == ref


def test_multi_source_tracked_lines_and_stats_match_the_doc(tmp_path, tiny_onnx, video):
    from test_formats import check
    from ssd_edge.runtime.stream import stream
    from ssd_edge.runtime.stream.tracking import require_trackers
    opts = {}
    try:
        require_trackers()
        opts = {"track": "sort", "minimum_consecutive_frames": 1}
    except Exception:
        pass
    out = tmp_path / "all.jsonl"
    with stream([video, video], model=tiny_onnx, backend="ort", outputs=[str(out)], **opts) as s:
        for _ in s:
            pass
    got = lines(out)
    assert {x["stream"] for x in got} == {0, 1}
    for line in got:
        check("detection-line", line)
    if opts:
        assert any("track_id" in d for x in got for d in x["detections"])
    check("stats", s.stats.snapshot())
