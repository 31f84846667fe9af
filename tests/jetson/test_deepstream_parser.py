"""The nvinfer custom parser, built with g++ from the generated Makefile against the test header,
called through dlopen/dlsym as nvinfer calls it, compared with ssd_edge.postprocess."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from ssd_edge import NmsDefaults, postprocess
from ssd_edge.export.deepstream import PARSER_LIB, write_deepstream
from ssd_edge.models.specs import default_spec

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = ("BACKGROUND", "person", "car", "dog", "cat")
NET = (300, 300)                                           # (W, H) of the network input
DTYPE = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.int32): 3}

pytestmark = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("make") is None,
                                reason="needs g++ and make")


_BUILT = {}


def build(tmp_path, spec, tag):
    """write_deepstream, then `make` its Makefile with the test header as DeepStream's.

    Builds are cached per spec for the session (each costs a g++ run)."""
    key = spec.to_json()
    if key in _BUILT and os.path.exists(_BUILT[key]):
        return _BUILT[key]
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx")
    out = tmp_path / tag
    write_deepstream(str(onnx), spec, str(out))
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "nvdsinfer_custom_impl.h").write_text(
        '#include "%s"\n' % os.path.join(HERE, "nvdsinfer_test.h"))
    res = subprocess.run(["make", "-C", str(out), "DS_INCLUDES=%s" % shim,
                          "CUDA_HOME=%s" % (tmp_path / "no-cuda"), "CXXFLAGS=-O2 -Werror"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    _BUILT[key] = str(out / PARSER_LIB)
    return _BUILT[key]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    exe = tmp_path_factory.mktemp("harness") / "parser_harness"
    res = subprocess.run(["g++", "-std=c++14", "-O2", "-Wall", "-Werror", "-I", HERE,
                          os.path.join(HERE, "parser_harness.cpp"), "-o", str(exe), "-ldl"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return str(exe)


def realistic_outputs(spec, seed):
    """Softmax scores (P, C) and corner boxes (P, 4) decoded from the spec's priors, with a few
    objects that many neighbouring priors fire on (as a trained SSD's raw outputs look)."""
    rng = np.random.default_rng(seed)
    priors = spec.priors()                                  # (P, 4) cx cy w h
    p, c = len(priors), spec.num_classes
    logits = rng.normal(0, 1.0, (p, c))
    logits[:, 0] += 3.0                                     # mostly background
    for _ in range(rng.integers(2, 6)):
        centre, size = rng.uniform(0.15, 0.85, 2), rng.uniform(0.1, 0.5, 2)
        near = (np.abs(priors[:, :2] - centre) < size / 2).all(1) & \
               (np.abs(priors[:, 2:] - size) < 0.25).all(1)
        logits[near, rng.integers(1, c)] += rng.uniform(3, 7, near.sum())
    scores = np.exp(logits - logits.max(1, keepdims=True))
    scores = (scores / scores.sum(1, keepdims=True)).astype(np.float32)
    loc = rng.normal(0, 1, (p, 4)) * [0.1, 0.1, 0.2, 0.2]
    cxcy = priors[:, :2] + loc[:, :2] * priors[:, 2:]
    wh = priors[:, 2:] * np.exp(loc[:, 2:])
    boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1).astype(np.float32)
    return scores, boxes


