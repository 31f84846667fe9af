"""ssd-export --tflite / --ncnn / --coreml end to end on a small zoo checkpoint the test writes.

One export (FP32 + FP16 + INT8 LiteRT, FP32 + FP16 ncnn, calibrated on synthetic shapes images
written as JPEGs) is shared by the checks; each file is then opened the way a user would: through
``Detector.load`` (auto), ``ssd-export --inspect`` and ``ssd-bench``.
"""
import json
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
pytest.importorskip("ai_edge_litert", reason="needs ssd-edge[mobile] (ai-edge-litert)")
pytest.importorskip("litert_torch", reason="needs ssd-edge[mobile] (litert-torch)")
pytest.importorskip("ncnn", reason="needs ssd-edge[mobile] (ncnn)")
pytest.importorskip("pnnx", reason="needs ssd-edge[mobile] (pnnx)")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
from formatdoc import doc_table, type_ok  # noqa: E402
from ssd_edge import Detector  # noqa: E402
from ssd_edge.cli.export import main  # noqa: E402
from ssd_edge.export.calib import load_calibration  # noqa: E402
from ssd_edge.export.parity import torch_outputs  # noqa: E402
from ssd_edge.runtime.mobile_outputs import tflite_outputs  # noqa: E402
from ssd_edge.runtime.mobile_outputs import ncnn_outputs  # noqa: E402
from ssd_edge.models import build_model, build_spec, load_checkpoint, save_checkpoint  # noqa
from ssd_edge.mobileinfo import tflite_metadata  # noqa: E402

LABELS = ["BACKGROUND", "circle", "square", "triangle", "star"]
pytestmark = pytest.mark.slow        # converters: about a minute of CPU for the shared export


def write_checkpoint(folder):
    """mb1-ssd-lite at 96 px with random weights, heads scaled so detections pass 0.3."""
    spec = build_spec("mb1-ssd-lite", LABELS, resolution=96)
    torch.manual_seed(0)
    model = build_model(spec).eval()
    with torch.no_grad():
        for head in model.classification_headers:
            last = head[-1] if isinstance(head, torch.nn.Sequential) else head
            last.weight.mul_(8.0)
    path = os.path.join(str(folder), "small.pth")
    save_checkpoint(model, spec, path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from ssd_edge.data.synthetic import generate_voc
    d = tmp_path_factory.mktemp("mobile")
    ckpt = write_checkpoint(d)
    calib = str(d / "shapes")
    generate_voc(calib, 16, seed=3, image_size=(160, 120))
    out = d / "out"
    out.mkdir()
    rc = main([ckpt, "--tflite", "--ncnn", "--fp16", "--int8", "--calib", calib,
               "--output-dir", str(out), "-q"])
    assert rc == 0
    return {"dir": str(out), "stem": str(out / "small"), "ckpt": ckpt, "calib": calib}


def test_every_mobile_artifact_is_written_and_pnnx_leaves_nothing_behind(exported):
    names = sorted(os.listdir(exported["dir"]))
    for suffix in (".tflite", ".fp16.tflite", ".int8.tflite", ".ncnn.param", ".ncnn.bin",
                   ".ncnn.json", ".fp16.ncnn.param", ".fp16.ncnn.bin", ".fp16.ncnn.json"):
        assert "small" + suffix in names
    leftovers = [n for n in names if n.startswith(".") or "pnnx" in n or n.endswith((".pt", ".py"))]
    assert leftovers == []


def test_fp32_files_match_pytorch_and_reduced_ones_agree(exported):
    model, spec = load_checkpoint(exported["ckpt"])
    inputs = load_calibration(exported["calib"], spec, count=6)
    ref = torch_outputs(model, inputs)
    stem = exported["stem"]
    for run, path, tol in ((tflite_outputs, stem + ".tflite", 1e-4),
                           (ncnn_outputs, stem + ".ncnn.param", 1e-4),
                           (tflite_outputs, stem + ".fp16.tflite", 2e-2),
                           (ncnn_outputs, stem + ".fp16.ncnn.param", 2e-2)):
        got = run(path, inputs)
        assert np.abs(got["scores"] - ref[0]).max() <= tol, path
        assert np.abs(got["boxes"] - ref[1]).max() <= tol, path
    # INT8 approximates (random weights quantize worse than trained ones), and is not FP32
    diff = np.abs(tflite_outputs(stem + ".int8.tflite", inputs)["scores"] - ref[0])
    assert 1e-4 < diff.mean() < 0.1, diff.mean()


def test_tflite_carries_the_spec_and_int8_is_full_integer_with_float_edges(exported):
    _, spec = load_checkpoint(exported["ckpt"])
    for suffix, precision in ((".tflite", "fp32"), (".fp16.tflite", "fp16"),
                              (".int8.tflite", "int8")):
        meta = json.loads(tflite_metadata(exported["stem"] + suffix)["ssd_edge.spec"])
        assert meta["labels"] == LABELS and meta["precision"] == precision
        assert meta["input_size"] == list(spec.input_size)
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_path=exported["stem"] + ".int8.tflite")
    tensors = interp.get_tensor_details()
    int8 = [t for t in tensors if t["dtype"] == np.int8]
    assert len(int8) > len(tensors) // 3          # the network runs in int8 ...
    runner = interp.get_signature_runner()
    assert set(runner.get_input_details()) == {"input_0"}
    for d in list(runner.get_input_details().values()) + list(runner.get_output_details().values()):
        assert d["dtype"] == np.float32           # ... between float32 edges


