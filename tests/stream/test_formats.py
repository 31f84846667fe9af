"""What the code writes matches docs/formats.md field by field (names, types, schema version)."""
import json
import os
import re
import urllib.request

import pytest

from streamkit import ROOT, write_video

from ssd_edge.runtime.stream import Pipeline, open_sink, open_source

DOC = os.path.join(ROOT, "docs", "formats.md")
TYPES = {"int": int, "float": float, "str": str, "bool": bool, "object": dict}


def doc_tables():
    """``{name: (schema, {path: type string})}`` from the ``<!-- fields: ... -->`` tables."""
    text = open(DOC, encoding="utf-8").read()
    tables = {}
    for m in re.finditer(r"<!-- fields: (\S+) schema=(\d+) -->\n((?:\|.*\n)+)", text):
        rows = {}
        for line in m.group(3).splitlines()[2:]:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            assert len(cells) == 4 and all(cells), "malformed row: %s" % line
            rows[cells[0].strip("`")] = cells[1].replace("\\|", "|")
        tables[m.group(1)] = (int(m.group(2)), rows)
    return tables


def type_ok(value, spec):
    options = spec.split("|")
    if value is None:
        return "null" in options
    for t in options:
        if t.startswith("list[") and isinstance(value, list):
            inner = TYPES[t[5:-1]]
            if all(_is(v, inner) for v in value):
                return True
        elif t in TYPES and _is(value, TYPES[t]):
            return True
    return False


def _is(v, t):
    if t is float:
        return isinstance(v, (float, int)) and not isinstance(v, bool)
    if t is int:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(v, t)


def flatten(obj, prefix="", out=None):
    """``{path: [values]}`` with the doc's path syntax (``a.b``, ``a[].b``)."""
    out = {} if out is None else out
    for key, value in obj.items():
        path = prefix + key
        out.setdefault(path, []).append(value)
        if isinstance(value, dict):
            flatten(value, path + ".", out)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for v in value:
                flatten(v, path + "[].", out)
    return out


def check(name, document):
    schema, fields = doc_tables()[name]
    assert document["schema"] == schema
    got = flatten(document)
    undocumented = sorted(set(got) - set(fields))
    assert not undocumented, "%s writes fields docs/formats.md does not describe: %s" % (
        name, undocumented)
    # Every documented field is present (children of lists only where the list is non-empty).
    for path, spec in fields.items():
        parent = path.rsplit("[].", 1)[0] if "[]." in path else None
        optional = "absent" in spec.split("|")
        if not optional and (parent is None or any(got.get(parent, []))):
            assert path in got, "%s lacks documented field %s" % (name, path)
        for value in got.get(path, []):
            assert type_ok(value, spec), "%s: %s = %r is not %s" % (name, path, value, spec)


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
