"""Sources: URI parsing, files frame by frame, folders sorted, live sources newest-frame-only."""
import os
import time

import numpy as np
import pytest

from streamkit import FastCamera, count_frames, synthetic_frame

from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.stream import (ImageSource, LiveSource, SourceOptions, csi_pipeline,
                                     has_gstreamer, make_source, open_source)

cv2 = pytest.importorskip("cv2")


def test_video_file_delivers_every_frame_in_order(video):
    with open_source(video) as src:
        frames = list(src)
    assert len(frames) == count_frames(video) == 12
    assert [f.index for f in frames] == list(range(12))
    assert all(f.image.shape == (72, 96, 3) and f.image.dtype == np.uint8 for f in frames)
    assert src.fps == pytest.approx(10.0)
    pts = [f.pts for f in frames]
    assert pts == sorted(pts) and pts[-1] == pytest.approx(1.1, abs=0.05)


def test_video_loop_resize_and_flip(video):
    opts = SourceOptions(width=48, height=40, flip="horizontal", loop=1)
    frames = list(open_source(video, opts))
    assert len(frames) == 24
    assert frames[0].image.shape == (40, 48, 3)
    raw = cv2.resize(next(iter(open_source(video))).image, (48, 40))
    assert np.array_equal(frames[0].image, cv2.flip(raw, 1))


def test_image_folder_is_sorted_and_skips_other_files(image_folder):
    src = open_source(image_folder)
    assert isinstance(src, ImageSource)
    assert [os.path.basename(p) for p in src.paths] == ["a.png", "b.png", "c.png", "d.png",
                                                        "e.png"]
    frames = list(src)
    assert len(frames) == 5
    # a.png was written second (synthetic frame 1): sorted order, not creation order.
    assert np.array_equal(frames[0].image, synthetic_frame(1))
    assert len(list(open_source(image_folder, SourceOptions(loop=2)))) == 15


def test_single_image_and_rate_pacing(tmp_path):
    path = str(tmp_path / "one.jpg")
    cv2.imwrite(path, synthetic_frame(0))
    t0 = time.monotonic()
    frames = list(open_source(path, SourceOptions(loop=4, rate=50)))
    assert len(frames) == 5
    assert time.monotonic() - t0 >= 4 / 50 * 0.9     # paced to 50 fps, not as fast as possible


def test_serve_plays_a_video_at_its_own_rate_unless_rate_is_given(video):
    """ssd-live --serve: the 10 fps clip takes its 1.1 s, not a burst; --rate still wins."""
    from ssd_edge.cli.live import build_parser, source_options
    served = source_options(build_parser().parse_args(["--source", video, "--serve", "0"]))
    assert served.native_rate and served.rate is None
    assert not source_options(build_parser().parse_args(["--source", video])).native_rate
    t0 = time.monotonic()
    assert len(list(open_source(video, served))) == 12
    assert time.monotonic() - t0 >= 11 / 10.0 * 0.9
    fast = source_options(build_parser().parse_args(["--source", video, "--serve", "0",
                                                     "--rate", "200"]))
    t0 = time.monotonic()
    assert len(list(open_source(video, fast))) == 12
    assert time.monotonic() - t0 < 11 / 10.0 * 0.9     # paced to 200 fps, not to the clip's 10


@pytest.mark.parametrize("uri,message", [
    ("foo://bar", "unknown source scheme 'foo://'"),
    ("/nonexistent/clip.mp4", "does not exist"),
    ("/dev/video99", "camera /dev/video99 not found"),
    ("v4l2://98", "camera /dev/video98 not found"),
    ("csi://x", "expected csi://N"),
])
def test_bad_sources_raise_one_line(uri, message):
    with pytest.raises(SsdEdgeError) as err:
        open_source(uri)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_camera_number():
    with pytest.raises(SsdEdgeError, match="camera 97 not found"):
        open_source(97)


def test_unreadable_video(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(SsdEdgeError, match="cannot read video .*broken.mp4"):
        open_source(str(bad))


def test_gstreamer_sources_explained_without_gstreamer():
    if has_gstreamer(cv2):
        pytest.skip("this OpenCV has GStreamer")
    for uri in ("csi://0", "gst://videotestsrc ! appsink"):
        with pytest.raises(SsdEdgeError, match="needs OpenCV built with GStreamer"):
            make_source(uri)


def test_csi_pipeline_string():
    p = csi_pipeline(1, SourceOptions(width=640, height=480, rate=15, flip="rotate-180"))
    assert p.startswith("nvarguscamerasrc sensor-id=1 ")
    assert "width=640, height=480, framerate=15/1" in p and "flip-method=2" in p
    assert p.rstrip().split("!")[-1].strip().startswith("appsink drop=true max-buffers=1")


def test_source_options_validation():
    with pytest.raises(SsdEdgeError, match="--flip"):
        SourceOptions(flip="sideways")
    with pytest.raises(SsdEdgeError, match="together"):
        SourceOptions(width=100)


def test_live_source_keeps_only_the_newest_frame():
    cams = []
    src = LiveSource("test://fast", lambda: cams.append(FastCamera()) or cams[-1]).open()
    got = []
    try:
        for _ in range(6):
            time.sleep(0.05)                # a slow consumer
            f = src.read(timeout=1.0)
            got.append((f, time.time()))
    finally:
        src.close()
    idx = [f.index for f, _ in got]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)
    assert min(np.diff(idx)) > 1            # stale frames were skipped, not queued
    assert src.dropped >= sum(np.diff(idx) - 1)
    for f, taken in got:                    # fresh: a queue would hand out ~50 ms old frames
        assert taken - f.timestamp < 0.04
    assert cams[0].closed


def test_live_source_reopens_then_reports():
    opened = []

    def opener():
        if len(opened) >= 2:
            raise SsdEdgeError("device gone")
        opened.append(FastCamera(fail_after=3))
        return opened[-1]

    src = LiveSource("test://flaky", opener,
                     SourceOptions(reconnect_attempts=3, reconnect_backoff=0.01)).open()
    frames = 0
    with pytest.raises(SsdEdgeError, match="lost test://flaky: no frames after 3 reopen"):
        while True:
            if src.read(timeout=2.0) is not None:
                frames += 1
    src.close()
    assert len(opened) == 2 and frames >= 2   # reopened once successfully, then gave up


def test_live_source_that_never_delivers(monkeypatch):
    class Dead(FastCamera):
        def grab(self):
            time.sleep(0.01)
            return False

    src = LiveSource("test://dead", Dead, SourceOptions(reconnect_attempts=1,
                                                        reconnect_backoff=0.01, open_timeout=2))
    with pytest.raises(SsdEdgeError, match="lost test://dead"):
        src.open()
