"""The torch backend's frame path (ssd_edge.runtime.torch_gpu / torch_nms) against the CPU path.

The same torch code runs on CPU tensors, so everything but the CUDA-only parts (FP16, CUDA
graphs, timings by CUDA events) is checked here on the CPU:

* torch NMS gives exactly ``ssd_edge.postprocess``'s detections (classes, bit-equal boxes and
  scores, order) on random and adversarial outputs, for every option;
* the torch resize + normalisation is within 1 grey level of ``cv2.resize`` (``1 / std`` after
  normalisation), and identical when no resize is needed;
* the whole frame path equals the Detector's numpy path when no resize is involved.

Tests marked ``gpu`` repeat the comparisons on a CUDA device and check FP32 boxes within 1e-2 px
of the CPU's and FP16 detections agreeing with FP32 ones on >= 99 %.
"""
import numpy as np
import pytest

from tinymodels import LABELS, make_frames
from ssd_edge import postprocess
from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.postprocess import DetectOptions, decoded_to_detections

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
from ssd_edge.runtime.torch_gpu import FramePath, TorchPreprocessor, network  # noqa: E402
from ssd_edge.runtime.torch_nms import postprocess_batch, postprocess_options  # noqa: E402

SIZE = (640, 480)


# ------------------------------------------------------------------ helpers
def random_outputs(rng, b=3, p=400, c=6, spread=2.0):
    logits = rng.normal(size=(b, p, c)) * spread
    s = np.exp(logits)
    s = (s / s.sum(-1, keepdims=True)).astype(np.float32)
    cxcy, wh = rng.uniform(0, 1, (b, p, 2)), rng.uniform(0.05, 0.5, (b, p, 2))
    return s, np.concatenate([cxcy - wh / 2, cxcy + wh / 2], -1).astype(np.float32)


def adversarial_outputs(rng, b=4, p=300, c=5):
    """Ties everywhere (scores on a 1/16 grid), few distinct boxes (IoU exactly 1 between
    copies, nested and touching boxes), degenerate boxes, and an image without any candidate."""
    s = (rng.integers(0, 16, (b, p, c)) / 16.0).astype(np.float32)
    s[1, :, 1:] = 0.5                          # one image: every score of every class equal
    s[3] = 0.0                                 # one image: no candidate at all
    base = np.array([[0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.4, 0.4],
                     [0.5, 0.1, 0.9, 0.5], [0.1, 0.1, 0.5, 0.3], [0.3, 0.3, 0.3, 0.6],
                     [0.6, 0.6, 0.2, 0.2], [-0.2, -0.1, 1.3, 1.1], [0.1, 0.1, 0.5, 0.4999]],
                    np.float32)
    boxes = base[rng.integers(0, len(base), (b, p))]
    jitter = rng.integers(0, 3, (b, p, 1)).astype(np.float32) * np.float32(0.05)
    return s, (boxes + jitter).astype(np.float32)


OPTIONS = [
    {},
    {"conf_threshold": 0.01, "max_detections": -1},
    {"conf_threshold": 0.05, "top_k": 3},
    {"conf_threshold": 0.05, "max_detections": 7},
    {"conf_threshold": 0.05, "max_detections": 0},
    {"conf_threshold": 0.05, "candidate_size": 1},
    {"conf_threshold": 0.05, "candidate_size": 5, "iou_threshold": 0.0},
    {"conf_threshold": 0.05, "iou_threshold": 1.0, "max_detections": -1},
    {"conf_threshold": 0.1, "iou_threshold": 0.3, "top_k": 2, "max_detections": 5},
    {"conf_threshold": 0.05, "class_agnostic": True},
    {"conf_threshold": 0.1, "class_agnostic": True, "max_detections": 5, "top_k": 4,
     "candidate_size": 30},
    {"conf_threshold": 0.01, "class_agnostic": True, "max_detections": -1},
    {"conf_threshold": 0.2, "method": "soft", "max_detections": 20},
]


