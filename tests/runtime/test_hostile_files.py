"""Hostile model files: external data leading out of the folder, forged spec metadata and engine
sidecars, zip-bomb checkpoints, out-of-range options. Each is one SsdEdgeError line, refused
before any backend (or the onnx package) reads a byte outside the model's folder."""
import json
import os
import zipfile

import numpy as np
import pytest

from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime import Detector
from ssd_edge.runtime.artifact import open_artifact
from ssd_edge.safety import check_checkpoint_archive, external_data_locations

from tinymodels import make_frames

onnx = pytest.importorskip("onnx")


def _external_copy(src, folder, location):
    """Copy ``src`` into ``folder`` with every initializer in the external file ``w.bin``, then
    point the stored ``location`` strings at ``location``."""
    model = onnx.load(src)
    path = os.path.join(str(folder), "model.onnx")
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="w.bin", size_threshold=0)
    model = onnx.load(path, load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = location
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def _secret(tmp_path):
    """A file outside the model's folder holding the weights' bytes (so a backend would load)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    return outside


@pytest.fixture
def ext_setup(tiny, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    good = _external_copy(tiny["onnx"], model_dir, "w.bin")
    outside = _secret(tmp_path)
    os.replace(str(model_dir / "w.bin"), str(outside / "w.bin"))
    return model_dir, good, outside


def test_external_data_inside_the_folder_still_loads(tiny, tmp_path):
    pytest.importorskip("onnxruntime")
    path = _external_copy(tiny["onnx"], tmp_path, "w.bin")
    assert external_data_locations(path)
    with Detector.load(path, backend="ort") as det:
        with Detector.load(tiny["onnx"], backend="ort") as ref:
            frame = make_frames(1)[0]
            np.testing.assert_allclose(det(frame).boxes, ref(frame).boxes, atol=1e-4)


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "empty"])
@pytest.mark.parametrize("backend", ["ort", "opencv", "openvino", "auto"])
def test_external_data_outside_the_folder_is_refused_for_every_backend(ext_setup, how, backend):
    model_dir, path, outside = ext_setup
    loc = {"absolute": str(outside / "w.bin"), "dotdot": "../outside/w.bin",
           "symlink": "link.bin", "empty": ""}[how]
    if how == "symlink":
        os.symlink(str(outside / "w.bin"), str(model_dir / "link.bin"))
    model = onnx.load(path, load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = loc
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    with pytest.raises(SsdEdgeError) as err:
        Detector.load(path, backend=backend)
    msg = str(err.value)
    assert "\n" not in msg and "external data" in msg
    assert "outside" in msg or "absolute" in msg or "empty" in msg


def test_external_data_refused_in_ssd_export_and_inspect(ext_setup, capsys):
    from ssd_edge.cli.export import main
    model_dir, path, outside = ext_setup
    model = onnx.load(path, load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../outside/w.bin"
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    before = sorted(os.listdir(str(model_dir)))
    assert main(["--inspect", path]) == 2
    assert main([path, "--no-check", "--no-simplify"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("climbs out" in line for line in err), err
    assert sorted(os.listdir(str(model_dir))) == before


def test_missing_external_data_file_is_named(tiny, tmp_path):
    path = _external_copy(tiny["onnx"], tmp_path, "w.bin")
    os.unlink(str(tmp_path / "w.bin"))
    with pytest.raises(SsdEdgeError, match="external data file w.bin"):
        open_artifact(path)


# ------------------------------------------------------------------ forged spec metadata
def _with_spec(src, folder, mutate, raw=None):
    model = onnx.load(src)
    entry = [p for p in model.metadata_props if p.key == "ssd_edge.spec"][0]
    if raw is not None:
        entry.value = raw
    else:
        d = json.loads(entry.value)
        mutate(d)
        entry.value = json.dumps(d)
    path = os.path.join(str(folder), "forged.onnx")
    onnx.save(model, path)
    return path


FORGED = [
    ("labels", lambda d: d.update(labels="BACKGROUND,a,b,c")),
    ("labels[2]", lambda d: d["labels"].__setitem__(2, {"x": 1})),
    ("mean", lambda d: d.update(mean=[1, 2])),
    ("mean[0]", lambda d: d["mean"].__setitem__(0, float("nan"))),
    ("std[1]", lambda d: d["std"].__setitem__(1, float("inf"))),
    ("input_size", lambda d: d.update(input_size="32x32")),
    ("input_size", lambda d: d.update(input_size=[100000, 100000])),
    ("nms", lambda d: d.update(nms=[0.4, 0.5])),
    ("nms.candidate_size", lambda d: d["nms"].update(candidate_size="200")),
    ("conf_threshold", lambda d: d["nms"].update(conf_threshold=7)),
    ("prior_levels", lambda d: d.update(prior_levels={"a": 1})),
    ("prior_levels[0]", lambda d: d["prior_levels"].__setitem__(0, [4, 8, 8, 16])),
    ("prior_levels[0].feature_map_size",
     lambda d: d["prior_levels"][0].update(feature_map_size=10 ** 9)),
    ("prior_levels[1].aspect_ratios", lambda d: d["prior_levels"][1].update(aspect_ratios="2")),
    ("clamp", lambda d: d.update(clamp="yes")),
    ("arch", lambda d: d.update(arch=["x"])),
    ("center_variance", lambda d: d.update(center_variance=None)),
    ("schema", lambda d: d.update(schema="1")),
    # consistent JSON, inconsistent with the graph
    ("labels", lambda d: d.update(labels=d["labels"] + ["extra"])),
    ("input_size", lambda d: d.update(input_size=[64, 64])),
    ("prior_levels", lambda d: d["prior_levels"][0].update(feature_map_size=5)),
]


@pytest.mark.parametrize("field,mutate", FORGED, ids=["%d-%s" % (i, f) for i, (f, _) in
                                                      enumerate(FORGED)])
def test_forged_spec_metadata_is_one_line_naming_the_field(tiny, tmp_path, field, mutate):
    path = _with_spec(tiny["onnx"], tmp_path, mutate)
    with pytest.raises(SsdEdgeError) as err:
        open_artifact(path)
    msg = str(err.value)
    assert "\n" not in msg and field in msg, msg


@pytest.mark.parametrize("raw", ["{", "[]", "null", "1e999", '"spec"', "{" * 5000 + "}" * 5000])
def test_unparsable_spec_metadata(tiny, tmp_path, raw):
    path = _with_spec(tiny["onnx"], tmp_path, None, raw=raw)
    with pytest.raises(SsdEdgeError) as err:
        open_artifact(path)
    assert "\n" not in str(err.value)


def test_forged_spec_refused_by_ssd_detect_with_exit_2(tiny, tmp_path, capsys):
    from ssd_edge.cli.detect import main
    import cv2
    path = _with_spec(tiny["onnx"], tmp_path, lambda d: d.update(labels=d["labels"][:3]))
    img = str(tmp_path / "a.jpg")
    cv2.imwrite(img, make_frames(1)[0])
    out = tmp_path / "out"
    assert main([img, "--model", path, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "labels" in err[0], err
    assert not out.exists() or not os.listdir(str(out))


# ------------------------------------------------------------------ engine sidecars
SIDECARS = [
    ("gpu", {"gpu": "RTX"}), ("gpu.name", {"gpu": {"name": 5}}), ("batch", {"batch": [1, 8]}),
    ("batch.max", {"batch": {"min": 1, "opt": 1, "max": 10 ** 12}}),
    ("batch", {"batch": {"min": 4, "opt": 2, "max": 8}}),
    ("dla_core", {"dla_core": "0"}), ("dla_core", {"dla_core": -3}),
    ("precision", {"precision": ["int8"]}),
]


@pytest.mark.parametrize("field,change", SIDECARS, ids=[f for f, _ in SIDECARS])
def test_forged_engine_sidecar(tiny, tmp_path, field, change):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"\0" * 64)
    side = {"schema": 1, "spec": tiny["spec"].to_dict(), "precision": "fp32"}
    side.update(change)
    (tmp_path / "m.engine.json").write_text(json.dumps(side))
    with pytest.raises(SsdEdgeError) as err:
        open_artifact(str(engine))
    assert "\n" not in str(err.value) and field in str(err.value)


def test_forged_sidecar_labels_vs_spec(tiny, tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"\0" * 64)
    spec = tiny["spec"].to_dict()
    spec["labels"] = 7
    (tmp_path / "m.engine.json").write_text(json.dumps({"schema": 1, "spec": spec}))
    with pytest.raises(SsdEdgeError, match="labels"):
        open_artifact(str(engine))


def test_unparsable_sidecar_in_inspect(tmp_path, capsys):
    from ssd_edge.cli.export import main
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"\0" * 64)
    (tmp_path / "m.engine.json").write_text("{not json")
    assert main(["--inspect", str(engine)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "m.engine.json" in err[0], err


# ------------------------------------------------------------------ checkpoints
def test_zip_bomb_checkpoint_refused_from_declared_sizes(tmp_path):
    path = str(tmp_path / "bomb.pth")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", b"\0" * (200 << 20))       # 200 MB of zeros → ~200 KB
    assert os.path.getsize(path) < 1 << 20
    with pytest.raises(SsdEdgeError, match="declares 209.7 MB"):
        check_checkpoint_archive(path)


def test_zip_bomb_refused_by_load_checkpoint(tmp_path):
    pytest.importorskip("torch")
    from ssd_edge.models import load_checkpoint
    path = str(tmp_path / "bomb.pth")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data/0", b"\0" * (300 << 20))
    with pytest.raises(SsdEdgeError, match="refusing to inflate"):
        load_checkpoint(path)


def test_real_and_legacy_checkpoints_pass_the_archive_guard(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"w": torch.zeros(1000, 100)}
    zipped, legacy = str(tmp_path / "z.pth"), str(tmp_path / "legacy.pth")
    torch.save(state, zipped)
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    assert zipfile.is_zipfile(zipped) and not zipfile.is_zipfile(legacy)
    check_checkpoint_archive(zipped)
    check_checkpoint_archive(legacy)
    assert torch.load(legacy, weights_only=True)["w"].shape == (1000, 100)


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("kw", [
    {"conf_threshold": float("nan")}, {"conf_threshold": -0.1}, {"conf_threshold": 1.5},
    {"iou_threshold": 0.0}, {"iou_threshold": float("inf")}, {"candidate_size": 0},
    {"candidate_size": 2.5}, {"top_k": -2}, {"max_detections": float("nan")},
    {"conf_threshold": "high"}, {"threads": 0}, {"threads": 2.5}])
def test_detector_options_are_range_checked(tiny, kw):
    pytest.importorskip("onnxruntime")
    with pytest.raises(SsdEdgeError) as err:
        Detector.load(tiny["onnx"], backend="ort", **kw)
    assert list(kw)[0] in str(err.value)
    if "threads" in kw:
        return
    with Detector.load(tiny["onnx"], backend="ort") as det:
        setattr(det, list(kw)[0], list(kw.values())[0])
        with pytest.raises(SsdEdgeError):
            det(make_frames(1)[0])