def run_parser(harness, tmp_path, lib, func, layers, classes, thresholds, recheck=None):
    job = ["net %d %d" % NET, "classes %d" % classes,
           "thresholds " + " ".join(repr(float(t)) for t in thresholds)]
    for name, arr in layers:
        path = tmp_path / ("%s.bin" % name)
        arr = np.ascontiguousarray(arr)
        path.write_bytes(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
        job.append("layer %s %d %d %s" % (name, DTYPE[arr.dtype], arr.size, path))
    if recheck is not None:
        job.append("recheck %r" % recheck)
    (tmp_path / "job.txt").write_text("\n".join(job) + "\n")
    res = subprocess.run([harness, lib, func, str(tmp_path / "job.txt")], capture_output=True,
                         text=True, timeout=60)
    rows = [ln.split() for ln in res.stdout.splitlines() if not ln.startswith("recheck")]
    extra = [ln for ln in res.stdout.splitlines() if ln.startswith("recheck")]
    dets = np.array([[float(v) for v in r] for r in rows], np.float64).reshape(-1, 6)
    return res, dets, extra


def assert_same(dets, expected):
    """Parser rows (class, score, left, top, width, height) vs Detections in network pixels."""
    assert dets[:, 0].astype(int).tolist() == expected.class_ids.tolist()
    np.testing.assert_array_equal(dets[:, 1].astype(np.float32), expected.scores)
    corners = np.stack([dets[:, 2], dets[:, 3], dets[:, 2] + dets[:, 4], dets[:, 3] + dets[:, 5]], 1)
    np.testing.assert_allclose(corners, expected.boxes, atol=2e-3)


NMS_SETTINGS = [
    NmsDefaults(),                                                           # the spec default
    NmsDefaults(conf_threshold=0.25, iou_threshold=0.3, candidate_size=20, top_k=3,
                max_detections=7),
]


@pytest.mark.parametrize("nms", NMS_SETTINGS, ids=["defaults", "tight"])
def test_decoded_parser_matches_postprocess(tmp_path, harness, nms):
    spec = default_spec("mb1-ssd", LABELS).replace(nms=nms)
    lib = build(tmp_path, spec, "ds")
    total = 0
    for seed in range(6):
        scores, boxes = realistic_outputs(spec, seed)
        expected = postprocess(scores, boxes, frame_size=NET, conf_threshold=nms.conf_threshold,
                               iou_threshold=nms.iou_threshold, candidate_size=nms.candidate_size,
                               top_k=nms.top_k, max_detections=nms.max_detections)
        res, dets, recheck = run_parser(harness, tmp_path, lib, "NvDsInferParseSsdEdge",
                                        [("scores", scores), ("boxes", boxes)], spec.num_classes,
                                        [nms.conf_threshold] * spec.num_classes,
                                        recheck=nms.iou_threshold)
        assert res.returncode == 0, res.stderr
        assert_same(dets, expected)
        # nvinfer's cluster-mode=2 with the same IoU finds nothing left to suppress.
        assert recheck == ["recheck_suppressed 0"]
        total += len(expected)
    assert total >= 10, "the outputs should produce detections to compare"


def test_decoded_parser_fp16_outputs_and_per_class_thresholds(tmp_path, harness):
    # No overall cap here: with per-class thresholds it would mix the classes' runs below.
    spec = default_spec("mb1-ssd", LABELS).replace(nms=NmsDefaults(max_detections=-1))
    lib = build(tmp_path, spec, "ds")
    scores, boxes = realistic_outputs(spec, 11)
    s16, b16 = scores.astype(np.float16), boxes.astype(np.float16)
    thresholds = [0.4, 0.9, 0.4, 0.3, 0.4]                  # class 1 stricter, class 3 looser
    res, dets, _ = run_parser(harness, tmp_path, lib, "NvDsInferParseSsdEdge",
                              [("boxes", b16), ("scores", s16)], 5, thresholds)
    assert res.returncode == 0, res.stderr
    expected = []
    for cls, thr in enumerate(thresholds[1:], 1):
        one = postprocess(s16.astype(np.float32), b16.astype(np.float32), frame_size=NET,
                          conf_threshold=thr, max_detections=-1)
        expected.append(one.select(one.class_ids == cls))
    got = dets[np.argsort(dets[:, 0], kind="stable")]
    exp_cls = np.concatenate([e.class_ids for e in expected])
    assert got[:, 0].astype(int).tolist() == exp_cls.tolist() and len(exp_cls) > 0
    np.testing.assert_array_equal(got[:, 1].astype(np.float32),
                                  np.concatenate([e.scores for e in expected]))


def nms_outputs(expected, k):
    """The four NMS-in-graph outputs for one image, padded to K rows with class 0 / score 0."""
    n = len(expected)
    boxes = np.zeros((k, 4), np.float32)
    boxes[:n] = expected.boxes / np.array(NET * 2, np.float32)
    scores = np.zeros(k, np.float32)
    scores[:n] = expected.scores
    classes = np.zeros(k, np.int32)
    classes[:n] = expected.class_ids
    return [("num_detections", np.array([n], np.int32)), ("detection_boxes", boxes),
            ("detection_scores", scores), ("detection_classes", classes)]


def test_nms_layout_parser_copies_the_graphs_detections(tmp_path, harness):
    spec = default_spec("mb1-ssd", LABELS).replace(output_layout="nms")
    lib = build(tmp_path, spec, "ds")
    scores, boxes = realistic_outputs(spec, 3)
    expected = postprocess(scores, boxes, frame_size=NET)
    assert len(expected) > 0
    layers = nms_outputs(expected, 200)
    res, dets, _ = run_parser(harness, tmp_path, lib, "NvDsInferParseSsdEdgeNms", layers,
                              spec.num_classes, [0.4] * spec.num_classes)
    assert res.returncode == 0, res.stderr
    assert_same(dets, expected)
    # A stricter pre-cluster-threshold for one class drops exactly that class's weaker rows.
    cls = int(expected.class_ids[0])
    thr = [0.4] * spec.num_classes
    thr[cls] = 0.99
    _, dets2, _ = run_parser(harness, tmp_path, lib, "NvDsInferParseSsdEdgeNms", layers,
                             spec.num_classes, thr)
    keep = (expected.class_ids != cls) | (expected.scores > 0.99)
    assert_same(dets2, expected.select(keep))


def test_parser_errors_are_reported_not_crashed(tmp_path, harness):
    spec = default_spec("mb1-ssd", LABELS)
    lib = build(tmp_path, spec, "ds")
    scores, boxes = realistic_outputs(spec, 0)
    res, _, _ = run_parser(harness, tmp_path, lib, "NvDsInferParseSsdEdge",
                           [("scores", scores), ("boxes", boxes)], 3, [0.4] * 3)
    assert res.returncode == 3 and "num-detected-classes=3 but the model has 5 classes" in res.stderr
    res, _, _ = run_parser(harness, tmp_path, lib, "NvDsInferParseSsdEdge",
                           [("conf", scores), ("boxes", boxes)], 5, [0.4] * 5)
    assert res.returncode == 3 and "expected an output layer named 'scores'" in res.stderr
    res, _, _ = run_parser(harness, tmp_path, lib, "NvDsInferParseSsdEdgeNms",
                           [("scores", scores), ("boxes", boxes)], 5, [0.4] * 5)
    assert res.returncode == 3 and "'num_detections'" in res.stderr


@pytest.mark.slow
def test_end_to_end_exported_onnx_through_ort_and_the_parser(tmp_path, harness):
    """ssd-export --deepstream on a real (random-weight) mb1-ssd, its ONNX run by ONNX Runtime,
    the outputs fed to the parser built from the files ssd-export wrote."""
    pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from ssd_edge.cli.export import main as export_main
    from ssd_edge.models import build_model, save_checkpoint
    spec = default_spec("mb1-ssd", ("BACKGROUND", "person", "car"))
    ckpt = tmp_path / "mb1.pth"
    save_checkpoint(build_model(spec), spec, str(ckpt))
    assert export_main([str(ckpt), "--deepstream", "--no-check", "-q"]) == 0
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "nvdsinfer_custom_impl.h").write_text(
        '#include "%s"\n' % os.path.join(HERE, "nvdsinfer_test.h"))
    ds_dir = tmp_path / "mb1_deepstream"                   # ssd-export keeps them apart
    res = subprocess.run(["make", "-C", str(ds_dir), "DS_INCLUDES=%s" % shim,
                          "CXXFLAGS=-O2 -Werror"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    sess = ort.InferenceSession(str(tmp_path / "mb1.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(0, 1, (1, 3, 300, 300)).astype(np.float32)
    scores, boxes = (a[0] for a in sess.run(["scores", "boxes"], {"input_0": x}))
    thr = float(np.quantile(scores[:, 1:], 0.99))          # random weights: pick a busy threshold
    expected = postprocess(scores, boxes, frame_size=NET, conf_threshold=thr)
    assert len(expected) > 0
    out, dets, recheck = run_parser(harness, tmp_path, str(ds_dir / PARSER_LIB),
                                    "NvDsInferParseSsdEdge", [("scores", scores), ("boxes", boxes)],
                                    3, [thr] * 3, recheck=spec.nms.iou_threshold)
    assert out.returncode == 0, out.stderr
    assert_same(dets, expected)
    assert recheck == ["recheck_suppressed 0"]
