"""One conformance test over every registered backend, against ONNX Runtime on the CPU.

Each backend runs the same tiny model (the torch backend: a zoo checkpoint and the ONNX exported
from the same weights) on the same frames; raw outputs and the final Detections must agree with
ONNX Runtime's. Backends whose package is missing, or that need hardware absent here, skip.
"""
import numpy as np
import pytest

from tinymodels import LABELS, export_onnx
from ssd_edge.runtime import Detector
from ssd_edge.runtime.artifact import open_artifact
from ssd_edge.runtime.backends import BACKENDS, KINDS, PACKAGES, backend_class, is_installed
from ssd_edge.runtime.backends.select import probe_hardware
from ssd_edge.runtime.preprocess import Preprocessor


@pytest.fixture(scope="module")
def zoo_pair(tmp_path_factory):
    """A zoo checkpoint (mb1-ssd-lite at 64 px, random weights) and its ONNX export."""
    pytest.importorskip("torch")
    models = pytest.importorskip("ssd_edge.models", reason="needs the model zoo (ssd_edge.models)")
    import torch
    d = tmp_path_factory.mktemp("zoo")
    spec = models.build_spec("mb1-ssd-lite", LABELS, resolution=64)
    torch.manual_seed(0)
    model = models.build_model(spec).eval()
    with torch.no_grad():
        for head in model.classification_headers:   # spread the scores past the thresholds
            last = head[-1] if isinstance(head, torch.nn.Sequential) else head
            last.weight.mul_(8.0)
    pth = str(d / "zoo.pth")
    spec = models.save_checkpoint(model, spec, pth)
    onnx_path = export_onnx(model, spec, str(d / "zoo.onnx"))
    return pth, onnx_path


@pytest.fixture(scope="module")
def mobile_files(zoo_pair, tmp_path_factory):
    """``make(kind)``: the zoo checkpoint converted to LiteRT or ncnn (FP32) as ssd-export
    writes it, once per kind; skips when that kind's converter is missing."""
    from ssd_edge.models import load_checkpoint
    d = tmp_path_factory.mktemp("mobile")
    model, spec = load_checkpoint(zoo_pair[0])
    made = {}

    def make(kind):
        if kind not in made:
            if kind == "tflite":
                pytest.importorskip("litert_torch", reason="needs ssd-edge[mobile] to convert")
                from ssd_edge.export.tflite import export_tflite
                made[kind] = export_tflite(model, spec, str(d / "zoo.tflite"))
            else:
                pytest.importorskip("pnnx", reason="needs ssd-edge[mobile] to convert")
                from ssd_edge.export.ncnn import export_ncnn
                made[kind] = export_ncnn(model, spec, str(d / "zoo.ncnn.param"))
        return made[kind]
    return make


# The mobile backends' files are converted first (litert-torch, pnnx: tens of seconds); triton
# starts a real tritonserver (tens of seconds): neither is part of `make test-quick`.
ALL_BACKENDS = [pytest.param(n, marks=pytest.mark.slow) if n in ("litert", "ncnn", "triton")
                else n for n in BACKENDS]


def _skip_unless_runnable(name):
    if not is_installed(name):
        pytest.skip("%s is not installed (pip install \"ssd-edge[%s]\")" % PACKAGES[name])
    if name == "trt" and not probe_hardware().cuda_gpu:
        pytest.skip("the trt backend needs TensorRT and a CUDA GPU; its control flow is tested "
                    "against fakes in test_trt_backend*.py")


def _paths(name, tiny, request):
    """(path the backend runs, ONNX that ONNX Runtime runs as the reference)."""
    if "pth" in KINDS[name]:
        pth, onnx_path = request.getfixturevalue("zoo_pair")
        return pth, onnx_path
    if "triton" in KINDS[name]:
        # The tiny ONNX served by a real tritonserver (python backend), as ssd-export writes it.
        return request.getfixturevalue("tiny_triton_url"), tiny["onnx"]
    for kind in ("tflite", "ncnn"):       # converted from the zoo checkpoint, not from ONNX
        if kind in KINDS[name]:
            return request.getfixturevalue("mobile_files")(kind), \
                request.getfixturevalue("zoo_pair")[1]
    return tiny["onnx"], tiny["onnx"]


