"""The pipeline and the stream() API: frames in = frames out, latest-frame-only, stop, errors."""
import json
import threading
import time
import tracemalloc

import numpy as np
import pytest

from streamkit import FakeDetector, FastCamera, count_frames

from ssd_edge import Detections
from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.stream import (STAGES, LiveSource, Pipeline, PipelineOptions, Sink,
                                     open_sink, open_source, stream)

cv2 = pytest.importorskip("cv2")


def test_video_through_real_detector_to_mp4_and_jsonl(tmp_path, video, detector):
    mp4, jsonl = str(tmp_path / "out.mp4"), str(tmp_path / "out.jsonl")
    pipe = Pipeline(open_source(video), detector, [open_sink(mp4), open_sink(jsonl)])
    stats = pipe.run()
    assert count_frames(mp4) == count_frames(video) == 12
    lines = [json.loads(x) for x in open(jsonl)]
    assert [x["index"] for x in lines] == list(range(12))
    # The jsonl holds exactly what the detector returns for each frame.
    src = open_source(video)
    for line, frame in zip(lines, src):
        assert line["detections"] == detector(frame.image).to_list()
    assert sum(len(x["detections"]) for x in lines) > 0
    assert stats.frames == 12 and stats.dropped == 0
    lat = stats.latency()
    assert all(lat[s] is not None and lat[s] >= 0 for s in STAGES if s != "track")
    assert lat["track"] is None          # no --track
    assert stats.backend == "ort" and stats.precision == "fp32"
    # The MP4 shows the overlay: it differs from the input where boxes were drawn.
    a, b = cv2.VideoCapture(video), cv2.VideoCapture(mp4)
    assert np.abs(a.read()[1].astype(int) - b.read()[1].astype(int)).mean() > 2


def test_image_folder_source_through_pipeline(tmp_path, image_folder, detector):
    out = str(tmp_path / "seq" / "%03d.jpg")
    results = list(Pipeline(open_source(image_folder), detector, [open_sink(out)]))
    assert len(results) == 5
    assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == ["%03d.jpg" % i
                                                                   for i in range(5)]


def test_stream_api_with_model_path(tmp_path, video, tiny_onnx):
    pytest.importorskip("onnxruntime")
    jsonl = str(tmp_path / "s.jsonl")
    s = stream(video, model=tiny_onnx, backend="ort", outputs=[jsonl], max_frames=5,
               class_thresholds={"person": 0.5}, classes=["person"])
    pairs = list(s)
    assert len(pairs) == 5
    for frame, dets in pairs:
        assert frame.shape == (72, 96, 3) and isinstance(dets, Detections)
        assert set(dets.labels) <= {"person"}
        assert (dets.scores > 0.5).all()
    assert len(open(jsonl).readlines()) == 5
    assert s.stats.frames == 5


def test_stream_api_errors_at_call_time(video):
    with pytest.raises(SsdEdgeError, match="unknown source scheme"):
        stream("nope://x", model=FakeDetector())
    with pytest.raises(SsdEdgeError, match="expected no detector options"):
        stream(video, model=FakeDetector(), backend="ort")


def test_slow_detector_on_fast_live_source_drops_frames_without_backlog():
    cam = []
    src = LiveSource("test://fast", lambda: cam.append(FastCamera()) or cam[-1]).open()
    lag = []

    class Slow(FakeDetector):
        def __call__(self, frame):        # how far behind the camera is the frame it is given?
            lag.append(cam[0].n - (int(frame[0, 0, 0]) + 256 * int(frame[0, 0, 1])))
            return FakeDetector.__call__(self, frame)

    det = Slow(delay=0.04)
    seen = []
    t0 = time.monotonic()
    for frame, _ in Pipeline(src, det, options=PipelineOptions(max_frames=8)):
        seen.append(int(frame[0, 0, 0]) + 256 * int(frame[0, 0, 1]))
    elapsed = time.monotonic() - t0
    assert len(seen) == 8
    assert min(np.diff(seen)) > 3                 # frames arriving meanwhile were dropped
    assert max(lag) < 10      # each one processed was (nearly) the newest; a queue: ~20 behind
    assert src.dropped > 8
    assert elapsed < 8 * 0.04 + 1.0               # no backlog to work through


def test_file_source_with_slow_detector_drops_nothing(video):
    det = FakeDetector(delay=0.01)
    pipe = Pipeline(open_source(video), det, options=PipelineOptions(queue_size=2))
    assert len(list(pipe)) == 12 and pipe.stats.dropped == 0


def test_max_frames_and_duration(video):
    from ssd_edge.runtime.stream import SourceOptions
    assert len(list(Pipeline(open_source(video), FakeDetector(),
                             options=PipelineOptions(max_frames=3)))) == 3
    src = open_source(video, SourceOptions(loop=-1, rate=100))
    t0 = time.monotonic()
    n = len(list(Pipeline(src, FakeDetector(), options=PipelineOptions(duration=0.3))))
    assert 0.25 < time.monotonic() - t0 < 1.5 and 10 < n < 60


def test_stop_from_another_thread_finalises_the_video(tmp_path, video):
    from ssd_edge.runtime.stream import SourceOptions
    mp4 = str(tmp_path / "stopped.mp4")
    pipe = Pipeline(open_source(video, SourceOptions(loop=-1)), FakeDetector(delay=0.005),
                    [open_sink(mp4)])
    threading.Timer(0.4, pipe.stop).start()
    stats = pipe.run()
    assert stats.frames > 5
    assert count_frames(mp4) == stats.frames      # every frame read was written, file playable


def test_output_error_stops_the_run_and_is_raised(video):
    class Broken(Sink):
        def write(self, image, frame, dets):
            if frame.index == 3:
                raise OSError("disk full")

    closed = []
    ok = Sink("ok")
    ok.write = lambda *a: None
    ok.close = lambda: closed.append(True)
    with pytest.raises(OSError, match="disk full"):
        Pipeline(open_source(video), FakeDetector(), [Broken("x"), ok]).run()
    assert closed == [True]                       # the other sinks were still closed


def test_memory_stays_flat_over_a_long_run(tmp_path, video):
    from ssd_edge.runtime.stream import SourceOptions
    src = open_source(video, SourceOptions(loop=-1))
    pipe = Pipeline(src, FakeDetector(), [open_sink(str(tmp_path / "long.jsonl"))],
                    options=PipelineOptions(max_frames=900))
    tracemalloc.start()
    it = iter(pipe)
    for _ in range(300):
        next(it)
    before = tracemalloc.take_snapshot()
    for _ in range(550):
        next(it)
    after = tracemalloc.take_snapshot()
    list(it)
    tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 512 * 1024, growth           # 550 frames of 96×72 would be 11 MB


def test_breaking_out_of_stream_finalises_outputs(tmp_path, video):
    mp4 = str(tmp_path / "partial.mp4")
    s = stream(video, model=FakeDetector(), outputs=[mp4])
    for i, (frame, dets) in enumerate(s):
        if i == 4:
            break
    s.close()
    assert count_frames(mp4) == 5
