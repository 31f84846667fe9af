"""What the code writes matches docs/formats.md field by field (names, types, schema version)."""
import json
import os
import re
import sys
import urllib.request

import pytest

from streamkit import ROOT, write_video

from ssd_edge.runtime.stream import Pipeline, open_sink, open_source

sys.path.insert(0, os.path.join(ROOT, "tests"))
from formatdoc import TYPES, check, doc_tables  # noqa: E402,F401  (test_multi imports check)


def test_doc_tables_are_present_and_well_formed():
    tables = doc_tables()
    assert {"detection-line", "ssd-detect", "stats"} <= set(tables)
    for name, (_, fields) in tables.items():
        assert fields.get("schema") == "int", name
        for spec in fields.values():
            for t in spec.split("|"):
                assert t in ("null", "absent") or t in TYPES or re.match(r"list\[(%s)\]$" % "|".join(TYPES),
                                                              t), (name, spec)


def test_checker_rejects_wrong_documents():
    good = {"schema": 1, "index": 0, "timestamp": 1.0, "pts": 0.0, "frame_size": [4, 3],
            "detections": [{"box": [0.0, 0, 1, 1], "score": 0.5, "class_id": 1, "label": "a"}]}
    check("detection-line", good)
    for bad in ({**good, "extra": 1}, {**good, "index": "0"}, {**good, "frame_size": None},
                {k: v for k, v in good.items() if k != "pts"}, {**good, "schema": 2},
                {**good, "detections": [{"box": [0, 0, 1, 1], "score": 0.5, "class_id": 1}]}):
        with pytest.raises(AssertionError):
            check("detection-line", bad)


def test_jsonl_lines_match_the_doc(tmp_path, video, detector):
    path = str(tmp_path / "d.jsonl")
    Pipeline(open_source(video), detector, [open_sink(path)]).run()
    lines = [json.loads(x) for x in open(path)]
    assert any(x["detections"] for x in lines)
    for line in lines:
        check("detection-line", line)


def test_stats_and_detections_endpoints_match_the_doc(served):
    server, _ = served
    for route, name in (("stats", "stats"), ("detections", "detection-line")):
        with urllib.request.urlopen(server.url + route, timeout=10) as r:
            check(name, json.loads(r.read()))


def test_ssd_detect_json_matches_the_doc(tmp_path, image_folder, tiny_onnx):
    pytest.importorskip("onnxruntime")
    from ssd_edge.cli.detect import main
    clip = write_video(tmp_path / "c.mp4", 3)
    out = tmp_path / "out"
    assert main([image_folder, str(clip), "--model", tiny_onnx, "--output-dir", str(out)]) == 0
    doc = json.loads((out / "detections.json").read_text())
    assert [x["type"] for x in doc["inputs"]] == ["image"] * 5 + ["video"]
    check("ssd-detect", doc)
