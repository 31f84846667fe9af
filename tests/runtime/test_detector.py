"""The Detector end to end: parity with a hand-written pipeline, settings, batching, NMS graphs."""
import numpy as np
import pytest

from tinymodels import LABELS, nms_graph, tiny_spec
from ssd_edge import postprocess
from ssd_edge.detections import Detections
from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime import Detector
from ssd_edge.runtime.artifact import open_artifact

ort = pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")


def reference_detections(path, spec, frame, conf, **kw):
    """pytorch-ssd's Predictor path written out: transform, session, per-class NMS."""
    img = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), spec.input_size[::-1])
    x = ((img.astype(np.float32) - np.float32(spec.mean)) / np.float32(spec.std))
    x = x.transpose(2, 0, 1)[None]
    scores, boxes = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        ["scores", "boxes"], {"input_0": x})
    return postprocess(scores[0], boxes[0], frame_size=(frame.shape[1], frame.shape[0]),
                       conf_threshold=conf, labels=list(spec.labels), **kw)


def assert_same(a, b, atol=1e-4):
    assert a.labels == b.labels
    np.testing.assert_array_equal(a.class_ids, b.class_ids)
    np.testing.assert_allclose(a.boxes, b.boxes, rtol=0, atol=atol)
    np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-6)


@pytest.fixture
def det(tiny):
    with Detector.load(tiny["onnx"], backend="ort", conf_threshold=0.3, max_detections=-1) as d:
        yield d


def test_matches_hand_written_pipeline(det, tiny, frames):
    assert det.spec == tiny["spec"] and det.precision == "fp32" and det.path == tiny["onnx"]
    for frame in frames:
        want = reference_detections(tiny["onnx"], tiny["spec"], frame, 0.3, max_detections=-1)
        got = det(frame)
        assert len(want) > 0
        assert_same(got, want)
    assert set(det.last_timings) == {"preprocess", "inference", "postprocess"}
    assert all(v > 0 for v in det.last_timings.values())


def test_thresholds_adjustable_after_load(det, tiny, frames):
    before = det(frames[0])
    det.conf_threshold, det.iou_threshold, det.top_k = 0.5, 0.2, 1
    after = det(frames[0])
    want = reference_detections(tiny["onnx"], tiny["spec"], frames[0], 0.5, iou_threshold=0.2,
                                top_k=1, max_detections=-1)
    assert_same(after, want)
    assert 0 < len(after) < len(before)
    det.max_detections = 2
    assert len(det(frames[0])) == 2


def test_class_filter(det, frames):
    full = det(frames[1])
    det.classes = ["car"]
    only = det(frames[1])
    assert set(only.labels) == {"car"}
    assert_same(only, full.select(full.class_ids == LABELS.index("car")))
    det.classes = None
    assert_same(det(frames[1]), full)
    with pytest.raises(SsdEdgeError, match="expected a class name of this model .*got 'cat'"):
        det.classes = ["cat"]


def _per_class_reference(path, spec, frame, thresholds, cap):
    """Each class with its own threshold, run separately, merged class-major, then capped."""
    parts = []
    for c in range(1, len(LABELS)):
        d = reference_detections(path, spec, frame, thresholds[c], max_detections=-1)
        parts.append(d.select(d.class_ids == c))
    merged = Detections(np.concatenate([p.boxes for p in parts]),
                        np.concatenate([p.scores for p in parts]),
                        np.concatenate([p.class_ids for p in parts]),
                        sum((p.labels for p in parts), []))
    if 0 <= cap < len(merged):
        merged = merged.select(np.sort(np.argsort(-merged.scores, kind="stable")[:cap]))
    return merged


@pytest.mark.parametrize("cap", [-1, 4])
def test_per_class_thresholds(tiny, frames, cap):
    thresholds = {"person": 0.55, "dog": 0.25}
    with Detector.load(tiny["onnx"], backend="ort", conf_threshold=0.4, max_detections=cap,
                       class_thresholds=thresholds) as d:
        for frame in frames[:3]:
            got = d(frame)
            want = _per_class_reference(tiny["onnx"], tiny["spec"], frame,
                                        [0, 0.55, 0.4, 0.25], cap)
            assert len(want) > 0
            assert_same(got, want)
            for c, t in ((1, 0.55), (2, 0.4), (3, 0.25)):
                assert (got.scores[got.class_ids == c] > t).all()


def test_detect_batch_equals_single_calls(det, frames):
    batch = det.detect_batch(frames)
    assert len(batch) == len(frames)
    for frame, got in zip(frames, batch):
        assert_same(got, det(frame))
    assert det.detect_batch([]) == []


