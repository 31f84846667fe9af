"""Reading the spec and graph I/O from artifacts, without the onnx package."""
import json
import os
import sys

import numpy as np
import pytest

from tinymodels import LABELS, copy_model, make_frames, nms_graph, tiny_spec
from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime import Detector
from ssd_edge.runtime.artifact import artifact_kind, open_artifact, read_labels
from ssd_edge.runtime.onnxinfo import read_onnx_info


def test_onnx_info_matches_onnx_package(tiny):
    onnx = pytest.importorskip("onnx")
    info = read_onnx_info(tiny["onnx"])
    model = onnx.load(tiny["onnx"])
    assert info.metadata == {p.key: p.value for p in model.metadata_props}
    assert info.ir_version == model.ir_version
    assert info.op_types == {n.op_type for n in model.graph.node}
    for ours, theirs in ((info.inputs, model.graph.input), (info.outputs, model.graph.output)):
        assert [t.name for t in ours] == [t.name for t in theirs]
        for t, v in zip(ours, theirs):
            dims = tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                         for d in v.type.tensor_type.shape.dim)
            assert t.shape == dims
            assert t.dtype == "float32"
    assert info.inputs[0].shape == ("batch", 3, 32, 32)
    assert read_onnx_info(tiny["fixed"]).outputs[0].shape == (1, 80, 4)


def test_spec_read_with_onnx_blocked(tiny, monkeypatch):
    # None in sys.modules makes `import onnx` raise ImportError, as on a board without it.
    monkeypatch.setitem(sys.modules, "onnx", None)
    art = open_artifact(tiny["onnx"])
    assert art.spec == tiny["spec"]
    assert art.kind == "onnx" and art.precision == "fp32" and not art.foreign
    assert not art.has_nms
    with pytest.raises(ImportError):
        import onnx  # noqa: F401


def test_initializers_are_not_inputs(tiny, tmp_path):
    onnx = pytest.importorskip("onnx")
    # IR 3 graphs list their weights as graph inputs too; those must not count as inputs.
    model = onnx.load(tiny["onnx"])
    for init in model.graph.initializer:
        model.graph.input.append(onnx.helper.make_tensor_value_info(
            init.name, init.data_type, list(init.dims)))
    path = str(tmp_path / "with_init_inputs.onnx")
    onnx.save(model, path)
    assert [t.name for t in read_onnx_info(path).inputs] == ["input_0"]


def test_qdq_graph_is_int8(tiny_int8):
    art = open_artifact(tiny_int8)
    assert art.precision == "int8"
    assert "QuantizeLinear" in art.onnx.op_types


def test_nms_layout_detected(tmp_path):
    pytest.importorskip("onnx")
    path = nms_graph(str(tmp_path / "nms.onnx"), tiny_spec(), [1], [[0, 0, 1, 1]], [0.9], [1])
    art = open_artifact(path)
    assert art.has_nms and art.spec.output_layout == "nms"


def test_ort_format_metadata(tiny, tmp_path):
    pytest.importorskip("onnxruntime")
    from onnxruntime.tools.convert_onnx_models_to_ort import (OptimizationStyle,
                                                              convert_onnx_models_to_ort)
    src = copy_model(tiny["onnx"], tmp_path)
    convert_onnx_models_to_ort(__import__("pathlib").Path(src),
                               optimization_styles=[OptimizationStyle.Fixed])
    ort_path = str(tmp_path / "tiny.ort")
    assert os.path.isfile(ort_path)
    art = open_artifact(ort_path)
    assert art.kind == "ort" and art.spec == tiny["spec"]
    frame = make_frames(1)[0]
    with Detector.load(ort_path, conf_threshold=0.3) as det, \
            Detector.load(tiny["onnx"], backend="ort", conf_threshold=0.3) as ref:
        assert det.backend_name == "ort" and "ONNX Runtime" in det.backend_reason
        got, want = det(frame), ref(frame)
        assert len(want) > 0 and got.labels == want.labels
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)


def test_engine_sidecar(tmp_path):
    engine = tmp_path / "m.fp16.engine"
    engine.write_bytes(b"\x00plan bytes are opaque here")
    spec = tiny_spec(precision="fp16")
    (tmp_path / "m.fp16.engine.json").write_text(json.dumps(
        {"schema": 1, "spec": spec.to_dict(), "tensorrt_version": "10.3.0"}))
    art = open_artifact(str(engine))
    assert art.kind == "engine" and art.spec == spec and art.precision == "fp16"
    assert art.sidecar["tensorrt_version"] == "10.3.0"