def _tolerance(backend):
    # FP16 (torch on CUDA, TensorRT fp16 tactics) is compared loosely, FP32 tightly.
    return 2e-2 if getattr(backend, "precision", "fp32") == "fp16" else 1e-4


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_raw_outputs_match_onnxruntime(name, tiny, frames, request):
    _skip_unless_runnable(name)
    pytest.importorskip("onnxruntime")
    path, ref_path = _paths(name, tiny, request)
    art = open_artifact(path)
    ref = backend_class("ort")(open_artifact(ref_path), device="cpu")
    backend = backend_class(name)(art)
    try:
        assert list(backend.outputs)[:2] == ["scores", "boxes"]
        assert backend.inputs == ["input_0"]
        batch = Preprocessor(art.spec)(frames[:2])
        got = backend({backend.inputs[0]: batch})
        want = ref({"input_0": batch})
        tol = _tolerance(backend)
        for key in ("scores", "boxes"):
            assert got[key].dtype == np.float32
            assert got[key].shape == want[key].shape == (2, want[key].shape[1],
                                                         len(LABELS) if key == "scores" else 4)
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=tol, err_msg=key)
    finally:
        backend.close()
        ref.close()


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_detections_match_onnxruntime(name, tiny, frames, request):
    _skip_unless_runnable(name)
    pytest.importorskip("onnxruntime")
    path, ref_path = _paths(name, tiny, request)
    with Detector.load(path, backend=name, conf_threshold=0.3) as det, \
            Detector.load(ref_path, backend="ort", device="cpu", conf_threshold=0.3) as ref:
        assert det.backend_name == name
        got, want = det.detect_batch(frames), ref.detect_batch(frames)
        assert sum(len(d) for d in want) > 0          # the comparison below is not vacuous
        px = 0.5 if _tolerance(det.backend) > 1e-3 else 1e-2
        for g, w, f in zip(got, want, frames):
            assert g.labels == w.labels
            np.testing.assert_array_equal(g.class_ids, w.class_ids)
            np.testing.assert_allclose(g.boxes, w.boxes, rtol=0, atol=px)
            np.testing.assert_allclose(g.scores, w.scores, rtol=0, atol=_tolerance(det.backend))
            # boxes are pixel coordinates of this frame, not of the network input
            assert g.boxes.size == 0 or g.boxes[:, 2].max() > det.spec.input_size[1]


@pytest.mark.parametrize("name", ["ort", "openvino"])
def test_int8_qdq_runs_close_to_fp32(name, tiny, tiny_int8, frames):
    _skip_unless_runnable(name)
    art = open_artifact(tiny_int8)
    assert art.precision == "int8"
    backend = backend_class(name)(art)
    fp32 = backend_class("ort")(open_artifact(tiny["onnx"]), device="cpu")
    batch = Preprocessor(art.spec)(frames[:2])
    got, want = backend({"input_0": batch}), fp32({"input_0": batch})
    # INT8 is an approximation: scores within a few hundredths of FP32 on this tiny net.
    assert np.abs(got["scores"] - want["scores"]).max() < 0.08
    assert np.abs(got["boxes"] - want["boxes"]).max() < 0.08
    backend.close()
    fp32.close()


def test_openvino_runs_fp16_in_the_cpus_half_precision_and_fp32_in_f32(tiny, tiny_fp16, frames):
    """FP32 artifacts are pinned to f32 (parity with the other backends even on bf16 CPUs); an
    FP16 artifact runs in bf16 where the CPU has it, f32 elsewhere, and says which."""
    _skip_unless_runnable("openvino")
    art = open_artifact(tiny_fp16)
    assert art.precision == "fp16"
    want = "bf16" if probe_hardware().bf16 else "fp32"
    batch = Preprocessor(art.spec)(frames[:2])
    ref = backend_class("ort")(open_artifact(tiny["onnx"]), device="cpu")
    fp32 = backend_class("openvino")(open_artifact(tiny["onnx"]))
    half = backend_class("openvino")(art)
    try:
        assert fp32.precision == "fp32"
        assert half.precision in (want, "fp16")      # fp16 on CPUs with native FP16 compute
        r, g32, g16 = ref({"input_0": batch}), fp32({"input_0": batch}), half({"input_0": batch})
        np.testing.assert_allclose(g32["scores"], r["scores"], rtol=0, atol=1e-4)
        # bf16 keeps 8 bits of mantissa: scores within a few hundredths on this tiny net
        assert np.abs(g16["scores"] - r["scores"]).max() < 0.05
        assert np.abs(g16["boxes"] - r["boxes"]).max() < 0.05
    finally:
        for b in (ref, fp32, half):
            b.close()
    with Detector.load(tiny_fp16) as det:               # auto picks OpenVINO and says so
        assert det.backend_name == "openvino" and "FP16" in det.backend_reason
        assert det.precision == half.precision
