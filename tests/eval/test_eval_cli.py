"""ssd-eval end to end: a real checkpoint and its ONNX export on a generated VOC set give the same
mAP; the JSON matches docs/evaluation.md; bad input exits 2 with one line.

Random weights score ~0 mAP on real ground truth, which would make "the same mAP" vacuous. So
the ground truth here is *made from the checkpoint's own detections*: every other detection
(by score) of each image becomes a ground-truth object. Both artifacts must then reproduce the
same interleaving of true and false positives, and the mAP lands well inside (0, 1), where any
difference in scores, boxes, NMS or label mapping between the two paths would show.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")

from ssd_edge.cli.eval import main as eval_main          # noqa: E402
from ssd_edge.cli.export import main as export_main      # noqa: E402
from ssd_edge.data import VOCDataset, generate_voc       # noqa: E402
from ssd_edge.data.synthetic import voc_xml              # noqa: E402

from formatdoc import doc_table, flatten, type_ok           # noqa: E402

from .standin import LABELS, make_assets, use_assets     # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "evaluation.md")


def pseudo_label(model_path, root, margin=1e-4, per_class=12):
    """Rewrite every annotation of ``root`` (split test) from the model's own detections.

    Candidates are detections at least 8 px a side whose score is ``margin`` away from every
    other score of the same class over the whole split, so that no rounding difference between
    backends can swap a true and a false positive. Going down each class's ranking over the
    split, every other candidate becomes a ground-truth object (at most ``per_class``): true
    and false positives interleave at the top, which puts the mAP well inside (0, 1).
    Returns ``{class id: objects}``.
    """
    from ssd_edge.runtime import Detector
    ds = VOCDataset(root, split="test")
    with Detector.load(model_path, backend="torch", conf_threshold=0.01, top_k=-1,
                       max_detections=-1) as det:
        images = [ds.image(i) for i in range(len(ds))]
        found = [det(im) for im in images]
    rows = [(int(c), float(s), i, k) for i, d in enumerate(found)
            for k, (c, s) in enumerate(zip(d.class_ids, d.scores))]
    objects = [[] for _ in images]
    counts = {}
    for cls in sorted({r[0] for r in rows}):
        ranked = sorted((r for r in rows if r[0] == cls), key=lambda r: -r[1])
        scores = np.array([r[1] for r in ranked])
        take = True
        for _, score, i, k in ranked:
            h, w = images[i].shape[:2]
            x1, y1, x2, y2 = np.clip(found[i].boxes[k], 0, [w - 1, h - 1, w - 1, h - 1])
            if (x2 - x1 < 8 or y2 - y1 < 8
                    or np.count_nonzero(np.abs(scores - score) < margin) != 1):
                continue
            if take and counts.get(cls, 0) < per_class:
                objects[i].append({"kind": cls - 1, "box": [x1, y1, x2, y2], "truncated": 0,
                                   "occluded": 0, "difficult": 0})
                counts[cls] = counts.get(cls, 0) + 1
            take = not take
    for i, image in enumerate(images):
        name = ds.image_id(i)
        with open(os.path.join(root, "Annotations", name + ".xml"), "wb") as f:
            f.write(voc_xml(name + ".jpg", image.shape[1], image.shape[0], objects[i]))
    return counts


@pytest.fixture(scope="module")
def light(tmp_path_factory):
    """A stand-in checkpoint and a 4-image dataset with its generated ground truth."""
    d = tmp_path_factory.mktemp("evallight")
    pth = make_assets(d / "assets")
    data = str(d / "shapes")
    generate_voc(data, 4, seed=12, image_size=(160, 120), split="test")
    return {"dir": d, "assets": str(d / "assets"), "pth": pth, "data": data}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp("evalcli")
    pth = make_assets(d / "assets")
    data = str(d / "shapes")
    generate_voc(data, 16, seed=11, image_size=(160, 120), split="test")
    counts = pseudo_label(pth, data)
    assert sorted(counts) == [1, 2, 3, 4] and min(counts.values()) >= 6, counts
    out = d / "onnx"
    out.mkdir()
    assert export_main([pth, "--output-dir", str(out), "-q"]) == 0
    onnx_path = str(out / "shapes-mb2-ssd-lite.onnx")
    return {"dir": d, "assets": str(d / "assets"), "pth": pth, "onnx": onnx_path, "data": data}


def run_eval(args, capsys):
    rc = eval_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def results(bench, tmp_path_factory):
    """Both artifacts evaluated once (JSON + PNG each); reused by the tests below."""
    d = tmp_path_factory.mktemp("evalres")
    docs = {}
    for kind in ("pth", "onnx"):
        j, png = str(d / (kind + ".json")), str(d / (kind + ".png"))
        assert eval_main([bench[kind], "--dataset", bench["data"], "--json", j, "--plot", png,
                          "-q"]) == 0
        with open(j) as f:
            docs[kind] = json.load(f)
        docs[kind + "_png"] = png
    return docs


@pytest.mark.slow
def test_pth_and_onnx_give_the_same_map(results):
    a, b = results["pth"], results["onnx"]
    assert (a["backend"], b["backend"]) == ("torch", "ort")
    assert 0.2 < a["map"] < 0.95, "the pseudo ground truth should give a mid-range mAP"
    assert abs(a["map"] - b["map"]) <= 1e-6
    assert [c["name"] for c in a["classes"]] == list(LABELS[1:])
    for ca, cb in zip(a["classes"], b["classes"]):
        assert ca["num_gt"] == cb["num_gt"] and ca["num_detections"] == cb["num_detections"]
        assert abs(ca["ap"] - cb["ap"]) <= 1e-6
    # Images left without ground truth are skipped, as pytorch-ssd's VOC reader does.
    assert a["num_images"] == b["num_images"] >= 5 and a["metric"] == "voc07"


@pytest.mark.slow
def test_table_is_printed(bench, capsys, tmp_path):
    rc, out, err = run_eval([bench["onnx"], "--dataset", bench["data"], "--metric", "voc12",
                             "--limit", "5"], capsys)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["class", "AP", "GT"]
    assert [ln.split()[0] for ln in lines[1:5]] == list(LABELS[1:])
    assert re.match(r"mAP \(voc12\)\s+\d\.\d{4}$", lines[5])
    assert "5 images" in err and os.listdir(str(tmp_path)) == []   # nothing written unasked


def doc_fields():
    """``{path: type}`` from the ``<!-- fields: ssd-eval schema=1 -->`` table."""
    table = doc_table("fields: ssd-eval schema=1", DOC)
    return {path: t for path, (t, _) in table.items()}


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["voc07", "coco"])
def test_json_has_exactly_the_documented_fields(results, bench, tmp_path, metric):
    if metric == "voc07":
        doc = results["pth"]
    else:
        j = str(tmp_path / "created" / "coco.json")    # ssd-eval creates the folder
        assert eval_main([bench["onnx"], "--dataset", bench["data"], "--metric", "coco",
                          "--json", j, "-q"]) == 0
        with open(j) as f:
            doc = json.load(f)
        assert 0 < doc["ap50"] <= 1 and doc["iou_threshold"] is None
    fields = doc_fields()
    got = flatten(doc)
    assert set(got) == set(fields)
    for path, values in got.items():
        for v in values:
            assert type_ok(v, fields[path]), "%s = %r is not %s" % (path, v, fields[path])
    assert doc["schema"] == 1 and doc["conf_threshold"] == 0.01 and doc["max_detections"] == -1
    assert doc["labels"] == list(LABELS) and doc["precision"] == "fp32"


@pytest.mark.slow
def test_plot_is_a_png(results):
    for kind in ("pth", "onnx"):
        with open(results[kind + "_png"], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(results[kind + "_png"]) > 5000


@pytest.mark.slow
def test_no_model_means_the_bundled_one(bench, results, monkeypatch, tmp_path, capsys):
    use_assets(monkeypatch, bench["assets"])
    j = str(tmp_path / "bundled.json")
    rc, _, err = run_eval(["--dataset", bench["data"], "--json", j, "-q"], capsys)
    assert rc == 0, err
    with open(j) as f:
        doc = json.load(f)
    assert doc["model"] == os.path.abspath(bench["pth"])
    assert doc["map"] == results["pth"]["map"]


@pytest.mark.slow
def test_classes_subset_is_mapped_by_name(bench, results, tmp_path, capsys):
    j = str(tmp_path / "subset.json")
    rc, _, err = run_eval([bench["onnx"], "--dataset", bench["data"], "--classes",
                           "star,circle", "--json", j, "-q"], capsys)
    assert rc == 0, err
    with open(j) as f:
        doc = json.load(f)
    assert [c["name"] for c in doc["classes"]] == ["star", "circle"]
    full = {c["name"]: c for c in results["onnx"]["classes"]}
    for c in doc["classes"]:
        # Same ground truth; images without these classes are left out, which removes only
        # false positives: AP can only stay or rise.
        assert c["num_gt"] == full[c["name"]]["num_gt"]
        assert c["ap"] >= full[c["name"]]["ap"] - 1e-9


def test_checkpoint_runs_through_the_cli(light, capsys):
    rc, out, err = run_eval([light["pth"], "--dataset", light["data"], "-q"], capsys)
    assert rc == 0, err
    assert out.splitlines()[-1].startswith("mAP (voc07)") and err == ""


def _broken(light, tmp_path, how):
    root = str(tmp_path / "broken")
    shutil.copytree(light["data"], root)
    if how == "no-images":
        shutil.rmtree(os.path.join(root, "JPEGImages"))
    elif how == "empty-split":
        open(os.path.join(root, "ImageSets", "Main", "test.txt"), "w").close()
    elif how == "extra-class":
        with open(os.path.join(root, "labels.txt"), "a") as f:
            f.write("hexagon\n")
    return root


@pytest.mark.parametrize("case, fragment", [
    ("missing-dataset", "no such folder"),
    ("no-images", "JPEGImages"),
    ("empty-split", "test.txt"),
    ("unknown-classes-flag", "hexagon"),
    ("extra-class", "hexagon missing"),
    ("no-bundled-model", "bundled model"),
    ("plot-folder", "cannot create it"),
    ("bad-conf", "--conf"),
])
def test_bad_input_exits_2_with_one_line(light, tmp_path, monkeypatch, capsys, case, fragment):
    data, model, extra = light["data"], light["pth"], []
    if case == "missing-dataset":
        data = str(tmp_path / "nowhere")
    elif case in ("no-images", "empty-split", "extra-class"):
        data = _broken(light, tmp_path, case)
    elif case == "unknown-classes-flag":
        extra = ["--classes", "circle,hexagon"]
    elif case == "no-bundled-model":
        use_assets(monkeypatch, tmp_path)
        model = None
    elif case == "plot-folder":
        (tmp_path / "afile").write_text("x")
        extra = ["--plot", str(tmp_path / "afile" / "pr.png")]
    elif case == "bad-conf":
        extra = ["--conf", "1.5"]
    args = ([model] if model else []) + ["--dataset", data, "-q"] + extra
    rc, out, err = run_eval(args, capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("ssd-eval: error: ") and fragment in lines[-1], err
    assert "Traceback" not in err


def test_console_entry_exits_2_without_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "ssd_edge.cli.eval", "--dataset",
                        str(tmp_path / "nowhere"), str(tmp_path / "m.onnx")],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and p.stderr.startswith("ssd-eval: error: ")