def test_engine_without_sidecar(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    with pytest.raises(SsdEdgeError, match="sidecar .*m.engine.json.*rebuild"):
        open_artifact(str(engine))
    (tmp_path / "m.engine.json").write_text("[1, 2]")
    with pytest.raises(SsdEdgeError, match="\"spec\" field"):
        open_artifact(str(engine))


def test_foreign_onnx_needs_labels_and_normalisation_or_net(tiny):
    with pytest.raises(SsdEdgeError) as e:
        open_artifact(tiny["foreign"])
    msg = str(e.value)
    assert "--labels" in msg and "--net" in msg and "--mean" in msg and "\n" not in msg
    with pytest.raises(SsdEdgeError, match="no --net; expected --mean and --std"):
        open_artifact(tiny["foreign"], labels=list(LABELS[1:]))
    art = open_artifact(tiny["foreign"], labels=list(LABELS[1:]), mean=(0, 0, 0), std=(1, 1, 1))
    assert art.spec.arch == "foreign" and art.spec.input_size == (32, 32)


def test_foreign_onnx_with_labels_and_net(tiny, tmp_path):
    models = pytest.importorskip("ssd_edge.models", reason="needs the model zoo (ssd_edge.models)")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    art = open_artifact(tiny["foreign"], labels=str(labels), net="mb1-ssd",
                        mean=(1, 2, 3), std=(4, 5, 6))
    zoo = models.default_spec("mb1-ssd", list(LABELS))
    assert art.foreign and art.spec.labels == LABELS and art.spec.arch == zoo.arch
    assert art.spec.input_size == (32, 32)            # from the graph, not the zoo default
    assert art.spec.mean == (1.0, 2.0, 3.0) and art.spec.std == (4.0, 5.0, 6.0)
    with pytest.raises(SsdEdgeError, match="has 4 classes .* labels list 3"):
        open_artifact(tiny["foreign"], labels=["person", "car"], net="mb1-ssd")
    # Described by hand with the right normalisation, it detects exactly like our own export.
    spec = tiny["spec"]
    frame = make_frames(1)[0]
    with Detector.load(tiny["foreign"], backend="ort", labels=list(LABELS[1:]), net="mb1-ssd",
                       mean=spec.mean, std=spec.std, conf_threshold=0.3) as det, \
            Detector.load(tiny["onnx"], backend="ort", conf_threshold=0.3) as ref:
        got, want = det(frame), ref(frame)
        assert len(want) > 0 and got.labels == want.labels
        np.testing.assert_array_equal(got.boxes, want.boxes)


def test_overrides_on_our_own_model(tiny):
    art = open_artifact(tiny["onnx"], labels=["a", "b", "c"])
    assert art.spec.labels == ("BACKGROUND", "a", "b", "c")
    with pytest.raises(SsdEdgeError, match="has 4 classes but the labels list 2"):
        open_artifact(tiny["onnx"], labels=["a"])
    with pytest.raises(SsdEdgeError, match="tiny-ssd-test model .* drop --net"):
        open_artifact(tiny["onnx"], net="mb1-ssd")
    with pytest.raises(SsdEdgeError, match="expected 3 mean values"):
        open_artifact(tiny["onnx"], mean=(1, 2))
    assert open_artifact(tiny["onnx"], std=[2, 2, 2]).spec.std == (2.0, 2.0, 2.0)


def test_labels_file_and_list(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text("BACKGROUND\nperson\ncar\n\n")
    assert read_labels(str(p)) == ("BACKGROUND", "person", "car")
    p.write_text("person\ncar\n")                  # a dataset root's labels.txt
    assert read_labels(str(p)) == ("BACKGROUND", "person", "car")
    p.write_text("person\n\ncar\n")               # a gap would shift every later class id
    with pytest.raises(SsdEdgeError, match="blank line"):
        read_labels(str(p))
    assert read_labels(["person", "car"]) == ("BACKGROUND", "person", "car")
    with pytest.raises(SsdEdgeError, match="labels file .* not found"):
        read_labels(str(tmp_path / "missing.txt"))


@pytest.mark.parametrize("content", [b"", os.urandom(4096), b"hello, I am a text file\n" * 20,
                                     b"\x08\x07\x3a\x04\x0a\x02ab"])
def test_wrong_bytes_named_onnx(tmp_path, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(SsdEdgeError) as e:
        open_artifact(str(path))
    assert "expected an ONNX model" in str(e.value) and "\n" not in str(e.value)


def test_truncated_onnx(tiny, tmp_path):
    data = open(tiny["onnx"], "rb").read()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SsdEdgeError, match="expected an ONNX model"):
        open_artifact(str(path))


def test_wrong_extension_and_missing_file(tmp_path):
    txt = tmp_path / "model.txt"
    txt.write_text("not a model")
    with pytest.raises(SsdEdgeError, match=r"ending in \.onnx, \.ort, \.engine, \.pth, \.tflite or "
                       r"\.ncnn\.param"):
        open_artifact(str(txt))
    with pytest.raises(SsdEdgeError, match="expected a model file at .*not found"):
        open_artifact(str(tmp_path / "nope.onnx"))
    assert artifact_kind("a/b.INT8.ONNX") == "onnx" and artifact_kind("x.plan") == "engine"


def test_broken_mobile_files_say_what_is_wrong(tmp_path):
    param = tmp_path / "model.ncnn.param"
    param.write_text("7767517\n1 1\nInput in0 0 1 in0\n")
    with pytest.raises(SsdEdgeError, match=r"expected the weights .*model\.ncnn\.bin"):
        open_artifact(str(param))
    pytest.importorskip("ai_edge_litert", reason="needs ssd-edge[mobile]")
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(SsdEdgeError, match="expected a TFLite flatbuffer"):
        open_artifact(str(bad))


def test_bad_spec_json_in_metadata(tiny, tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(tiny["onnx"])
    model.metadata_props[0].value = json.dumps({"arch": "x", "labels": ["cat"]})
    path = str(tmp_path / "badspec.onnx")
    onnx.save(model, path)
    with pytest.raises(SsdEdgeError, match="badspec.onnx: invalid detector spec"):
        open_artifact(path)
