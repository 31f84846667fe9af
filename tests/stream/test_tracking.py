"""--track through the trackers library: ids on the bundled clip against its ground truth, ids
across a missed frame, track_id in every output, and the one-line refusals."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from streamkit import ROOT, run_cli

from ssd_edge import Detections
from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.stream import tracking
from ssd_edge.runtime.stream.tracking import Tracker, TrackOptions


def needs_trackers():
    try:
        tracking.require_trackers()
    except SsdEdgeError as e:
        pytest.skip(str(e))


def boxes_at(t, n=3):
    """``n`` 40x40 boxes moving right 6 px per frame, 100 px apart."""
    return np.array([[10 + 6 * t, 20 + 100 * i, 50 + 6 * t, 60 + 100 * i] for i in range(n)],
                    np.float32)


def test_ids_survive_a_missed_frame():
    needs_trackers()
    tr = Tracker(TrackOptions("bytetrack"), fps=30)
    ids = []
    for t in range(12):
        if t == 6:          # the detector missed every object in this frame
            dets = Detections.empty()
        else:
            b = boxes_at(t)
            dets = Detections(b, [0.9, 0.85, 0.8], [1, 2, 1], ["a", "b", "a"])
        out = tr(dets)
        assert len(out) == len(dets) and out.track_ids.dtype == np.int64
        assert np.array_equal(out.boxes, dets.boxes)            # rows and order unchanged
        ids.append(list(out.track_ids))
    assert ids[6] == []
    assert ids[1] == ids[5] == ids[7] == ids[11]
    assert len(set(ids[5])) == 3 and min(ids[5]) >= 0


@pytest.mark.parametrize("method", ["sort", "ocsort"])
def test_other_methods_track(method):
    needs_trackers()
    tr = Tracker(TrackOptions(method, minimum_consecutive_frames=1), fps=30)
    for t in range(6):
        out = tr(Detections(boxes_at(t, 2), [0.9, 0.9], [1, 1]))
    assert len(set(out.track_ids)) == 2 and (out.track_ids >= 0).all()


def test_refusals_are_one_line(monkeypatch):
    with pytest.raises(SsdEdgeError, match="expected --track none\\|bytetrack"):
        TrackOptions("deepsort")
    with pytest.raises(SsdEdgeError, match="track-activation-threshold"):
        TrackOptions("bytetrack", track_activation_threshold=1.5)
    monkeypatch.setattr(sys, "version_info", (3, 8, 10, "final", 0))
    with pytest.raises(SsdEdgeError, match="Python >= 3.10; this is Python 3.8"):
        tracking.require_trackers()
    monkeypatch.undo()
    monkeypatch.setattr(np, "__version__", "1.24.4")
    with pytest.raises(SsdEdgeError, match="numpy >= 2; this is numpy 1.24.4"):
        tracking.require_trackers()


def test_flag_the_method_lacks_is_refused(tmp_path, tiny_onnx, video):
    needs_trackers()
    p = run_cli("live", "--model", tiny_onnx, "--source", video, "--headless", "--track", "sort",
                "--track-high", "0.5", "--output", tmp_path / "t.jsonl")
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("ssd-live: error: --track sort has no "
                                                         "--high-conf-det-threshold")


def test_track_ids_in_jsonl_and_server(tmp_path, tiny_onnx, video):
    needs_trackers()
    pytest.importorskip("onnxruntime")
    out = tmp_path / "t.jsonl"
    p = run_cli("live", "--model", tiny_onnx, "--source", video, "--headless", "--track", "sort",
                "--track-min-frames", "1", "--threshold", "0.5", "--output", out,
                "--output", tmp_path / "t.mp4")
    assert p.returncode == 0, p.stderr
    dets = [d for x in open(str(out)) for d in json.loads(x)["detections"]]
    assert dets and all(isinstance(d["track_id"], int) for d in dets)
    assert any(d["track_id"] >= 0 for d in dets)
    from ssd_edge.runtime.stream import stream
    got = []
    for frame, d in stream(video, model=tiny_onnx, backend="ort", track="bytetrack",
                           minimum_consecutive_frames=1, track_activation_threshold=0.3):
        assert d.track_ids is not None and len(d.track_ids) == len(d)
        got.extend(int(t) for t in d.track_ids)
    assert any(t >= 0 for t in got)


def idf1(lines, truth):
    """IDF1 of the tracked detections in ``lines`` (jsonl records) against demo.json, whose
    objects keep their list position across frames (that position is the true id). Computed
    with the trackers library's own identity metric at IoU 0.5."""
    from trackers.eval.identity import compute_identity_metrics
    from ssd_edge.boxes import pairwise_iou
    gt_ids, tr_ids, sims = [], [], []
    for frame, line in zip(truth["frames"], lines):
        assert frame["frame"] == line["index"]
        gt = np.array([o["box"] for o in frame["objects"]], np.float32).reshape(-1, 4)
        tracked = [d for d in line["detections"] if d["track_id"] >= 0]
        tb = np.array([d["box"] for d in tracked], np.float32).reshape(-1, 4)
        gt_ids.append(np.arange(len(gt)))
        tr_ids.append(np.array([d["track_id"] for d in tracked], int))
        sims.append(pairwise_iou(gt, tb) if len(gt) and len(tb) else np.zeros((len(gt), len(tb))))
    return compute_identity_metrics(gt_ids, tr_ids, sims, threshold=0.5)


@pytest.mark.slow
def test_bytetrack_idf1_on_the_bundled_clip(tmp_path):
    """The bundled model on the bundled clip with --track bytetrack (library defaults)."""
    needs_trackers()
    pytest.importorskip("torch")
    assets = os.path.join(ROOT, "ssd_edge", "assets")
    truth = json.load(open(os.path.join(assets, "demo.json")))
    out = tmp_path / "t.jsonl"
    p = run_cli("live", "--source", "demo://", "--headless", "--track", "bytetrack",
                "--output", out, timeout=900)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in open(str(out))]
    assert len(lines) == len(truth["frames"]) == 120
    m = idf1(lines, truth)
    print("ByteTrack on demo://: IDF1 %.3f IDP %.3f IDR %.3f" % (m["IDF1"], m["IDP"], m["IDR"]))
    assert m["IDF1"] >= 0.9


def test_trackers_leaves_headless_opencv_the_only_cv2():
    """trackers declares opencv-python; the install keeps opencv-python-headless alone."""
    needs_trackers()
    from importlib import metadata
    names = {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}
    assert "trackers" in names and "opencv-python-headless" in names
    assert "opencv-python" not in names and "opencv-contrib-python" not in names