@pytest.mark.parametrize("key,size", [("fixed", 1), ("fixed2", 2)])
def test_fixed_batch_graph_is_chunked_and_padded(det, tiny, frames, key, size):
    with Detector.load(tiny[key], backend="ort", conf_threshold=0.3, max_detections=-1) as fixed:
        assert fixed.backend.batch_size == size
        got = fixed.detect_batch(frames[:3])           # 3 frames: a padded last chunk for 2
        for g, w in zip(got, det.detect_batch(frames[:3])):
            assert_same(g, w)


def test_close_and_context_manager(tiny, frames):
    d = Detector.load(tiny["onnx"], backend="ort")
    with d:
        d(frames[0])
    assert d.backend is None
    with pytest.raises(SsdEdgeError, match="closed"):
        d(frames[0])
    d.close()                                          # closing twice is harmless


def test_auto_says_what_it_picked(tiny, caplog):
    caplog.set_level("INFO", logger="ssd_edge.runtime")
    with Detector.load(tiny["onnx"]) as d:
        assert d.backend_name in ("ort", "trt", "openvino", "opencv")
        assert d.backend_reason
        assert any(d.backend_name in r.getMessage() and d.backend_reason in r.getMessage()
                   for r in caplog.records)
        assert d.backend_name in repr(d)


NMS_BOXES = [[0.1, 0.1, 0.5, 0.5], [0.11, 0.1, 0.5, 0.52], [0.6, 0.2, 0.9, 0.8],
             [0.0, 0.0, 0.2, 0.2], [0.3, 0.3, 0.7, 0.7], [0.5, 0.5, 0.6, 0.6]]
NMS_SCORES = [0.9, 0.85, 0.7, 0.35, 0.6, 0.99]
NMS_CLASSES = [1, 1, 2, 3, 3, 2]


@pytest.fixture
def nms_model(tmp_path):
    pytest.importorskip("onnx")
    # Rows 0 and 1 overlap (IoU > 0.9, same class): a second NMS would drop row 1. Row 5 lies
    # past num_detections and must be ignored whatever its score.
    return nms_graph(str(tmp_path / "nms.onnx"), tiny_spec(), [5], NMS_BOXES, NMS_SCORES,
                     NMS_CLASSES)


def test_nms_graph_maps_to_detections_without_second_nms(nms_model):
    frame = np.zeros((200, 400, 3), np.uint8)
    with Detector.load(nms_model, backend="ort", conf_threshold=0.4) as d:
        assert open_artifact(nms_model).has_nms and d._layout == "nms"
        got = d(frame)
        keep = [0, 1, 2, 4]                                  # row 3 is below 0.4
        np.testing.assert_array_equal(got.class_ids, [NMS_CLASSES[i] for i in keep])
        np.testing.assert_allclose(got.scores, [NMS_SCORES[i] for i in keep], atol=1e-7)
        want = np.array([NMS_BOXES[i] for i in keep], np.float32) * [400, 200, 400, 200]
        np.testing.assert_allclose(got.boxes, want, atol=1e-4)
        assert got.labels == [LABELS[NMS_CLASSES[i]] for i in keep]
        d.classes = ["dog"]
        assert d(frame).labels == ["dog"]
        d.classes, d.conf_threshold, d.max_detections = None, 0.3, 2
        capped = d(frame)
        np.testing.assert_allclose(capped.scores, [0.9, 0.85], atol=1e-7)
        d.max_detections, d.class_thresholds = -1, {"person": 0.88, "dog": 0.3}
        np.testing.assert_allclose(d(frame).scores, [0.9, 0.7, 0.35, 0.6], atol=1e-7)


class FrameOwningBackendDouble:
    """Test double for a backend that owns the whole frame path (the future torch-on-CUDA
    path): it records what the Detector hands it and returns one empty result per frame."""

    inputs, outputs = ["input_0"], ["scores", "boxes"]
    precision = "fp16"
    owns_frame_path = True

    def __init__(self):
        self.calls = []
        self.last_timings = {"preprocess": 1.0, "inference": 2.0, "postprocess": 3.0}

    def detect_batch(self, frames, options):
        self.calls.append((len(frames), options))
        return [Detections.empty() for _ in frames]

    def __call__(self, feeds):
        raise AssertionError("the Detector must prefer detect_batch")

    def close(self):
        pass


