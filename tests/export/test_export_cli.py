"""ssd-export end to end on pytorch-ssd-style checkpoints the tests write."""
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")

from ssd_edge import DetectorSpec, postprocess  # noqa: E402
from ssd_edge.cli.export import main  # noqa: E402
from ssd_edge.export.calib import generated_frames  # noqa: E402
from ssd_edge.export.metadata import get_spec  # noqa: E402
from ssd_edge.models import build_model  # noqa: E402
from ssd_edge.models.specs import default_spec  # noqa: E402

LABELS = ["BACKGROUND", "circle", "square", "star"]


def write_checkpoint(folder, arch="mb1-ssd", seed=0):
    """A plain state_dict as pytorch-ssd's trainer writes it, plus labels.txt."""
    torch.manual_seed(seed)
    model = build_model(default_spec(arch, LABELS))
    path = os.path.join(str(folder), "%s-Epoch-0-Loss-1.0.pth" % arch)
    torch.save(model.state_dict(), path)
    with open(os.path.join(str(folder), "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")
    return path, os.path.join(str(folder), "labels.txt")


def write_images(folder, n=12):
    os.makedirs(str(folder), exist_ok=True)
    for i, frame in enumerate(generated_frames(n, seed=7)):
        cv2.imwrite(os.path.join(str(folder), "%03d.jpg" % i), frame)
    return str(folder)


def run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One full export (FP32 + FP16 + INT8 + NMS onnx + .ort) shared by the checks below."""
    d = tmp_path_factory.mktemp("exp")
    ckpt, labels = write_checkpoint(d)
    calib = write_images(d / "calib")
    rc = main([ckpt, "--labels", labels, "--fp16", "--int8", "--calib", calib, "--nms", "onnx",
               "--conf", "0.2", "--mobile", "--output-dir", str(d)])
    assert rc == 0
    stem = os.path.join(str(d), "mb1-ssd-Epoch-0-Loss-1.0")
    return d, stem, ckpt


def test_every_artifact_is_written_with_its_spec(exported):
    d, stem, _ = exported
    for suffix, prec in ((".onnx", "fp32"), (".fp16.onnx", "fp16"), (".int8.onnx", "int8")):
        m = onnx.load(stem + suffix)
        spec = get_spec(m)
        assert spec.precision == prec and list(spec.labels) == LABELS and spec.arch == "mb1-ssd"
        assert [i.name for i in m.graph.input] == ["input_0"]
        assert [o.name for o in m.graph.output] == ["scores", "boxes"]
        assert len(spec.source_sha256) == 64
    for suffix in (".nms-onnx.onnx", ".fp16.nms-onnx.onnx", ".int8.nms-onnx.onnx"):
        m = onnx.load(stem + suffix)
        assert [o.name for o in m.graph.output] == ["num_detections", "detection_boxes",
                                                   "detection_scores", "detection_classes"]
        assert get_spec(m).output_layout == "nms"
    assert os.path.exists(stem + ".ort") and os.path.exists(stem + ".int8.ort")
    assert not [p for p in os.listdir(str(d)) if p.endswith(".part")]


def test_fp32_matches_pytorch_and_io_contract(exported):
    _, stem, ckpt = exported
    from ssd_edge.models import load_checkpoint
    model, spec = load_checkpoint(ckpt, labels=os.path.join(os.path.dirname(ckpt), "labels.txt"))
    x = np.random.default_rng(0).normal(size=(1, 3, 300, 300)).astype(np.float32)
    with torch.no_grad():
        ts, tb = (t.numpy() for t in model(torch.from_numpy(x)))
    sess = ort.InferenceSession(stem + ".onnx", providers=["CPUExecutionProvider"])
    s, b = sess.run(["scores", "boxes"], {"input_0": x})
    assert s.shape == (1, 3000, 4) and b.shape == (1, 3000, 4) and s.dtype == np.float32
    assert np.abs(s - ts).max() < 1e-4 and np.abs(b - tb).max() < 1e-4


def test_fp16_keeps_float32_io_and_fp32_tail(exported):
    _, stem, _ = exported
    m = onnx.load(stem + ".fp16.onnx")
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in m.graph.output)
    halves = [i for i in m.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert len(halves) > 20                       # the conv weights are FP16
    softmax = [n for n in m.graph.node if n.op_type == "Softmax"][0]
    casts = {n.output[0]: n for n in m.graph.node if n.op_type == "Cast"}
    assert softmax.input[0] not in casts or casts[softmax.input[0]].attribute[0].i == 1


def test_int8_is_symmetric_signed_qdq_with_per_channel_weights(exported):
    _, stem, _ = exported
    from onnx import numpy_helper
    m = onnx.load(stem + ".int8.onnx")
    inits = {i.name: i for i in m.graph.initializer}
    q = [n for n in m.graph.node if n.op_type == "QuantizeLinear"]
    dq = [n for n in m.graph.node if n.op_type == "DequantizeLinear"]
    assert q and dq
    for n in q + dq:
        if len(n.input) > 2 and n.input[2] in inits:
            zp = inits[n.input[2]]
            assert zp.data_type == onnx.TensorProto.INT8
            assert not numpy_helper.to_array(zp).any()
    per_channel = [n for n in dq if n.input[1] in inits and numpy_helper.to_array(inits[n.input[1]]).size > 1]
    assert per_channel, "weights should be quantized per channel"
    assert "Softmax" in {n.op_type for n in m.graph.node}


def test_every_onnx_written_passes_the_full_checker(exported):
    """FP16 included: ONNX Runtime's converter appends its input casts after their users."""
    d, _, _ = exported
    written = sorted(d.glob("*.onnx"))
    assert len(written) == 6, written
    for path in written:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def test_fp16_loads_in_opencv_dnn(exported):
    """OpenCV's importer refuses graphs out of topological order (it did, for every FP16 file)."""
    cv2 = pytest.importorskip("cv2")
    _, stem, _ = exported
    net = cv2.dnn.readNetFromONNX(stem + ".fp16.onnx")
    net.setInput(np.zeros((1, 3, 300, 300), np.float32), "input_0")
    scores, boxes = net.forward(["scores", "boxes"])
    assert scores.shape[0] == 1 and boxes.shape[-1] == 4 and np.isfinite(scores).all()


def test_topological_sort_orders_a_scrambled_graph():
    from onnx import TensorProto, helper
    from ssd_edge.export.graph import topological_sort
    nodes = [helper.make_node("Relu", ["b"], ["c"], name="second"),
             helper.make_node("Neg", ["c"], ["y"], name="third"),
             helper.make_node("Abs", ["x"], ["b"], name="first")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = helper.make_model(g)
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(m, full_check=True)
    topological_sort(m.graph)
    assert [n.name for n in m.graph.node] == ["first", "second", "third"]
    onnx.checker.check_model(m, full_check=True)


def test_summary_prints_parity_figures(tmp_path, capsys):
    ckpt, labels = write_checkpoint(tmp_path, seed=3)
    rc, out, err = run([ckpt, "--labels", labels, "--fp16", "--output-dir", str(tmp_path)], capsys)
    assert rc == 0, err
    assert "max|Δscores|" in out and "fp16" in out and "onnxsim" in out
    assert "TensorRT 8.5" in out                                   # operator report
    assert "ssd-export" in out and "--engine" in out               # command for the target


def test_onnx_nms_equals_postprocess_on_tie_free_outputs(tmp_path):
    """The onnx NMS variant on a graph that passes given raw outputs straight through."""
    from onnx import TensorProto, helper
    from ssd_edge.export.nms_graph import add_onnx_nms
    from ssd_edge.export.nms_check import detections_to_sets, nms_outputs_to_sets
    p, c = 500, 4
    g = helper.make_graph(
        [helper.make_node("Slice", ["input_0", "s0", "s1", "ax"], ["scores"]),
         helper.make_node("Slice", ["input_0", "s1", "s2", "ax"], ["boxes"])],
        "t", [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [1, p, c + 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, p, c]),
         helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, p, 4])],
        [helper.make_tensor("s0", TensorProto.INT64, [1], [0]),
         helper.make_tensor("s1", TensorProto.INT64, [1], [c]),
         helper.make_tensor("s2", TensorProto.INT64, [1], [c + 4]),
         helper.make_tensor("ax", TensorProto.INT64, [1], [2])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    add_onnx_nms(model, p, c, 0.2, 0.45, candidate_size=50, max_detections=40)
    path = str(tmp_path / "nms.onnx")
    onnx.save(model, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for _ in range(5):
        logits = rng.normal(size=(p, c)) * 2
        s = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
        cxcy = rng.uniform(0.2, 0.8, (4, 2))[rng.integers(0, 4, p)] + rng.normal(0, 0.05, (p, 2))
        wh = rng.uniform(0.1, 0.3, (p, 2))
        b = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1).astype(np.float32)
        outs = dict(zip([o.name for o in sess.get_outputs()],
                        sess.run(None, {"input_0": np.concatenate([s, b], 1)[None]})))
        ref = postprocess(s, b, conf_threshold=0.2, iou_threshold=0.45, candidate_size=50,
                          max_detections=40)
        want = detections_to_sets(ref)
        assert nms_outputs_to_sets(outs, 0) == want and len(want) > 5
        assert outs["num_detections"].dtype == np.int32 and outs["detection_classes"].dtype == np.int32


@pytest.mark.slow
def test_trt_nms_variant_has_plugin_with_required_attributes(tmp_path, capsys):
    ckpt, labels = write_checkpoint(tmp_path, seed=4)
    rc, out, err = run([ckpt, "--labels", labels, "--nms", "trt", "--output-dir", str(tmp_path)], capsys)
    assert rc == 0, err
    from ssd_edge.export.nms_graph import plugin_attributes
    m = onnx.load(str(tmp_path / "mb1-ssd-Epoch-0-Loss-1.0.nms-trt.onnx"))
    attrs = plugin_attributes(m)
    assert attrs["background_class"] == 0 and attrs["box_coding"] == 0
    assert isinstance(attrs["score_threshold"], float) and "class_agnostic" not in attrs
    node = [n for n in m.graph.node if n.op_type == "EfficientNMS_TRT"][0]
    assert node.domain == ""
    assert "EfficientNMS_TRT attributes match" in out


def test_inspect_reports_spec_and_operators(exported, capsys):
    _, stem, _ = exported
    rc, out, err = run(["--inspect", stem + ".int8.onnx", "--json"], capsys)
    assert rc == 0
    info = json.loads(out)
    assert info["spec"]["precision"] == "int8" and info["operators"]["op_counts"]["QuantizeLinear"] > 0
    assert DetectorSpec.from_dict(info["spec"]).num_classes == 4
    rc, out, _ = run(["--inspect", stem + ".ort"], capsys)
    assert rc == 0 and "input: input_0" in out


@pytest.mark.parametrize("arch", ["mb2-ssd-lite"] + [
    pytest.param(a, marks=pytest.mark.slow)      # make test runs them all; test-quick one
    for a in ("mb1-ssd-lite", "mb3-small-ssd-lite", "sq-ssd-lite", "vgg16-ssd",
              "mb3-large-ssd-lite")])
def test_every_zoo_net_exports_and_matches_pytorch(arch, tmp_path, capsys):
    ckpt, labels = write_checkpoint(tmp_path, arch=arch)
    out_dir = tmp_path / "new" / "folder"          # created by ssd-export
    rc, out, err = run([ckpt, "--labels", labels, "--output-dir", str(out_dir), "-q"], capsys)
    assert rc == 0, err
    assert (out_dir / (os.path.splitext(os.path.basename(ckpt))[0] + ".onnx")).is_file()
    line = [l for l in out.splitlines() if l.strip().endswith("inputs)") and ".onnx" in l][0]
    assert "fp32" in line


def bad(argv, capsys):
    rc, out, err = run(argv, capsys)
    assert rc == 2, (out, err)
    lines = [l for l in err.strip().splitlines() if l]
    assert len(lines) == 1 and "Traceback" not in err
    return lines[0]


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    ckpt, labels = write_checkpoint(tmp_path)
    assert "does not exist" in bad([str(tmp_path / "nope.pth")], capsys)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(os.urandom(300))
    assert "ONNX" in bad([str(garbage), "--fp16"], capsys)
    assert "--calib" in bad([ckpt, "--labels", labels, "--int8"], capsys)
    assert "does not exist" in bad([ckpt, "--labels", labels, "--int8", "--calib",
                                    str(tmp_path / "none")], capsys)
    (tmp_path / "empty").mkdir()
    assert "no images" in bad([ckpt, "--labels", labels, "--int8", "--calib", str(tmp_path / "empty")],
                              capsys)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.jpg").write_bytes(b"not a jpeg")
    assert "found 1 image files but none could be decoded" in bad(
        [ckpt, "--labels", labels, "--int8", "--calib", str(tmp_path / "broken")], capsys)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("BACKGROUND\na\n")
    assert "2" in bad([ckpt, "--labels", str(wrong)], capsys)
    (tmp_path / "afile").write_text("x")
    assert "cannot create it" in bad([ckpt, "--labels", labels, "--output-dir",
                                      str(tmp_path / "afile" / "y")], capsys)
    assert "TensorRT" in bad([ckpt, "--labels", labels, "--engine", "--output-dir", str(tmp_path)], capsys)


@pytest.mark.slow
def test_foreign_onnx_needs_net_and_labels(tmp_path, capsys):
    """A pytorch-ssd-exported ONNX (no metadata) is accepted with --net and --labels."""
    ckpt, labels = write_checkpoint(tmp_path)
    model = build_model(default_spec("mb1-ssd", LABELS)).eval()
    model.load_state_dict(torch.load(ckpt, weights_only=True))
    plain = str(tmp_path / "foreign.onnx")
    torch.onnx.export(model, (torch.zeros(1, 3, 300, 300),), plain, input_names=["input_0"],
                      output_names=["scores", "boxes"], opset_version=13, dynamo=False)
    assert "--net" in bad([plain, "--fp16"], capsys)
    os.makedirs(str(tmp_path / "o"))
    rc, out, err = run([plain, "--net", "mb1-ssd", "--labels", labels, "--fp16",
                        "--output-dir", str(tmp_path / "o")], capsys)
    assert rc == 0, err
    assert get_spec(onnx.load(str(tmp_path / "o" / "foreign.fp16.onnx"))).arch == "mb1-ssd"


def test_stages_write_and_the_parity_pass_checks_each_file_before_the_next(tmp_path, capsys,
                                                                           monkeypatch):
    """run_export is STAGES (writers) plus verify (the parity pass), interleaved per file: every
    file is checked as soon as it exists, and a failed check stops the export before the next
    file is written."""
    from ssd_edge.errors import SsdEdgeError
    from ssd_edge.export import stages, verify as verify_mod
    assert [s.__name__ for s in stages.STAGES] == [
        "base_onnx", "fp16_onnx", "int8_onnx", "nms_onnx", "ort_format", "phone_formats",
        "engines"]
    ckpt, labels = write_checkpoint(tmp_path)
    seen = []
    real = verify_mod.verify

    def spying(art, run):
        seen.append((os.path.basename(art.path), sorted(os.listdir(str(tmp_path)))))
        real(art, run)
        if art.precision == "fp16":
            raise SsdEdgeError("parity check failed for %s: test" % art.path)
    monkeypatch.setattr(verify_mod, "verify", spying)
    rc, out, err = run([ckpt, "--labels", labels, "--fp16", "--nms", "onnx", "--mobile",
                        "--output-dir", str(tmp_path)], capsys)
    assert rc == 2 and "parity check failed" in err
    names = [n for n, _ in seen]
    assert names == ["mb1-ssd-Epoch-0-Loss-1.0.onnx", "mb1-ssd-Epoch-0-Loss-1.0.fp16.onnx"]
    # when the FP32 file was checked, the FP16 one did not exist yet
    assert "mb1-ssd-Epoch-0-Loss-1.0.fp16.onnx" not in seen[0][1]
    # nothing after the failed check was written (no NMS graphs, no .ort)
    left = os.listdir(str(tmp_path))
    assert not [n for n in left if "nms-onnx" in n or n.endswith(".ort")]
