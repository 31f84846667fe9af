"""Sinks: parsing of --output URIs, playable videos, image sequences, JSON lines, display."""
import json
import os

import numpy as np
import pytest

from streamkit import count_frames, synthetic_frame

from ssd_edge import Detections
from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.stream import (DisplaySink, Frame, ImageSequenceSink, JsonlSink, VideoSink,
                                     open_sink)

cv2 = pytest.importorskip("cv2")

DETS = Detections(np.array([[1.25, 2.5, 30.0, 40.75]], np.float32), [0.875], [2], ["car"])


def frames(n):
    return [Frame(synthetic_frame(i), i, 1700000000.0 + i / 10, i / 10, 0.1) for i in range(n)]


@pytest.mark.parametrize("ext,fourcc", [(".mp4", "mp4v"), (".avi", "MJPG"), (".mkv", "XVID")])
def test_video_sink_codec_from_extension_and_playable(tmp_path, ext, fourcc):
    path = str(tmp_path / ("out" + ext))
    sink = open_sink(path)
    assert isinstance(sink, VideoSink) and sink.codec == fourcc
    sink.open((96, 72), 10.0)
    for f in frames(7):
        sink.write(f.image, f, DETS)
    assert not os.path.exists(path)             # under a hidden temporary name until closed
    sink.close()
    assert count_frames(path) == 7
    assert os.listdir(str(tmp_path)) == ["out" + ext]   # no temporary file left behind


def test_video_sink_with_no_frames_leaves_nothing(tmp_path):
    sink = VideoSink(str(tmp_path / "empty.mp4"))
    sink.open((96, 72), 10)
    sink.close()
    assert os.listdir(str(tmp_path)) == []


def test_image_sequence_sink(tmp_path):
    pattern = str(tmp_path / "seq" / "%04d.png")
    sink = open_sink(pattern)
    assert isinstance(sink, ImageSequenceSink)
    sink.open((96, 72))
    for f in frames(3):
        sink.write(f.image, f, DETS)
    sink.close()
    names = sorted(os.listdir(str(tmp_path / "seq")))
    assert names == ["0000.png", "0001.png", "0002.png"]
    assert np.array_equal(cv2.imread(str(tmp_path / "seq" / "0002.png")), synthetic_frame(2))


def test_jsonl_sink_one_line_per_frame(tmp_path):
    path = str(tmp_path / "d.jsonl")
    sink = open_sink(path)
    assert isinstance(sink, JsonlSink) and not sink.wants_image
    for f in frames(4):
        sink.write(None, f, DETS if f.index % 2 else Detections.empty())
    sink.close()
    lines = [json.loads(x) for x in open(path)]
    assert [x["index"] for x in lines] == [0, 1, 2, 3]
    assert lines[0]["detections"] == [] and lines[0]["frame_size"] == [96, 72]
    assert lines[1]["detections"] == [{"box": [1.25, 2.5, 30.0, 40.75], "score": 0.875,
                                       "class_id": 2, "label": "car"}]
    assert lines[3]["timestamp"] == pytest.approx(1700000000.3)
    assert lines[3]["pts"] == pytest.approx(0.3)


@pytest.mark.parametrize("uri,message", [
    ("out.txt", "expected --output"),
    ("ftp://x/y.mp4", "unknown output scheme"),
    ("out/%05d.txt", "expected an image extension"),
    ("out/%s%s.jpg", "expected an image pattern"),
])
def test_bad_outputs(uri, message):
    with pytest.raises(SsdEdgeError, match=message):
        open_sink(uri)


def test_file_sinks_create_their_folders(tmp_path):
    frame = np.zeros((72, 96, 3), np.uint8)
    for uri in ("a/b/x.mp4", "c/d/%03d.jpg", "e/f/dets.jsonl"):
        sink = open_sink(str(tmp_path / uri))
        sink.open((96, 72), 10)
        sink.close()
    assert (tmp_path / "a" / "b").is_dir() and (tmp_path / "c" / "d").is_dir()
    assert (tmp_path / "e" / "f" / "dets.jsonl").is_file()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SsdEdgeError, match="cannot create it"):
        open_sink(str(tmp_path / "afile" / "x.mp4")).open((96, 72), 10)


def test_display_without_screen_says_how_to_serve(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    sink = open_sink("display://0")
    assert isinstance(sink, DisplaySink)
    with pytest.raises(SsdEdgeError, match="--serve 8080"):
        sink.open()