def test_detector_prefers_backend_detect_batch(tiny, frames):
    art = open_artifact(tiny["onnx"])
    double = FrameOwningBackendDouble()
    d = Detector(art, double, "double", conf_threshold=0.25, classes=["car"])
    out = d.detect_batch(frames[:3])
    assert len(out) == 3 and d.precision == "fp16"
    n, options = double.calls[0]
    assert n == 3 and options.conf_threshold == 0.25 and options.labels == LABELS
    assert options.thresholds[LABELS.index("car")] == 0.25
    assert options.thresholds[LABELS.index("person")] == float("inf")
    assert d.last_timings == double.last_timings


def test_exported_onnx_nms_graph_agrees_with_cpu_postprocess(tiny, frames, tmp_path):
    """The export's ``--nms onnx`` graph on the tiny model gives the CPU Predictor's detections."""
    onnx = pytest.importorskip("onnx")
    nms = pytest.importorskip("ssd_edge.export.nms_graph", reason="needs the export package")
    model = onnx.load(tiny["onnx"])
    spec = tiny["spec"]
    nms.add_onnx_nms(model, spec.num_priors, spec.num_classes, 0.3, 0.45, 200, -1, 200)
    path = str(tmp_path / "tiny.nms.onnx")
    onnx.save(model, path)
    with Detector.load(path, backend="ort", conf_threshold=0.3) as d, \
            Detector.load(tiny["onnx"], backend="ort", conf_threshold=0.3) as ref:
        assert d._layout == "nms" and d.graph_nms["iou_threshold"] == 0.45
        for frame in frames[:3]:
            got, want = d(frame), ref(frame)
            assert len(want) > 0
            # Same set; the graph orders by score, the Predictor class by class.
            g = np.lexsort((-got.scores, got.class_ids))
            w = np.lexsort((-want.scores, want.class_ids))
            np.testing.assert_array_equal(got.class_ids[g], want.class_ids[w])
            np.testing.assert_allclose(got.scores[g], want.scores[w], atol=1e-6)
            np.testing.assert_allclose(got.boxes[g], want.boxes[w], atol=1e-3)


def test_owns_frame_path_false_means_tensor_path(tiny, frames):
    """A backend instance with detect_batch but owns_frame_path False (torch on the CPU, say)
    is fed tensors."""
    art = open_artifact(tiny["onnx"])
    from ssd_edge.runtime.backends import backend_class
    backend = backend_class("ort")(art)
    backend.detect_batch = lambda frames, options: []
    backend.owns_frame_path = False
    with Detector(art, backend, "ort", conf_threshold=0.3) as d, \
            Detector.load(tiny["onnx"], backend="ort", conf_threshold=0.3) as ref:
        assert_same(d(frames[0]), ref(frames[0]))
        assert d.last_timings["preprocess"] > 0


def test_post_processing_defaults_come_from_the_spec(tiny, frames, tmp_path):
    onnx = pytest.importorskip("onnx")
    from ssd_edge.export.metadata import set_spec
    from ssd_edge.spec import NmsDefaults
    own = NmsDefaults(conf_threshold=0.55, iou_threshold=0.3, candidate_size=50, top_k=2,
                      max_detections=3)
    model = onnx.load(tiny["onnx"])
    set_spec(model, tiny["spec"].replace(nms=own))
    path = str(tmp_path / "own-nms.onnx")
    onnx.save(model, path)
    with Detector.load(path, backend="ort") as det:
        assert (det.conf_threshold, det.iou_threshold, det.candidate_size, det.top_k,
                det.max_detections) == (0.55, 0.3, 50, 2, 3)
        want = reference_detections(path, tiny["spec"], frames[0], 0.55, iou_threshold=0.3,
                                    candidate_size=50, top_k=2, max_detections=3)
        assert_same(det(frames[0]), want)
    with Detector.load(path, backend="ort", conf_threshold=0.2) as det:   # one given: it wins
        assert (det.conf_threshold, det.iou_threshold, det.top_k) == (0.2, 0.3, 2)
    options = NmsDefaults(conf_threshold=0.35, iou_threshold=0.5, top_k=-1, max_detections=-1)
    with Detector.load(path, backend="ort", nms=options, iou_threshold=0.6) as det:
        assert (det.conf_threshold, det.iou_threshold, det.candidate_size,
                det.max_detections) == (0.35, 0.6, 200, -1)
    with pytest.raises(SsdEdgeError, match="expected nms as an ssd_edge.spec.NmsDefaults"):
        Detector.load(path, backend="ort", nms={"conf_threshold": 0.3})