def test_auto_picks_litert_and_ncnn_and_detects_like_onnxruntime(exported, tmp_path):
    from ssd_edge.export.calib import generated_frames
    frames = generated_frames(3, seed=5)
    with Detector.load(exported["ckpt"], backend="torch", conf_threshold=0.3) as ref:
        want = ref.detect_batch(frames)
    assert sum(len(d) for d in want) > 0
    for suffix, name in ((".tflite", "litert"), (".ncnn.param", "ncnn")):
        with Detector.load(exported["stem"] + suffix, conf_threshold=0.3) as det:
            assert det.backend_name == name
            for g, w in zip(det.detect_batch(frames), want):
                np.testing.assert_array_equal(g.class_ids, w.class_ids)
                np.testing.assert_allclose(g.boxes, w.boxes, rtol=0, atol=1e-2)


def test_inspect_describes_each_mobile_kind(exported, capsys):
    stem = exported["stem"]
    for path, kind, ins in ((stem + ".int8.tflite", "tflite", "input_0"),
                            (stem + ".fp16.ncnn.param", "ncnn", "in0 (input_0)")):
        assert main(["--inspect", path, "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["kind"] == kind and info["spec"]["labels"] == LABELS
        assert info["inputs"][0]["name"] == ins
        assert info["ops"]
    assert main(["--inspect", stem + ".int8.tflite"]) == 0
    text = capsys.readouterr().out
    assert "layout: NCHW" in text and "QUANTIZE" in text and "precision int8" in text


def test_ssd_bench_times_the_mobile_files(exported, tmp_path):
    from ssd_edge.cli.bench import main as bench
    out = str(tmp_path / "r.json")
    rc = bench([exported["stem"] + ".int8.tflite", exported["stem"] + ".ncnn.param",
                "--iterations", "3", "--warmup", "1", "--no-progress", "--frame-size", "160x120",
                "--threads", "1", "--json", out, "--quiet"])
    assert rc == 0
    with open(out) as f:
        doc = json.load(f)
    ran = {r["backend"]: r for r in doc["results"] if r.get("status", "ok") == "ok"}
    assert {"litert", "ncnn"} <= set(ran)
    param = exported["stem"] + ".ncnn.param"        # the size counts the weights (.bin) too
    assert ran["ncnn"]["file_size_mb"] * 1e6 > os.path.getsize(param) + 1000


def test_onnx_input_with_mobile_flags_exits_2_naming_the_pth_route(exported, capsys):
    onnx_path = exported["stem"] + ".onnx"
    assert main([onnx_path, "--tflite", "--output-dir", exported["dir"]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ".pth" in err[0] and "--tflite" in err[0]


def test_coreml_package_is_checked_for_spec_and_io(exported, tmp_path):
    pytest.importorskip("coremltools", reason="needs ssd-edge[mobile] (coremltools)")
    from ssd_edge.export.coreml import check_coreml, export_coreml, read_coreml
    model, spec = load_checkpoint(exported["ckpt"])
    path = export_coreml(model, spec, str(tmp_path / "small.mlpackage"))
    note = check_coreml(path, spec)
    assert "python -m ssd_edge.export.coreml_check" in note
    info = read_coreml(path)
    assert info["inputs"] == [{"name": "input_0", "dtype": "float32",
                               "shape": [1, 3, 96, 96]}]
    assert info["spec"]["labels"] == LABELS


def test_ncnn_sidecar_fields_are_the_documented_ones(exported):
    rows = doc_table("fields: ncnn-sidecar schema=1")
    for suffix, precision in ((".ncnn.json", "fp32"), (".fp16.ncnn.json", "fp16")):
        with open(exported["stem"] + suffix) as f:
            side = json.load(f)
        assert set(side) == set(rows)
        assert all(type_ok(side[k], t) for k, (t, _) in rows.items())
        assert side["schema"] == 1 and side["precision"] == side["spec"]["precision"] == precision


def _op_types(path):
    """``[(op name, first input dtype, output dtype)]`` of a ``.tflite``'s main graph."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = fbu.read_model(path)
    graph = model.subgraphs[0]
    out = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        out.append((ops[max(code.builtinCode, code.deprecatedBuiltinCode)],
                    types[graph.tensors[op.inputs[0]].type],
                    types[graph.tensors[op.outputs[0]].type]))
    return out


def test_int8_heads_are_integer_and_only_the_tail_is_float(exported):
    ops = _op_types(exported["stem"] + ".int8.tflite")
    convs = [o for o in ops if o[0] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert convs and all(o[1:] == ("INT8", "INT8") for o in convs), convs
    # float only after the heads: one DEQUANTIZE per head output, then reshape/concat/softmax/decode
    first_float = next(i for i, o in enumerate(ops) if o[0] == "DEQUANTIZE")
    assert all(o[0] not in ("CONV_2D", "DEPTHWISE_CONV_2D") for o in ops[first_float:]
               if o[2] == "FLOAT32")
    assert ops[0][0] == "QUANTIZE" and ops[-1][2] == "FLOAT32"


def test_two_class_tflite_computes_softmax_as_fully_connected_and_logistic(exported, tmp_path):
    """A face detector's two-class softmax becomes FULLY_CONNECTED + LOGISTIC (XNNPACK's SOFTMAX
    over [P, 2] is slow), still within 1e-4 of PyTorch; the INT8 file keeps it in float."""
    from ssd_edge.export.tflite import export_tflite, to_tflite_int8
    spec = build_spec("mb1-ssd-lite", ["BACKGROUND", "face"], resolution=96)
    torch.manual_seed(1)
    model = build_model(spec).eval()
    inputs = load_calibration(exported["calib"], spec, count=6)
    fp32 = export_tflite(model, spec, str(tmp_path / "face.tflite"))
    ops = [o[0] for o in _op_types(fp32)]
    assert "SOFTMAX" not in ops and "LOGISTIC" in ops and "FULLY_CONNECTED" in ops
    ref = torch_outputs(model, inputs)
    got = tflite_outputs(fp32, inputs)
    assert np.abs(got["scores"] - ref[0]).max() <= 1e-4
    assert np.abs(got["boxes"] - ref[1]).max() <= 1e-4
    np.testing.assert_allclose(got["scores"].sum(-1), 1.0, atol=1e-6)
    int8 = to_tflite_int8(fp32, str(tmp_path / "face.int8.tflite"), spec, inputs)
    tail = [o for o in _op_types(int8) if o[0] in ("FULLY_CONNECTED", "LOGISTIC")]
    assert len(tail) == 2 and all(o[1:] == ("FLOAT32", "FLOAT32") for o in tail)