def assert_identical(got, want):
    assert got.labels == want.labels
    np.testing.assert_array_equal(got.class_ids, want.class_ids)
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_array_equal(got.scores, want.scores)


def check_nms(scores, boxes, device, **kw):
    labels = ["BACKGROUND"] + ["c%d" % i for i in range(1, scores.shape[2])]
    sizes = [SIZE] * len(scores)
    got = postprocess_batch(torch.from_numpy(scores).to(device), torch.from_numpy(boxes).to(device),
                            sizes, labels=labels, **kw)
    assert len(got) == len(scores)
    total = 0
    for i, g in enumerate(got):
        want = postprocess(scores[i], boxes[i], frame_size=SIZE, labels=labels, **kw)
        assert_identical(g, want)
        total += len(want)
    return total


def agreement(a, b, min_iou=0.5):
    """Share of detections matched one to one (same class, IoU >= min_iou): 2m / (|a| + |b|)."""
    if len(a) + len(b) == 0:
        return 1.0
    used, matched = set(), 0
    for i in np.argsort(-a.scores, kind="stable"):
        best, best_iou = None, min_iou
        for j in range(len(b)):
            if j in used or b.class_ids[j] != a.class_ids[i]:
                continue
            lt = np.maximum(a.boxes[i, :2], b.boxes[j, :2])
            rb = np.minimum(a.boxes[i, 2:], b.boxes[j, 2:])
            inter = np.prod(np.clip(rb - lt, 0, None))
            union = (np.prod(a.boxes[i, 2:] - a.boxes[i, :2]) +
                     np.prod(b.boxes[j, 2:] - b.boxes[j, :2]) - inter)
            iou = inter / union if union > 0 else 0.0
            if iou >= best_iou:
                best, best_iou = j, iou
        if best is not None:
            used.add(best)
            matched += 1
    return 2.0 * matched / (len(a) + len(b))


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A zoo mb1-ssd-lite at 64 px with spread random weights saved as a checkpoint: ``(pth,
    spec)``. Every conv x2.2 (at init the signal fades through the depth and every frame gives
    the same detections) and the class heads x4 (scores past the thresholds)."""
    models = pytest.importorskip("ssd_edge.models")
    spec = models.build_spec("mb1-ssd-lite", LABELS, resolution=64)
    torch.manual_seed(0)
    model = models.build_model(spec).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(2.2)
        for head in model.classification_headers:
            (head[-1] if isinstance(head, torch.nn.Sequential) else head).weight.mul_(4.0)
    pth = str(tmp_path_factory.mktemp("zoo_gpu_path") / "zoo.pth")
    return pth, models.save_checkpoint(model, spec, pth)


def load_model(pth, device="cpu"):
    from ssd_edge.models import load_checkpoint
    return load_checkpoint(pth)[0].eval().to(device)


def options(conf=0.3, **kw):
    base = dict(conf_threshold=conf, iou_threshold=0.45, candidate_size=200, top_k=-1,
                max_detections=200, labels=LABELS, thresholds=None)
    base.update(kw)
    return DetectOptions(**base)


def input_sized_frames(spec, n=4, seed=3):
    h, w = spec.input_size
    return make_frames(n, seed=seed, sizes=((h, w),))


# ------------------------------------------------------------------ NMS (CPU tensors)
@pytest.mark.parametrize("kw", OPTIONS, ids=lambda kw: ",".join("%s=%s" % i for i in kw.items())
                         or "defaults")
def test_torch_nms_equals_numpy_on_random_outputs(kw):
    rng = np.random.default_rng(0)
    scores, boxes = random_outputs(rng)
    assert check_nms(scores, boxes, "cpu", **kw) > 0 or kw.get("max_detections") == 0


@pytest.mark.parametrize("kw", OPTIONS, ids=lambda kw: ",".join("%s=%s" % i for i in kw.items())
                         or "defaults")
def test_torch_nms_equals_numpy_on_adversarial_outputs(kw):
    rng = np.random.default_rng(1)
    scores, boxes = adversarial_outputs(rng)
    assert check_nms(scores, boxes, "cpu", **kw) > 0 or kw.get("max_detections") == 0


def test_torch_nms_many_overlapping_boxes_long_suppression_chains():
    # Boxes sliding by a small step: each overlaps its neighbours above the threshold, so the
    # greedy result depends on long chains (the fixed point needs many rounds).
    p = 250
    x = np.arange(p, dtype=np.float32) * np.float32(0.002)
    boxes = np.stack([x, np.zeros(p, np.float32), x + 0.1, np.full(p, 0.1, np.float32)], 1)
    scores = np.zeros((2, p, 3), np.float32)
    scores[:, :, 1] = np.linspace(0.9, 0.5, p, dtype=np.float32)
    scores[1, :, 2] = 0.7                                  # a fully tied class as well
    batch = np.stack([boxes, boxes[::-1].copy()])
    for kw in ({"iou_threshold": 0.45}, {"iou_threshold": 0.9, "max_detections": -1},
               {"iou_threshold": 0.45, "class_agnostic": True}):
        assert check_nms(scores, batch, "cpu", **kw) > 1


def test_torch_nms_iou_exactly_at_the_threshold():
    # IoU equal to the threshold (in float32, as both compute it) does not suppress; one ulp
    # below it does.
    from ssd_edge.boxes import iou
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 0.5], [0, 0.5, 1, 1]]], np.float32)
    scores = np.array([[[0, 0.9], [0, 0.8], [0, 0.7]]], np.float32)
    v = np.float32(iou(boxes[0, 0], boxes[0, 1]))
    assert v == np.float32(iou(boxes[0, 0], boxes[0, 2]))
    assert check_nms(scores, boxes, "cpu", iou_threshold=float(v)) == 3
    assert check_nms(scores, boxes, "cpu",
                     iou_threshold=float(np.nextafter(v, np.float32(0)))) == 1


def test_torch_nms_without_any_candidate():
    scores = np.zeros((2, 50, 4), np.float32)
    boxes = np.zeros((2, 50, 4), np.float32)
    for agnostic in (False, True):
        out = postprocess_batch(torch.from_numpy(scores), torch.from_numpy(boxes), [SIZE] * 2,
                                class_agnostic=agnostic)
        assert [len(d) for d in out] == [0, 0]


def test_options_path_equals_decoded_to_detections():
    rng = np.random.default_rng(2)
    scores, boxes = random_outputs(rng, c=len(LABELS))
    cases = [options(0.2), options(0.05, top_k=2, max_detections=9),
             options(0.2, thresholds=(0.2, 0.6, 0.1, float("inf"))),
             options(0.2, thresholds=(0.2, float("inf"), float("inf"), float("inf")))]
    for opt in cases:
        got = postprocess_options(torch.from_numpy(scores), torch.from_numpy(boxes),
                                  [SIZE] * len(scores), opt)
        for i, g in enumerate(got):
            assert_identical(g, decoded_to_detections(scores[i], boxes[i], SIZE, opt))


# ------------------------------------------------------------------ preprocessing
def torch_resize(frame, size_hw):
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    y = torch.nn.functional.interpolate(x, size=size_hw, mode="bilinear", align_corners=False,
                                        antialias=False)
    return y.round().clamp(0, 255)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("src,dst", [((480, 640), (300, 300)), ((97, 151), (64, 64)),
                                     ((128, 128), (64, 64)), ((40, 50), (64, 64)),
                                     ((480, 640), (240, 320))])
def test_torch_resize_within_one_grey_level_of_cv2(src, dst):
    frame = make_frames(1, seed=5, sizes=(src,))[0]
    want = cv2.resize(frame, dst[::-1], interpolation=cv2.INTER_LINEAR).astype(np.float32)
    diff = np.abs(torch_resize(frame, dst) - want)
    assert diff.max() <= 1.0
    assert (diff > 0).mean() < 0.25               # OpenCV's fixed-point rounding, not a shift


def test_torch_preprocessor_matches_numpy_preprocessor(zoo):
    from ssd_edge.runtime.preprocess import Preprocessor
    _, spec = zoo
    frames = make_frames(5) + input_sized_frames(spec, 1)
    x, sizes = TorchPreprocessor(spec, "cpu")(frames)
    want = Preprocessor(spec)(frames)
    assert x.dtype == torch.float32 and tuple(x.shape) == want.shape
    assert sizes == [(f.shape[1], f.shape[0]) for f in frames]
    tol = 1.0 / min(spec.std) + 1e-6
    assert np.abs(x.numpy() - want).max() <= tol
    np.testing.assert_array_equal(x.numpy()[-1], want[-1])   # no resize: identical


def test_torch_preprocessor_tensor_batch_equals_list(zoo):
    _, spec = zoo
    frames = make_frames(3, sizes=((480, 640),))
    pre = TorchPreprocessor(spec, "cpu")
    a, sa = pre(frames)
    b, sb = pre(torch.from_numpy(np.stack(frames)))
    c, _ = pre([torch.from_numpy(f) for f in frames])
    d, _ = pre([frames[0], torch.from_numpy(frames[1]), frames[2]])
    assert sa == sb == [SIZE] * 3
    assert torch.equal(a, b) and torch.equal(a, c) and torch.equal(a, d)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8),
                                 torch.zeros(2, 4, 4, 3),
                                 torch.zeros(2, 4, 4, 1, dtype=torch.uint8)])
def test_torch_preprocessor_rejects_bad_frames_with_one_line(zoo, bad):
    pre = TorchPreprocessor(zoo[1], "cpu")
    with pytest.raises(SsdEdgeError) as e:
        pre(bad if isinstance(bad, torch.Tensor) else [bad])
    assert "expected" in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------ whole path (CPU)
def test_frame_path_equals_detector_numpy_path_without_resize(zoo):
    from ssd_edge.runtime import Detector
    pth, spec = zoo
    frames = input_sized_frames(spec, 4)
    with Detector.load(pth, backend="torch", device="cpu", conf_threshold=0.3) as det:
        assert det.backend.owns_frame_path is False            # CPU: the Detector's numpy path
        want = det.detect_batch(frames)
        got = FramePath(det.backend.model, spec, torch.device("cpu")).detect(frames,
                                                                             det.options())
    assert sum(len(w) for w in want) > 0
    assert len({tuple(w.class_ids) for w in want}) > 1       # detections depend on the frame
    for g, w in zip(got, want):
        assert_identical(g, w)


def test_frame_path_close_to_detector_with_resize(zoo):
    from ssd_edge.runtime import Detector
    pth, spec = zoo
    frames = make_frames(4)
    with Detector.load(pth, backend="torch", device="cpu", conf_threshold=0.3) as det:
        want = det.detect_batch(frames)
        path = FramePath(det.backend.model, spec, torch.device("cpu"))
        got = path.detect(frames, det.options())
    assert set(path.last_timings) == {"preprocess", "inference", "postprocess"}
    # Inputs differ by at most one grey level (resize rounding), so detections nearly agree.
    for g, w in zip(got, want):
        assert len(w) > 0 and agreement(g, w) >= 0.9


class _PathBackend:
    """A backend owning the frame path on the CPU (what torch on CUDA is), for the Detector."""

    inputs, outputs, precision = ["input_0"], ["scores", "boxes"], "fp32"
    owns_frame_path = True

    def __init__(self, path):
        self.path = path

    @property
    def last_timings(self):
        return self.path.last_timings

    def detect_batch(self, frames, options):
        return self.path.detect(frames, options)

    def close(self):
        pass


def test_detector_passes_tensor_frames_to_a_frame_path_backend(zoo):
    from ssd_edge.runtime import Detector
    from ssd_edge.runtime.artifact import open_artifact
    pth, spec = zoo
    art = open_artifact(pth)
    det = Detector(art, _PathBackend(FramePath(load_model(pth), spec, torch.device("cpu"))),
                   "torch", conf_threshold=0.3)
    frames = make_frames(3, sizes=((480, 640),))
    from_list = det.detect_batch(frames)
    from_tensor = det.detect_batch(torch.from_numpy(np.stack(frames)))
    assert sum(len(d) for d in from_list) > 0
    for a, b in zip(from_list, from_tensor):
        assert_identical(a, b)
    assert det.last_timings["inference"] > 0
    one = det(frames[1])                        # batch 1: other conv blocking, same detections
    np.testing.assert_array_equal(one.class_ids, from_list[1].class_ids)
    np.testing.assert_allclose(one.boxes, from_list[1].boxes, rtol=0, atol=1e-3)


def test_network_fp32_is_the_module_forward(zoo):
    pth, spec = zoo
    model = load_model(pth)
    x = torch.randn(2, 3, *spec.input_size)
    with torch.no_grad():
        want = model(x)
        got = network(model)(x)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_network_fp16_runs_the_heads_in_fp16_and_decodes_in_fp32(zoo):
    """The FP16 path is the module's own split: FP16 ``heads``, then ``decode`` in float32 on
    priors copied before ``.half()`` rounded them (run on CPU tensors here; FramePath only
    offers it on CUDA)."""
    pth, spec = zoo
    model = load_model(pth)
    priors = model.priors.clone()
    x = torch.randn(2, 3, *spec.input_size)
    with torch.no_grad():
        want = model(x)
        run = network(model, half=True)
        assert next(model.parameters()).dtype == torch.float16
        try:
            got = run(x.half())
        except RuntimeError as e:        # an FP16 kernel this CPU build of torch lacks
            pytest.skip("FP16 convolutions do not run on this CPU: %s" % e)
        conf, loc = model.heads(x.half())
        exact = model.decode(conf.float(), loc.float(), priors)
    assert got[0].dtype == got[1].dtype == torch.float32
    assert torch.equal(got[0], exact[0]) and torch.equal(got[1], exact[1])
    np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=0, atol=0.05)
    np.testing.assert_allclose(got[1].numpy(), want[1].numpy(), rtol=0, atol=0.05)


def test_cuda_only_options_refused_on_the_cpu(zoo, tiny):
    from ssd_edge.runtime import Detector
    pth, spec = zoo
    for kw in ({"fp16": True}, {"cuda_graph": True}):
        with pytest.raises(SsdEdgeError) as e:
            Detector.load(pth, backend="torch", device="cpu", **kw)
        assert "CUDA" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SsdEdgeError) as e:
        Detector.load(tiny["onnx"], backend="ort", fp16=True)
    assert "torch backend" in str(e.value)
    with pytest.raises(SsdEdgeError):
        FramePath(load_model(pth), spec, torch.device("cpu"), half=True)


def test_live_cli_device_and_precision_flags():
    from ssd_edge.cli.live import build_parser, detector_kwargs
    kw = detector_kwargs(build_parser().parse_args(["--device", "cuda:0", "--fp32",
                                                    "--compile", "--backend", "torch"]))
    assert kw["device"] == "cuda:0" and kw["fp16"] is False and kw["torch_compile"] is True
    kw = detector_kwargs(build_parser().parse_args(["--fp16"]))
    assert kw["fp16"] is True and "device" not in kw and "torch_compile" not in kw
    assert "fp16" not in detector_kwargs(build_parser().parse_args([]))


# ------------------------------------------------------------------ CUDA
def _cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return torch.device("cuda")


@pytest.fixture
def no_tf32():
    """FP32 on the GPU compared with the CPU: TF32 convolutions (torch's default for cuDNN)
    would round inputs to 10-bit mantissas."""
    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


@pytest.mark.gpu
@pytest.mark.parametrize("kw", OPTIONS[:-1], ids=lambda kw: ",".join("%s=%s" % i for i in
                                                                       kw.items()) or "defaults")
def test_cuda_nms_equals_numpy(kw):
    dev = _cuda()
    for seed, make in ((0, random_outputs), (1, adversarial_outputs)):
        scores, boxes = make(np.random.default_rng(seed))
        check_nms(scores, boxes, dev, **kw)


@pytest.mark.gpu
def test_cuda_preprocessing_within_one_grey_level():
    from ssd_edge.runtime.preprocess import Preprocessor
    from ssd_edge.models import build_spec
    dev = _cuda()
    spec = build_spec("mb1-ssd", LABELS)
    frames = make_frames(4)
    tol = 1.0 / min(spec.std) + 1e-6
    got, _ = TorchPreprocessor(spec, dev)(frames)
    assert got.is_cuda
    assert np.abs(got.cpu().numpy() - Preprocessor(spec)(frames)).max() <= tol
    same = make_frames(2, sizes=((480, 640),))
    got, _ = TorchPreprocessor(spec, dev)(torch.from_numpy(np.stack(same)).to(dev))
    assert np.abs(got.cpu().numpy() - Preprocessor(spec)(same)).max() <= tol


@pytest.mark.gpu
def test_cuda_fp32_detections_equal_cpu(zoo, no_tf32):
    from ssd_edge.runtime import Detector
    dev = _cuda()
    pth, spec = zoo
    sized, big = input_sized_frames(spec, 4), make_frames(4, sizes=((480, 640),))
    with Detector.load(pth, backend="torch", device="cpu", conf_threshold=0.3) as cpu, \
            Detector.load(pth, backend="torch", device="cuda", fp16=False,
                          conf_threshold=0.3) as gpu:
        assert gpu.precision == "fp32" and gpu.backend.owns_frame_path
        cpu_path = FramePath(cpu.backend.model, spec, torch.device("cpu"))
        pairs = list(zip(gpu.detect_batch(sized), cpu.detect_batch(sized)))
        on_device = torch.from_numpy(np.stack(big)).to(dev)
        pairs += list(zip(gpu.detect_batch(on_device), cpu_path.detect(big, cpu.options())))
    assert sum(len(c) for _, c in pairs) > 0
    for g, c in pairs:
        np.testing.assert_array_equal(g.class_ids, c.class_ids)
        np.testing.assert_allclose(g.boxes, c.boxes, rtol=0, atol=1e-2)


@pytest.mark.gpu
def test_cuda_fp16_agrees_with_fp32(zoo):
    from ssd_edge.runtime import Detector
    _cuda()
    pth, _ = zoo
    frames = make_frames(16, seed=7)
    with Detector.load(pth, backend="torch", device="cpu", conf_threshold=0.3) as cpu, \
            Detector.load(pth, backend="torch", device="cuda", fp16=True,
                          conf_threshold=0.3) as gpu:
        assert gpu.precision == "fp16"
        got, want = gpu.detect_batch(frames), cpu.detect_batch(frames)
    n = sum(len(w) for w in want)
    matched = sum(agreement(g, w) * (len(g) + len(w)) / 2 for g, w in zip(got, want))
    assert n > 50 and matched / n >= 0.99


@pytest.mark.gpu
def test_cuda_graph_replay_equals_eager(zoo):
    dev = _cuda()
    pth, spec = zoo
    frames = make_frames(6, sizes=((480, 640),))
    eager = FramePath(load_model(pth, dev), spec, dev, cuda_graph=False)
    graph = FramePath(load_model(pth, dev), spec, dev, cuda_graph=True)
    opts = options()
    for batch in (frames[:1], frames, frames[:1]):          # two shapes, replayed again
        for a, b in zip(graph.detect(batch, opts), eager.detect(batch, opts)):
            assert_identical(a, b)
    assert graph.net is not graph.eager                        # still replaying graphs
